/* engine/sched: every limit, the ramp, rotation's spare capacity, backoff,
 * gaps, send windows in time zones and business days. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/sched.h"
#include "util/tz.h"

/* Monday 2026-11-23 12:00:00 UTC */
#define MON_NOON 1795435200LL
#define DAY 86400LL

static struct sched_limits m365(void)
{
    return (struct sched_limits){.per_minute = 30, .rcpt_per_day = 10000,
                                 .max_connections = 3, .daily_cap = 200, .ramp_start = 5,
                                 .ramp_days = 14, .started_at = MON_NOON, .tenant_cap = -1};
}

static void test_ramp(void **state)
{
    (void)state;
    struct sched_limits l = m365();
    l.daily_cap = 25;
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON), 5);
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON + DAY - 1), 5);
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON + DAY), 5 + 20 / 13);
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON + 13 * DAY), 25);
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON + 400 * DAY), 25);
    /* monotonic, never above the cap */
    int prev = 0;
    for (int d = 0; d < 20; d++) {
        int a = sched_ramp_allowance(&l, MON_NOON + d * DAY);
        assert_true(a >= prev && a <= 25);
        prev = a;
    }
    l.ramp_start = 0;
    assert_int_equal(sched_ramp_allowance(&l, MON_NOON), 25);
}

static void test_each_limit_blocks(void **state)
{
    (void)state;
    struct sched_limits l = m365();
    l.ramp_start = 0;
    struct sched_usage u = {0};
    int64_t now = MON_NOON + 30 * DAY;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_OK);
    u.paused = true;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_PAUSED);
    u.paused = false;
    u.backoff_until = now + 120;
    struct sched_verdict v = sched_check(&l, &u, 1, 1, now);
    assert_int_equal(v.block, SCHED_BACKOFF);
    assert_int_equal(v.not_before, now + 120);
    u.backoff_until = 0;
    u.next_send_at = now + 90;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_GAP);
    u.next_send_at = 0;
    u.connections = 3;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_CONNECTIONS);
    u.connections = 2;
    u.msgs_60s = 30;
    u.nth_last_ms = (now - 20) * 1000;
    v = sched_check(&l, &u, 1, 1, now);
    assert_int_equal(v.block, SCHED_PER_MINUTE);
    assert_int_equal(v.not_before, now - 20 + 62); /* the 30th-last aged out, + margin */
    u.msgs_60s = 29;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_OK);
    u.msgs_24h = 200;
    u.oldest_24h_ms = (now - 3600) * 1000;
    v = sched_check(&l, &u, 1, 1, now);
    assert_int_equal(v.block, SCHED_DAILY_CAP);
    assert_int_equal(v.not_before, now - 3600 + DAY + 1);
    u.msgs_24h = 10;
    u.rcpts_24h = 9999;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_OK);
    assert_int_equal(sched_check(&l, &u, 2, 2, now).block, SCHED_RCPT_DAY);
    u.rcpts_24h = 0;
    l.tenant_cap = 100;
    u.tenant_external_24h = 100;
    assert_int_equal(sched_check(&l, &u, 1, 1, now).block, SCHED_TENANT);
    assert_int_equal(sched_check(&l, &u, 1, 0, now).block, SCHED_OK); /* internal */
}

static void test_ramp_blocks_before_cap(void **state)
{
    (void)state;
    struct sched_limits l = m365();
    struct sched_usage u = {.msgs_24h = 5, .oldest_24h_ms = MON_NOON * 1000};
    struct sched_verdict v = sched_check(&l, &u, 1, 1, MON_NOON + 60);
    assert_int_equal(v.block, SCHED_RAMP);
    assert_int_equal(v.allowance, 5);
    assert_string_equal(sched_block_name(v.block), "ramp allowance");
}

