/* engine/placement: the run on the loop — probes out over SMTP, looked for
 * over IMAP (read-only). See placement.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/oauth_account.h"
#include "diag/explain.h"
#include "diag/providers.h"
#include "engine/placement_int.h"
#include "mail/msg.h"
#include "util/clock.h"
#include "util/log.h"

#define WAIT_DEFAULT_S 300
#define POLL_DEFAULT_MS 5000
#define PROBE_MAX (64 * 1024)

void placement_note(struct placement *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mf_notev(p->cfg.note, p->cfg.note_ctx, fmt, ap);
    va_end(ap);
}

static int poll_ms(const struct placement *p)
{
    return p->cfg.poll_ms > 0 ? p->cfg.poll_ms : POLL_DEFAULT_MS;
}

static void arm_ms(struct event *ev, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* "what failed: the server's words — the fix". */
static void describe(const struct mf_err *err, enum explain_proto proto, const char *host,
                     int port, char *out, size_t size)
{
    const struct provider *pv = providers_by_host(host);
    bool microsoft = pv && (!strcmp(pv->id, "m365") || !strcmp(pv->id, "outlook"));
    const struct explain_entry *x = explain_err(err, proto, port, microsoft);
    int n = snprintf(out, size, "%s %.200s:%d: %.250s%s%.250s%s%.300s",
                     proto == EXPLAIN_IMAP ? "IMAP" : "SMTP", host, port, err->detail,
                     err->reply[0] ? ": " : "", err->reply, x ? " — " : "", x ? x->fix : "");
    if (n < 0 && size)
        out[0] = '\0';
}

/* Copies text, cut to fit (a long reason loses its end, never its start). */
static void copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void settle(struct placement *p);

/* ---- deciding a pair ------------------------------------------------------------------ */

static void decide(struct placement *p, size_t i, enum placement_result r, const char *folder,
                   const char *detail)
{
    struct placement_pair *x = &p->pairs[i];
    if (x->result != PLACEMENT_PENDING)
        return;
    x->result = r;
    if (folder)
        copy_text(x->folder, sizeof x->folder, folder);
    if (detail)
        copy_text(x->detail, sizeof x->detail, detail);
    if (r == PLACEMENT_INBOX || r == PLACEMENT_JUNK) {
        double d = mf_now_ms() - p->probes[i].sent_ms;
        x->delay_ms = d > 0 ? (int64_t)d : 0;
    }
}

static void not_sent(struct placement *p, size_t i, const char *why)
{
    char d[600];
    if (p->pairs[i].result != PLACEMENT_PENDING)
        return;
    snprintf(d, sizeof d, "not sent: %s", why);
    decide(p, i, PLACEMENT_NOT_SENT, NULL, d);
    placement_note(p, "%s -> %s: %s", p->pairs[i].sender, p->pairs[i].seed, d);
}

/* Probes of seed s still undecided; *sent gets those already sent. */
static size_t seed_pending(const struct seed *s, size_t *sent)
{
    const struct placement *p = s->p;
    size_t n = 0, k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->probes[i].seed == s->idx && p->pairs[i].result == PLACEMENT_PENDING) {
            n++;
            k += p->probes[i].st == P_SENT;
        }
    if (sent)
        *sent = k;
    return n;
}

/* ---- seeds: looking over IMAP -------------------------------------------------------- */

static struct imap *core(struct seed *s)
{
    return imap_drive_core(s->drive);
}

static void seed_logout(struct seed *s)
{
    evtimer_del(s->timer);
    if (!s->drive) {
        s->st = S_DONE;
        settle(s->p);
        return;
    }
    s->st = S_LOGOUT;
    imap_logout(core(s));
    imap_drive_kick(s->drive);
}

static void seed_fail(struct seed *s, const struct mf_err *err)
{
    if (!s->failing) {
        s->failing = true;
        s->fail = *err;
    }
    s->st = S_LOGOUT;
    imap_logout(core(s));
    imap_drive_kick(s->drive);
}

