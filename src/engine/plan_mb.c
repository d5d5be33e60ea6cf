/* engine/plan: the mailboxes' side — their rolling windows, the engine's
 * usage and verdict for each, and which one takes a first touch.
 *
 * The engine reads every mailbox's usage at every tick; with thousands of
 * mailboxes and thousands of ticks the plan cannot. A verdict only changes
 * when the mailbox sends, or when time lets something go: a send leaves the
 * 61 s or 24 h window, the gap or the backoff ends, a ramp day begins, a
 * tenant's send ages out. So each mailbox is looked at again only at the
 * earliest such moment (the check heap); in between it stays where it was:
 * in the ready heap, keyed by its spare capacity, when every limit lets it
 * send, else out of it. A tenant cap reached by another mailbox of the
 * tenant is found when that mailbox reaches the top of the ready heap. */
#include <stdlib.h>
#include <string.h>

#include "engine/plan_int.h"

#define DAY 86400

/* ---- series ----------------------------------------------------------------------- */

static bool series_grow(struct plan_series *s)
{
    size_t cap = s->cap ? 2 * s->cap : 16;
    int64_t *at = realloc(s->at, cap * sizeof *at);
    if (at)
        s->at = at;
    int64_t *sum = at ? realloc(s->sum, (cap + 1) * sizeof *sum) : NULL;
    if (!sum)
        return false;
    if (!s->sum)
        sum[0] = 0;
    s->sum = sum;
    s->cap = cap;
    return true;
}

bool plan_series_add(struct plan_series *s, int64_t at_ms, int weight)
{
    if (s->n == s->cap && !series_grow(s))
        return false;
    size_t i = s->n;
    if (i > 0 && s->at[i - 1] > at_ms) {
        /* before a send of the future: in its place, and the windows are
         * found again from the start */
        while (i > 0 && s->at[i - 1] > at_ms)
            i--;
        memmove(s->at + i + 1, s->at + i, (s->n - i) * sizeof *s->at);
        s->lo61 = s->lo24 = 0;
    }
    s->at[i] = at_ms;
    /* every prefix from i on gains the new weight */
    for (size_t k = s->n + 1; k > i; k--)
        s->sum[k] = s->sum[k - 1] + weight;
    s->n++;
    return true;
}

void plan_series_advance(struct plan_series *s, int64_t now_ms)
{
    while (s->lo61 < s->n && s->at[s->lo61] <= now_ms - 61000)
        s->lo61++;
    while (s->lo24 < s->n && s->at[s->lo24] <= now_ms - 86400000LL)
        s->lo24++;
}

void plan_series_free(struct plan_series *s)
{
    free(s->at);
    free(s->sum);
    memset(s, 0, sizeof *s);
}

/* The weight inside the 24 h window. */
static int64_t sum24(const struct plan_series *s)
{
    return s->n ? s->sum[s->n] - s->sum[s->lo24] : 0;
}

/* When the oldest send inside a window leaves it (the first whole second). */
static int64_t ages_out(const struct plan_series *s, size_t lo, int64_t window_ms)
{
    return lo < s->n ? (s->at[lo] + window_ms + 999) / 1000 : PLAN_NEVER;
}

/* ---- heaps of mailboxes -------------------------------------------------------------- */

enum heap_kind { READY, CHECKS };

static struct plan_heap *heap_of(struct plan *p, enum heap_kind k)
{
    return k == READY ? &p->ready : &p->checks;
}

/* Ready: most spare first; checks: earliest first; then the engine's
 * mailbox order (by name, their order here). */
static int64_t key_of(const struct plan *p, enum heap_kind k, int i)
{
    return k == READY ? -(int64_t)p->mbs[i].spare : p->mbs[i].check_at;
}

static bool before(const struct plan_heap_ent *a, const struct plan_heap_ent *b)
{
    return a->key != b->key ? a->key < b->key : a->i < b->i;
}

static void heap_put(struct plan_heap *h, int at, struct plan_heap_ent x)
{
    h->v[at] = x;
    h->pos[x.i] = at;
}

static void sift(struct plan_heap *h, int at)
{
    struct plan_heap_ent x = h->v[at];
    while (at > 0 && before(&x, &h->v[(at - 1) / 2])) {
        heap_put(h, at, h->v[(at - 1) / 2]);
        at = (at - 1) / 2;
    }
    for (;;) {
        int c = 2 * at + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
            c++;
        if (!before(&h->v[c], &x))
            break;
        heap_put(h, at, h->v[c]);
        at = c;
    }
    heap_put(h, at, x);
}

