/*
 * engine/sync — watches every sending mailbox over IMAP for what comes back
 * (replies, bounces, auto-replies, complaints, unsubscribes) and hands each
 * new message to engine/inbound, on the event loop it shares with the
 * sender.
 *
 * Per mailbox with an IMAP server (store_imap_*), one session: sign in (the
 * account's OAuth token, refreshed and retried once when refused, or its
 * password), LIST, and check the folders that can hold answers — Junk and
 * the other selectable folders first, INBOX last; never Sent, Drafts,
 * Trash, All or Flagged. A check of a folder is EXAMINE (read-only), then,
 * when UIDNEXT says something is new, UID SEARCH of the UIDs after the last
 * one seen (1,000 UIDs at a time, so an answer is a short line however big
 * the folder) and UID FETCH of BODY.PEEK[]<0.64K> in chunks: mailfleet never
 * sets a flag, moves or deletes. What was seen (UIDVALIDITY, last UID,
 * HIGHESTMODSEQ) is stored per folder after each chunk; a UIDVALIDITY that
 * changed rescans the folder, and the events' source keys keep a rescan
 * from producing any event twice. Before a mailbox has sent anything there
 * is nothing to match: its folders are marked seen without fetching.
 * A first scan reads only mail since two days before the mailbox's first
 * send.
 *
 * After a full check INBOX stays selected: IDLE when the server offers it
 * (new mail → an INBOX check at once), else nothing until the next poll.
 * Every poll interval a full check runs again (which also renews IDLE long
 * before servers drop it). A failure is recorded with the explain table's
 * fix (store_imap_failed, shown by `status`) and the session reconnects
 * after a backoff of 30 s doubling to 15 minutes.
 *
 * The follow-up gate: sync_followups_ok() is false for a watched mailbox
 * whose last complete check is older than stale_s (by the engine's clock)
 * and that is not idling — a reply may be waiting unread. Mailboxes
 * without an IMAP server are not watched and never held.
 *
 * Ownership: the caller owns struct sync (sync_free); base, dns, tls, the
 * store and the secrets are borrowed and must outlive it.
 */
#ifndef MF_ENGINE_SYNC_H
#define MF_ENGINE_SYNC_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/secrets.h"
#include "engine/store.h"
#include "util/err.h"

struct event_base;
struct dns;

struct sync_cfg {
    struct store *st;
    struct secrets *sec;              /* NULL: only env/file passwords */
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    int64_t (*clock)(void *ctx);      /* the engine's unix seconds; NULL wall */
    void *clock_ctx;
    const unsigned char *unsub_key;   /* 32 bytes: mailto: unsubscribe tokens */
    int poll_s;                       /* real seconds between full checks; 0: 60 */
    int stale_s;                      /* clock seconds before follow-ups wait; 0: 300 */
    bool once;                        /* one full check per mailbox, then log out */
    bool no_idle;                     /* poll even where IDLE is offered */
    const char *const *only;          /* watch only these mailboxes (NULL: all) */
    size_t nonly;
    void (*note)(void *ctx, const char *line);
    void *note_ctx;
};

struct sync_stats {
    long checks;        /* complete checks of a mailbox */
    long fetched;       /* messages read */
    long events;        /* new events */
    long duplicates;    /* messages seen before */
    long ignored;       /* matched nothing, or nothing to do */
    long failures;      /* sessions that failed */
};

struct sync;

/* MF_ENOMEM, MF_EINVAL (no store / loop). */
struct sync *sync_new(const struct sync_cfg *cfg, struct mf_err *err);
void sync_free(struct sync *s);      /* sessions still open are dropped */

/* Starts a session for every mailbox with an IMAP server (and in `only`).
 * *watched (may be NULL) gets their number. Errors: MF_ESTORE; a mailbox
 * that cannot start is a failure recorded for it, not an error here. */
enum mf_rc sync_start(struct sync *s, int *watched, struct mf_err *err);

/* Sessions still open or waiting to reconnect; with `once`, 0 when every
 * mailbox has been checked (or has failed). */
int sync_active(const struct sync *s);

/* Logs out everywhere (ends IDLE first); run the loop until sync_active()
 * is 0. */
void sync_stop(struct sync *s);

/* The engine's follow-up gate (engine_cfg.followups_ok with ctx = sync). */
bool sync_followups_ok(void *ctx, const char *mailbox, int64_t now);

const struct sync_stats *sync_stats(const struct sync *s);

#endif
