/* libFuzzer: mail/returndate on a whole message, and on the same bytes read
 * as a text, each at two arrivals (Friday 2026-11-20 in Europe/Berlin;
 * Sunday 2026-12-27 in America/New_York, where dates roll into next year).
 * Traps when a result breaks a promise of returndate.h: a code other than
 * MF_OK or MF_ENOTFOUND; on MF_OK a day that does not exist, is not after
 * the arrival's local day or is more than RETURNDATE_HORIZON_DAYS later,
 * an `at` that is not that day's first moment in the zone, no language, a
 * phrase that is empty, not NUL-terminated, not UTF-8 or holds control
 * characters; otherwise a result that is not zeroed; a second call that
 * answers differently. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "mail/returndate.h"
#include "util/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t local_day(const char *zone, int64_t t, int *hour)
{
    struct tm tm;
    mf_tz_local(zone, t, &tm);
    if (hour)
        *hour = tm.tm_hour;
    return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* NUL within size, non-empty, valid UTF-8, no C0 or DEL. */
static void phrase_ok(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    CHECK(n > 0 && n < size);
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        CHECK(len && i + len <= n);
        for (size_t k = 1; k < len; k++)
            CHECK((u[i + k] & 0xc0) == 0x80);
        if (len == 1)
            CHECK(c >= 0x20 && c != 0x7f);
        i += len;
    }
}

static void result_ok(enum mf_rc rc, const struct returndate *r, int64_t arrived,
                      const char *zone)
{
    static const struct returndate zero;
    CHECK(rc == MF_OK || rc == MF_ENOTFOUND);
    if (rc != MF_OK) {
        CHECK(memcmp(r, &zero, sizeof zero) == 0);
        return;
    }
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    CHECK(r->month >= 1 && r->month <= 12 && r->day >= 1 && r->day <= mdays[r->month - 1]);
    CHECK(r->month != 2 || r->day < 29 || (r->year % 4 == 0 && r->year % 100 != 0) ||
          r->year % 400 == 0);
    int64_t back = days_from_civil(r->year, r->month, r->day);
    int64_t arrival = local_day(zone, arrived, NULL);
    CHECK(back > arrival && back <= arrival + RETURNDATE_HORIZON_DAYS);
    int hour;
    CHECK(local_day(zone, r->at, &hour) == back && hour <= 1); /* 1: midnight skipped */
    CHECK(local_day(zone, r->at - 3600 * (hour + 1), NULL) == back - 1);
    CHECK(r->lang && r->lang[0]);
    phrase_ok(r->phrase, sizeof r->phrase);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct {
        int64_t at;
        const char *zone;
    } arrivals[] = {
        {1795168800, "Europe/Berlin"},      /* Friday 2026-11-20 10:00 UTC */
        {1798416000, "America/New_York"},   /* Monday 2026-12-28 00:00 UTC: the 27th there */
    };
    const char *raw = (const char *)data;
    for (size_t k = 0; k < sizeof arrivals / sizeof *arrivals; k++) {
        struct returndate r1, r2;
        enum mf_rc rc1 = returndate_find(raw, size, arrivals[k].at, arrivals[k].zone, &r1, NULL);
        result_ok(rc1, &r1, arrivals[k].at, arrivals[k].zone);
        enum mf_rc rc2 = returndate_find(raw, size, arrivals[k].at, arrivals[k].zone, &r2, NULL);
        CHECK(rc1 == rc2 && memcmp(&r1, &r2, sizeof r1) == 0);
        rc1 = returndate_in_text(raw, size, arrivals[k].at, arrivals[k].zone, &r1, NULL);
        result_ok(rc1, &r1, arrivals[k].at, arrivals[k].zone);
    }
    return 0;
}
