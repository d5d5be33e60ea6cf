/*
 * engine/plan — what `mailfleet run` would send in the coming hours, by
 * which mailbox and when, computed from the store in a few bulk reads and
 * simulated in memory: nothing is rendered, sent or written.
 *
 * It makes the decisions of the engine in simulate mode (engine_tick, then
 * engine_flush accepting every queued message), tick by tick on the clock
 * plan_step() advances, with the engine's rules: per-minute limit, rolling
 * 24 h messages and recipients, tenant caps, daily cap and ramp allowance,
 * the campaign's random gap, backoff, pause; the send window in the lead's
 * time zone; follow-ups from the mailbox of the first touch, first touches
 * to the mailbox with the most spare capacity; suppressed and inactive
 * leads stop; a lead whose template needs a field it lacks is skipped. The
 * engine considers at most PLAN_DUE_BATCH due enrollments per tick and its
 * flush accepts at most PLAN_FLUSH_BATCH messages; so does the plan.
 * Messages already queued in the outbox go out first (as after the
 * engine's start-up recovery).
 *
 * Not predicted: a message the MIME layer would refuse (a broken From
 * address, an over-long header line) is planned as sent. Random gaps come
 * from a seeded generator: the same store and seed give the same plan.
 *
 * Ownership: everything is borrowed; the strings handed to on_send live
 * until plan_run returns.
 */
#ifndef MF_ENGINE_PLAN_H
#define MF_ENGINE_PLAN_H

#include <stdint.h>

#include "engine/store.h"
#include "util/err.h"

#define PLAN_DUE_BATCH 500      /* engine.c's DUE_BATCH: enrollments read per tick */
#define PLAN_FLUSH_BATCH 4096   /* engine_send.c's simulate flush: messages per flush */

struct plan_send {
    int64_t at;                 /* unix s: the tick that sends it */
    const char *campaign;       /* "?" when the campaign cannot be read */
    int step;                   /* 1-based */
    const char *rcpt;
    const char *mailbox;
};

/* Return non-zero to stop the plan there (plan_run returns MF_OK). */
typedef int (*plan_send_cb)(void *ctx, const struct plan_send *s);

struct plan_cfg {
    struct store *st;           /* borrowed, only read */
    int64_t start;              /* unix s of the first tick */
    int64_t until;              /* no tick at or after this */
    uint64_t seed;              /* the random gaps */
    plan_send_cb on_send;
    void *ctx;
};

struct plan_result {
    long sent;                  /* messages planned */
    long skipped;               /* leads skipped: suppressed, or a field missing */
    long ticks;
};

/* MF_OK; MF_ESTORE / MF_ENOMEM when the store cannot be read. */
enum mf_rc plan_run(const struct plan_cfg *cfg, struct plan_result *out, struct mf_err *err);

/* The clock's step after a tick at now (the loop of `plan`, and of any
 * simulated run compared with it): 15 s after a tick that queued messages;
 * else to next_due (from engine_tick), at least 15 s and at most 900 s;
 * 60 s when nothing is due. */
int64_t plan_step(int queued, int64_t now, int64_t next_due);

#endif