/* Inserts mailbox i, or moves it after its key changed. */
static void heap_set(struct plan *p, enum heap_kind k, int i)
{
    struct plan_heap *h = heap_of(p, k);
    int at = h->pos[i] == PLAN_NONE ? h->n++ : h->pos[i];
    heap_put(h, at, (struct plan_heap_ent){.key = key_of(p, k, i), .i = i});
    sift(h, at);
}

static void heap_remove(struct plan *p, enum heap_kind k, int i)
{
    struct plan_heap *h = heap_of(p, k);
    int at = h->pos[i];
    if (at == PLAN_NONE)
        return;
    h->pos[i] = PLAN_NONE;
    struct plan_heap_ent last = h->v[--h->n];
    if (at < h->n) {
        heap_put(h, at, last);
        sift(h, at);
    }
}

static bool heap_init(struct plan_heap *h, size_t n)
{
    h->v = malloc(n * sizeof *h->v);
    h->pos = malloc(n * sizeof *h->pos);
    if (!h->v || !h->pos)
        return false;
    for (size_t i = 0; i < n; i++)
        h->pos[i] = PLAN_NONE;
    h->cap = (int)n;
    return true;
}

bool plan_heaps_init(struct plan *p)
{
    size_t n = p->nmbs ? p->nmbs : 1;
    if (!heap_init(&p->ready, n) || !heap_init(&p->checks, n))
        return false;
    for (size_t i = 0; i < p->nmbs; i++) {
        p->mbs[i].check_at = p->cfg->start; /* everyone is looked at on the first tick */
        heap_set(p, CHECKS, (int)i);
    }
    return true;
}

/* ---- usage and verdicts -------------------------------------------------------------- */

void plan_mb_usage(struct plan *p, struct plan_mb *m, int64_t now, struct sched_usage *u)
{
    int64_t now_ms = now * 1000;
    struct plan_series *s = &m->sends;
    plan_series_advance(s, now_ms);
    int64_t charges = m->stamp == p->tick ? m->charges : 0;
    memset(u, 0, sizeof *u);
    /* as engine.c's usage_of: the send log, plus what the outbox holds
     * (sent at the flush, counted from the moment it is queued) */
    u->msgs_60s = (int64_t)(s->n - s->lo61) + m->pending;
    u->msgs_24h = (int64_t)(s->n - s->lo24) + m->pending;
    u->rcpts_24h = sum24(s) + m->pending;
    u->nth_last_ms = s->n >= (size_t)m->l.per_minute ? s->at[s->n - (size_t)m->l.per_minute] : 0;
    u->oldest_24h_ms = s->n > s->lo24 ? s->at[s->lo24] : 0;
    /* the outbox at the tick's start, and every message the tenant's
     * mailboxes queued in this tick */
    u->tenant_external_24h = m->pending - charges;
    if (m->tenant != PLAN_NONE) {
        struct plan_tenant *t = &p->tenants[m->tenant];
        if (t->cap >= 0) {
            plan_series_advance(&t->ext, now_ms);
            u->tenant_external_24h += sum24(&t->ext);
        }
        u->tenant_external_24h += t->stamp == p->tick ? t->charges : 0;
    }
    u->paused = m->paused;
    u->backoff_until = m->backoff_until;
    u->next_send_at = m->next_send_at;
}

/* The next day of the ramp, while it still rises. */
static int64_t ramp_next(const struct sched_limits *l, int64_t now)
{
    if (l->ramp_start <= 0 || l->ramp_days <= 1 || l->ramp_start >= l->daily_cap)
        return PLAN_NEVER;
    int64_t day = now < l->started_at ? 0 : (now - l->started_at) / DAY;
    return day >= l->ramp_days - 1 ? PLAN_NEVER : l->started_at + (day + 1) * DAY;
}

static int64_t min_after(int64_t a, int64_t b, int64_t now)
{
    if (b <= now)
        return a;
    return b < a ? b : a;
}

/* While it may send: when its spare capacity can grow. */
static int64_t next_gain(const struct plan_mb *m, int64_t now)
{
    int64_t t = ages_out(&m->sends, m->sends.lo24, 86400000LL);
    return min_after(t, ramp_next(&m->l, now), now);
}

