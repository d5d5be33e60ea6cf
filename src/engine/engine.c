#include "engine/engine.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>

#include "diag/explain.h"
#include "engine/engine_int.h"
#include "engine/render.h"
#include "engine/sched.h"
#include "mail/addr.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/tz.h"

#define DUE_BATCH 500

int64_t engine_now(struct engine *e)
{
    return e->cfg.clock ? e->cfg.clock(e->cfg.clock_ctx) : mf_wall_seconds();
}

int64_t engine_now_ms(struct engine *e)
{
    if (e->cfg.clock_ms)
        return e->cfg.clock_ms(e->cfg.clock_ctx);
    if (e->cfg.clock)
        return e->cfg.clock(e->cfg.clock_ctx) * 1000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t engine_random(struct engine *e)
{
    (void)e;
    return randombytes_random();
}

void engine_note(struct engine *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mf_notev(e->cfg.note, e->cfg.note_ctx, fmt, ap);
    va_end(ap);
}

struct engine *engine_new(const struct engine_cfg *cfg, struct mf_err *err)
{
    if (sodium_init() < 0) {
        mf_err_set(err, MF_EINTERNAL, MF_LAYER_INTERNAL, "libsodium failed to start");
        return NULL;
    }
    struct engine *e = calloc(1, sizeof *e);
    if (!e) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    if (e->cfg.batch <= 0)
        e->cfg.batch = 200;
    if (render_unsub_key(e->cfg.st, e->unsub_key, err) != MF_OK) {
        engine_free(e);
        return NULL;
    }
    return e;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    engine_send_close(e);
    if (e->nretry)
        engine_note(e, "%zu outcome%s could not be recorded; the next start settles them "
                    "(never sent: queued again; sent but unconfirmed: unknown)", e->nretry,
                    e->nretry == 1 ? "" : "s");
    free(e->retry);
    free(e->grouped);
    free(e->holds);
    for (size_t i = 0; i < e->ncamps; i++)
        campaign_free(e->camps[i].spec);
    free(e->camps);
    free(e);
}

enum mf_rc engine_event_env(struct engine *e, struct event_base **base, struct dns **dns,
                            SSL_CTX **tls, struct mf_err *err)
{
    enum mf_rc rc = engine_send_env(e, err);
    *base = e->base;
    *dns = e->dns;
    *tls = e->tls;
    return rc;
}

const struct engine_stats *engine_stats(const struct engine *e)
{
    return &e->stats;
}

enum mf_rc engine_recover(struct engine *e, int *requeued, int *unknown, struct mf_err *err)
{
    enum mf_rc rc = store_outbox_recover(e->cfg.st, requeued, unknown, err);
    if (rc == MF_OK && (*requeued || *unknown))
        engine_note(e, "recovered the outbox: %d message%s requeued (never sent), %d "
                       "unknown (maybe delivered: see mailfleet status)",
                    *requeued, *requeued == 1 ? "" : "s", *unknown);
    return rc;
}

/* The parsed campaign (cached for the engine's life). */
const struct campaign_spec *engine_campaign(struct engine *e, int64_t id,
                                           struct mf_err *err)
{
    for (size_t i = 0; i < e->ncamps; i++)
        if (e->camps[i].id == id)
            return e->camps[i].spec;
    struct store_campaign c;
    if (store_campaign_by_id(e->cfg.st, id, &c, err) != MF_OK)
        return NULL;
    struct campaign_spec *spec = NULL;
    enum mf_rc rc = campaign_parse(c.spec, strlen(c.spec), c.name, &spec, err);
    store_campaign_clear(&c);
    struct engine_campaign *bigger =
        rc == MF_OK ? realloc(e->camps, (e->ncamps + 1) * sizeof *bigger) : NULL;
    if (!bigger) {
        campaign_free(spec);
        return NULL;
    }
    e->camps = bigger;
    e->camps[e->ncamps++] = (struct engine_campaign){.id = id, .spec = spec};
    return spec;
}

/* ---- limits ------------------------------------------------------------------------- */

static void limits_of(struct engine *e, const struct store_mailbox *m,
                      struct sched_limits *l)
{
    *l = (struct sched_limits){.per_minute = m->per_minute, .rcpt_per_day = m->rcpt_per_day,
                               .max_connections = m->max_connections,
                               .daily_cap = m->daily_cap, .ramp_start = m->ramp_start,
                               .ramp_days = m->ramp_days, .started_at = m->started_at,
                               .tenant_cap = -1};
    if (m->tenant[0])
        store_tenant_cap(e->cfg.st, m->tenant, &l->tenant_cap, NULL);
}

/* Usage from the send log, plus what is queued and about to count. */
static enum mf_rc usage_of(struct engine *e, const struct store_mailbox *m,
                           const struct sched_limits *l, int64_t now, struct sched_usage *u,
                           struct mf_err *err)
{
    memset(u, 0, sizeof *u);
    u->paused = strcmp(m->status, "active") != 0;
    u->backoff_until = m->backoff_until;
    u->next_send_at = e->cfg.ignore_gap ? 0 : m->next_send_at;
    /* paused, backing off or in its gap for the whole tick: sched_check
     * stops there, and the send log is not asked (most of a large fleet,
     * most of the time) */
    if (u->paused || u->backoff_until > now || u->next_send_at > now)
        return MF_OK;
    struct store *st = e->cfg.st;
    /* the minute is counted in ms, with a second's margin: the provider
     * stamps a message a little before we see its 250 */
    int64_t now_ms = engine_now_ms(e), pending = 0, rcpts = 0;
    enum mf_rc rc = store_sendlog_mailbox(st, m->account, now_ms - 61000, &u->msgs_60s,
                                          &rcpts, err);
    if (rc == MF_OK)
        rc = store_sendlog_mailbox(st, m->account, now_ms - 86400000LL, &u->msgs_24h,
                                   &u->rcpts_24h, err);
    if (rc == MF_OK)
        rc = store_outbox_pending(st, m->account, &pending, err);
    if (rc == MF_OK)
        rc = store_sendlog_nth_last(st, m->account, l->per_minute, &u->nth_last_ms, err);
    if (rc == MF_OK && u->msgs_24h > 0)
        rc = store_sendlog_nth_last(st, m->account, (int)u->msgs_24h, &u->oldest_24h_ms, err);
    if (rc == MF_OK && m->tenant[0] && l->tenant_cap >= 0)
        rc = store_sendlog_tenant(st, m->tenant, now_ms - 86400000LL,
                                  &u->tenant_external_24h, err);
    u->msgs_60s += pending;
    u->msgs_24h += pending;
    u->rcpts_24h += pending;
    u->tenant_external_24h += pending;
    u->connections = 0; /* the sender checks its own connection count */
    return rc;
}

/* ---- choosing a mailbox --------------------------------------------------------------- */

/* Each tick reads every mailbox's limits and usage once; queueing a message
 * updates the copy, so one tick never overshoots and the store is not asked
 * again per enrollment. */
struct mbstate {
    struct store_mailbox m;
    struct sched_limits l;
    struct sched_usage u;
};

struct load_ctx {
    struct engine *e;
    int64_t now;
    struct mbstate *v;
    size_t n, cap;
    struct mf_err *err;
    enum mf_rc rc;
};

static int load_cb(void *ctx, const struct store_mailbox *m)
{
    struct load_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct mbstate *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->rc = mf_err_set(c->err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
            return 1;
        }
        c->v = v;
        c->cap = cap;
    }
    struct mbstate *b = &c->v[c->n];
    b->m = *m;
    limits_of(c->e, m, &b->l);
    c->rc = usage_of(c->e, m, &b->l, c->now, &b->u, c->err);
    c->n += c->rc == MF_OK;
    return c->rc != MF_OK;
}

