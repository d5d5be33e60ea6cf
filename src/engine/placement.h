/*
 * engine/placement — inbox-placement checks among the user's own mailboxes:
 * "warmup" done honestly. For each (sender, seed) pair one probe goes out
 * through the sender's SMTP server (the account's host, port, security and
 * sign-in: its OAuth token over XOAUTH2, or its password), a plain message
 * From the sender To the seed whose Subject ("Placement check TOKEN") and
 * X-Mailfleet-Probe header carry a random token (16 bytes from libsodium,
 * hex). Then every seed is looked into over IMAP, read-only — LIST to find
 * INBOX and the junk folder (\Junk, else a well-known name), EXAMINE, and
 * UID SEARCH for the token — every few seconds until every probe is found
 * or the wait is over. Nothing is fetched, flagged, moved, deleted or
 * answered: probes are not engagement.
 *
 * The pair rule: a seed that shares the sender's address domain (or one is
 * a subdomain of the other) or its non-empty tenant, or is the sender
 * itself, is refused — internal delivery says nothing about placement.
 *
 * Each pair ends as inbox or junk (with the folder and the delay from the
 * send's 250 to first seen), missing (looked for, not found; or never
 * looked for because the seed could not be read: seed_unread), not_sent
 * (why in detail) or refused (why in detail). placement_save records a run
 * (store_placement_*) and pauses the senders below a threshold.
 *
 * The pure parts (pair rule, folder choice, tally, threshold, matrix text)
 * need no loop and no store.
 *
 * Ownership: the caller owns struct placement (placement_free); base, dns,
 * tls, the store and the secrets are borrowed and must outlive it. Pairs
 * handed out are borrowed from the struct.
 */
#ifndef MF_ENGINE_PLACEMENT_H
#define MF_ENGINE_PLACEMENT_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/secrets.h"
#include "engine/store.h"
#include "proto/imap.h"
#include "util/buf.h"
#include "util/err.h"

struct event_base;
struct dns;

#define PLACEMENT_TOKEN_HEX 32   /* 16 random bytes */
#define PLACEMENT_HEADER "X-Mailfleet-Probe"

enum placement_result {
    PLACEMENT_PENDING = 0,   /* being sent or looked for */
    PLACEMENT_INBOX,
    PLACEMENT_JUNK,
    PLACEMENT_MISSING,
    PLACEMENT_NOT_SENT,
    PLACEMENT_REFUSED,
};

/* "pending", "inbox", "junk", "missing", "not_sent", "refused" (static). */
const char *placement_result_name(enum placement_result r);
/* false for an unknown name. */
bool placement_result_parse(const char *name, enum placement_result *out);

/* One side of a pair. */
struct placement_party {
    char account[64];
    char address[320];
    char tenant[128];        /* the mailbox's tenant; "" = none */
};

/* The pair rule: true when sender -> seed says something about placement;
 * else false with why ("same domain (example.com): internal delivery says
 * nothing about placement", "same tenant (contoso): ...", "the seed is the
 * sender itself") written into why. */
bool placement_pair_ok(const struct placement_party *sender, const struct placement_party *seed,
                       char *why, size_t why_size);

/* From a LIST result: the inbox ("INBOX", or the folder flagged \Inbox)
 * and the junk folder: the one flagged \Junk, else the first selectable
 * one named (any case) Junk, Junk E-mail, Junk Email, Spam, Bulk Mail,
 * [Gmail]/Spam or [Google Mail]/Spam, also under INBOX ("INBOX.Junk").
 * Names with '"' or '\' are never picked. "" when there is none. */
void placement_pick_folders(const struct imap_mailbox *mb, size_t n, char *inbox,
                            size_t inbox_size, char *junk, size_t junk_size);

struct placement_pair {
    char sender[64], seed[64];       /* account names */
    char from[320], to[320];         /* their addresses */
    char token[PLACEMENT_TOKEN_HEX + 1];
    enum placement_result result;
    char folder[256];                /* where it was found */
    int64_t sent_at;                 /* unix seconds of the 250; 0 not sent */
    int64_t delay_ms;                /* 250 -> first seen; -1 not seen */
    bool seed_unread;                /* missing because it was never looked for */
    char detail[512];
};

