#include "util/clock.h"

#include <time.h>

double mf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int64_t mf_wall_seconds(void)
{
    return (int64_t)time(NULL);
}
