#include "engine/sched.h"

#include <string.h>
#include <time.h>

#include "util/tz.h"

#define DAY 86400

const char *sched_block_name(enum sched_block b)
{
    static const char *const names[] = {
        [SCHED_OK] = "ok", [SCHED_PAUSED] = "paused", [SCHED_BACKOFF] = "backing off",
        [SCHED_GAP] = "random gap", [SCHED_CONNECTIONS] = "connection limit",
        [SCHED_PER_MINUTE] = "per-minute limit", [SCHED_RAMP] = "ramp allowance",
        [SCHED_DAILY_CAP] = "daily cap", [SCHED_RCPT_DAY] = "24-hour recipient limit",
        [SCHED_TENANT] = "tenant daily cap",
    };
    return (unsigned)b < sizeof names / sizeof *names ? names[b] : "unknown";
}

int sched_ramp_allowance(const struct sched_limits *l, int64_t now)
{
    if (l->ramp_start <= 0 || l->ramp_days <= 1 || l->ramp_start >= l->daily_cap)
        return l->daily_cap;
    int64_t day = now < l->started_at ? 0 : (now - l->started_at) / DAY; /* 0-based */
    if (day >= l->ramp_days - 1)
        return l->daily_cap;
    int64_t span = l->daily_cap - l->ramp_start;
    return (int)(l->ramp_start + span * day / (l->ramp_days - 1));
}

static struct sched_verdict blocked(enum sched_block b, int64_t not_before, int allowance)
{
    return (struct sched_verdict){.block = b, .not_before = not_before,
                                  .allowance = allowance};
}

/* When the oldest send of the 24 h window ages out (+1 s). */
static int64_t day_rollover(const struct sched_usage *u, int64_t now)
{
    return u->oldest_24h_ms ? u->oldest_24h_ms / 1000 + DAY + 1 : now + 60;
}

struct sched_verdict sched_check(const struct sched_limits *l, const struct sched_usage *u,
                                 int rcpts, int external, int64_t now)
{
    int ramp = sched_ramp_allowance(l, now);
    int allowance = ramp < l->daily_cap ? ramp : l->daily_cap;
    if (u->paused)
        return blocked(SCHED_PAUSED, 0, allowance);
    if (u->backoff_until > now)
        return blocked(SCHED_BACKOFF, u->backoff_until, allowance);
    if (u->next_send_at > now)
        return blocked(SCHED_GAP, u->next_send_at, allowance);
    if (u->connections >= l->max_connections)
        return blocked(SCHED_CONNECTIONS, now + 1, allowance);
    if (u->msgs_60s >= l->per_minute)
        return blocked(SCHED_PER_MINUTE,
                       u->nth_last_ms ? u->nth_last_ms / 1000 + 62 : now + 60, allowance);
    if (u->msgs_24h >= allowance)
        return blocked(ramp < l->daily_cap ? SCHED_RAMP : SCHED_DAILY_CAP,
                       day_rollover(u, now), allowance);
    if (u->rcpts_24h + rcpts > l->rcpt_per_day)
        return blocked(SCHED_RCPT_DAY, day_rollover(u, now), allowance);
    if (l->tenant_cap >= 0 && u->tenant_external_24h + external > l->tenant_cap)
        return blocked(SCHED_TENANT, now + 600, allowance);
    return blocked(SCHED_OK, now, allowance);
}

int sched_spare(const struct sched_limits *l, const struct sched_usage *u, int64_t now)
{
    if (u->paused || u->backoff_until > now)
        return 0;
    int ramp = sched_ramp_allowance(l, now);
    int allowance = ramp < l->daily_cap ? ramp : l->daily_cap;
    int64_t spare = allowance - u->msgs_24h;
    int64_t rcpt_spare = l->rcpt_per_day - u->rcpts_24h;
    if (rcpt_spare < spare)
        spare = rcpt_spare;
    return spare > 0 ? (int)spare : 0;
}

int sched_backoff(int *step_s, uint32_t rnd)
{
    int step = *step_s <= 0 ? 60 : *step_s * 2;
    if (step > 3600)
        step = 3600;
    *step_s = step;
    /* jitter of up to +20% so mailboxes of one tenant do not retry together;
     * never less than the step: a per-minute throttle (Exchange's 4.7.500)
     * clears only a full minute after the sends that tripped it */
    return step + (int)(rnd % (uint32_t)(step / 5 + 1));
}

int sched_gap(int min_s, int max_s, uint32_t rnd)
{
    if (max_s <= min_s)
        return min_s;
    return min_s + (int)(rnd % (uint32_t)(max_s - min_s + 1));
}

bool sched_in_window(const struct sched_window *w, const char *zone, int64_t t)
{
    struct tm lt;
    mf_tz_local(zone, t, &lt);
    int minute = lt.tm_hour * 60 + lt.tm_min;
    return (w->days_mask & (1u << lt.tm_wday)) && minute >= w->start_min &&
           minute < w->end_min;
}

int64_t sched_window_next(const struct sched_window *w, const char *zone, int64_t t)
{
    if (!(w->days_mask & 0x7f) || w->start_min >= w->end_min)
        return t;
    if (sched_in_window(w, zone, t))
        return t;
    struct tm lt;
    mf_tz_local(zone, t, &lt);
    int minute = lt.tm_hour * 60 + lt.tm_min;
    /* today's opening if it is still ahead, else the next allowed day's */
    for (int d = 0; d < 8; d++) {
        struct tm day = lt;
        day.tm_mday += d;
        day.tm_hour = w->start_min / 60;
        day.tm_min = w->start_min % 60;
        day.tm_sec = 0;
        int64_t open = mf_tz_mktime(zone, &day);
        struct tm check;
        mf_tz_local(zone, open, &check);
        if (!(w->days_mask & (1u << check.tm_wday)))
            continue;
        if (d == 0 && minute >= w->start_min)
            continue; /* today's window is over */
        if (open >= t)
            return open;
    }
    return t;
}

int64_t sched_add_days(int64_t t, int days, bool business, const char *zone)
{
    struct tm lt;
    mf_tz_local(zone, t, &lt);
    if (!business) {
        lt.tm_mday += days;
        return mf_tz_mktime(zone, &lt);
    }
    int left = days;
    struct tm day = lt;
    while (left > 0) {
        day.tm_mday += 1;
        struct tm norm;
        mf_tz_local(zone, mf_tz_mktime(zone, &day), &norm);
        if (norm.tm_wday != 0 && norm.tm_wday != 6)
            left--;
    }
    return mf_tz_mktime(zone, &day);
}

int64_t sched_hold_until(const struct sched_verdict *v, int64_t now)
{
    (void)now;
    return v->block == SCHED_PAUSED ? INT64_MAX : v->not_before;
}
