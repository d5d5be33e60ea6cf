/*
 * engine/engine — the sending engine: every pass ("tick") it reads what is
 * due, checks the lead (status, suppression, window in its time zone),
 * picks the mailbox (the sticky one for follow-ups, the one with the most
 * spare capacity for first touches, only when engine/sched says every
 * limit allows), renders the message and queues it in the outbox with its
 * Message-ID, all in one transaction. The sender (engine_send.c) then
 * drives one SMTP connection per busy mailbox and applies each reply:
 *
 *   2xx              sent: send log, event, the enrollment moves on
 *   4xx / dropped before the final dot
 *                    queued again; the MAILBOX backs off 1 min doubling to 1 h
 *   dropped after the final dot
 *                    unknown: maybe delivered, never resent, shown in status
 *   5xx about the recipient
 *                    the lead bounced: suppressed, its sequences stop
 *   5xx about the mailbox (auth, blocked, quota)
 *                    the mailbox pauses with the explanation; its first
 *                    touches go to other mailboxes, its follow-ups wait
 *
 * The outbox is a state machine committed at each step (queued -> sending
 * -> data_sent -> sent | failed | unknown); engine_recover() at start-up
 * requeues `sending` (nothing left) and turns `data_sent` into `unknown`.
 *
 * The clock is injectable: simulate mode accepts every message at once
 * without a network, on a copy of the store (engine/plan answers `plan`
 * without it; its test checks the two agree).
 *
 * Ownership: struct engine is the caller's (engine_free); it borrows the
 * store and the secrets, which must outlive it.
 */
#ifndef MF_ENGINE_ENGINE_H
#define MF_ENGINE_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "auth/secrets.h"
#include "engine/store.h"
#include "util/err.h"

struct event_base;
struct dns;

struct engine_cfg {
    struct store *st;
    struct secrets *sec;          /* NULL: only env/file passwords work */
    const char *cafile;           /* extra trust anchors for the mail servers */
    bool insecure;
    int64_t (*clock)(void *ctx);  /* unix seconds; NULL = the wall clock */
    int64_t (*clock_ms)(void *ctx); /* the same in milliseconds (optional: the
                                       per-minute window is counted in ms) */
    void *clock_ctx;
    bool simulate;                /* no network: every message is accepted at once */
    int batch;                    /* messages per connection; 0 = 200 */
    bool ignore_gap;              /* benchmarks: no random gap between sends */
    void (*note)(void *ctx, const char *line);  /* progress, one line each */
    void *note_ctx;
    /* Whether a mailbox's follow-ups may go now (NULL: always). The IMAP
     * sync answers false while it has not checked the mailbox recently: a
     * reply may be sitting unread. First touches never wait for it. */
    bool (*followups_ok)(void *ctx, const char *mailbox, int64_t now);
    void *followups_ctx;
};

struct engine_stats {
    long queued, sent, deferred, failed, unknown, bounced, skipped, paused;
};

struct engine;

struct engine *engine_new(const struct engine_cfg *cfg, struct mf_err *err);
void engine_free(struct engine *e);

/* Start-up repair of the outbox; counts what it changed. */
enum mf_rc engine_recover(struct engine *e, int *requeued, int *unknown, struct mf_err *err);

/* One scheduling pass at the clock's now. *queued gets the messages queued;
 * *next_due the earliest time something may become sendable (0: nothing
 * left). */
enum mf_rc engine_tick(struct engine *e, int *queued, int64_t *next_due, struct mf_err *err);

/* Sends what the outbox holds (real mode: on the event loop until those
 * connections finish; simulate: accepts everything at once). */
enum mf_rc engine_flush(struct engine *e, struct mf_err *err);

/* tick + flush until the clock passes until (0 = forever), nothing is left
 * to do (when stop_when_idle), or *stop is set (SIGTERM: what is in flight
 * finishes first). */
enum mf_rc engine_run(struct engine *e, int64_t until, bool stop_when_idle,
                      volatile sig_atomic_t *stop, struct mf_err *err);

const struct engine_stats *engine_stats(const struct engine *e);

/* The engine's event loop, resolver and TLS context (made on first use),
 * for the IMAP sync that runs beside the sender. Borrowed: valid until
 * engine_free. */
enum mf_rc engine_event_env(struct engine *e, struct event_base **base, struct dns **dns,
                            SSL_CTX **tls, struct mf_err *err);

/* A person settles an `unknown` message: sent moves the sequence on (the
 * next step due its delay after the attempt, in the lead's time zone), not
 * sent stops it for that lead. MF_EINVAL when the message is not unknown. */
enum mf_rc engine_resolve_unknown(struct store *st, int64_t outbox_id, bool sent,
                                  struct mf_err *err);

/* Bounce protection: a mailbox whose bounces over the last 7 days reach 5%
 * of what it sent (at least 20 sent or bounced) pauses until a person
 * resumes it; *paused says whether this call paused it and why gets the
 * reason. Used by the sender (bounces at RCPT time) and by the sync
 * (bounces that come back by mail). */
enum mf_rc engine_bounce_protect(struct store *st, const char *mailbox, int64_t now,
                                 bool *paused, char *why, size_t why_size, struct mf_err *err);

#endif