static int mb_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mbstate *)elem)->m.account);
}

/* v is in the store's order: by account (store_mailbox_list). */
static struct mbstate *mb_find(struct mbstate *v, size_t n, const char *account)
{
    return n ? bsearch(account, v, n, sizeof *v, mb_cmp) : NULL;
}

/* The mailbox with the most spare capacity that may send now; else NULL and
 * *earliest gets when one frees up. */
static struct mbstate *mb_pick(struct mbstate *v, size_t n, int64_t now, int64_t *earliest)
{
    struct mbstate *best = NULL;
    int best_spare = 0;
    for (size_t i = 0; i < n; i++) {
        struct sched_verdict verdict = sched_check(&v[i].l, &v[i].u, 1, 1, now);
        if (verdict.block != SCHED_OK) {
            if (verdict.not_before > now && (!*earliest || verdict.not_before < *earliest))
                *earliest = verdict.not_before;
            continue;
        }
        int spare = sched_spare(&v[i].l, &v[i].u, now);
        if (spare > best_spare) {
            best = &v[i];
            best_spare = spare;
        }
    }
    return best;
}

/* What one queued message uses up, until the next tick reads the store. */
static void mb_charge(struct mbstate *v, size_t n, struct mbstate *b, int64_t next_send)
{
    b->u.msgs_60s++;
    b->u.msgs_24h++;
    b->u.rcpts_24h++;
    b->u.next_send_at = next_send;
    for (size_t i = 0; b->m.tenant[0] && i < n; i++)
        if (strcmp(v[i].m.tenant, b->m.tenant) == 0)
            v[i].u.tenant_external_24h++;
}

