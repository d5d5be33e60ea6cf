/*
 * util/clock — the monotonic clock for timings and deadlines, and the wall
 * clock for what users read. Kept apart so tests can reason about both.
 */
#ifndef MF_UTIL_CLOCK_H
#define MF_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds (fractional) on the monotonic clock, from an arbitrary origin. */
double mf_now_ms(void);
/* Seconds since the epoch. */
int64_t mf_wall_seconds(void);

#endif
