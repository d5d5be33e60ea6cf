#include "util/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ZONE_MAX 128

static char loaded[ZONE_MAX];

/* Zone names already looked up, valid or not: the files do not come and go
 * during a run, and the engine asks once per message. */
#define KNOWN_SLOTS 32
static struct {
    char zone[ZONE_MAX];
    bool valid;
} known[KNOWN_SLOTS];
static unsigned known_next;

static bool zone_file_exists(const char *zone)
{
    for (unsigned i = 0; i < KNOWN_SLOTS; i++)
        if (known[i].zone[0] && strcmp(known[i].zone, zone) == 0)
            return known[i].valid;
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zone);
    struct stat sb;
    bool valid = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    unsigned slot = known_next++ % KNOWN_SLOTS;
    snprintf(known[slot].zone, sizeof known[slot].zone, "%s", zone);
    known[slot].valid = valid;
    return valid;
}

bool mf_tz_valid(const char *zone)
{
    if (!zone || !*zone || strlen(zone) >= ZONE_MAX || zone[0] == '/' ||
        strstr(zone, "..") || strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789/_+-") != strlen(zone))
        return false;
    return strcmp(zone, "UTC") == 0 || zone_file_exists(zone);
}

static void use_zone(const char *z)
{
    if (strcmp(loaded, z) == 0)
        return;
    snprintf(loaded, sizeof loaded, "%s", z);
    setenv("TZ", z, 1);
    tzset();
}

/* The UTC offset of each recent zone at the minute last asked. Every change
 * of offset since 1973 falls on a whole minute, so what one second of a
 * minute says holds for the whole minute; switching TZ, by contrast, makes
 * glibc read the zone's file again, and the engine's recipients take turns
 * in their zones. */
#define MEMO_SINCE 100000000 /* 1973-03-03: Monrovia's 1972 change is not on a minute */
#define MEMO_SLOTS 32
static struct {
    char zone[ZONE_MAX];
    int64_t minute;
    long gmtoff;
    int isdst;
} memo[MEMO_SLOTS];
static unsigned memo_next;

void mf_tz_local(const char *zone, int64_t t, struct tm *out)
{
    const char *z = mf_tz_valid(zone) ? zone : "UTC";
    bool memoable = t >= MEMO_SINCE;
    unsigned slot = MEMO_SLOTS;
    for (unsigned i = 0; memoable && i < MEMO_SLOTS && slot == MEMO_SLOTS; i++)
        if (memo[i].zone[0] && strcmp(memo[i].zone, z) == 0)
            slot = i;
    if (slot < MEMO_SLOTS && memo[slot].minute == t / 60) {
        time_t shifted = (time_t)(t + memo[slot].gmtoff);
        gmtime_r(&shifted, out);
        out->tm_gmtoff = memo[slot].gmtoff;
        out->tm_isdst = memo[slot].isdst;
        return;
    }
    use_zone(z);
    time_t tt = (time_t)t;
    localtime_r(&tt, out);
    if (!memoable)
        return;
    if (slot == MEMO_SLOTS) {
        slot = memo_next++ % MEMO_SLOTS;
        snprintf(memo[slot].zone, sizeof memo[slot].zone, "%s", z);
    }
    memo[slot].minute = t / 60;
    memo[slot].gmtoff = out->tm_gmtoff;
    memo[slot].isdst = out->tm_isdst;
}

int64_t mf_tz_mktime(const char *zone, const struct tm *local)
{
    use_zone(mf_tz_valid(zone) ? zone : "UTC");
    struct tm copy = *local;
    copy.tm_isdst = -1;
    return (int64_t)mktime(&copy);
}
