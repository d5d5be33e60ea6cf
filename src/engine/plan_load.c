/* engine/plan: reading the store — mailboxes and tenants, the send log of
 * the last 24 hours, the campaigns and what their templates need, every
 * active enrollment with its lead, and the outbox — in a handful of bulk
 * queries inside one read snapshot. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/plan_int.h"
#include "mail/template.h"
#include "util/tz.h"

/* ---- strings ------------------------------------------------------------------------ */

struct plan_chunk {
    struct plan_chunk *next;
    size_t used, size;
    char data[];
};

#define CHUNK_SIZE (1u << 20)

char *plan_strndup(struct plan_arena *a, const char *s, size_t n)
{
    struct plan_chunk *c = a->head;
    if (!c || c->size - c->used < n + 1) {
        size_t size = n + 1 > CHUNK_SIZE ? n + 1 : CHUNK_SIZE;
        if (!(c = malloc(sizeof *c + size)))
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = size;
        a->head = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    d[n] = '\0';
    c->used += n + 1;
    return d;
}

static void arena_free(struct plan_arena *a)
{
    while (a->head) {
        struct plan_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of key: where it is, or where it would go. */
static size_t map_slot(const struct plan_name_map *m, const char *key)
{
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int32_t map_get(const struct plan_name_map *m, const char *key)
{
    if (!m->cap)
        return PLAN_NONE;
    size_t i = map_slot(m, key);
    return m->keys[i] ? m->vals[i] : PLAN_NONE;
}

/* key must outlive the map (an arena string). */
static bool map_put(struct plan_name_map *m, const char *key, int32_t val)
{
    if (2 * (m->n + 1) > m->cap) {
        struct plan_name_map bigger = {.cap = m->cap ? 2 * m->cap : 64};
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        if (!bigger.keys || !bigger.vals) {
            free(bigger.keys);
            free(bigger.vals);
            return false;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = map_slot(&bigger, m->keys[i]);
                bigger.keys[j] = m->keys[i];
                bigger.vals[j] = m->vals[i];
                bigger.n++;
            }
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    size_t i = map_slot(m, key);
    m->n += !m->keys[i];
    m->keys[i] = key;
    m->vals[i] = val;
    return true;
}

static void map_free(struct plan_name_map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

int32_t plan_zone(struct plan *p, const char *zone)
{
    int32_t id = map_get(&p->zone_names, zone);
    if (id != PLAN_NONE)
        return id;
    if (p->nzones == p->zonecap) {
        size_t cap = p->zonecap ? 2 * p->zonecap : 16;
        const char **z = realloc(p->zones, cap * sizeof *z);
        if (z)
            p->zones = z;
        bool *ok = z ? realloc(p->zone_ok, cap * sizeof *ok) : NULL;
        if (!ok)
            return PLAN_NONE;
        p->zone_ok = ok;
        p->zonecap = cap;
    }
    char *copy = plan_strndup(&p->arena, zone, strlen(zone));
    id = (int32_t)p->nzones;
    if (!copy || !map_put(&p->zone_names, copy, id))
        return PLAN_NONE;
    p->zones[id] = copy;
    p->zone_ok[id] = mf_tz_valid(copy); /* a stat() each: once per zone */
    p->nzones++;
    return id;
}

/* A lead's zone, when the system knows it: its id (interned), else
 * PLAN_NONE. Each distinct string costs one mf_tz_valid (a stat) and only
 * known zones get an id: the per-zone memos stay small whatever the list
 * holds. */
static int32_t known_zone(struct plan *p, const char *zone)
{
    int32_t id = map_get(&p->zone_names, zone);
    if (id != PLAN_NONE)
        return p->zone_ok[id] ? id : PLAN_NONE;
    if (map_get(&p->bad_zones, zone) != PLAN_NONE)
        return PLAN_NONE;
    if (mf_tz_valid(zone))
        return plan_zone(p, zone);
    char *copy = plan_strndup(&p->arena, zone, strlen(zone));
    if (!copy || !map_put(&p->bad_zones, copy, 0))
        p->oom = true;
    return PLAN_NONE;
}

/* ---- JSON fields ------------------------------------------------------------------- */

/* A quoted run of plain characters (printable ASCII, no escapes) at *s:
 * its bounds, *s past the closing quote. false: anything else. */
static bool plain_string(const char **s, const char **from, size_t *len)
{
    const char *p = *s;
    if (*p++ != '"')
        return false;
    *from = p;
    while (*p != '"') {
        unsigned char c = (unsigned char)*p++;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return false;
    }
    *len = (size_t)(p - *from);
    *s = p + 1;
    return true;
}

/* The compact objects our import writes ({"k":"v",...}, plain text): read
 * without building a tree. -1 when the text is anything else. */
static int flat_field(const char *json, const char *key, char *out, size_t size)
{
    const char *s = json, *k, *v, *found = NULL;
    size_t klen, vlen, flen = 0, want = strlen(key);
    if (*s++ != '{')
        return -1;
    if (*s == '}')
        return s[1] ? -1 : 0;
    for (;;) {
        if (!plain_string(&s, &k, &klen) || *s++ != ':' || !plain_string(&s, &v, &vlen))
            return -1;
        if (klen == want && memcmp(k, key, klen) == 0) {
            found = v; /* the last of duplicate keys wins, as in jansson */
            flen = vlen;
        }
        if (*s == '}' && !s[1])
            break;
        if (*s++ != ',')
            return -1;
    }
    if (!found)
        return 0;
    size_t n = flen < size - 1 ? flen : size - 1;
    memcpy(out, found, n);
    out[n] = '\0';
    return 1;
}

bool plan_json_field(const char *json, const char *key, char *out, size_t size)
{
    if (!json || size == 0)
        return false;
    int fast = flat_field(json, key, out, size);
    if (fast >= 0)
        return fast == 1;
    json_error_t je;
    json_t *f = json_loads(json, 0, &je);
    const char *v = json_string_value(json_object_get(f, key));
    if (v)
        snprintf(out, size, "%s", v);
    json_decref(f);
    return v != NULL;
}

/* ---- mailboxes and the send log -------------------------------------------------------- */

static enum mf_rc oom(struct plan *p)
{
    return mf_err_set(p->err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
}

/* The tenant's index (made on first sight); PLAN_NONE with p->oom set. */
static int32_t tenant_of(struct plan *p, const char *name)
{
    int32_t id = map_get(&p->tenant_names, name);
    if (id != PLAN_NONE)
        return id;
    struct plan_tenant *t = realloc(p->tenants, (p->ntenants + 1) * sizeof *t);
    if (t)
        p->tenants = t;
    char *copy = t ? plan_strndup(&p->arena, name, strlen(name)) : NULL;
    id = (int32_t)p->ntenants;
    if (!copy || !map_put(&p->tenant_names, copy, id)) {
        p->oom = true;
        return PLAN_NONE;
    }
    p->tenants[id] = (struct plan_tenant){.name = copy, .cap = -1, .stamp = -1};
    p->ntenants++;
    return id;
}

struct mb_load {
    struct plan *p;
    size_t cap;
};

static int mailbox_cb(void *ctx, const struct store_mailbox *sm)
{
    struct mb_load *c = ctx;
    struct plan *p = c->p;
    if (p->nmbs == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        struct plan_mb *v = realloc(p->mbs, cap * sizeof *v);
        if (!v)
            return p->oom = true;
        p->mbs = v;
        c->cap = cap;
    }
    struct plan_mb *m = &p->mbs[p->nmbs];
    memset(m, 0, sizeof *m);
    m->account = plan_strndup(&p->arena, sm->account, strlen(sm->account));
    m->zone = plan_zone(p, sm->timezone);
    m->tenant = sm->tenant[0] ? tenant_of(p, sm->tenant) : PLAN_NONE;
    if (!m->account || m->zone == PLAN_NONE || p->oom ||
        !map_put(&p->mb_names, m->account, (int32_t)p->nmbs))
        return p->oom = true;
    /* as engine.c's limits_of */
    m->l = (struct sched_limits){.per_minute = sm->per_minute, .rcpt_per_day = sm->rcpt_per_day,
                                 .max_connections = sm->max_connections,
                                 .daily_cap = sm->daily_cap, .ramp_start = sm->ramp_start,
                                 .ramp_days = sm->ramp_days, .started_at = sm->started_at,
                                 .tenant_cap = -1};
    m->paused = strcmp(sm->status, "active") != 0;
    m->backoff_until = sm->backoff_until;
    m->backoff_s = sm->backoff_s;
    m->next_send_at = sm->next_send_at;
    m->stamp = -1;
    p->nmbs++;
    return 0;
}

static int sendlog_cb(void *ctx, const char *mailbox, const char *tenant, int64_t at_ms,
                      int rcpts, int external)
{
    struct plan *p = ctx;
    int32_t m = map_get(&p->mb_names, mailbox);
    int32_t t = tenant[0] ? map_get(&p->tenant_names, tenant) : PLAN_NONE;
    if ((m != PLAN_NONE && !plan_series_add(&p->mbs[m].sends, at_ms, rcpts)) ||
        (t != PLAN_NONE && !plan_series_add(&p->tenants[t].ext, at_ms, external)))
        return p->oom = true;
    return 0;
}

static int older_cb(void *ctx, const char *mailbox, const char *tenant, int64_t at_ms,
                    int rcpts, int external)
{
    struct plan *p = ctx;
    int32_t m = map_get(&p->mb_names, mailbox);
    (void)tenant, (void)external;
    if (m != PLAN_NONE && !plan_series_add(&p->mbs[m].sends, at_ms, rcpts))
        return p->oom = true;
    return 0;
}

static enum mf_rc load_mailboxes(struct plan *p)
{
    struct mb_load c = {.p = p};
    enum mf_rc rc = store_mailbox_list(p->cfg->st, mailbox_cb, &c, p->err);
    if (rc == MF_OK && p->oom)
        rc = oom(p);
    for (size_t i = 0; rc == MF_OK && i < p->ntenants; i++)
        rc = store_tenant_cap(p->cfg->st, p->tenants[i].name, &p->tenants[i].cap, p->err);
    for (size_t i = 0; rc == MF_OK && i < p->nmbs; i++)
        if (p->mbs[i].tenant != PLAN_NONE)
            p->mbs[i].l.tenant_cap = p->tenants[p->mbs[i].tenant].cap;
    /* the 24 hours before the first tick: every window the plan looks at */
    if (rc == MF_OK)
        rc = store_sendlog_since(p->cfg->st, p->cfg->start * 1000 - 86400000LL, sendlog_cb, p,
                                 p->err);
    return rc == MF_OK && p->oom ? oom(p) : rc;
}

/* A mailbox with queued messages can be over its per-minute limit before
 * sending anything: the engine then dates the block from its per_minute-th
 * latest send, which may be older than the window. */
static enum mf_rc load_older_sends(struct plan *p)
{
    enum mf_rc rc = MF_OK;
    for (size_t i = 0; rc == MF_OK && i < p->nmbs; i++)
        if (p->mbs[i].pending > 0)
            rc = store_sendlog_before(p->cfg->st, p->mbs[i].account,
                                      p->cfg->start * 1000 - 86400000LL, p->mbs[i].l.per_minute,
                                      older_cb, p, p->err);
    return rc == MF_OK && p->oom ? oom(p) : rc;
}

/* ---- campaigns ------------------------------------------------------------------------ */

struct needs_ctx {
    struct plan *p;
    const struct campaign_spec *spec;
    struct plan_needs *out;
    bool oom;
};

static void need_cb(void *ctx, const char *name)
{
    struct needs_ctx *c = ctx;
    /* always there: the address, and the link when the campaign has one */
    if (strcmp(name, "email") == 0 || (strcmp(name, "unsubscribe_url") == 0 && c->spec->unsub_url))
        return;
    const char **v = realloc(c->out->names, (c->out->n + 1) * sizeof *v);
    char *copy = v ? plan_strndup(&c->p->arena, name, strlen(name)) : NULL;
    if (v)
        c->out->names = v;
    if (!copy) {
        c->oom = true;
        return;
    }
    v[c->out->n++] = copy;
}

static bool needs_of(struct plan *p, const struct campaign_spec *spec, const char *text,
                     struct plan_needs *out)
{
    struct needs_ctx c = {.p = p, .spec = spec, .out = out};
    struct mf_err e;
    /* a template that does not parse fails for every lead: a need no lead
     * meets sends each one to the exact render, which says so */
    if (tpl_required_fields(text, strlen(text), need_cb, &c, &e) != MF_OK)
        need_cb(&c, "\x01unparsable");
    return !c.oom;
}

static bool variants_needs(struct plan *p, struct plan_camp *c,
                           const struct campaign_variant *v, size_t n,
                           struct plan_needs **out)
{
    if (!(*out = calloc(n ? n : 1, sizeof **out)))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!needs_of(p, c->spec, v[i].text, &(*out)[i]))
            return false;
        c->check_fields |= (*out)[i].n > 0;
    }
    return true;
}

static bool campaign_needs(struct plan *p, struct plan_camp *c)
{
    size_t n = c->spec->nsteps;
    c->subjects = calloc(n, sizeof *c->subjects);
    c->bodies = calloc(n, sizeof *c->bodies);
    if (!c->subjects || !c->bodies || !needs_of(p, c->spec, c->spec->unsub_text, &c->footer))
        return false;
    c->check_fields = c->footer.n > 0;
    for (size_t s = 0; s < n; s++) {
        const struct campaign_step *st = &c->spec->steps[s];
        if (!variants_needs(p, c, st->subjects, st->nsubjects, &c->subjects[s]) ||
            !variants_needs(p, c, st->bodies, st->nbodies, &c->bodies[s]))
            return false;
    }
    return true;
}

static int campaign_cb(void *ctx, const struct store_campaign *sc)
{
    struct plan *p = ctx;
    struct plan_camp *v = realloc(p->camps, (p->ncamps + 1) * sizeof *v);
    if (!v)
        return p->oom = true;
    p->camps = v;
    struct plan_camp *c = &p->camps[p->ncamps++];
    memset(c, 0, sizeof *c);
    c->id = sc->id;
    c->active = strcmp(sc->status, "active") == 0;
    struct mf_err e;
    /* one that does not parse stops its enrollments ("skipped"), as in the engine */
    if (campaign_parse(sc->spec, strlen(sc->spec), sc->name, &c->spec, &e) != MF_OK)
        return 0;
    c->name = c->spec->name;
    c->w = (struct sched_window){c->spec->window_start_min, c->spec->window_end_min,
                                 c->spec->days_mask};
    if (!campaign_needs(p, c))
        return p->oom = true;
    return 0;
}

static int32_t camp_index(const struct plan *p, int64_t id)
{
    for (size_t i = 0; i < p->ncamps; i++)
        if (p->camps[i].id == id)
            return (int32_t)i;
    return PLAN_NONE;
}

/* ---- enrollments ---------------------------------------------------------------------- */

struct due_load {
    struct plan *p;
    int32_t camp;
    size_t cap;
};

/* The lead's zone as lead_zone() picks it before the fallback: the
 * campaign's field when it names a zone, else the lead's own. */
static int32_t lead_zone(struct plan *p, const struct plan_camp *c,
                         const struct store_plan_row *r)
{
    char z[256]; /* longer than any zone mf_tz_valid accepts: cut is not one */
    int32_t id;
    if (c->spec && plan_json_field(r->fields, c->spec->timezone_field, z, sizeof z) &&
        strlen(z) < sizeof z - 1 && (id = known_zone(p, z)) != PLAN_NONE)
        return id;
    return known_zone(p, r->timezone);
}

static struct plan_en *en_add(struct plan *p, int32_t camp, const struct store_plan_row *r,
                              const char *mailbox)
{
    if (p->nens == p->encap) {
        size_t cap = p->encap ? 2 * p->encap : 4096;
        struct plan_en *v = realloc(p->ens, cap * sizeof *v);
        if (!v)
            return NULL;
        p->ens = v;
        p->encap = cap;
    }
    const struct plan_camp *c = &p->camps[camp];
    struct plan_en *e = &p->ens[p->nens];
    memset(e, 0, sizeof *e);
    e->id = r->enrollment_id;
    e->camp = (uint32_t)camp;
    e->step = (int16_t)r->next_step;
    e->address = plan_strndup(&p->arena, r->address, strlen(r->address));
    e->fields = c->check_fields ? plan_strndup(&p->arena, r->fields, strlen(r->fields)) : "";
    e->zone = lead_zone(p, c, r);
    e->mb = !mailbox[0] ? PLAN_NONE : map_get(&p->mb_names, mailbox);
    if (mailbox[0] && e->mb == PLAN_NONE)
        e->mb = PLAN_GONE;
    e->flags = (uint8_t)((strcmp(r->status, "active") == 0 ? PLAN_LEAD_ACTIVE : 0) |
                         (r->suppressed ? PLAN_SUPPRESSED : 0));
    if (!e->address || !e->fields)
        return NULL;
    p->nens++;
    return e;
}

static bool due_add(struct plan *p, int64_t due, int64_t id, size_t en, size_t *cap)
{
    if (p->nbase == *cap) {
        size_t bigger = *cap ? 2 * *cap : 4096;
        struct plan_due *v = realloc(p->base, bigger * sizeof *v);
        if (!v)
            return false;
        p->base = v;
        *cap = bigger;
    }
    p->base[p->nbase++] = (struct plan_due){.due = due, .id = id, .en = (uint32_t)en};
    return true;
}

static int enrollment_cb(void *ctx, const struct store_plan_row *r)
{
    struct due_load *c = ctx;
    struct plan *p = c->p;
    if (!en_add(p, c->camp, r, r->mailbox) ||
        !due_add(p, r->next_due, r->enrollment_id, p->nens - 1, &c->cap))
        return p->oom = true;
    return 0;
}

static int by_due(const void *a, const void *b)
{
    const struct plan_due *x = a, *y = b;
    if (x->due != y->due)
        return x->due < y->due ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static enum mf_rc load_enrollments(struct plan *p)
{
    struct due_load c = {.p = p};
    int campaigns = 0;
    enum mf_rc rc = MF_OK;
    for (size_t i = 0; rc == MF_OK && i < p->ncamps; i++) {
        if (!p->camps[i].active)
            continue; /* the engine reads only active campaigns' enrollments */
        c.camp = (int32_t)i;
        size_t before = p->nbase;
        rc = store_plan_enrollments(p->cfg->st, p->camps[i].id, enrollment_cb, &c, p->err);
        if (rc == MF_OK && p->oom)
            rc = oom(p);
        campaigns += p->nbase > before;
    }
    /* each campaign's rows come in order; several are merged */
    if (rc == MF_OK && campaigns > 1)
        qsort(p->base, p->nbase, sizeof *p->base, by_due);
    return rc;
}

bool plan_queue_add(struct plan *p, const struct plan_msg *m)
{
    if (p->qtail == p->qcap) {
        size_t cap = p->qcap ? 2 * p->qcap : 256;
        struct plan_msg *v = realloc(p->q, cap * sizeof *v);
        if (!v)
            return false;
        p->q = v;
        p->qcap = cap;
    }
    p->q[p->qtail++] = *m;
    return true;
}

static int backlog_cb(void *ctx, const struct store_plan_row *r)
{
    struct plan *p = ctx;
    int32_t camp = camp_index(p, r->campaign_id);
    if (camp == PLAN_NONE)
        return 0;
    if (!en_add(p, camp, r, r->mailbox))
        return p->oom = true;
    /* its mailbox gone, the engine can never record it: it stays queued */
    struct plan_msg m = {.en = (uint32_t)(p->nens - 1), .step = r->step,
                         .mb = map_get(&p->mb_names, r->outbox_mailbox),
                         .rcpt = plan_strndup(&p->arena, r->rcpt, strlen(r->rcpt))};
    if (!m.rcpt || !plan_queue_add(p, &m))
        return p->oom = true;
    if (m.mb != PLAN_NONE)
        p->mbs[m.mb].pending++;
    return 0;
}

/* ---- all of it -------------------------------------------------------------------------- */

enum mf_rc plan_load(struct plan *p)
{
    struct store *st = p->cfg->st;
    enum mf_rc rc = store_read_begin(st, p->err);
    if (rc != MF_OK)
        return rc;
    p->utc = plan_zone(p, "UTC");
    if (p->utc == PLAN_NONE)
        rc = oom(p);
    if (rc == MF_OK)
        rc = load_mailboxes(p);
    if (rc == MF_OK)
        rc = store_campaign_list(st, campaign_cb, p, p->err);
    if (rc == MF_OK)
        rc = store_plan_backlog(st, backlog_cb, p, p->err);
    if (rc == MF_OK && p->oom)
        rc = oom(p);
    if (rc == MF_OK)
        rc = load_older_sends(p);
    if (rc == MF_OK)
        rc = load_enrollments(p);
    store_read_end(st);
    return rc;
}

void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->nmbs; i++)
        plan_series_free(&p->mbs[i].sends);
    for (size_t i = 0; i < p->ntenants; i++)
        plan_series_free(&p->tenants[i].ext);
    for (size_t i = 0; i < p->ncamps; i++) {
        struct plan_camp *c = &p->camps[i];
        for (size_t s = 0; c->spec && s < c->spec->nsteps; s++) {
            const struct campaign_step *st = &c->spec->steps[s];
            for (size_t k = 0; c->subjects && c->subjects[s] && k < st->nsubjects; k++)
                free(c->subjects[s][k].names);
            for (size_t k = 0; c->bodies && c->bodies[s] && k < st->nbodies; k++)
                free(c->bodies[s][k].names);
            if (c->subjects)
                free(c->subjects[s]);
            if (c->bodies)
                free(c->bodies[s]);
        }
        free(p->later_memo ? p->later_memo[i] : NULL);
        free(c->subjects);
        free(c->bodies);
        free(c->footer.names);
        campaign_free(c->spec);
    }
    free(p->later_memo);
    free(p->open_memo);
    free(p->camps);
    free(p->tenants);
    free(p->mbs);
    free(p->ens);
    free(p->zones);
    free(p->zone_ok);
    free(p->base);
    free(p->heap);
    free(p->parked);
    free(p->parking);
    free(p->holding);
    free(p->q);
    free(p->ready.v);
    free(p->ready.pos);
    free(p->checks.v);
    free(p->checks.pos);
    map_free(&p->mb_names);
    map_free(&p->tenant_names);
    map_free(&p->zone_names);
    map_free(&p->bad_zones);
    arena_free(&p->arena);
}