static void begin_round(struct seed *s)
{
    struct placement *p = s->p;
    size_t sent = 0;
    seed_pending(s, &sent);
    free(s->looks);
    s->looks = NULL;
    s->nlooks = s->pos = 0;
    if (!sent)
        return;
    s->looks = calloc(2 * (sent + 1), sizeof *s->looks);
    if (!s->looks)
        return;
    /* SINCE two days ago (a server's own time zone): only recent mail is searched */
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char since[40], criteria[200];
    time_t t = (time_t)mf_wall_seconds() - 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(since, sizeof since, "%d-%s-%d", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900);
    for (int f = 0; f < 2; f++) {
        if (!s->folders[f][0] || imap_request_examine(core(s), s->folders[f], false) != MF_OK)
            continue;
        s->looks[s->nlooks++] = (struct look){.folder = f};
        for (size_t i = 0; i < p->n; i++) {
            if (p->probes[i].seed != s->idx || p->probes[i].st != P_SENT ||
                p->pairs[i].result != PLACEMENT_PENDING)
                continue;
            const char *tok = p->pairs[i].token;
            snprintf(criteria, sizeof criteria, "SINCE %s OR HEADER " PLACEMENT_HEADER " %s "
                     "SUBJECT %s", since, tok, tok);
            if (imap_request_uid_search(core(s), criteria) == MF_OK)
                s->looks[s->nlooks++] = (struct look){.search = true, .folder = f, .probe = i};
        }
    }
    if (s->nlooks) {
        s->st = S_LOOKING;
        imap_drive_kick(s->drive);
    }
}

/* After a round, or when there may be nothing left to look for. */
static void seed_next(struct seed *s)
{
    struct placement *p = s->p;
    size_t sent = 0, pending = seed_pending(s, &sent);
    if (!pending || p->stopping || (p->deadline_passed && s->last_round)) {
        seed_logout(s);
        return;
    }
    if (p->deadline_passed) { /* one more look with everything sent by now */
        s->last_round = true;
        begin_round(s);
        if (s->st != S_LOOKING)
            seed_logout(s);
        return;
    }
    s->st = S_WAITING;
    arm_ms(s->timer, poll_ms(p));
}

static void on_searched(struct seed *s, const struct look *lk, const struct imap_event *ev)
{
    struct placement *p = s->p;
    if (!ev->ok || !s->folder_ok)
        return; /* the other folder and the next round still count */
    if (lk->folder == 0)
        p->probes[lk->probe].looked = true;
    if (!ev->nuids || p->pairs[lk->probe].result != PLACEMENT_PENDING)
        return;
    decide(p, lk->probe, lk->folder == 0 ? PLACEMENT_INBOX : PLACEMENT_JUNK,
           s->folders[lk->folder], NULL);
    const struct placement_pair *x = &p->pairs[lk->probe];
    char d[32];
    placement_note(p, "%s -> %s: in %s after %s", x->sender, x->seed, s->folders[lk->folder],
                   placement_delay_text(x->delay_ms, d, sizeof d));
}

static void on_seed_done_request(struct seed *s, const struct imap_event *ev)
{
    if (s->failing)
        return;
    if (ev->request == IMAP_REQ_LIST) {
        if (!ev->ok) {
            seed_fail(s, &ev->err);
            return;
        }
        placement_pick_folders(ev->mailboxes, ev->nmailboxes, s->folders[0],
                               sizeof s->folders[0], s->folders[1], sizeof s->folders[1]);
        placement_note(s->p, "seed %s: looking in %s%s%s", s->acct.name, s->folders[0],
                       s->folders[1][0] ? " and " : " only (no junk folder found)",
                       s->folders[1]);
        s->error[0] = '\0';
        seed_next(s);
        return;
    }
    if ((ev->request != IMAP_REQ_EXAMINE && ev->request != IMAP_REQ_UID_SEARCH) ||
        s->pos >= s->nlooks)
        return;
    const struct look *lk = &s->looks[s->pos++];
    if (!lk->search) {
        s->folder_ok = ev->ok;
        if (!ev->ok) /* says why, should the probe never be looked for */
            snprintf(s->error, sizeof s->error, "IMAP %.200s:%d: cannot open %.256s: %.200s",
                     s->imap.host, s->imap.port, s->folders[lk->folder], ev->err.reply);
    } else
        on_searched(s, lk, ev);
    if (s->pos == s->nlooks && s->st == S_LOOKING)
        seed_next(s);
}

