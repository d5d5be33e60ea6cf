/* engine/sync: one read-only IMAP session per watched mailbox. See sync.h. */
#include "engine/sync.h"
#include "engine/sync_int.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/oauth_account.h"
#include "diag/explain.h"
#include "diag/providers.h"
#include "engine/inbound.h"
#include "net/imap_drive.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

#define FETCH_CHUNK 20            /* messages per UID FETCH */
#define SEARCH_WINDOW 1000u       /* UIDs per UID SEARCH: its answer stays < 12 KB */
#define BACKOFF_FIRST 30
#define BACKOFF_MAX 900
#define POLL_MAX 1500             /* IDLE is renewed before servers drop it (~30 min) */
/* Sessions signing in and making their first check at once: a fleet's
 * start must not open thousands of IMAP connections to one provider
 * together; the others wait their turn, in order. */
#define MAX_STARTING 32

static int64_t now_of(const struct sync *s)
{
    return s->cfg.clock ? s->cfg.clock(s->cfg.clock_ctx) : mf_wall_seconds();
}

static void note(struct sync *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct sync *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mf_notev(s->cfg.note, s->cfg.note_ctx, fmt, ap);
    va_end(ap);
}

struct imap *sync_core(struct watch *w)
{
    return imap_drive_core(w->drive);
}

void sync_arm(struct watch *w, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    evtimer_add(w->timer, &tv);
}

static int poll_s(const struct sync *s)
{
    int p = s->cfg.poll_s > 0 ? s->cfg.poll_s : 60;
    return p > POLL_MAX ? POLL_MAX : p;
}

/* ---- failure ------------------------------------------------------------------------ */

/* "what failed: the server's words — the fix" for status. */
static void describe_failure(struct watch *w, const struct mf_err *err, char *out, size_t size)
{
    const struct provider *p = providers_by_host(w->imap.host);
    bool microsoft = p && (!strcmp(p->id, "m365") || !strcmp(p->id, "outlook"));
    const struct explain_entry *x = explain_err(err, EXPLAIN_IMAP, w->imap.port, microsoft);
    snprintf(out, size, "IMAP %.200s:%d: %.300s%s%.300s%s%.400s", w->imap.host, w->imap.port, err->detail,
             err->reply[0] ? ": " : "", err->reply, x ? " — " : "", x ? x->fix : "");
}

/* Ends the session on a failure; on_done records it and schedules the
 * reconnect. */
static void fail(struct watch *w, const struct mf_err *err)
{
    if (!w->failing) {
        w->failing = true;
        w->fail = *err;
    }
    w->idling = false;
    imap_logout(sync_core(w));
}

/* ---- checking ------------------------------------------------------------------------ */

static void check_folder(struct watch *w);
static void search_window(struct watch *w);

static void begin_check(struct watch *w, bool inbox_only)
{
    if (!w->first_send) { /* it may have sent since the last check */
        int64_t first_ms = 0;
        struct mf_err err;
        if (store_sendlog_first(w->s->cfg.st, w->imap.mailbox, &first_ms, &err) == MF_OK)
            w->first_send = first_ms / 1000;
    }
    w->st = W_CHECKING;
    w->inbox_only = inbox_only;
    w->want_check = false;
    w->cur = inbox_only && w->nfolders ? w->nfolders - 1 : 0;
    w->new_msgs = w->new_events = 0;
    check_folder(w);
}

static void next_folder(struct watch *w)
{
    w->cur++;
    check_folder(w);
}

/* The session's first check is done, or the session ended: a place for
 * another to start. */
static void started(struct watch *w)
{
    struct sync *s = w->s;
    if (!w->starting)
        return;
    w->starting = false;
    s->nstarting--;
    struct watch *next = s->queue_head;
    if (!next)
        return;
    s->queue_head = next->next_queued;
    if (!s->queue_head)
        s->queue_tail = NULL;
    next->queued = false;
    if (next->st == W_OFF && !s->stopping)
        sync_arm(next, 0);
}

static void wait_for_place(struct watch *w)
{
    struct sync *s = w->s;
    if (w->queued)
        return;
    w->queued = true;
    w->next_queued = NULL;
    if (s->queue_tail)
        s->queue_tail->next_queued = w;
    else
        s->queue_head = w;
    s->queue_tail = w;
}