/* What one sender's pairs came to. checked = inbox + junk + missing (the
 * probes that were sent and looked for): the rate's denominator. */
struct placement_tally {
    int inbox, junk, missing, unread, not_sent, refused, pending;
    int checked;
};
void placement_tally(const struct placement_pair *pairs, size_t n, const char *sender,
                     struct placement_tally *t);

/* The threshold: true when pct > 0, the sender has checked probes, and
 * fewer than pct percent of them reached the inbox; reason then gets
 * "placement 1/3 inbox (2 junk, 0 missing) is below 80%: look at ...,
 * then mailfleet mailbox resume SENDER". */
bool placement_below(const struct placement_tally *t, int pct, const char *sender,
                     char *reason, size_t reason_size);

/* "0.4s", "12s", "2m05s", "1h02m" into buf (returns buf). */
const char *placement_delay_text(int64_t ms, char *buf, size_t size);

/* The matrix for people, appended to out: rows senders, columns seeds (in
 * first-seen order), cells "inbox 4.0s", "junk 12s", "missing", "unread",
 * "not sent", "refused", "-" (no such pair); then per sender its inbox
 * rate, then the reasons behind refused, not sent and unread cells.
 * MF_ENOMEM / MF_ELIMIT from the buffer. */
enum mf_rc placement_matrix_text(const struct placement_pair *pairs, size_t n,
                                 struct mf_buf *out);

/* ---- a run ------------------------------------------------------------------------- */

struct placement_cfg {
    struct store *st;
    struct secrets *sec;              /* NULL: only env/file passwords */
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    int wait_s;                       /* look this long from the start; 0: 300 */
    int poll_ms;                      /* between looks into a seed; 0: 5000 */
    void (*note)(void *ctx, const char *line);   /* progress, optional */
    void *note_ctx;
};

struct placement;

/* MF_EINVAL (no store or loop), MF_ENOMEM. */
struct placement *placement_new(const struct placement_cfg *cfg, struct mf_err *err);
void placement_free(struct placement *p);   /* sessions still open are dropped */

/* Adds the pair sender -> seed, read from the store: the sender must be a
 * mailbox, the seed a mailbox with an IMAP server. A pair the rule refuses
 * is kept as refused. MF_ENOTFOUND (which one, and the fix), MF_EINVAL
 * (after placement_start), MF_ESTORE, MF_ENOMEM. */
enum mf_rc placement_add(struct placement *p, const char *sender, const char *seed,
                         struct mf_err *err);

/* Sends every probe and starts looking (sessions open on the loop). A
 * sender or seed that cannot even start is a result, not an error here:
 * MF_ENOMEM only. */
enum mf_rc placement_start(struct placement *p, struct mf_err *err);
/* True while probes are being sent or looked for: run the loop. */
bool placement_running(const struct placement *p);
/* Stops looking now: what is not found is missing. Run the loop until
 * placement_running() is false (sends in flight are not cut off). */
void placement_stop(struct placement *p);

/* The pairs, in the order added (borrowed). */
const struct placement_pair *placement_pairs(const struct placement *p, size_t *n);

/* Records the pairs as one run (one transaction; *run_id gets its id) and,
 * with pause_below > 0, pauses every sender placement_below() names, with
 * its reason (a note for each). MF_ESTORE. */
enum mf_rc placement_save(struct placement *p, int pause_below, int64_t *run_id,
                          struct mf_err *err);

/* A recorded run (run_id 0: the latest) as pairs: *pairs is the caller's
 * (free), *run_out gets the run's id. MF_ENOTFOUND when there is no such
 * run. from/to are not recorded and come back "". */
enum mf_rc placement_load(struct store *st, int64_t run_id, struct placement_pair **pairs,
                          size_t *n, int64_t *run_out, struct mf_err *err);

#endif
