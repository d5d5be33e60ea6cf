/* engine/plan — the ticks: engine.c's engine_tick and the simulate flush of
 * engine_send.c, replayed on what plan_load.c read. See plan.h. */
#include "engine/plan.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan_int.h"
#include "mail/template.h"
#include "util/buf.h"

int64_t plan_step(int queued, int64_t now, int64_t next_due)
{
    int64_t step = queued ? 15 : next_due > now ? next_due - now : 60;
    return step < 15 ? 15 : step > 900 ? 900 : step;
}

/* splitmix64: small, seeded, good enough for gaps */
static uint32_t random32(struct plan *p)
{
    uint64_t z = (p->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- due enrollments ----------------------------------------------------------------- */

static bool due_before(const struct plan_due *a, const struct plan_due *b)
{
    return a->due != b->due ? a->due < b->due : a->id < b->id;
}

static bool due_push(struct plan *p, struct plan_due d)
{
    if (p->nheap == p->heapcap) {
        size_t cap = p->heapcap ? 2 * p->heapcap : 1024;
        struct plan_due *v = realloc(p->heap, cap * sizeof *v);
        if (!v)
            return false;
        p->heap = v;
        p->heapcap = cap;
    }
    size_t at = p->nheap++;
    while (at > 0 && due_before(&d, &p->heap[(at - 1) / 2])) {
        p->heap[at] = p->heap[(at - 1) / 2];
        at = (at - 1) / 2;
    }
    p->heap[at] = d;
    return true;
}

static void heap_pop(struct plan *p)
{
    struct plan_due last = p->heap[--p->nheap];
    size_t at = 0;
    for (;;) {
        size_t c = 2 * at + 1;
        if (c >= p->nheap)
            break;
        if (c + 1 < p->nheap && due_before(&p->heap[c + 1], &p->heap[c]))
            c++;
        if (!due_before(&p->heap[c], &last))
            break;
        p->heap[at] = p->heap[c];
        at = c;
    }
    if (p->nheap)
        p->heap[at] = last;
}

/* The next enrollment due by now, in the engine's order (next_due, id). */
static bool due_pop(struct plan *p, int64_t now, struct plan_due *out)
{
    bool from_base = p->base_at < p->nbase &&
                     (!p->nheap || due_before(&p->base[p->base_at], &p->heap[0]));
    const struct plan_due *d = from_base ? &p->base[p->base_at] : p->nheap ? &p->heap[0] : NULL;
    if (!d || d->due > now)
        return false;
    *out = *d;
    if (from_base)
        p->base_at++;
    else
        heap_pop(p);
    return true;
}

/* ---- holds (engine.c's): a held mailbox's due follow-ups wait out of the heap ------------- */

static bool push_index(int32_t **v, size_t *n, size_t *cap, int32_t x)
{
    if (*n == *cap) {
        size_t ncap = *cap ? 2 * *cap : 16;
        int32_t *nv = realloc(*v, ncap * sizeof *nv);
        if (!nv)
            return false;
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = x;
    return true;
}

static bool park(struct plan *p, int32_t mb, struct plan_due d)
{
    struct plan_mb *m = &p->mbs[mb];
    int32_t at;
    if (p->free_parked) {
        at = p->free_parked - 1;
        p->free_parked = p->parked[at].next;
    } else {
        if (p->nparked == p->parkedcap) {
            size_t cap = p->parkedcap ? 2 * p->parkedcap : 1024;
            struct plan_parked *v = realloc(p->parked, cap * sizeof *v);
            if (!v)
                return false;
            p->parked = v;
            p->parkedcap = cap;
        }
        at = (int32_t)p->nparked++;
    }
    if (!m->parked && !push_index(&p->parking, &p->nparking, &p->parkingcap, mb))
        return false;
    p->parked[at] = (struct plan_parked){.d = d, .next = m->parked};
    m->parked = at + 1;
    return true;
}

/* The parked rows of every mailbox whose hold has ended go back in the
 * heap, with their due times: the engine reads them again in its order. */
static bool unpark(struct plan *p, int64_t now)
{
    size_t keep = 0;
    for (size_t i = 0; i < p->nparking; i++) {
        struct plan_mb *m = &p->mbs[p->parking[i]];
        if (m->held_until > now) {
            p->parking[keep++] = p->parking[i];
            continue;
        }
        while (m->parked) {
            int32_t at = m->parked - 1;
            if (!due_push(p, p->parked[at].d))
                return false;
            m->parked = p->parked[at].next;
            p->parked[at].next = p->free_parked;
            p->free_parked = at + 1;
        }
    }
    p->nparking = keep;
    return true;
}

/* A tick's holds count from the next tick, as in the engine, which reads
 * its rows before it considers them. */
static bool hold(struct plan *p, struct plan_mb *b, int64_t until)
{
    b->hold_next = until;
    if (b->hold_set)
        return true;
    b->hold_set = true;
    return push_index(&p->holding, &p->nholding, &p->holdingcap, (int32_t)(b - p->mbs));
}

static void holds_begin(struct plan *p)
{
    for (size_t i = 0; i < p->nholding; i++) {
        struct plan_mb *m = &p->mbs[p->holding[i]];
        m->held_until = m->hold_next;
        m->hold_set = false;
    }
    p->nholding = 0;
}

/* ---- windows and delays, once per tick and campaign/zone ------------------------------------ */

static int64_t window_open(struct plan *p, uint32_t camp, int32_t zone, int64_t now)
{
    struct plan_memo *m = &p->open_memo[camp * p->nzones + (size_t)zone];
    if (m->at != now) {
        m->at = now;
        m->value = sched_window_next(&p->camps[camp].w, p->zones[zone], now);
    }
    return m->value;
}

static int64_t step_due(struct plan *p, uint32_t camp, int step, int32_t zone, int64_t now)
{
    const struct campaign_step *s = &p->camps[camp].spec->steps[step];
    struct plan_memo *m = &p->later_memo[camp][(size_t)step * p->nzones + (size_t)zone];
    if (m->at != now) {
        m->at = now;
        m->value = sched_add_days(now, s->delay_days, s->business_days, p->zones[zone]);
    }
    return m->value;
}

static bool memos_init(struct plan *p)
{
    p->open_memo = calloc(p->ncamps * p->nzones + 1, sizeof *p->open_memo);
    p->later_memo = calloc(p->ncamps + 1, sizeof *p->later_memo);
    if (!p->open_memo || !p->later_memo)
        return false;
    for (size_t i = 0; i < p->ncamps * p->nzones; i++)
        p->open_memo[i].at = INT64_MIN;
    for (size_t c = 0; c < p->ncamps; c++) {
        size_t n = p->camps[c].spec ? p->camps[c].spec->nsteps * p->nzones : 0;
        if (!(p->later_memo[c] = calloc(n + 1, sizeof **p->later_memo)))
            return false;
        for (size_t i = 0; i < n; i++)
            p->later_memo[c][i].at = INT64_MIN;
    }
    return true;
}

/* ---- would it render? ------------------------------------------------------------------ */

struct lookup {
    json_t *fields;
    const char *email, *unsub;
};

static const char *lookup(void *ctx, const char *name)
{
    struct lookup *l = ctx;
    if (strcmp(name, "email") == 0)
        return l->email;
    if (strcmp(name, "unsubscribe_url") == 0)
        return l->unsub;
    return json_string_value(json_object_get(l->fields, name));
}

/* A value that no trimming can make blank: it has a visible ASCII byte. */
static bool surely_there(const char *fields, const char *name)
{
    char v[256];
    if (!plan_json_field(fields, name, v, sizeof v))
        return false;
    for (const unsigned char *s = (const unsigned char *)v; *s; s++)
        if (*s > 0x20 && *s < 0x7f)
            return true;
    return false;
}

/* Whether one template renders for the lead: when every field it needs is
 * surely there, yes; else render it as render.c does and see. */
static bool text_renders(const struct plan_camp *c, const struct plan_en *e, const char *tpl,
                         const struct plan_needs *needs, uint64_t seed, enum tpl_mode mode,
                         size_t max)
{
    size_t i = 0;
    while (i < needs->n && surely_there(e->fields, needs->names[i]))
        i++;
    if (i == needs->n)
        return true;
    json_error_t je;
    struct lookup l = {.fields = json_loads(e->fields, 0, &je), .email = e->address,
                       .unsub = c->spec->unsub_url ? "https://unsubscribe" : NULL};
    struct mf_buf out;
    struct mf_err err;
    mf_buf_init(&out, max);
    enum mf_rc rc = tpl_render(tpl, strlen(tpl), lookup, &l, seed, mode, &out, &err);
    mf_buf_free(&out);
    json_decref(l.fields);
    return rc == MF_OK;
}

/* render_message's MF_ENOTFOUND (a field the templates need is missing)
 * and MF_EINVAL (no such step, a template that does not parse), without
 * building the message. */
static bool renders(const struct plan_camp *c, const struct plan_en *e)
{
    const struct campaign_spec *s = c->spec;
    int step = e->step;
    if (step < 0 || (size_t)step >= s->nsteps)
        return false;
    if (!c->check_fields)
        return true;
    const struct campaign_step *st = &s->steps[step];
    char key[128];
    /* the seeds and variant picks of render.c */
    if (st->nsubjects) {
        snprintf(key, sizeof key, "%" PRId64 "/%d/subject", c->id, step);
        uint64_t seed = tpl_seed(e->address, key);
        size_t v = campaign_pick_variant(st->subjects, st->nsubjects, seed);
        if (!text_renders(c, e, st->subjects[v].text, &c->subjects[step][v], seed, TPL_HEADER,
                          4096))
            return false;
    }
    snprintf(key, sizeof key, "%" PRId64 "/%d/body", c->id, step);
    uint64_t seed = tpl_seed(e->address, key);
    size_t v = campaign_pick_variant(st->bodies, st->nbodies, seed);
    if (!text_renders(c, e, st->bodies[v].text, &c->bodies[step][v], seed, TPL_BODY, 1 << 20))
        return false;
    snprintf(key, sizeof key, "%" PRId64 "/%d/footer", c->id, step);
    return text_renders(c, e, s->unsub_text, &c->footer, tpl_seed(e->address, key), TPL_BODY,
                        16384);
}

/* ---- a tick ------------------------------------------------------------------------------ */

struct tick {
    int64_t now;
    int queued;
    int64_t next_due;
    bool first_waits;           /* a first touch found no mailbox */
    bool no_first_touch;        /* none can take one until the tick ends */
};

enum verdict { STOPPED, QUEUED, WAITS, LATER };

static void due_later(struct tick *t, int64_t when)
{
    if (when > t->now && (!t->next_due || when < t->next_due))
        t->next_due = when;
}

/* engine.c's queue_message, less the message. */
static enum verdict queue(struct plan *p, struct tick *t, uint32_t i, struct plan_mb *b)
{
    struct plan_en *e = &p->ens[i];
    const struct plan_camp *c = &p->camps[e->camp];
    if (!renders(c, e)) {
        p->res.skipped++;
        return STOPPED;
    }
    struct plan_msg m = {.en = i, .mb = (int32_t)(b - p->mbs), .step = e->step,
                         .rcpt = e->address};
    if (!plan_queue_add(p, &m)) {
        p->oom = true;
        return STOPPED;
    }
    e->mb = m.mb;
    plan_mb_charge(p, b, t->now, sched_gap(c->spec->gap_min_s, c->spec->gap_max_s,
                                            random32(p)));
    t->queued++;
    return QUEUED;
}

/* engine.c's consider(): *later gets the new due time for LATER. */
static enum verdict consider(struct plan *p, struct tick *t, uint32_t i, int64_t *later)
{
    struct plan_en *e = &p->ens[i];
    const struct plan_camp *c = &p->camps[e->camp];
    if (!c->spec)
        return STOPPED;
    if (e->mb == PLAN_NONE && t->no_first_touch) {
        t->first_waits = true; /* engine.c's consider: not even read */
        return WAITS;
    }
    if (!(e->flags & PLAN_LEAD_ACTIVE))
        return STOPPED;
    if (e->flags & PLAN_SUPPRESSED) {
        p->res.skipped++;
        return STOPPED;
    }
    struct plan_mb *b = e->mb >= 0 ? &p->mbs[e->mb] : NULL;
    int32_t zone = e->zone != PLAN_NONE ? e->zone
                   : b && p->zones[b->zone][0] ? b->zone : p->utc;
    int64_t open = window_open(p, e->camp, zone, t->now);
    if (e->mb == PLAN_GONE)
        return STOPPED; /* its mailbox no longer exists */
    if (open > t->now) {
        due_later(t, open);
        *later = open;
        return LATER;
    }
    if (b) { /* a follow-up: its mailbox, or wait */
        struct sched_usage u;
        plan_mb_usage(p, b, t->now, &u);
        struct sched_verdict v = sched_check(&b->l, &u, 1, 1, t->now);
        if (v.block == SCHED_OK)
            return queue(p, t, i, b);
        due_later(t, v.not_before ? v.not_before : t->now + 60);
        if (!hold(p, b, sched_hold_until(&v, t->now)))
            p->oom = true;
        return WAITS;
    }
    if ((b = plan_mb_pick(p, t->now)))
        return queue(p, t, i, b);
    t->first_waits = t->no_first_touch = true; /* when one frees up: asked once, at the end */
    return WAITS;
}

static bool tick(struct plan *p, int64_t now, int *queued, int64_t *next_due)
{
    struct tick t = {.now = now};
    struct plan_due waits[PLAN_DUE_BATCH];
    size_t nwaits = 0;
    bool ok = true;
    plan_mb_wake(p, now);
    holds_begin(p);
    ok = unpark(p, now);
    t.no_first_touch = plan_mb_pick(p, now) == NULL; /* as engine.c's load_mailboxes */
    struct plan_due d;
    for (int k = 0; k < PLAN_DUE_BATCH && ok && due_pop(p, now, &d);) {
        const struct plan_en *en = &p->ens[d.en];
        if (en->mb >= 0 && p->mbs[en->mb].held_until > now) {
            ok = park(p, en->mb, d); /* not read: not counted */
            continue;
        }
        k++;
        int64_t later = 0;
        switch (consider(p, &t, d.en, &later)) {
        case WAITS: /* back in its place after the tick, as the engine reads it again */
            waits[nwaits++] = d;
            break;
        case LATER:
            d.due = later;
            ok = due_push(p, d);
            break;
        case QUEUED:
        case STOPPED:
            break;
        }
    }
    for (size_t k = 0; ok && k < nwaits; k++)
        ok = due_push(p, waits[k]);
    /* nothing queued: nothing changed during the tick, so every first touch
     * that waited saw the same mailboxes */
    if (t.first_waits && t.queued == 0) {
        int64_t earliest = plan_mb_earliest(p, now);
        due_later(&t, earliest ? earliest : now + 60);
    }
    *queued = t.queued;
    *next_due = t.next_due;
    return ok && !p->oom;
}

/* ---- the flush: every queued message accepted --------------------------------------------- */

/* engine_apply's on_sent for one message; false to stop. */
static bool sent(struct plan *p, const struct plan_msg *msg, int64_t now, bool *stop)
{
    struct plan_mb *m = &p->mbs[msg->mb];
    struct plan_en *e = &p->ens[msg->en];
    struct plan_camp *c = &p->camps[e->camp];
    if (!plan_mb_sent(p, m, now))
        return false;
    e->mb = msg->mb;
    e->step = (int16_t)(msg->step + 1);
    if (c->spec && (size_t)e->step < c->spec->nsteps && c->active) {
        int32_t zone = e->zone != PLAN_NONE ? e->zone : m->zone;
        struct plan_due d = {.due = step_due(p, e->camp, e->step, zone, now), .id = e->id,
                             .en = msg->en};
        if (!due_push(p, d))
            return false;
    }
    p->res.sent++;
    struct plan_send s = {.at = now, .campaign = c->spec ? c->name : "?",
                          .step = msg->step + 1, .rcpt = msg->rcpt, .mailbox = m->account};
    *stop = p->cfg->on_send && p->cfg->on_send(p->cfg->ctx, &s) != 0;
    return true;
}

static bool flush(struct plan *p, int64_t now, bool *stop)
{
    /* the oldest messages first, at most a batch; those whose mailbox is
     * gone stay queued and keep their places at the front */
    size_t slots = PLAN_FLUSH_BATCH > p->stuck ? PLAN_FLUSH_BATCH - p->stuck : 0;
    while (slots > 0 && p->qhead < p->qtail && !*stop) {
        const struct plan_msg *msg = &p->q[p->qhead++];
        slots--;
        if (msg->mb == PLAN_NONE)
            p->stuck++;
        else if (!sent(p, msg, now, stop))
            return false;
    }
    if (p->qhead == p->qtail)
        p->qhead = p->qtail = 0;
    return true;
}

enum mf_rc plan_run(const struct plan_cfg *cfg, struct plan_result *out, struct mf_err *err)
{
    struct plan p = {.cfg = cfg, .err = err, .rng = cfg->seed};
    memset(out, 0, sizeof *out);
    mf_err_clear(err);
    enum mf_rc rc = plan_load(&p);
    if (rc == MF_OK && (!plan_heaps_init(&p) || !memos_init(&p)))
        rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    bool stop = false;
    for (int64_t now = cfg->start; rc == MF_OK && !stop && now < cfg->until;) {
        int queued = 0;
        int64_t next_due = 0;
        p.res.ticks++;
        if (!tick(&p, now, &queued, &next_due))
            rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        p.tick++; /* what the tick queued is the outbox's now */
        if (rc == MF_OK && !flush(&p, now, &stop))
            rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        now += plan_step(queued, now, next_due);
    }
    *out = p.res;
    plan_free(&p);
    return rc;
}
