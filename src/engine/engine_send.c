/* engine: the SMTP side. One connection per busy mailbox (up to its
 * connection limit), its queued messages pipelined over it, each outcome
 * applied as it arrives; the outbox row moves to `sending` before MAIL FROM
 * and to `data_sent` before the final dot, which waits for that mark's
 * commit: one commit per turn of the event loop for every connection (see
 * engine_group). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/oauth_account.h"
#include "engine/engine_int.h"
#include "net/conn.h"
#include "net/dns.h"
#include "net/smtp_drive.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

struct job {
    struct engine *e;
    int64_t outbox_id;
    struct smtp_msg msg;
    const char *rcpts[1];
    char sender[320], rcpt[320];
    char *raw;
    size_t len;
    bool dot_held;              /* data_sent written, the commit not yet made */
    bool done;
    struct engine_outcome out;
};

struct link {
    struct engine *e;
    char mailbox[64];
    struct smtp_drive *drive;
    struct job *jobs;
    size_t njobs;
    char *secret;
    struct sasl_creds creds;
    bool held;                  /* output waits for the group commit */
    bool unrecorded;            /* a data_sent mark failed: never send the dot */
    struct link *next;
};

static struct link *links; /* open connections; one engine per process */

/* How long the first write of a group may wait for the others: short
 * beside any network round trip, long enough for the replies of the other
 * connections to come in. */
#define GROUP_WAIT_US 2000

int engine_send_connections(struct engine *e, const char *mailbox)
{
    int n = 0;
    for (struct link *l = links; l; l = l->next)
        n += l->e == e && strcmp(l->mailbox, mailbox) == 0;
    return n;
}

static void link_free(struct link *l)
{
    for (size_t i = 0; i < l->njobs; i++)
        free(l->jobs[i].raw);
    free(l->jobs);
    mf_wipe_free_str(l->secret);
    free(l);
}

static void unlink_link(struct link *l)
{
    for (struct link **p = &links; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            return;
        }
}

static struct job *job_of(struct link *l, const struct smtp_msg *m)
{
    for (size_t i = 0; i < l->njobs; i++)
        if (&l->jobs[i].msg == m)
            return &l->jobs[i];
    return NULL;
}

static void finish(struct link *l, struct job *j)
{
    if (j->done)
        return;
    j->done = true;
    engine_apply(l->e, j->outbox_id, &j->out);
}

static void on_event(void *ctx, const struct smtp_event *ev)
{
    struct link *l = ctx;
    struct job *j = ev->msg ? job_of(l, ev->msg) : NULL;
    if (!j)
        return;
    /* 503 after a refused MAIL FROM is a consequence, not about the recipient */
    if (ev->type == SMTP_EV_RCPT && !ev->ok && ev->code != 503) {
        j->out.rcpt_refused = true;
        mf_err_set(&j->out.err, MF_EREJECT, MF_LAYER_REJECT, "recipient refused");
        mf_err_set_reply(&j->out.err, ev->code, ev->enhanced, ev->text, strlen(ev->text));
    } else if (ev->type == SMTP_EV_MSG_DONE) {
        j->out.ok = ev->ok && ev->rcpt_ok > 0;
        if (!ev->ok && !j->out.rcpt_refused)
            j->out.err = ev->err;
        finish(l, j);
    }
}

/* True when no connection of e waits for the server: each one holds its
 * final dot for the commit, or has nothing left in flight. Committing then
 * loses no time, and lets the connections' next replies arrive together. */
static bool all_held(struct engine *e)
{
    for (struct link *l = links; l; l = l->next) {
        if (l->e != e || l->held)
            continue;
        for (size_t i = 0; i < l->njobs; i++)
            if (!l->jobs[i].done)
                return false;
    }
    return true;
}

static void on_data_end(void *ctx, const struct smtp_msg *m)
{
    struct link *l = ctx;
    struct job *j = job_of(l, m);
    if (!j)
        return;
    struct store *st = l->e->cfg.st;
    struct mf_err err;
    mf_err_clear(&err);
    bool grouped = engine_group(l->e, &err) == MF_OK && store_group_active(st);
    mf_err_clear(&err);
    if (store_outbox_set_state(st, j->outbox_id, "data_sent", NULL, false, &err) != MF_OK) {
        engine_note(l->e, "could not record data_sent: %s; the message is not sent",
                    err.detail);
        l->unrecorded = true;
    } else if (!grouped) { /* committed on its own: the dot may leave */
        j->out.data_end = true;
        return;
    }
    /* the dot waits for the group's commit */
    j->dot_held = true;
    if (!l->held)
        smtp_drive_hold(l->drive);
    l->held = true;
    if (!grouped || all_held(l->e))
        event_active(l->e->commit_ev, EV_TIMEOUT, 0);
}

