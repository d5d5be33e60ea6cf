/*
 * util/tz — local time in a named IANA time zone ("Europe/Paris"), for send
 * windows and "N business days later" in the recipient's zone.
 *
 * glibc only knows the process's zone, so this switches TZ around each call
 * (and keeps the last zone loaded: calls with the same zone are cheap). Not
 * thread-safe: mailfleet's engine runs on one thread.
 */
#ifndef MF_UTIL_TZ_H
#define MF_UTIL_TZ_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* true when zone names a zone the system knows ("UTC", "America/New_York").
 * Refuses paths, "..", and POSIX TZ strings. */
bool mf_tz_valid(const char *zone);

/* The local broken-down time of unix time t in zone (invalid → UTC). */
void mf_tz_local(const char *zone, int64_t t, struct tm *out);

/* The unix time of a local time in zone (tm_isdst = -1: the zone decides;
 * a time skipped by a DST change moves forward). */
int64_t mf_tz_mktime(const char *zone, const struct tm *local);

#endif
