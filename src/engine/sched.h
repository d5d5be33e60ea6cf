/*
 * engine/sched — the scheduler's decisions, as pure functions of values:
 * may this mailbox send now (and if not, from when), how much it may still
 * send today, which mailbox takes a first touch, when a lead's window
 * opens, when a follow-up is due, how long to back off. Every time is an
 * argument, so tests run simulated days in microseconds and the engine can
 * run on an injected clock.
 *
 * A mailbox may send only when every limit allows it:
 *   the provider's messages per 60 s (M365: 30), recipients per rolling
 *   24 h (10,000), concurrent connections (3); the tenant-wide daily
 *   external-recipient cap; the user's daily cap; today's ramp allowance;
 *   the random gap since its last send; its backoff; its pause.
 * "Daily" means the rolling 24 hours before now, as the providers count.
 */
#ifndef MF_ENGINE_SCHED_H
#define MF_ENGINE_SCHED_H

#include <stdbool.h>
#include <stdint.h>

struct sched_limits {
    int per_minute;
    int rcpt_per_day;
    int max_connections;
    int daily_cap;
    int ramp_start;            /* 0 = no ramp */
    int ramp_days;
    int64_t started_at;        /* ramp day 1 starts here (unix s) */
    int tenant_cap;            /* external recipients per 24 h; < 0 = none */
};

/* What the send log and the live state say (the caller counts). */
struct sched_usage {
    int64_t msgs_60s;              /* messages in the 60 s before now */
    int64_t nth_last_ms;           /* at_ms of the per_minute-th latest send, 0 if fewer */
    int64_t msgs_24h, rcpts_24h;   /* in the 24 h before now */
    int64_t oldest_24h_ms;         /* when the oldest send of the window ages out */
    int64_t tenant_external_24h;
    int connections;               /* open now */
    bool paused;
    int64_t backoff_until;         /* unix s */
    int64_t next_send_at;          /* unix s: the random gap */
};

enum sched_block {
    SCHED_OK, SCHED_PAUSED, SCHED_BACKOFF, SCHED_GAP, SCHED_CONNECTIONS, SCHED_PER_MINUTE,
    SCHED_RAMP, SCHED_DAILY_CAP, SCHED_RCPT_DAY, SCHED_TENANT,
};

struct sched_verdict {
    enum sched_block block;
    int64_t not_before;        /* unix s; when this limit lets go (0 = unknown) */
    int allowance;             /* today's ceiling: min(daily cap, ramp) */
};

/* Short name of a block for status tables ("per-minute limit"). Static. */
const char *sched_block_name(enum sched_block b);

/* Today's ramp allowance: ramp_start on day 1 rising linearly to
 * daily_cap on day ramp_days (daily_cap when there is no ramp). */
int sched_ramp_allowance(const struct sched_limits *l, int64_t now);

/* May the mailbox send one message to rcpts recipients (external of them
 * outside the tenant) at now? */
struct sched_verdict sched_check(const struct sched_limits *l, const struct sched_usage *u,
                                 int rcpts, int external, int64_t now);

/* Messages the mailbox may still send in the coming 24 h: the rotation's
 * measure of spare capacity (0 when paused or at a ceiling). */
int sched_spare(const struct sched_limits *l, const struct sched_usage *u, int64_t now);

/* The next backoff step: 60 s, doubling, at most 3600 s; *step_s is the
 * step (0 = none yet) and is updated. Returns the wait: the step plus up
 * to 20% jitter from rnd (any 32-bit random value), never less. */
int sched_backoff(int *step_s, uint32_t rnd);

/* Until when the due follow-ups of a mailbox that cannot send (verdict v,
 * not OK) are left unread, so that they do not fill every tick's batch of
 * due enrollments and starve the other mailboxes' (engine, plan): until
 * the block lets go; INT64_MAX for a pause, which only a person ends (the
 * engine reads them again whenever another program changes the store). */
int64_t sched_hold_until(const struct sched_verdict *v, int64_t now);

/* A random gap in [min_s, max_s] from rnd. */
int sched_gap(int min_s, int max_s, uint32_t rnd);

/* Send windows: minutes after local midnight [start, end), on the days of
 * days_mask (bit 0 = Sunday, as tm_wday). */
struct sched_window {
    int start_min, end_min;
    unsigned days_mask;
};

/* The first moment >= t inside the window in zone (t itself when inside);
 * t when the window can never open (empty mask). */
int64_t sched_window_next(const struct sched_window *w, const char *zone, int64_t t);
bool sched_in_window(const struct sched_window *w, const char *zone, int64_t t);

/* t plus days calendar days, or business days (Mon-Fri), at the same local
 * time of day in zone. */
int64_t sched_add_days(int64_t t, int days, bool business, const char *zone);

#endif