static void on_done(void *ctx, const struct mf_err *err)
{
    struct link *l = ctx;
    /* messages the session never reached end like a drop before the dot */
    for (size_t i = 0; i < l->njobs; i++) {
        struct job *j = &l->jobs[i];
        if (!j->done && err)
            j->out.err = *err;
        else if (!j->done)
            mf_err_set(&j->out.err, MF_ECLOSED, MF_LAYER_TCP, "the session ended early");
        finish(l, j);
    }
    l->e->drives--;
    /* a connection is free: let the run loop queue and start more now */
    event_base_loopbreak(l->e->base);
    unlink_link(l);
    smtp_drive_free(l->drive);
    link_free(l);
}

/* The claimed messages dealt round-robin over the new connections: the
 * messages in flight at one moment are then neighbours in the outbox and
 * the enrollments, and a group commit rewrites a few pages, not a few per
 * connection. */
struct claim {
    struct link **links;
    int nlinks;
    int64_t seen;
    bool oom;
};

static int claim_cb(void *ctx, const struct store_outbox *o)
{
    struct claim *c = ctx;
    struct link *l = c->links[c->seen++ % c->nlinks];
    struct job *j = &l->jobs[l->njobs];
    memset(j, 0, sizeof *j);
    j->e = l->e;
    j->outbox_id = o->id;
    snprintf(j->sender, sizeof j->sender, "%s", o->sender);
    snprintf(j->rcpt, sizeof j->rcpt, "%s", o->rcpt);
    j->raw = malloc(o->raw_len + 1);
    if (!j->raw) {
        c->oom = true;
        return 1;
    }
    memcpy(j->raw, o->raw, o->raw_len);
    j->len = o->raw_len;
    l->njobs++;
    return 0;
}

/* Every claimed message of l ends with err, as a mailbox problem when
 * auth says so; l is freed. */
static void fail_link(struct link *l, const struct mf_err *err, bool auth)
{
    for (size_t i = 0; i < l->njobs; i++) {
        l->jobs[i].out.err = *err;
        if (auth)
            l->jobs[i].out.err.layer = MF_LAYER_AUTH;
        finish(l, &l->jobs[i]);
    }
    link_free(l);
}

