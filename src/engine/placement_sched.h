/*
 * engine/placement_sched — inbox-placement checks on the schedule the
 * active campaigns set, while `mailfleet run` runs:
 *
 *   placement:
 *     every: 7            # days between checks
 *     seeds: [gmail-seed, outlook-seed]
 *     pause_below: 80     # percent in the inbox; 0 never pauses
 *     wait: 300           # seconds to look for the probes
 *
 * When a campaign's check is due (its last one started `every` days ago,
 * by the wall clock: placement is about real delivery), every active
 * mailbox sends a probe to each seed (engine/placement: the pair rule,
 * read-only looking, the matrix) on the run's event loop; when the check
 * is over it is saved and the senders under pause_below are paused with
 * the numbers. One check at a time; the start time is kept in the store's
 * meta table ("placement.last.CAMPAIGN"), so a restart does not repeat it.
 *
 * Ownership: the caller owns struct placement_sched (placement_sched_free);
 * the store, secrets, base, dns and tls are borrowed and must outlive it.
 */
#ifndef MF_ENGINE_PLACEMENT_SCHED_H
#define MF_ENGINE_PLACEMENT_SCHED_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/secrets.h"
#include "engine/store.h"
#include "util/err.h"

struct event_base;
struct dns;

struct placement_sched_cfg {
    struct store *st;
    struct secrets *sec;
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
};

struct placement_sched;

/* MF_EINVAL (no store or loop), MF_ENOMEM. */
struct placement_sched *placement_sched_new(const struct placement_sched_cfg *cfg,
                                            struct mf_err *err);
void placement_sched_free(struct placement_sched *ps);

/* At wall time now: saves a check that is over, or starts one that is due.
 * Call it every few seconds. MF_ESTORE; a campaign file that no longer
 * parses, or a seed that is not a mailbox with an IMAP server, is a note,
 * not an error. */
enum mf_rc placement_sched_tick(struct placement_sched *ps, int64_t now, struct mf_err *err);

/* True while a check is sending or looking. */
bool placement_sched_running(const struct placement_sched *ps);

/* Ends the check in flight without saving it (an interrupted check says
 * nothing); run the loop until placement_sched_running() is false. */
void placement_sched_abandon(struct placement_sched *ps);

#endif