static void check_done(struct watch *w)
{
    struct sync *s = w->s;
    if (!s->cfg.once) /* a session that stays (IDLE, polls) has started; a
                       * --once session's place is free when it has gone */
        started(w);
    struct mf_err err;
    int64_t now = now_of(s);
    if (store_imap_ok(s->cfg.st, w->imap.mailbox, now, &err) != MF_OK)
        note(s, "sync %s: %s", w->imap.mailbox, err.detail);
    w->last_ok = now;
    w->backoff_s = 0;
    s->stats.checks++;
    if (!w->inbox_only || w->new_msgs)
        note(s, "sync %s: checked %zu folder%s, %ld new message%s, %ld event%s",
             w->imap.mailbox, w->inbox_only ? (size_t)1 : w->nfolders,
             w->inbox_only || w->nfolders == 1 ? "" : "s", w->new_msgs,
             w->new_msgs == 1 ? "" : "s", w->new_events, w->new_events == 1 ? "" : "s");
    w->checked_once = true;
    if (s->cfg.once || s->stopping) {
        w->st = W_LOGOUT;
        imap_logout(sync_core(w));
    } else if (w->want_check) {
        begin_check(w, true); /* mail came while we were busy */
    } else if (!s->cfg.no_idle && imap_has_cap(sync_core(w), "IDLE")) {
        w->st = W_IDLING; /* INBOX, checked last, is selected */
        imap_request_idle(sync_core(w));
        sync_arm(w, poll_s(s));
    } else {
        w->st = W_WAITING;
        sync_arm(w, poll_s(s));
    }
}

static bool is_inbox(const char *name)
{
    return strcasecmp(name, "INBOX") == 0;
}

/* After IDLE said INBOX grew: INBOX is still selected (EXAMINE of a big
 * folder costs the server time), so search past the last UID at once. */
static void check_selected_inbox(struct watch *w)
{
    struct mf_err err;
    if (store_folder_get(w->s->cfg.st, w->imap.mailbox, w->folders[w->cur], &w->seen, &err) !=
        MF_OK) {
        fail(w, &err);
        return;
    }
    w->since = w->seen.last_uid == 0;
    w->scan_from = w->seen.last_uid + 1;
    w->scan_to = UINT32_MAX;
    search_window(w);
}

static void check_folder(struct watch *w)
{
    if (w->cur >= w->nfolders) {
        check_done(w);
        return;
    }
    if (w->inbox_only && w->inbox_selected && w->seen.uidvalidity == w->uidvalidity &&
        w->uidvalidity) {
        check_selected_inbox(w);
        return;
    }
    w->inbox_selected = false;
    if (imap_request_examine(sync_core(w), w->folders[w->cur], false) != MF_OK)
        next_folder(w);
}

/* The IMAP date two days before the first send (or now, when later). */
static void since_date(const struct watch *w, char *out, size_t size)
{
    time_t t = (time_t)w->first_send;
    time_t wall = (time_t)mf_wall_seconds(); /* a fast clock runs ahead of the mail */
    if (t > wall)
        t = wall;
    t -= 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(out, size, "%d-%s-%d", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900);
}

static void save_folder(struct watch *w)
{
    struct mf_err err;
    w->seen.uidvalidity = w->uidvalidity;
    w->seen.modseq = w->modseq;
    w->seen.checked_at = now_of(w->s);
    if (store_folder_put(w->s->cfg.st, w->imap.mailbox, w->folders[w->cur], &w->seen, &err) !=
        MF_OK)
        note(w->s, "sync %s: %s", w->imap.mailbox, err.detail);
}

static void on_examined(struct watch *w, const struct imap_select *sel)
{
    struct sync *s = w->s;
    struct mf_err err;
    const char *folder = w->folders[w->cur];
    w->inbox_selected = is_inbox(folder);
    if (store_folder_get(s->cfg.st, w->imap.mailbox, folder, &w->seen, &err) != MF_OK) {
        fail(w, &err);
        return;
    }
    w->uidvalidity = sel->uidvalidity;
    w->uidnext = sel->uidnext;
    w->modseq = sel->highestmodseq;
    bool rescan = w->seen.uidvalidity && w->seen.uidvalidity != sel->uidvalidity;
    if (rescan) {
        note(s, "sync %s: %s's UIDVALIDITY changed (%u -> %u): reading it again; nothing "
             "seen before counts twice", w->imap.mailbox, folder, w->seen.uidvalidity,
             sel->uidvalidity);
        w->seen.last_uid = 0;
    }
    if (!rescan && w->seen.uidvalidity && sel->uidnext && sel->uidnext - 1 <= w->seen.last_uid) {
        next_folder(w); /* nothing new */
        return;
    }
    if (!w->first_send && sel->uidnext) {
        /* nothing sent yet: nothing here can answer us */
        w->seen.last_uid = sel->uidnext - 1;
        save_folder(w);
        next_folder(w);
        return;
    }
    /* a first scan (or a rescan) reads only mail since the first send */
    w->since = w->seen.last_uid == 0;
    w->scan_from = w->seen.last_uid + 1;
    w->scan_to = sel->uidnext ? sel->uidnext - 1 : UINT32_MAX;
    search_window(w);
}