/* While it may not: the first moment a limit can let go. */
static int64_t next_free(const struct plan *p, const struct plan_mb *m, int64_t now)
{
    if (m->paused)
        return PLAN_NEVER;
    int64_t t = next_gain(m, now);
    t = min_after(t, ages_out(&m->sends, m->sends.lo61, 61000), now);
    t = min_after(t, m->backoff_until, now);
    t = min_after(t, m->next_send_at, now);
    if (m->tenant != PLAN_NONE) {
        const struct plan_tenant *tn = &p->tenants[m->tenant];
        t = min_after(t, ages_out(&tn->ext, tn->ext.lo24, 86400000LL), now);
        /* what the tenant queued in this tick is sent at its end, and ages
         * out a day later: no entry of its own tells this mailbox so */
        if (tn->stamp == p->tick && tn->charges > 0)
            t = min_after(t, now + 86400, now);
    }
    return t;
}

void plan_mb_refresh(struct plan *p, struct plan_mb *m, int64_t now)
{
    struct sched_usage u;
    plan_mb_usage(p, m, now, &u);
    int i = (int)(m - p->mbs);
    if (sched_check(&m->l, &u, 1, 1, now).block == SCHED_OK) {
        m->spare = sched_spare(&m->l, &u, now);
        heap_set(p, READY, i);
        m->check_at = next_gain(m, now);
    } else {
        heap_remove(p, READY, i);
        m->check_at = next_free(p, m, now);
    }
    if (m->check_at == PLAN_NEVER)
        heap_remove(p, CHECKS, i);
    else
        heap_set(p, CHECKS, i);
}

void plan_mb_wake(struct plan *p, int64_t now)
{
    while (p->checks.n > 0 && p->checks.v[0].key <= now)
        plan_mb_refresh(p, &p->mbs[p->checks.v[0].i], now);
}

struct plan_mb *plan_mb_pick(struct plan *p, int64_t now)
{
    while (p->ready.n > 0) {
        struct plan_mb *m = &p->mbs[p->ready.v[0].i];
        struct sched_usage u;
        plan_mb_usage(p, m, now, &u);
        if (sched_check(&m->l, &u, 1, 1, now).block != SCHED_OK) {
            plan_mb_refresh(p, m, now); /* its tenant filled up meanwhile */
            continue;
        }
        int spare = sched_spare(&m->l, &u, now);
        if (spare == m->spare)
            return m;
        m->spare = spare;
        heap_set(p, READY, (int)(m - p->mbs));
    }
    return NULL;
}

int64_t plan_mb_earliest(struct plan *p, int64_t now)
{
    int64_t earliest = 0;
    for (size_t i = 0; i < p->nmbs; i++) {
        struct sched_usage u;
        plan_mb_usage(p, &p->mbs[i], now, &u);
        struct sched_verdict v = sched_check(&p->mbs[i].l, &u, 1, 1, now);
        if (v.block != SCHED_OK && v.not_before > now && (!earliest || v.not_before < earliest))
            earliest = v.not_before;
    }
    return earliest;
}

void plan_mb_charge(struct plan *p, struct plan_mb *m, int64_t now, int gap)
{
    if (m->stamp != p->tick) {
        m->stamp = p->tick;
        m->charges = 0;
    }
    m->charges++;
    m->pending++;
    m->next_send_at = now + gap;
    if (m->tenant != PLAN_NONE) {
        struct plan_tenant *t = &p->tenants[m->tenant];
        if (t->stamp != p->tick) {
            t->stamp = p->tick;
            t->charges = 0;
        }
        t->charges++;
    }
    plan_mb_refresh(p, m, now);
}

bool plan_mb_sent(struct plan *p, struct plan_mb *m, int64_t now)
{
    struct plan_series *s = &m->sends;
    plan_series_advance(s, now * 1000);
    bool first61 = s->lo61 == s->n, first24 = s->lo24 == s->n;
    if (!plan_series_add(s, now * 1000, 1) ||
        (m->tenant != PLAN_NONE && !plan_series_add(&p->tenants[m->tenant].ext, now * 1000, 1)))
        return false;
    m->pending--;
    if (m->backoff_s) { /* a success ends the backoff and its hold (engine_apply's on_sent) */
        m->backoff_until = 0;
        m->backoff_s = 0;
        m->held_until = m->hold_next = 0;
        plan_mb_refresh(p, m, now);
        return true;
    }
    /* queued, then sent: the counts are the same, and so is the verdict;
     * only a window that was empty gains a moment when it lets go */
    int64_t t = first24 ? now + 86400 : PLAN_NEVER;
    if (first61 && p->ready.pos[m - p->mbs] == PLAN_NONE)
        t = now + 61;
    if (t < m->check_at) {
        m->check_at = t;
        heap_set(p, CHECKS, (int)(m - p->mbs));
    }
    return true;
}