static void test_spare_for_rotation(void **state)
{
    (void)state;
    struct sched_limits l = m365();
    l.ramp_start = 0;
    struct sched_usage a = {.msgs_24h = 150}, b = {.msgs_24h = 20};
    int64_t now = MON_NOON;
    assert_int_equal(sched_spare(&l, &a, now), 50);
    assert_int_equal(sched_spare(&l, &b, now), 180);
    b.paused = true;
    assert_int_equal(sched_spare(&l, &b, now), 0);
    a.msgs_24h = 500;
    assert_int_equal(sched_spare(&l, &a, now), 0);
}

static void test_backoff_doubles_with_jitter(void **state)
{
    (void)state;
    int step = 0;
    int expect[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        int w = sched_backoff(&step, (uint32_t)(i * 7919u));
        assert_int_equal(step, expect[i]);
        assert_true(w >= expect[i] && w <= expect[i] + expect[i] / 5);
    }
    int lo = 1 << 30, hi = 0;
    for (uint32_t r = 0; r < 1000; r++) {
        int s = 0;
        int w = sched_backoff(&s, r * 2654435761u);
        lo = w < lo ? w : lo;
        hi = w > hi ? w : hi;
    }
    assert_true(lo >= 60 && lo < 63 && hi > 69 && hi <= 72); /* spread, never early */
}

static void test_gap_range(void **state)
{
    (void)state;
    int seen_min = 0, seen_max = 0;
    for (uint32_t r = 0; r < 5000; r++) {
        int g = sched_gap(60, 190, r * 2654435761u);
        assert_true(g >= 60 && g <= 190);
        seen_min |= g == 60;
        seen_max |= g == 190;
    }
    assert_true(seen_min && seen_max);
    assert_int_equal(sched_gap(5, 5, 123), 5);
}

static const struct sched_window nine_to_five = {9 * 60, 17 * 60, 0x3e}; /* Mon-Fri */

static void test_window_in_zones(void **state)
{
    (void)state;
    /* Monday 12:00 UTC is 07:00 in New York: opens at 09:00 EST = 14:00 UTC */
    assert_false(sched_in_window(&nine_to_five, "America/New_York", MON_NOON));
    assert_int_equal(sched_window_next(&nine_to_five, "America/New_York", MON_NOON),
                     MON_NOON + 2 * 3600);
    /* ...and 13:00 in Paris: inside */
    assert_true(sched_in_window(&nine_to_five, "Europe/Paris", MON_NOON));
    assert_int_equal(sched_window_next(&nine_to_five, "Europe/Paris", MON_NOON), MON_NOON);
    /* Friday 18:00 Paris -> Monday 09:00 Paris */
    int64_t fri_18 = MON_NOON + 4 * DAY + 5 * 3600; /* Fri 17:00 UTC = 18:00 CET */
    assert_int_equal(sched_window_next(&nine_to_five, "Europe/Paris", fri_18),
                     MON_NOON + 7 * DAY - 4 * 3600); /* Mon 08:00 UTC */
    /* an unknown zone falls back to UTC, never crashes */
    assert_true(sched_in_window(&nine_to_five, "Mars/Olympus", MON_NOON));
    assert_false(mf_tz_valid("../../etc/passwd"));
    assert_false(mf_tz_valid("EST5EDT,M3.2.0"));
    assert_true(mf_tz_valid("Asia/Tokyo"));
}

static void test_window_over_dst_change(void **state)
{
    (void)state;
    /* Sat 2027-03-27 12:00 UTC; Paris moves to CEST on Sunday the 28th */
    int64_t sat = 1806148800LL;
    int64_t open = sched_window_next(&nine_to_five, "Europe/Paris", sat);
    struct tm lt;
    mf_tz_local("Europe/Paris", open, &lt);
    assert_int_equal(lt.tm_wday, 1);
    assert_int_equal(lt.tm_hour, 9);
    assert_int_equal(lt.tm_min, 0);
    assert_int_equal(open, 1806303600LL); /* Mon 07:00 UTC = 09:00 CEST */
}

