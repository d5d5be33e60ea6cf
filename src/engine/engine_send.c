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

struct claim {
    struct link *l;
    int limit;
};

static int claim_cb(void *ctx, const struct store_outbox *o)
{
    struct claim *c = ctx;
    struct link *l = c->l;
    struct job *j = &l->jobs[l->njobs];
    memset(j, 0, sizeof *j);
    j->e = l->e;
    j->outbox_id = o->id;
    snprintf(j->sender, sizeof j->sender, "%s", o->sender);
    snprintf(j->rcpt, sizeof j->rcpt, "%s", o->rcpt);
    j->raw = malloc(o->raw_len + 1);
    if (!j->raw)
        return 1;
    memcpy(j->raw, o->raw, o->raw_len);
    j->len = o->raw_len;
    l->njobs++;
    return (int)l->njobs >= c->limit;
}

static enum mf_rc open_link(struct engine *e, const char *mailbox, struct mf_err *err)
{
    struct store *st = e->cfg.st;
    struct store_mailbox mb;
    struct store_account a;
    enum mf_rc rc = store_mailbox_get(st, mailbox, &mb, err);
    if (rc == MF_OK)
        rc = store_account_get(st, mailbox, &a, err);
    if (rc != MF_OK)
        return rc;
    if (strcmp(mb.status, "active") != 0 || mb.backoff_until > engine_now(e) ||
        engine_send_connections(e, mailbox) >= mb.max_connections)
        return MF_OK;
    struct link *l = calloc(1, sizeof *l);
    if (!l || !(l->jobs = calloc((size_t)e->cfg.batch, sizeof *l->jobs))) {
        free(l);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    }
    l->e = e;
    snprintf(l->mailbox, sizeof l->mailbox, "%s", mailbox);
    struct claim c = {.l = l, .limit = e->cfg.batch};
    rc = store_outbox_by_state(st, "queued", mailbox, e->cfg.batch, claim_cb, &c, err);
    if (rc == MF_OK && l->njobs) /* before MAIL FROM, in one commit */
        rc = store_begin(st, err);
    for (size_t i = 0; rc == MF_OK && i < l->njobs; i++)
        rc = store_outbox_set_state(st, l->jobs[i].outbox_id, "sending", NULL, false, err);
    if (l->njobs)
        rc = rc == MF_OK ? store_commit(st, err) : (store_rollback(st), rc);
    bool is_token = false;
    if (rc == MF_OK && l->njobs && a.user[0] && strcasecmp(a.auth, "none") != 0) {
        if (oauth_account_secret(st, e->cfg.sec, &a, false, &l->secret, &is_token, err) !=
                MF_OK || !l->secret) {
            /* no way to sign in: every claimed message is a mailbox problem */
            for (size_t i = 0; i < l->njobs; i++) {
                l->jobs[i].out.err = *err;
                l->jobs[i].out.err.layer = MF_LAYER_AUTH;
                finish(l, &l->jobs[i]);
            }
            link_free(l);
            mf_err_clear(err);
            return MF_OK;
        }
    }
    if (rc != MF_OK || !l->njobs) {
        link_free(l);
        return rc;
    }
    l->creds = (struct sasl_creds){.user = a.user, .secret = l->secret, .host = a.host,
                                   .port = a.port};
    enum smtp_security sec = strcmp(a.security, "tls") == 0    ? SMTP_SEC_TLS
                             : strcmp(a.security, "none") == 0 ? SMTP_SEC_NONE
                                                                : SMTP_SEC_STARTTLS;
    struct smtp_drive_cfg cfg = {
        .base = e->base, .dns = e->dns, .tls = e->tls, .host = a.host, .port = a.port,
        .smtp = {.helo_name = NULL, .security = sec, .creds = l->secret ? &l->creds : NULL,
                 .secret_is_token = is_token,
                 .mech = sasl_mech_parse(a.auth, strlen(a.auth)),
                 .on_data_end = on_data_end, .ctx = l},
        .obs = {.on_event = on_event, .on_done = on_done},
        .ctx = l,
    };
    l->drive = smtp_drive_start(&cfg, err);
    if (!l->drive) {
        for (size_t i = 0; i < l->njobs; i++) {
            l->jobs[i].out.err = *err;
            finish(l, &l->jobs[i]);
        }
        link_free(l);
        mf_err_clear(err);
        return MF_OK;
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
    return MF_OK;
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
    bool ok = store_group_commit(e->cfg.st, &err) == MF_OK;
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

struct start_ctx {
    struct engine *e;
    struct mf_err *err;
    enum mf_rc rc;
};

static int start_cb(void *ctx, const char *mailbox, int64_t count)
{
    struct start_ctx *s = ctx;
    /* as many connections as the mailbox may have, each with a batch */
    for (int64_t left = count; s->rc == MF_OK && left > 0; left -= s->e->cfg.batch) {
        int before = s->e->drives;
        s->rc = open_link(s->e, mailbox, s->err);
        if (s->e->drives == before)
            break;
    }
    return s->rc != MF_OK;
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
    rc = store_outbox_queued_mailboxes(e->cfg.st, start_cb, &s, err);
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