static void start_link(struct engine *e, struct link *l, const struct store_account *a,
                       const char *secret, bool is_token)
{
    struct mf_err err;
    mf_err_clear(&err);
    if (secret && !(l->secret = strdup(secret))) {
        mf_err_set(&err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        fail_link(l, &err, false);
        return;
    }
    l->creds = (struct sasl_creds){.user = a->user, .secret = l->secret, .host = a->host,
                                   .port = a->port};
    enum smtp_security sec = strcmp(a->security, "tls") == 0    ? SMTP_SEC_TLS
                             : strcmp(a->security, "none") == 0 ? SMTP_SEC_NONE
                                                                : SMTP_SEC_STARTTLS;
    struct smtp_drive_cfg cfg = {
        .base = e->base, .dns = e->dns, .tls = e->tls, .host = a->host, .port = a->port,
        .smtp = {.helo_name = NULL, .security = sec, .creds = l->secret ? &l->creds : NULL,
                 .secret_is_token = is_token,
                 .mech = sasl_mech_parse(a->auth, strlen(a->auth)),
                 .on_data_end = on_data_end, .ctx = l},
        .obs = {.on_event = on_event, .on_done = on_done},
        .ctx = l,
    };
    l->drive = smtp_drive_start(&cfg, &err);
    if (!l->drive) {
        fail_link(l, &err, false);
        return;
    }
    for (size_t i = 0; i < l->njobs; i++) {
        struct job *j = &l->jobs[i];
        j->rcpts[0] = j->rcpt;
        j->msg = (struct smtp_msg){.from = j->sender, .rcpts = j->rcpts, .nrcpt = 1,
                                   .data = j->raw, .len = j->len, .user = j};
        smtp_drive_submit(l->drive, &j->msg);
    }
    smtp_drive_quit(l->drive);
    l->next = links;
    links = l;
    e->drives++;
}

/* A connection costs a handshake (TLS and AUTH: a few hundred ms at
 * Microsoft): one is opened for each LINK_MIN_MESSAGES queued messages, up
 * to the mailbox's limit, and the messages are dealt out evenly. */
#define LINK_MIN_MESSAGES 20

/* Connections open at once over all mailboxes: a fleet's burst of first
 * touches must not open thousands of sockets to one provider (nor run out
 * of descriptors: 1,024 by default); the others' messages stay queued and
 * go when a connection closes, the next mailbox in turn first. */
#define MAX_LINKS 128

/* Claims up to a batch of queued messages for each connection the mailbox
 * may still open (no more than `queued` needs), marks them `sending` in one
 * commit, and starts the connections. */
static enum mf_rc open_links(struct engine *e, const char *mailbox, int64_t queued,
                             struct mf_err *err)
{
    struct store *st = e->cfg.st;
    struct store_mailbox mb;
    struct store_account a;
    enum mf_rc rc = store_mailbox_get(st, mailbox, &mb, err);
    if (rc == MF_OK)
        rc = store_account_get(st, mailbox, &a, err);
    if (rc != MF_OK)
        return rc;
    int64_t n = mb.max_connections - engine_send_connections(e, mailbox);
    int64_t wanted = (queued + LINK_MIN_MESSAGES - 1) / LINK_MIN_MESSAGES;
    n = n < wanted ? n : wanted;
    n = n < MAX_LINKS - e->drives ? n : MAX_LINKS - e->drives;
    if (strcmp(mb.status, "active") != 0 || mb.backoff_until > engine_now(e) || n <= 0)
        return MF_OK;
    struct link **ls = calloc((size_t)n, sizeof *ls);
    struct claim c = {.links = ls, .nlinks = (int)n};
    for (int i = 0; ls && i < n; i++) {
        if (!(ls[i] = calloc(1, sizeof **ls)) ||
            !(ls[i]->jobs = calloc((size_t)e->cfg.batch, sizeof *ls[i]->jobs))) {
            c.oom = true;
            break;
        }
        ls[i]->e = e;
        snprintf(ls[i]->mailbox, sizeof ls[i]->mailbox, "%s", mailbox);
    }
    if (!ls || c.oom)
        rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    if (rc == MF_OK)
        rc = store_outbox_by_state(st, "queued", mailbox, (int)(n * e->cfg.batch), claim_cb,
                                   &c, err);
    if (rc == MF_OK && c.oom)
        rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    if (rc == MF_OK && c.seen) /* before MAIL FROM, in one commit */
        rc = store_begin(st, err);
    for (int i = 0; rc == MF_OK && c.seen && i < n; i++)
        for (size_t k = 0; rc == MF_OK && k < ls[i]->njobs; k++)
            rc = store_outbox_set_state(st, ls[i]->jobs[k].outbox_id, "sending", NULL, false,
                                        err);
    if (c.seen)
        rc = rc == MF_OK ? store_commit(st, err) : (store_rollback(st), rc);
    char *secret = NULL;
    bool is_token = false;
    bool signin = rc == MF_OK && c.seen && a.user[0] && strcasecmp(a.auth, "none") != 0;
    struct mf_err why;
    mf_err_clear(&why);
    bool no_secret = signin && (oauth_account_secret(st, e->cfg.sec, &a, false, &secret,
                                                     &is_token, &why) != MF_OK || !secret);
    for (int i = 0; ls && i < n; i++) {
        if (!ls[i])
            continue;
        if (rc != MF_OK || !ls[i]->njobs)
            link_free(ls[i]); /* nothing claimed: still queued */
        else if (no_secret) /* no way to sign in: a mailbox problem */
            fail_link(ls[i], &why, true);
        else
            start_link(e, ls[i], &a, secret, is_token);
    }
    mf_wipe_free_str(secret);
    free(ls);
    return rc;
}

enum mf_rc engine_group(struct engine *e, struct mf_err *err)
{
    if (!e->commit_ev)
        return MF_OK;
    enum mf_rc rc = store_group_open(e->cfg.st, err);
    /* at the latest GROUP_WAIT_US from now; sooner when every connection
     * holds a dot (on_data_end) */
    if (rc == MF_OK && !event_pending(e->commit_ev, EV_TIMEOUT, NULL)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = GROUP_WAIT_US};
        event_add(e->commit_ev, &tv);
    }
    return rc;
}