/* ---- the tick ------------------------------------------------------------------------- */

struct tick {
    struct engine *e;
    int64_t now;
    /* no mailbox could take a first touch (and when one may): none will
     * later in the tick, whose queueing only uses capacity up */
    bool no_first_touch, no_first_touch_at_load;
    int64_t first_touch_at;
    bool loaded;                /* mbs read (at the first due enrollment) */
    struct mbstate *mbs;
    size_t nmbs;
    int queued;
    int64_t next_due;
    struct mf_err *err;
    enum mf_rc rc;
};

/* ---- holds: a mailbox's due follow-ups left unread a while ------------------------------- */

static int hold_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct engine_hold *)elem)->account);
}

static struct engine_hold *hold_find(struct engine *e, const char *account)
{
    return e->nholds ? bsearch(account, e->holds, e->nholds, sizeof *e->holds, hold_cmp)
                     : NULL;
}

/* Out of memory, the mailbox is simply not held: its follow-ups are read
 * every tick, as they would be without holds. */
static void hold_set(struct engine *e, const char *account, int64_t until)
{
    struct engine_hold *h = hold_find(e, account);
    if (h) {
        h->until = until;
        return;
    }
    if (e->nholds == e->capholds) {
        size_t cap = e->capholds ? 2 * e->capholds : 16;
        struct engine_hold *v = realloc(e->holds, cap * sizeof *v);
        if (!v)
            return;
        e->holds = v;
        e->capholds = cap;
    }
    size_t at = 0;
    while (at < e->nholds && strcmp(e->holds[at].account, account) < 0)
        at++;
    memmove(&e->holds[at + 1], &e->holds[at], (e->nholds - at) * sizeof *e->holds);
    snprintf(e->holds[at].account, sizeof e->holds[at].account, "%s", account);
    e->holds[at].until = until;
    e->nholds++;
}

void engine_hold_clear(struct engine *e, const char *account)
{
    struct engine_hold *h = hold_find(e, account);
    if (h)
        h->until = 0;
}

/* The store's data_version, or -1 when it cannot be read. */
static int64_t data_version(struct engine *e)
{
    int64_t version = 0;
    struct mf_err err;
    mf_err_clear(&err);
    return store_data_version(e->cfg.st, &version, &err) == MF_OK ? version : -1;
}

/* Another program changed the store (a person resumed a mailbox or raised
 * a cap, say): every held mailbox is looked at again. */
static void holds_check(struct engine *e)
{
    int64_t version = data_version(e);
    if (version >= 0 && version != e->data_version) {
        e->data_version = version;
        e->nholds = 0;
    }
}

/* Whether a tick now would find, as the last one did, no mailbox able to
 * send: the clock has not reached the first that frees up, no outcome was
 * recorded, no other program changed the store. Its other work (stopping
 * a lead found inactive, moving a closed window's due time) waits for the
 * next tick without changing what is sent. */
static bool still_quiet(struct engine *e)
{
    if (!e->quiet_until || engine_now(e) >= e->quiet_until || e->outcomes != e->quiet_outcomes ||
        e->nretry)
        return false;
    return data_version(e) == e->quiet_version;
}

static void due_later(struct tick *t, int64_t when)
{
    if (when > t->now && (!t->next_due || when < t->next_due))
        t->next_due = when;
}

/* The lead's zone: its field named by the campaign, its own, else the mailbox's. */
static void lead_zone(const struct campaign_spec *c, const struct store_lead *lead,
                      const char *mailbox_zone, char *out, size_t size)
{
    json_error_t je;
    json_t *f = json_loads(lead->fields, 0, &je);
    const char *z = json_string_value(json_object_get(f, c->timezone_field));
    if (z && mf_tz_valid(z))
        snprintf(out, size, "%s", z);
    else if (mf_tz_valid(lead->timezone))
        snprintf(out, size, "%s", lead->timezone);
    else
        snprintf(out, size, "%s", mailbox_zone && *mailbox_zone ? mailbox_zone : "UTC");
    json_decref(f);
}