static void on_seed_event(void *ctx, const struct imap_event *ev)
{
    struct seed *s = ctx;
    switch (ev->type) {
    case IMAP_EV_READY:
        if (s->st == S_LOGOUT) /* stopped while signing in */
            break;
        if (imap_request_list(core(s)) != MF_OK) {
            struct mf_err err;
            mf_err_set(&err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
            seed_fail(s, &err);
        }
        break;
    case IMAP_EV_DONE:
        on_seed_done_request(s, ev);
        break;
    case IMAP_EV_ALERT:
        placement_note(s->p, "seed %s: the server says: %s", s->acct.name,
                       ev->text ? ev->text : "");
        break;
    default:
        break;
    }
}

static void seed_connect(struct seed *s);

static void on_seed_session_done(void *ctx, const struct mf_err *err)
{
    struct seed *s = ctx;
    struct placement *p = s->p;
    imap_drive_free(s->drive);
    s->drive = NULL;
    mf_wipe_free_str(s->secret);
    s->secret = NULL;
    free(s->looks);
    s->looks = NULL;
    s->nlooks = s->pos = 0;
    if (!s->failing && err && err->rc != MF_OK && s->st != S_LOGOUT) {
        s->failing = true;
        s->fail = *err;
    }
    if (!s->failing && s->st == S_LOGOUT) {
        s->st = S_DONE;
        settle(p);
        return;
    }
    bool give_up = p->deadline_passed || p->stopping;
    if (s->failing) {
        s->failing = false;
        if (s->is_token && s->fail.layer == MF_LAYER_AUTH && !s->refreshed && !give_up) {
            s->refreshed = s->force_refresh = true;
            placement_note(p, "seed %s: the server refused the OAuth access token; "
                           "refreshing it and trying once more", s->acct.name);
            s->st = S_OFF;
            arm_ms(s->timer, 0);
            return;
        }
        describe(&s->fail, EXPLAIN_IMAP, s->imap.host, s->imap.port, s->error, sizeof s->error);
        placement_note(p, "seed %s: %s", s->acct.name, s->error);
        give_up = give_up || s->fail.layer == MF_LAYER_AUTH || s->fail.rc == MF_ECONFIG;
    }
    if (give_up || !seed_pending(s, NULL)) {
        s->st = S_DONE;
        settle(p);
        return;
    }
    /* a failure or the server closing: come back later */
    s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : poll_ms(p);
    s->st = S_OFF;
    arm_ms(s->timer, s->backoff_ms);
}

static void seed_connect(struct seed *s)
{
    struct placement *p = s->p;
    struct mf_err err;
    mf_err_clear(&err);
    s->failing = false;
    bool force = s->force_refresh;
    s->force_refresh = false;
    enum mf_rc rc = oauth_account_secret(p->cfg.st, p->cfg.sec, &s->acct, force, &s->secret,
                                         &s->is_token, &err);
    if (rc == MF_OK) {
        s->creds = (struct sasl_creds){.user = s->acct.user, .secret = s->secret,
                                       .host = s->imap.host, .port = s->imap.port};
        enum imap_security sec = !strcmp(s->imap.security, "tls")    ? IMAP_SEC_TLS
                                 : !strcmp(s->imap.security, "none") ? IMAP_SEC_NONE
                                                                     : IMAP_SEC_STARTTLS;
        enum sasl_mech mech = sasl_mech_parse(s->acct.auth, strlen(s->acct.auth));
        if (s->is_token && !sasl_mech_is_oauth(mech))
            mech = SASL_MECH_XOAUTH2;
        struct imap_drive_cfg cfg = {
            .session = {.base = p->cfg.base, .dns = p->cfg.dns, .tls = p->cfg.tls,
                        .host = s->imap.host, .port = s->imap.port},
            .imap = {.security = sec, .creds = s->secret ? &s->creds : NULL,
                     .secret_is_token = s->is_token, .mech = mech},
            .obs = {.transport = {.on_done = on_seed_session_done}, .on_event = on_seed_event},
            .ctx = s,
        };
        s->st = S_CONNECTING;
        s->drive = imap_drive_start(&cfg, &err);
        if (s->drive)
            return;
    }
    /* could not even start: nothing more to try */
    mf_wipe_free_str(s->secret);
    s->secret = NULL;
    describe(&err, EXPLAIN_IMAP, s->imap.host, s->imap.port, s->error, sizeof s->error);
    placement_note(p, "seed %s: %s", s->acct.name, s->error);
    s->st = S_DONE;
    settle(p);
}

static void on_seed_timer(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    struct seed *s = ctx;
    if (s->st == S_OFF)
        seed_connect(s);
    else if (s->st == S_WAITING) {
        begin_round(s);
        if (s->st != S_LOOKING)
            seed_next(s);
    }
}

/* ---- links: sending over SMTP --------------------------------------------------------- */

static void link_start(struct link *l);

static void link_restart(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    link_start(ctx);
}

/* A probe's fate changed: its seed may have nothing left to wait for. */
static void poke_seed(struct placement *p, size_t i)
{
    struct seed *s = &p->seeds[p->probes[i].seed];
    if ((s->st == S_WAITING || s->st == S_OFF) && !seed_pending(s, NULL))
        seed_logout(s);
}

static void on_link_event(void *ctx, const struct smtp_event *ev)
{
    struct link *l = ctx;
    struct placement *p = l->p;
    if (ev->type != SMTP_EV_MSG_DONE)
        return;
    size_t i = (size_t)((struct probe *)ev->msg->user - p->probes);
    struct probe *pr = &p->probes[i];
    if (ev->ok) {
        pr->st = P_SENT;
        pr->sent_ms = mf_now_ms();
        p->pairs[i].sent_at = mf_wall_seconds();
        placement_note(p, "%s -> %s: probe sent (%d %s%s%.200s)", p->pairs[i].sender,
                       p->pairs[i].seed, ev->code, ev->enhanced, ev->enhanced[0] ? " " : "",
                       ev->text);
        return;
    }
    pr->st = P_QUEUED;
    if (ev->err.layer == MF_LAYER_AUTH && l->is_token && !l->retried) {
        pr->retry = true;
        return;
    }
    char why[700];
    describe(&ev->err, EXPLAIN_SMTP, l->acct.host, l->acct.port, why, sizeof why);
    not_sent(p, i, why);
    poke_seed(p, i);
}

static void on_link_done(void *ctx, const struct mf_err *err)
{
    struct link *l = ctx;
    struct placement *p = l->p;
    smtp_drive_free(l->drive);
    l->drive = NULL;
    mf_wipe_free_str(l->secret);
    l->secret = NULL;
    bool retry = false;
    for (size_t i = 0; i < p->n; i++) {
        struct probe *pr = &p->probes[i];
        if (pr->link != l->idx || p->pairs[i].result != PLACEMENT_PENDING)
            continue;
        if (pr->retry) {
            retry = true;
        } else if (pr->st != P_SENT && err && err->layer == MF_LAYER_AUTH && l->is_token &&
                   !l->retried) {
            pr->st = P_QUEUED;
            pr->retry = retry = true;
        } else if (pr->st != P_SENT) { /* the session ended before its verdict */
            char why[700];
            struct mf_err e = err && err->rc != MF_OK ? *err : (struct mf_err){0};
            if (!err || err->rc == MF_OK)
                mf_err_set(&e, MF_EPROTO, MF_LAYER_PROTO, "the session ended first");
            describe(&e, EXPLAIN_SMTP, l->acct.host, l->acct.port, why, sizeof why);
            not_sent(p, i, why);
            poke_seed(p, i);
        }
    }
    if (retry && !p->stopping) {
        l->retried = true;
        placement_note(p, "sender %s: the server refused the OAuth access token; "
                       "refreshing it and trying once more", l->acct.name);
        struct timeval now = {0};
        if (event_base_once(p->cfg.base, -1, EV_TIMEOUT, link_restart, l, &now) == 0)
            return;
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->probes[i].link == l->idx && p->probes[i].retry) {
            p->probes[i].retry = false;
            not_sent(p, i, "the server refused the OAuth access token twice");
            poke_seed(p, i);
        }
    l->done = true;
    settle(p);
}

/* Builds the probe of pairs[i]: the token header, then a plain message. */
static enum mf_rc build_probe(struct placement *p, size_t i, struct mf_err *err)
{
    struct placement_pair *x = &p->pairs[i];
    struct probe *pr = &p->probes[i];
    char subject[80], body[1200];
    snprintf(subject, sizeof subject, "Placement check %s", x->token);
    snprintf(body, sizeof body,
             "This is an inbox-placement check sent by mailfleet\n"
             "from %s\n"
             "to   %s\n"
             "(two mailboxes of the same owner). It shows whether mail from the\n"
             "sender lands in the Inbox or in Junk.\n\n"
             "mailfleet only looks for it (read-only IMAP search). It never opens,\n"
             "moves or answers it: you may delete it whenever you like.\n\n"
             "Token: %s\n", x->from, x->to, x->token);
    mf_buf_init(&pr->raw, PROBE_MAX);
    const char *to[1] = {x->to};
    if (mf_buf_printf(&pr->raw, PLACEMENT_HEADER ": %s\n", x->token) != MF_OK)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    return msg_build_text(x->from, NULL, to, 1, subject, body, &pr->raw, err);
}

static void link_start(struct link *l)
{
    struct placement *p = l->p;
    struct mf_err err;
    mf_err_clear(&err);
    size_t queued = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct probe *pr = &p->probes[i];
        if (pr->link != l->idx || p->pairs[i].result != PLACEMENT_PENDING || pr->st != P_QUEUED)
            continue;
        if (!pr->raw.mem && build_probe(p, i, &err) != MF_OK) {
            not_sent(p, i, err.detail);
            poke_seed(p, i);
            continue;
        }
        queued++;
    }
    enum mf_rc rc = MF_OK;
    bool force = l->retried;
    if (queued && l->acct.user[0] && strcasecmp(l->acct.auth, "none") != 0)
        rc = oauth_account_secret(p->cfg.st, p->cfg.sec, &l->acct, force, &l->secret,
                                  &l->is_token, &err);
    if (queued && rc == MF_OK) {
        l->creds = (struct sasl_creds){.user = l->acct.user, .secret = l->secret,
                                       .host = l->acct.host, .port = l->acct.port};
        enum smtp_security sec = !strcmp(l->acct.security, "tls")    ? SMTP_SEC_TLS
                                 : !strcmp(l->acct.security, "none") ? SMTP_SEC_NONE
                                                                     : SMTP_SEC_STARTTLS;
        enum sasl_mech mech = sasl_mech_parse(l->acct.auth, strlen(l->acct.auth));
        if (l->is_token && !sasl_mech_is_oauth(mech))
            mech = SASL_MECH_XOAUTH2;
        struct smtp_drive_cfg cfg = {
            .base = p->cfg.base, .dns = p->cfg.dns, .tls = p->cfg.tls, .host = l->acct.host,
            .port = l->acct.port,
            .smtp = {.security = sec, .creds = l->secret ? &l->creds : NULL,
                     .secret_is_token = l->is_token, .mech = mech},
            .obs = {.on_event = on_link_event, .on_done = on_link_done},
            .ctx = l,
        };
        l->drive = smtp_drive_start(&cfg, &err);
        rc = l->drive ? MF_OK : err.rc;
    }
    if (queued && rc == MF_OK) {
        for (size_t i = 0; i < p->n; i++) {
            struct probe *pr = &p->probes[i];
            if (pr->link != l->idx || p->pairs[i].result != PLACEMENT_PENDING ||
                pr->st != P_QUEUED)
                continue;
            pr->retry = false;
            pr->st = P_SENDING;
            pr->rcpt[0] = p->pairs[i].to;
            pr->msg = (struct smtp_msg){.from = p->pairs[i].from, .rcpts = pr->rcpt, .nrcpt = 1,
                                        .data = mf_buf_data(&pr->raw),
                                        .len = mf_buf_len(&pr->raw), .user = pr};
            smtp_drive_submit(l->drive, &pr->msg);
        }
        smtp_drive_quit(l->drive);
        return;
    }
    if (queued) { /* no secret, or the drive did not start */
        char why[700];
        describe(&err, EXPLAIN_SMTP, l->acct.host, l->acct.port, why, sizeof why);
        for (size_t i = 0; i < p->n; i++)
            if (p->probes[i].link == l->idx && p->pairs[i].result == PLACEMENT_PENDING &&
                p->probes[i].st == P_QUEUED) {
                not_sent(p, i, why);
                poke_seed(p, i);
            }
    }
    mf_wipe_free_str(l->secret);
    l->secret = NULL;
    l->done = true;
    settle(p);
}