void engine_group_commit(struct engine *e)
{
    if (e->commit_ev)
        event_del(e->commit_ev);
    struct mf_err err;
    mf_err_clear(&err);
    bool was_open = store_group_active(e->cfg.st);
    bool ok = store_group_commit(e->cfg.st, &err) == MF_OK;
    if (was_open)
        engine_group_done(e, ok);
    if (!ok)
        engine_note(e, "could not commit the store: %s; the messages waiting for their "
                    "final dot are not sent", err.detail);
    struct link *next = NULL;
    for (struct link *l = links; l; l = next) {
        next = l->next; /* an aborted link frees itself in on_done */
        if (l->e != e || !l->held)
            continue;
        bool send = ok && !l->unrecorded;
        for (size_t i = 0; i < l->njobs; i++)
            if (l->jobs[i].dot_held) {
                l->jobs[i].dot_held = false;
                l->jobs[i].out.data_end = send;
            }
        l->held = false;
        if (send) {
            smtp_drive_release(l->drive);
        } else {
            struct mf_err why;
            mf_err_clear(&why);
            mf_err_set(&why, MF_ESTORE, MF_LAYER_LOCAL,
                       "the store could not record the message before its final dot: "
                       "not sent, it stays queued");
            smtp_drive_abort(l->drive, &why);
        }
    }
}

static void group_commit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    engine_group_commit(arg);
}

enum mf_rc engine_send_env(struct engine *e, struct mf_err *err)
{
    if (e->base)
        return MF_OK;
    e->base = event_base_new();
    if (!e->base)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot make an event loop");
    e->commit_ev = event_new(e->base, -1, 0, group_commit_cb, e);
    if (!e->commit_ev)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot make an event");
    e->dns = dns_new(e->base, err);
    if (!e->dns)
        return err->rc;
    e->tls = conn_tls_ctx_new(e->cfg.cafile, e->cfg.insecure, 0, err);
    return e->tls ? MF_OK : err->rc;
}

/* Mailboxes with queued messages, in the store's order (by name), from the
 * one after the mailbox that opened the last connection, round to it. */
struct start_ctx {
    struct engine *e;
    struct mf_err *err;
    enum mf_rc rc;
    char after[64];
    bool wrapped;               /* the second pass: the names up to `after` */
};

static int start_cb(void *ctx, const char *mailbox, int64_t count)
{
    struct start_ctx *s = ctx;
    struct engine *e = s->e;
    int past = strcmp(mailbox, s->after) > 0;
    if (s->wrapped ? past : !past)
        return s->wrapped; /* the second pass ends where the first began */
    int before = e->drives;
    s->rc = open_links(e, mailbox, count, s->err);
    if (e->drives > before)
        snprintf(e->last_started, sizeof e->last_started, "%s", mailbox);
    return s->rc != MF_OK || e->drives >= MAX_LINKS;
}

/* Simulate: every queued message is accepted at once. */
static int accept_cb(void *ctx, const struct store_outbox *o)
{
    int64_t *ids = ctx;
    if (ids[0] < 4096)
        ids[1 + ids[0]++] = o->id;
    return 0;
}

enum mf_rc engine_send_start(struct engine *e, struct mf_err *err)
{
    if (e->cfg.simulate) {
        static int64_t ids[4097];
        ids[0] = 0;
        enum mf_rc rc = store_outbox_by_state(e->cfg.st, "queued", NULL, 4096, accept_cb, ids,
                                              err);
        struct engine_outcome ok = {.ok = true};
        for (int64_t i = 0; rc == MF_OK && i < ids[0]; i++)
            engine_apply(e, ids[1 + i], &ok);
        return rc;
    }
    enum mf_rc rc = engine_send_env(e, err);
    if (rc != MF_OK)
        return rc;
    struct start_ctx s = {.e = e, .err = err};
    snprintf(s.after, sizeof s.after, "%s", e->last_started);
    rc = store_outbox_queued_mailboxes(e->cfg.st, start_cb, &s, err);
    if (rc == MF_OK && s.rc == MF_OK && s.after[0] && e->drives < MAX_LINKS) {
        s.wrapped = true;
        rc = store_outbox_queued_mailboxes(e->cfg.st, start_cb, &s, err);
    }
    return rc == MF_OK ? s.rc : rc;
}

enum mf_rc engine_flush(struct engine *e, struct mf_err *err)
{
    enum mf_rc rc = engine_send_start(e, err);
    while (rc == MF_OK && e->drives > 0)
        event_base_loop(e->base, EVLOOP_ONCE);
    if (e->base)
        engine_group_commit(e);
    return rc;
}

void engine_send_close(struct engine *e)
{
    while (e->drives > 0 && e->base)
        event_base_loop(e->base, EVLOOP_ONCE);
    if (e->base)
        engine_group_commit(e);
    if (e->commit_ev)
        event_free(e->commit_ev);
    e->commit_ev = NULL;
    if (e->tls)
        conn_tls_ctx_free(e->tls);
    if (e->dns)
        dns_free(e->dns);
    if (e->base)
        event_base_free(e->base);
    e->tls = NULL;
    e->dns = NULL;
    e->base = NULL;
}