static enum mf_rc stop_enrollment(struct store *st, struct store_enrollment *en,
                                  const char *state, const char *reason, struct mf_err *err)
{
    snprintf(en->state, sizeof en->state, "%s", state);
    snprintf(en->reason, sizeof en->reason, "%s", reason);
    return store_enrollment_update(st, en, err);
}

/* Renders and queues one message; the enrollment waits for its outcome. */
static enum mf_rc queue_message(struct tick *t, struct store_enrollment *en,
                                const struct campaign_spec *c, const struct store_lead *lead,
                                struct mbstate *b)
{
    const struct store_mailbox *mb = &b->m;
    struct engine *e = t->e;
    struct store *st = e->cfg.st;
    struct store_account acct;
    enum mf_rc rc = store_account_get(st, mb->account, &acct, t->err);
    if (rc != MF_OK)
        return rc;
    const char *from = acct.from_addr[0] ? acct.from_addr : acct.user;
    struct render_in in = {.campaign = c, .campaign_id = en->campaign_id, .step = en->next_step,
                           .lead_id = lead->id, .lead_address = lead->address,
                           .lead_fields = lead->fields, .from_addr = from,
                           .thread_id = en->thread_id, .thread_subject = en->thread_subject,
                           .last_message_id = en->last_message_id,
                           .unsub_key = e->unsub_key, .now = t->now};
    struct render_out out;
    struct mf_err rerr;
    mf_err_clear(&rerr);
    rc = render_message(&in, &out, &rerr);
    if (rc != MF_OK) {
        /* a missing field or a broken template skips this lead, with the reason */
        e->stats.skipped++;
        engine_note(e, "skipped %s (%s step %d): %s", lead->address, c->name,
                    en->next_step + 1, rerr.detail);
        store_event_add(st, engine_now(e), "skipped", lead->id, en->campaign_id, mb->account, 0, rerr.detail,
                        NULL, NULL, NULL);
        return stop_enrollment(st, en, "skipped", rerr.detail, t->err);
    }
    struct store_outbox o = {.enrollment_id = en->id, .step = en->next_step,
                             .raw = (char *)mf_buf_data(&out.raw),
                             .raw_len = mf_buf_len(&out.raw)};
    snprintf(o.mailbox, sizeof o.mailbox, "%s", mb->account);
    snprintf(o.message_id, sizeof o.message_id, "%s", out.message_id);
    snprintf(o.sender, sizeof o.sender, "%s", from);
    snprintf(o.rcpt, sizeof o.rcpt, "%s", lead->address);
    snprintf(o.subject, sizeof o.subject, "%s", out.subject);
    int64_t id = 0;
    /* inside the tick's transaction: a crash loses the whole tick's queue,
     * none of which was sent */
    rc = store_outbox_add(st, &o, &id, t->err);
    if (rc == MF_OK) {
        snprintf(en->mailbox, sizeof en->mailbox, "%s", mb->account);
        snprintf(en->state, sizeof en->state, "sending");
        if (c->steps[en->next_step].new_thread || !en->thread_id[0]) {
            /* The thread this message starts is written now, in the tick's
             * one transaction, rather than when it is accepted: the row
             * takes its full size here instead of splitting pages in the
             * commit of each outcome. Only a reply to the sent message reads
             * it (a retry of a thread's first step starts it afresh, an
             * unknown send resolved or a sent one writes the same). */
            snprintf(en->thread_id, sizeof en->thread_id, "%s", o.message_id);
            snprintf(en->thread_subject, sizeof en->thread_subject, "%s", o.subject);
            snprintf(en->last_message_id, sizeof en->last_message_id, "%s", o.message_id);
        }
        rc = store_enrollment_update(st, en, t->err);
    }
    int gap = sched_gap(c->gap_min_s, c->gap_max_s, engine_random(e));
    if (rc == MF_OK)
        rc = store_mailbox_set_next_send(st, mb->account, t->now + gap, t->err);
    render_out_free(&out);
    if (rc == MF_OK) {
        mb_charge(t->mbs, t->nmbs, b, e->cfg.ignore_gap ? 0 : t->now + gap);
        t->queued++;
        e->stats.queued++;
    }
    return rc;
}

