/* engine/plan internals shared by plan.c (the ticks), plan_mb.c (the
 * mailboxes' limits) and plan_load.c (reading the store). Everything here
 * belongs to one struct plan and is freed by plan_free(). */
#ifndef MF_ENGINE_PLAN_INT_H
#define MF_ENGINE_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/campaign.h"
#include "engine/plan.h"
#include "engine/sched.h"

#define PLAN_NONE (-1)
#define PLAN_NEVER INT64_MAX

/* Strings of one plan, freed together. */
struct plan_chunk;
struct plan_arena {
    struct plan_chunk *head;
};
/* A copy of s[0, n) with a NUL, or NULL when out of memory. */
char *plan_strndup(struct plan_arena *a, const char *s, size_t n);

/* Sends of a mailbox (weight: recipients) or of a tenant (weight: external
 * recipients), oldest first, with the start of each rolling window as of
 * the latest plan_series_advance. */
struct plan_series {
    int64_t *at;                /* ms */
    int64_t *sum;               /* sum[i]: weight of the first i sends (n + 1 of them) */
    size_t n, cap;
    size_t lo61, lo24;          /* first send inside the 61 s / 24 h window */
};

/* Adds a send (anywhere in time: the log may hold sends from a faster
 * clock's future). false when out of memory. */
bool plan_series_add(struct plan_series *s, int64_t at_ms, int weight);
void plan_series_advance(struct plan_series *s, int64_t now_ms);
void plan_series_free(struct plan_series *s);

struct plan_tenant {
    const char *name;
    int cap;                    /* external recipients per 24 h; < 0: none */
    struct plan_series ext;
    int64_t stamp, charges;     /* messages queued by its mailboxes in tick `stamp` */
};

struct plan_mb {
    const char *account;
    int32_t zone;               /* the mailbox's time zone (as stored), interned */
    int tenant;                 /* index, or PLAN_NONE */
    struct sched_limits l;
    bool paused;
    int64_t backoff_until, next_send_at;
    int backoff_s;
    struct plan_series sends;   /* the send log, then what the plan sends */
    int64_t pending;            /* queued and not yet accepted */
    int64_t stamp, charges;     /* queued in tick `stamp` */
    int spare;                  /* key in the ready heap */
    int64_t check_at;           /* key in the check heap */
    /* engine.c's holds: its due follow-ups are parked until held_until */
    int64_t held_until, hold_next; /* hold_next: set by this tick, counts from the next */
    bool hold_set;
    int32_t parked;             /* first parked row + 1 (0: none) */
};

/* The fields a template needs that have no fallback (any spintax option). */
struct plan_needs {
    const char **names;
    size_t n;
};

struct plan_camp {
    int64_t id;
    const char *name;
    bool active;
    struct campaign_spec *spec; /* owned; NULL when it does not parse */
    struct sched_window w;
    struct plan_needs **subjects, **bodies;  /* per step, per variant */
    struct plan_needs footer;
    bool check_fields;          /* some template needs a field: keep the leads' */
};

enum { PLAN_LEAD_ACTIVE = 1, PLAN_SUPPRESSED = 2 };

/* One enrollment and what the plan needs of its lead. */
struct plan_en {
    int64_t id;
    const char *address;
    const char *fields;         /* JSON object text, only when its campaign checks fields */
    uint32_t camp;
    int32_t mb;                 /* PLAN_NONE: no first touch yet; PLAN_GONE: mailbox gone */
    int32_t zone;               /* the lead's zone (its field, else its own), or PLAN_NONE */
    int16_t step;               /* next step, 0-based */
    uint8_t flags;
};
#define PLAN_GONE (-2)

struct plan_due {
    int64_t due, id;
    uint32_t en;
};

/* A due enrollment of a held mailbox, out of the heap until the hold ends. */
struct plan_parked {
    struct plan_due d;
    int32_t next;               /* the mailbox's next parked row + 1, or the free list's */
};

/* A queued message, in outbox order. */
struct plan_msg {
    uint32_t en;
    int32_t mb;                 /* PLAN_NONE: its mailbox is gone (never accepted) */
    int step;
    const char *rcpt;
};

