#include "util/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char loaded[128];

bool mf_tz_valid(const char *zone)
{
    if (!zone || !*zone || strlen(zone) >= sizeof loaded || zone[0] == '/' ||
        strstr(zone, "..") || strspn(zone, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789/_+-") != strlen(zone))
        return false;
    if (strcmp(zone, "UTC") == 0)
        return true;
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", zone);
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void use_zone(const char *zone)
{
    if (zone && loaded[0] && strcmp(loaded, zone) == 0)
        return;
    const char *z = mf_tz_valid(zone) ? zone : "UTC";
    if (strcmp(loaded, z) == 0)
        return;
    snprintf(loaded, sizeof loaded, "%s", z);
    setenv("TZ", z, 1);
    tzset();
}

void mf_tz_local(const char *zone, int64_t t, struct tm *out)
{
    use_zone(zone);
    time_t tt = (time_t)t;
    localtime_r(&tt, out);
}

int64_t mf_tz_mktime(const char *zone, const struct tm *local)
{
    use_zone(zone);
    struct tm copy = *local;
    copy.tm_isdst = -1;
    return (int64_t)mktime(&copy);
}