static enum mf_rc consider(struct tick *t, struct store_enrollment *en)
{
    struct engine *e = t->e;
    struct store *st = e->cfg.st;
    const struct campaign_spec *c = engine_campaign(e, en->campaign_id, t->err);
    if (!c)
        return stop_enrollment(st, en, "skipped", t->err->detail, t->err);
    if (!en->mailbox[0] && t->no_first_touch) {
        /* a first touch no mailbox can take this tick: not even its lead
         * is read (a fleet in its gaps re-reads a batch of them each tick) */
        due_later(t, t->first_touch_at ? t->first_touch_at : t->now + 60);
        return MF_OK;
    }
    struct store_lead lead;
    enum mf_rc rc = store_lead_get(st, en->lead_id, &lead, t->err);
    if (rc != MF_OK)
        return rc;
    bool suppressed = false;
    char why[400] = "";
    if (strcmp(lead.status, "active") != 0) {
        snprintf(why, sizeof why, "the lead is %s", lead.status);
        rc = stop_enrollment(st, en, "stopped", why, t->err);
    } else if ((rc = store_suppressed(st, lead.address, lead.domain, &suppressed, why,
                                      sizeof why, t->err)) == MF_OK && suppressed) {
        e->stats.skipped++;
        rc = stop_enrollment(st, en, "stopped", why, t->err);
    } else if (rc == MF_OK) {
        struct mbstate *b = en->mailbox[0] ? mb_find(t->mbs, t->nmbs, en->mailbox) : NULL;
        char zone[64];
        lead_zone(c, &lead, b ? b->m.timezone : "UTC", zone, sizeof zone);
        struct sched_window w = {c->window_start_min, c->window_end_min, c->days_mask};
        int64_t open = sched_window_next(&w, zone, t->now);
        if (en->mailbox[0] && !b) {
            rc = stop_enrollment(st, en, "stopped", "its mailbox no longer exists", t->err);
        } else if (open > t->now) {
            en->next_due = open; /* outside the lead's window: come back then */
            rc = store_enrollment_update(st, en, t->err);
            due_later(t, open);
        } else if (b && e->cfg.followups_ok &&
                   !e->cfg.followups_ok(e->cfg.followups_ctx, b->m.account, t->now)) {
            due_later(t, t->now + 60); /* replies unread: the follow-up waits */
            hold_set(e, b->m.account, t->now + 60);
        } else if (b) {
            /* a follow-up: its mailbox, or wait (and the mailbox's other
             * follow-ups with it) */
            struct sched_verdict v = sched_check(&b->l, &b->u, 1, 1, t->now);
            if (v.block == SCHED_OK) {
                rc = queue_message(t, en, c, &lead, b);
            } else {
                due_later(t, v.not_before ? v.not_before : t->now + 60);
                hold_set(e, b->m.account, sched_hold_until(&v, t->now));
            }
        } else {
            int64_t earliest = t->first_touch_at;
            b = t->no_first_touch ? NULL : mb_pick(t->mbs, t->nmbs, t->now, &earliest);
            if (b) {
                rc = queue_message(t, en, c, &lead, b);
            } else {
                t->no_first_touch = true;
                t->first_touch_at = earliest;
                due_later(t, earliest ? earliest : t->now + 60);
            }
        }
    }
    store_lead_clear(&lead);
    return rc;
}

/* Every mailbox's limits and usage, read when the tick first needs them: a
 * tick with nothing due (the nights, or between steps) reads no mailbox,
 * which with thousands of them was most of an idle run's work. */
static enum mf_rc load_mailboxes(struct tick *t)
{
    struct load_ctx lc = {.e = t->e, .now = t->now, .err = t->err};
    enum mf_rc rc = store_mailbox_list(t->e->cfg.st, load_cb, &lc, t->err);
    t->mbs = lc.v;
    t->nmbs = lc.n;
    t->loaded = true;
    int64_t earliest = 0;
    if (!mb_pick(t->mbs, t->nmbs, t->now, &earliest)) {
        t->no_first_touch = t->no_first_touch_at_load = true;
        t->first_touch_at = earliest;
    }
    return rc == MF_OK ? lc.rc : rc;
}

/* Read no due follow-up of a held mailbox: without this, a paused mailbox
 * (or one at its cap) with a tick's batch of due follow-ups filled every
 * tick, and no other mailbox's follow-up was ever read. A hold made during
 * a tick counts from the next one (the tick's rows are read first). */