static void test_business_days(void **state)
{
    (void)state;
    /* Friday + 3 business days = Wednesday, same local time */
    int64_t fri = MON_NOON + 4 * DAY;
    int64_t t = sched_add_days(fri, 3, true, "UTC");
    assert_int_equal(t, fri + 5 * DAY);
    /* Monday + 3 business days = Thursday */
    assert_int_equal(sched_add_days(MON_NOON, 3, true, "UTC"), MON_NOON + 3 * DAY);
    /* calendar days */
    assert_int_equal(sched_add_days(MON_NOON, 5, false, "UTC"), MON_NOON + 5 * DAY);
    /* across a DST change the local time of day holds */
    int64_t sat = 1806148800LL; /* 13:00 CET */
    int64_t later = sched_add_days(sat, 2, false, "Europe/Paris");
    struct tm lt;
    mf_tz_local("Europe/Paris", later, &lt);
    assert_int_equal(lt.tm_hour, 13);
    assert_int_equal(later - sat, 2 * DAY - 3600);
}

/* util/tz remembers offsets per (zone, minute): taking turns between zones
 * around DST changes (both ways, and Lord Howe's half hour, Kathmandu's
 * :45, Goose Bay's 00:01 changes of 2000-2010) it must say exactly what
 * glibc says with the zone loaded afresh. */
static void test_tz_memo_agrees_with_glibc(void **state)
{
    (void)state;
    static const char *const zones[] = {"Europe/Paris", "America/New_York",
                                        "Australia/Lord_Howe", "Asia/Kathmandu",
                                        "America/Goose_Bay", "UTC"};
    static const int64_t around[] = {1806112800LL, /* 2027-03-28 01:00 UTC, Paris */
                                     1824861600LL, /* 2027-10-31 01:00 UTC, Paris */
                                     1807254000LL, /* 2027-04-10 15:00 UTC, Lord Howe */
                                     1004238060LL, /* 2001-10-28 03:01 UTC, Goose Bay */
                                     1815000000LL};
    int checked = 0;
    for (size_t a = 0; a < sizeof around / sizeof *around; a++)
        for (int64_t d = -7200; d <= 7200; d += 450) /* every 7.5 min, two hours each way */
            for (int rep = 0; rep < 2; rep++) /* the second pass is served from memory */
                for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
                    int64_t t = around[a] + d + rep * 17; /* same minute, another second */
                    struct tm got, want;
                    mf_tz_local(zones[z], t, &got);
                    setenv("TZ", zones[z], 1);
                    tzset();
                    time_t tt = (time_t)t;
                    localtime_r(&tt, &want);
                    unsetenv("TZ"); /* each call here names another zone than the last */
                    tzset();
                    assert_int_equal(got.tm_year, want.tm_year);
                    assert_int_equal(got.tm_yday, want.tm_yday);
                    assert_int_equal(got.tm_hour, want.tm_hour);
                    assert_int_equal(got.tm_min, want.tm_min);
                    assert_int_equal(got.tm_sec, want.tm_sec);
                    assert_int_equal(got.tm_wday, want.tm_wday);
                    assert_int_equal(got.tm_isdst, want.tm_isdst);
                    assert_int_equal(got.tm_gmtoff, want.tm_gmtoff);
                    checked++;
                }
    assert_int_equal(checked, 5 * 33 * 2 * 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ramp),
        cmocka_unit_test(test_each_limit_blocks),
        cmocka_unit_test(test_ramp_blocks_before_cap),
        cmocka_unit_test(test_spare_for_rotation),
        cmocka_unit_test(test_backoff_doubles_with_jitter),
        cmocka_unit_test(test_gap_range),
        cmocka_unit_test(test_window_in_zones),
        cmocka_unit_test(test_window_over_dst_change),
        cmocka_unit_test(test_business_days),
        cmocka_unit_test(test_tz_memo_agrees_with_glibc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