/* A heap of mailboxes, each entry with its key, and each mailbox's place
 * (PLAN_NONE when out): the sifts read no mailbox (10,000 of them do not
 * stay in the cache). */
struct plan_heap_ent {
    int64_t key;
    int32_t i;
};
struct plan_heap {
    struct plan_heap_ent *v;
    int32_t *pos;
    int n, cap;
};

/* A value computed for the tick at `at`. */
struct plan_memo {
    int64_t at, value;
};

/* Strings to small ints (mailbox accounts, tenants, time zones). */
struct plan_name_map {
    const char **keys;
    int32_t *vals;
    size_t cap, n;
};

struct plan {
    const struct plan_cfg *cfg;
    struct mf_err *err;
    struct plan_arena arena;
    struct plan_mb *mbs;
    size_t nmbs;
    struct plan_name_map mb_names, tenant_names, zone_names, bad_zones;
    struct plan_tenant *tenants;
    size_t ntenants;
    struct plan_camp *camps;
    size_t ncamps;
    struct plan_en *ens;
    size_t nens, encap;
    /* time zones: each distinct string once, with mf_tz_valid's answer */
    const char **zones;
    bool *zone_ok;
    size_t nzones, zonecap;
    int32_t utc;
    /* due enrollments: the store's order, then a heap of those put back */
    struct plan_due *base;
    size_t nbase, base_at;
    struct plan_due *heap;
    size_t nheap, heapcap;
    /* parked rows (a list per mailbox, and a free list), the mailboxes
     * with parked rows, and those a tick held */
    struct plan_parked *parked;
    size_t nparked, parkedcap;
    int32_t free_parked;        /* + 1, 0: none */
    int32_t *parking, *holding;
    size_t nparking, parkingcap, nholding, holdingcap;
    /* the outbox */
    struct plan_msg *q;
    size_t qhead, qtail, qcap;
    size_t stuck;               /* queued for a mailbox that is gone: never accepted */
    /* the mailboxes that may send now, by spare capacity; and when each
     * mailbox must be looked at again */
    struct plan_heap ready, checks;
    /* per tick (keyed by its time): window openings by campaign and zone,
     * follow-up due times by campaign, step and zone */
    struct plan_memo *open_memo;
    struct plan_memo **later_memo;   /* per campaign: steps x zones */
    int64_t tick;
    uint64_t rng;
    bool oom;                        /* a callback ran out of memory */
    struct plan_result res;
};

/* plan_load.c */
enum mf_rc plan_load(struct plan *p);
void plan_free(struct plan *p);
/* The id of a zone string (interned on first sight), or PLAN_NONE when out
 * of memory. */
int32_t plan_zone(struct plan *p, const char *zone);
/* Appends a message to the outbox. false when out of memory. */
bool plan_queue_add(struct plan *p, const struct plan_msg *m);
/* The string value of key in a JSON object text, as jansson reads it
 * (json_string_value of json_object_get), copied into out (truncated).
 * false when absent, not a string, or the text is not JSON. */
bool plan_json_field(const char *json, const char *key, char *out, size_t size);

/* plan_mb.c */
bool plan_heaps_init(struct plan *p);
/* Brings every mailbox whose check time has come up to date at now. */
void plan_mb_wake(struct plan *p, int64_t now);
/* The engine's usage of a mailbox at now (the send log, the outbox, what
 * this tick queued). */
void plan_mb_usage(struct plan *p, struct plan_mb *m, int64_t now, struct sched_usage *u);
/* Puts the mailbox in or out of the ready heap and sets its next check. */
void plan_mb_refresh(struct plan *p, struct plan_mb *m, int64_t now);
/* The mailbox with the most spare capacity that may send now, or NULL. */
struct plan_mb *plan_mb_pick(struct plan *p, int64_t now);
/* When the first mailbox frees up (0: none known), as the engine's pick
 * reports it. */
int64_t plan_mb_earliest(struct plan *p, int64_t now);
/* A message queued from m at now, with the gap before its next one. */
void plan_mb_charge(struct plan *p, struct plan_mb *m, int64_t now, int gap);
/* A message of m accepted at now. false when out of memory. */
bool plan_mb_sent(struct plan *p, struct plan_mb *m, int64_t now);

#endif