static bool held(void *ctx, const char *mailbox)
{
    struct tick *t = ctx;
    const struct engine_hold *h = *mailbox ? hold_find(t->e, mailbox) : NULL;
    return h && h->until > t->now;
}

static int due_cb(void *ctx, const struct store_enrollment *row)
{
    struct tick *t = ctx;
    struct store_enrollment en = *row;
    t->rc = t->loaded ? MF_OK : load_mailboxes(t);
    if (t->rc == MF_OK)
        t->rc = consider(t, &en);
    return t->rc != MF_OK;
}

enum mf_rc engine_tick(struct engine *e, int *queued, int64_t *next_due, struct mf_err *err)
{
    struct tick t = {.e = e, .now = engine_now(e), .err = err};
    holds_check(e);
    e->quiet_until = 0;
    /* one transaction per tick: one commit for all it queues */
    enum mf_rc rc = store_begin(e->cfg.st, err);
    if (rc == MF_OK) {
        rc = store_enrollments_due(e->cfg.st, t.now, DUE_BATCH, held, due_cb, &t, err);
        rc = rc == MF_OK ? store_commit(e->cfg.st, err) : (store_rollback(e->cfg.st), rc);
        if (rc != MF_OK)
            t.queued = 0;
    }
    free(t.mbs);
    if (rc == MF_OK && t.rc == MF_OK && t.loaded && t.no_first_touch_at_load) {
        e->quiet_until = t.first_touch_at ? t.first_touch_at : t.now + 60;
        e->quiet_outcomes = e->outcomes;
        e->quiet_version = e->data_version;
    }
    if (rc == MF_OK)
        rc = t.rc;
    *queued = t.queued;
    *next_due = t.next_due;
    return rc;
}

/* Waits on the event loop at most ms (real time). */
static void pump(struct engine *e, int ms)
{
    if (!e->base) {
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(e->base, &tv);
    event_base_dispatch(e->base);
}

/* Real time between ticks while connections are open: a connection that
 * closes starts the next one at once, but the tick (every mailbox's limits,
 * a batch of due enrollments) waits its turn, or a fleet of short
 * connections ticked at every close. */
#define TICK_EVERY_MS 50

enum mf_rc engine_run(struct engine *e, int64_t until, bool stop_when_idle,
                      volatile sig_atomic_t *stop, struct mf_err *err)
{
    enum mf_rc rc = MF_OK;
    bool busy = false;
    double last_tick = -TICK_EVERY_MS;
    while (rc == MF_OK && !(stop && *stop)) {
        int64_t now = engine_now(e);
        if (until && now >= until)
            break;
        int queued = 0;
        int64_t next_due = 0, open = 0, earliest = 0;
        if (e->nretry)
            engine_retry_outcomes(e);
        if ((e->drives == 0 || mf_now_ms() - last_tick >= TICK_EVERY_MS) && !still_quiet(e)) {
            last_tick = mf_now_ms();
            rc = engine_tick(e, &queued, &next_due, err);
        }
        if (rc == MF_OK)
            rc = engine_send_start(e, err);
        /* idle: nothing in flight and nothing left to send (asked only then:
         * the count reads every open enrollment) */
        if (rc == MF_OK && stop_when_idle && e->drives == 0)
            rc = store_enrollments_open(e->cfg.st, &open, &earliest, err);
        if (rc == MF_ESTORE && store_busy(e->cfg.st)) {
            /* another command holds the store (a big import): wait, go on */
            if (!busy)
                engine_note(e, "the store is busy (%s): waiting for it", err->detail);
            busy = true;
            mf_err_clear(err);
            rc = MF_OK;
            queued = 0;
            open = 1;
        } else if (rc == MF_OK && busy) {
            engine_note(e, "the store is free again");
            busy = false;
        }
        if (rc == MF_OK && stop_when_idle && open == 0 && e->drives == 0 && !e->nretry)
            break;
        if (rc == MF_OK && !e->cfg.simulate)
            pump(e, queued ? 20 : 100);
        if (e->base) /* a loopbreak can end the turn before the commit event */
            engine_group_commit(e);
    }
    while (e->drives > 0 && e->base) /* SIGTERM: what is in flight finishes */
        event_base_loop(e->base, EVLOOP_ONCE);
    if (e->base)
        engine_group_commit(e);
    return rc;
}