static int cmp_uid(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void fetch_next(struct watch *w)
{
    char set[FETCH_CHUNK * 11 + 1];
    size_t n = 0, end = w->pos + FETCH_CHUNK < w->nuids ? w->pos + FETCH_CHUNK : w->nuids;
    for (size_t i = w->pos; i < end; i++)
        n += (size_t)snprintf(set + n, sizeof set - n, "%s%u", i > w->pos ? "," : "", w->uids[i]);
    if (imap_request_uid_fetch_body(sync_core(w), set, INBOUND_RAW_MAX) != MF_OK) {
        struct mf_err err;
        mf_err_set(&err, MF_EINTERNAL, MF_LAYER_INTERNAL, "cannot ask for messages %s", set);
        fail(w, &err);
    }
}

/* Everything up to the window's end has been read: on to the next one. */
static void window_done(struct watch *w)
{
    if (w->window_end == UINT32_MAX) { /* no UIDNEXT: the search covered it all */
        save_folder(w);
        next_folder(w);
        return;
    }
    if (w->window_end > w->seen.last_uid)
        w->seen.last_uid = w->window_end;
    save_folder(w);
    w->scan_from = w->window_end + 1;
    search_window(w);
}

/* UID SEARCH of the next SEARCH_WINDOW UIDs: the answer stays a short line
 * however big the folder is. */
static void search_window(struct watch *w)
{
    if (w->scan_from > w->scan_to || w->scan_from == 0) {
        save_folder(w);
        next_folder(w);
        return;
    }
    char criteria[96], since[32] = "", end[16] = "*";
    w->window_end = w->scan_to == UINT32_MAX                ? UINT32_MAX
                    : w->scan_to - w->scan_from < SEARCH_WINDOW ? w->scan_to
                                                             : w->scan_from + SEARCH_WINDOW - 1;
    if (w->window_end != UINT32_MAX)
        snprintf(end, sizeof end, "%u", w->window_end);
    if (w->since) {
        char date[24];
        since_date(w, date, sizeof date);
        snprintf(since, sizeof since, " SINCE %s", date);
    }
    snprintf(criteria, sizeof criteria, "UID %u:%s%s", w->scan_from, end, since);
    if (imap_request_uid_search(sync_core(w), criteria) != MF_OK)
        next_folder(w);
}

static void on_searched(struct watch *w, const uint32_t *uids, size_t n)
{
    free(w->uids);
    w->uids = NULL;
    w->nuids = w->pos = 0;
    if (n && !(w->uids = malloc(n * sizeof *w->uids))) {
        struct mf_err err;
        mf_err_set(&err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        fail(w, &err);
        return;
    }
    /* "n:*" always names the last message, even when its UID is below n */
    for (size_t i = 0; i < n; i++)
        if (uids[i] >= w->scan_from && uids[i] <= w->window_end && uids[i] > w->seen.last_uid)
            w->uids[w->nuids++] = uids[i];
    if (w->nuids > 1)
        qsort(w->uids, w->nuids, sizeof *w->uids, cmp_uid);
    if (!w->nuids)
        window_done(w);
    else
        fetch_next(w);
}

static void on_fetched(struct watch *w, const struct imap_fetched *f, size_t n)
{
    struct sync *s = w->s;
    struct inbound_cfg ic = {.st = s->cfg.st, .unsub_key = s->cfg.unsub_key};
    int64_t now = now_of(s);
    for (size_t i = 0; i < n; i++) {
        if (!f[i].uid || f[i].uid <= w->seen.last_uid || !f[i].headers)
            continue;
        struct inbound_outcome out;
        struct mf_err err;
        s->stats.fetched++;
        w->new_msgs++;
        if (inbound_process(&ic, w->imap.mailbox, f[i].headers, f[i].headers_len, now, &out,
                            &err) != MF_OK) {
            /* the message stays unseen: the next check tries it again */
            fail(w, &err);
            return;
        }
        if (out.duplicate || !out.event_id) {
            s->stats.duplicates += out.duplicate;
            s->stats.ignored += !out.duplicate;
            continue;
        }
        s->stats.events++;
        w->new_events++;
        note(s, "sync %s: %s", w->imap.mailbox, out.note);
    }
    size_t end = w->pos + FETCH_CHUNK < w->nuids ? w->pos + FETCH_CHUNK : w->nuids;
    w->seen.last_uid = w->uids[end - 1];
    save_folder(w);
    w->pos = end;
    if (w->pos < w->nuids)
        fetch_next(w);
    else
        window_done(w);
}

/* ---- folders ------------------------------------------------------------------------- */

/* Folders that can hold answers: not Sent, Drafts, Trash, All, Flagged. */
static void pick_folders(struct watch *w, const struct imap_mailbox *mb, size_t n)
{
    const unsigned skip = IMAP_MB_NOSELECT | IMAP_MB_SENT | IMAP_MB_DRAFTS | IMAP_MB_TRASH |
                          IMAP_MB_ALL | IMAP_MB_FLAGGED;
    for (size_t i = 0; i < w->nfolders; i++)
        free(w->folders[i]);
    w->nfolders = 0;
    for (size_t i = 0; i < n && w->nfolders < MAX_FOLDERS - 1; i++)
        if (!(mb[i].flags & skip) && !is_inbox(mb[i].name) && !strpbrk(mb[i].name, "\"\\"))
            w->folders[w->nfolders] = strdup(mb[i].name), w->nfolders += !!w->folders[w->nfolders];
    w->folders[w->nfolders] = strdup("INBOX");
    w->nfolders += !!w->folders[w->nfolders];
}

/* ---- session events ------------------------------------------------------------------ */

static void on_done_request(struct watch *w, const struct imap_event *ev)
{
    if (w->failing)
        return;
    switch (ev->request) {
    case IMAP_REQ_LIST:
        if (!ev->ok)
            fail(w, &ev->err);
        else {
            pick_folders(w, ev->mailboxes, ev->nmailboxes);
            begin_check(w, false);
        }
        break;
    case IMAP_REQ_EXAMINE:
        if (ev->ok)
            on_examined(w, &ev->select);
        else
            next_folder(w); /* gone or not ours to read: the others still count */
        break;
    case IMAP_REQ_UID_SEARCH:
        if (ev->ok)
            on_searched(w, ev->uids, ev->nuids);
        else
            fail(w, &ev->err);
        break;
    case IMAP_REQ_UID_FETCH_BODY:
        if (ev->ok)
            on_fetched(w, ev->fetched, ev->nfetched);
        else
            fail(w, &ev->err);
        break;
    case IMAP_REQ_IDLE:
        w->idling = false;
        if (!ev->ok && ev->err.layer == MF_LAYER_FEATURE) {
            w->st = W_WAITING;
        } else if (!ev->ok) {
            fail(w, &ev->err);
        } else if (w->want_check) {
            begin_check(w, w->inbox_only);
        }
        break;
    default:
        break;
    }
}

static void on_event(void *ctx, const struct imap_event *ev)
{
    struct watch *w = ctx;
    switch (ev->type) {
    case IMAP_EV_READY:
        if (imap_request_list(sync_core(w)) != MF_OK) {
            struct mf_err err;
            mf_err_set(&err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
            fail(w, &err);
        }
        break;
    case IMAP_EV_DONE:
        on_done_request(w, ev);
        break;
    case IMAP_EV_IDLING:
        w->idling = w->st == W_IDLING && !w->failing;
        break;
    case IMAP_EV_EXISTS:
        if (w->st == W_IDLING && !w->want_check) {
            w->want_check = true;
            w->inbox_only = true;
            imap_idle_done(sync_core(w));
        }
        break;
    case IMAP_EV_ALERT:
        note(w->s, "sync %s: the server says: %s", w->imap.mailbox, ev->text ? ev->text : "");
        break;
    default:
        break;
    }
}

static void connect_watch(struct watch *w);

static void on_session_done(void *ctx, const struct mf_err *err)
{
    struct watch *w = ctx;
    struct sync *s = w->s;
    started(w);
    w->idling = false;
    imap_drive_free(w->drive);
    w->drive = NULL;
    mf_wipe_free_str(w->secret);
    w->secret = NULL;
    if (!w->failing && err && err->rc != MF_OK && w->st != W_LOGOUT) {
        w->failing = true;
        w->fail = *err;
    }
    if (!w->failing && (w->st == W_LOGOUT || s->stopping)) {
        w->st = W_DONE;
        return;
    }
    if (!w->failing) { /* the server closed a healthy session: come back soon */
        w->st = W_OFF;
        sync_arm(w, 1);
        return;
    }
    w->failing = false;
    s->stats.failures++;
    /* a refused token gets one fresh one at once */
    if (w->is_token && w->fail.layer == MF_LAYER_AUTH && !w->refreshed_once && !s->stopping) {
        w->refreshed_once = w->force_refresh = true;
        note(s, "sync %s: the server refused the OAuth access token; refreshing it and "
             "trying once more", w->imap.mailbox);
        w->st = W_OFF;
        sync_arm(w, 0);
        return;
    }
    char why[1400];
    describe_failure(w, &w->fail, why, sizeof why);
    struct mf_err e2;
    if (store_imap_failed(s->cfg.st, w->imap.mailbox, now_of(s), why, &e2) != MF_OK)
        note(s, "sync %s: %s", w->imap.mailbox, e2.detail);
    note(s, "sync %s: %s", w->imap.mailbox, why);
    if (s->cfg.once || s->stopping) {
        w->st = W_DONE;
        return;
    }
    w->backoff_s = w->backoff_s ? w->backoff_s * 2 : BACKOFF_FIRST;
    if (w->backoff_s > BACKOFF_MAX)
        w->backoff_s = BACKOFF_MAX;
    w->st = W_OFF;
    sync_arm(w, w->backoff_s);
}

static void connect_watch(struct watch *w)
{
    struct sync *s = w->s;
    struct mf_err err;
    mf_err_clear(&err);
    w->failing = false;
    w->inbox_selected = false;
    bool force = w->force_refresh;
    w->force_refresh = false;
    enum mf_rc rc = store_account_get(s->cfg.st, w->imap.mailbox, &w->acct, &err);
    if (rc == MF_OK)
        rc = oauth_account_secret(s->cfg.st, s->cfg.sec, &w->acct, force, &w->secret,
                                  &w->is_token, &err);
    if (rc == MF_OK) {
        w->creds = (struct sasl_creds){.user = w->acct.user, .secret = w->secret,
                                       .host = w->imap.host, .port = w->imap.port};
        enum imap_security sec = !strcmp(w->imap.security, "tls")    ? IMAP_SEC_TLS
                                 : !strcmp(w->imap.security, "none") ? IMAP_SEC_NONE
                                                                     : IMAP_SEC_STARTTLS;
        struct imap_drive_cfg cfg = {
            .session = {.base = s->cfg.base, .dns = s->cfg.dns, .tls = s->cfg.tls,
                        .host = w->imap.host, .port = w->imap.port},
            .imap = {.security = sec, .creds = w->secret ? &w->creds : NULL,
                     .secret_is_token = w->is_token,
                     .mech = sasl_mech_parse(w->acct.auth, strlen(w->acct.auth))},
            .obs = {.transport = {.on_done = on_session_done}, .on_event = on_event},
            .ctx = w,
        };
        w->st = W_CONNECTING;
        w->drive = imap_drive_start(&cfg, &err);
        if (w->drive) {
            w->starting = true;
            s->nstarting++;
            return;
        }
        rc = err.rc;
    }
    /* could not even start: recorded like a failed session */
    mf_wipe_free_str(w->secret);
    w->secret = NULL;
    w->failing = true;
    w->fail = err;
    w->st = W_LOGOUT;
    on_session_done(w, &err);
    (void)rc;
}

void sync_on_timer(evutil_socket_t fd, short what, void *ctx)
{
    (void)fd;
    (void)what;
    struct watch *w = ctx;
    switch (w->st) {
    case W_OFF:
        if (w->s->nstarting >= MAX_STARTING)
            wait_for_place(w);
        else
            connect_watch(w);
        break;
    case W_IDLING:
        if (!w->want_check) {
            w->want_check = true;
            w->inbox_only = false;
            imap_idle_done(sync_core(w));
            imap_drive_kick(w->drive);
        }
        break;
    case W_WAITING:
        begin_check(w, false);
        imap_drive_kick(w->drive);
        break;
    default:
        break;
    }
}