/* ---- the whole ------------------------------------------------------------------------ */

/* Every session is over: what is still undecided is missing (or not sent). */
static void settle(struct placement *p)
{
    if (p->settled || !p->started)
        return;
    for (size_t i = 0; i < p->nlinks; i++)
        if (!p->links[i].done)
            return;
    for (size_t i = 0; i < p->nseeds; i++)
        if (p->seeds[i].st != S_DONE)
            return;
    p->settled = true;
    if (p->deadline)
        evtimer_del(p->deadline);
    for (size_t i = 0; i < p->n; i++) {
        if (p->pairs[i].result != PLACEMENT_PENDING)
            continue;
        const struct probe *pr = &p->probes[i];
        const struct seed *s = &p->seeds[pr->seed];
        char d[800];
        if (pr->st != P_SENT) {
            not_sent(p, i, "the run ended first");
        } else if (!pr->looked) {
            snprintf(d, sizeof d, "not looked for: %s", s->error[0] ? s->error
                     : p->stopping ? "the run was stopped before the seed was searched"
                                   : "the wait ended before the seed could be searched");
            p->pairs[i].seed_unread = true;
            decide(p, i, PLACEMENT_MISSING, NULL, d);
        } else {
            snprintf(d, sizeof d, "not found in %s%s%s%s", s->folders[0],
                     s->folders[1][0] ? " or " : "", s->folders[1],
                     s->folders[1][0] ? "" : " (no junk folder found: one in junk is not seen)");
            decide(p, i, PLACEMENT_MISSING, NULL, d);
        }
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    struct placement *p = ctx;
    p->deadline_passed = true;
    for (size_t i = 0; i < p->nseeds; i++) {
        struct seed *s = &p->seeds[i];
        if (s->st == S_WAITING) {
            evtimer_del(s->timer);
            seed_next(s); /* the last look */
        } else if (s->st == S_OFF || s->st == S_CONNECTING) {
            evtimer_del(s->timer);
            if (s->drive) {
                imap_drive_free(s->drive);
                s->drive = NULL;
            }
            mf_wipe_free_str(s->secret);
            s->secret = NULL;
            if (!s->error[0])
                snprintf(s->error, sizeof s->error, "the wait ended before the seed could be "
                         "searched (IMAP %s:%d)", s->imap.host, s->imap.port);
            s->st = S_DONE;
        }
    }
    settle(p);
}

enum mf_rc placement_start(struct placement *p, struct mf_err *err)
{
    if (p->started)
        return MF_OK;
    p->started = true;
    p->deadline = evtimer_new(p->cfg.base, on_deadline, p);
    if (!p->deadline)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    int wait_s = p->cfg.wait_s > 0 ? p->cfg.wait_s : WAIT_DEFAULT_S;
    struct timeval tv = {.tv_sec = wait_s};
    evtimer_add(p->deadline, &tv);
    for (size_t i = 0; i < p->nseeds; i++) {
        struct seed *s = &p->seeds[i];
        s->p = p;
        s->idx = i;
        if (!(s->timer = evtimer_new(p->cfg.base, on_seed_timer, s)))
            return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < p->nlinks; i++) {
        p->links[i].p = p;
        p->links[i].idx = i;
    }
    /* pairs found not sendable at add time decide nothing for their seed */
    for (size_t i = 0; i < p->nseeds; i++) {
        struct seed *s = &p->seeds[i];
        if (seed_pending(s, NULL))
            arm_ms(s->timer, 0);
        else
            s->st = S_DONE;
    }
    for (size_t i = 0; i < p->nlinks; i++)
        link_start(&p->links[i]);
    settle(p);
    return MF_OK;
}

bool placement_running(const struct placement *p)
{
    return p->started && !p->settled;
}

void placement_stop(struct placement *p)
{
    if (!p->started || p->settled)
        return;
    p->stopping = p->deadline_passed = true;
    for (size_t i = 0; i < p->nseeds; i++) {
        struct seed *s = &p->seeds[i];
        if (s->st == S_WAITING || s->st == S_CONNECTING) {
            seed_logout(s);
        } else if (s->st == S_OFF) {
            evtimer_del(s->timer);
            s->st = S_DONE;
        }
    }
    settle(p);
}
