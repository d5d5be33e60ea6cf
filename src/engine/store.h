/*
 * engine/store — mailfleet's local store. The only module that knows the
 * store is SQLite: everything else goes through these functions, so another
 * backend can replace it later.
 *
 * The schema is versioned (schema_version table, application_id 'MFLT');
 * store_open() creates the file, checks that it is a mailfleet store and
 * migrates it forward inside a transaction. A file that is not ours, or is
 * from a newer mailfleet, is refused untouched with a clear error.
 *
 * No secret is ever stored in a plain column: secrets arrive here already
 * encrypted by auth/secrets (nonce + ciphertext); an account may instead
 * record where its password comes from (an environment variable or a file).
 *
 * Ownership: struct store is the caller's (store_close). Output structs are
 * caller-provided and filled by copy. A struct store is used by one thread
 * at a time (its SQLite connection is opened without a mutex).
 */
#ifndef MF_ENGINE_STORE_H
#define MF_ENGINE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store;

#define STORE_SCHEMA_VERSION 6

/* Opens (creating directories and the file when missing) and migrates.
 * path NULL → store_default_path(). MF_ESTORE / MF_EIO with the reason. */
struct store *store_open(const char *path, struct mf_err *err);
void store_close(struct store *st);

/* $MAILFLEET_DB, else $XDG_DATA_HOME/mailfleet/mailfleet.db, else
 * ~/.local/share/mailfleet/mailfleet.db. Writes into buf; returns buf or
 * NULL when it does not fit / HOME is unset. */
const char *store_default_path(char *buf, size_t size);

int store_schema_version(struct store *st);

/* A private in-memory copy of the store (the simulate-mode engine runs on it
 * with a simulated clock, and nothing reaches the real file; engine/plan's
 * test compares the planner with it). */
struct store *store_open_copy(struct store *src, struct mf_err *err);

struct store_account {
    char name[64];           /* the user's handle: "work", "me@contoso.com" */
    char provider[32];       /* preset id, "" = generic */
    char host[256];
    int port;
    char security[16];       /* "starttls", "tls", "none" */
    char user[320];
    char auth[16];           /* "auto", "plain", "login", "xoauth2", ... */
    char from_addr[320];     /* default envelope sender / From */
    char password_env[128];  /* where the secret comes from, never the secret */
    char password_file[1024];
    int64_t created_at;
};

/* Inserts, or with replace updates, by name. MF_EINVAL when the name exists
 * and !replace, or a field is empty/too long. */
enum mf_rc store_account_put(struct store *st, const struct store_account *a,
                             bool replace, struct mf_err *err);
/* MF_ENOTFOUND when there is no such account. */
enum mf_rc store_account_get(struct store *st, const char *name,
                             struct store_account *out, struct mf_err *err);
enum mf_rc store_account_remove(struct store *st, const char *name,
                                struct mf_err *err);
/* Calls cb for each account in name order; a non-zero return stops. */
typedef int (*store_account_cb)(void *ctx, const struct store_account *a);
enum mf_rc store_account_list(struct store *st, store_account_cb cb, void *ctx,
                              struct mf_err *err);

/* Explicit transactions (BEGIN IMMEDIATE: one writer at a time). Inside a
 * group they are savepoints: store_commit keeps the work for the group's
 * commit, store_rollback undoes only its own. */
enum mf_rc store_begin(struct store *st, struct mf_err *err);
enum mf_rc store_commit(struct store *st, struct mf_err *err);
void store_rollback(struct store *st);

/* A group transaction: from store_group_open to store_group_commit every
 * write, with or without store_begin, goes into one transaction, so the
 * outcomes and data-sent marks of all the messages in flight cost one
 * commit. The engine opens it in its event callbacks and commits it before
 * any final dot those marks guard leaves. Opening an open group is a no-op.
 * store_group_commit commits (or, when a statement in the group failed to
 * commit its savepoint, rolls back and says so); without an open group it
 * does nothing. */
enum mf_rc store_group_open(struct store *st, struct mf_err *err);
/* True when the store's last error was another connection holding the lock
 * past the busy timeout (5 s): worth trying again later. */
bool store_busy(const struct store *st);
/* A number that changes when another connection (another program) commits
 * a change to the store; this connection's own commits leave it. */
enum mf_rc store_data_version(struct store *st, int64_t *out, struct mf_err *err);
enum mf_rc store_group_commit(struct store *st, struct mf_err *err);
bool store_group_active(const struct store *st);

/* Facts about the store itself (e.g. auth/secrets' key check). get copies
 * at most cap bytes into out and the full length into *len; MF_ENOTFOUND
 * when the key is absent. */
enum mf_rc store_meta_get(struct store *st, const char *key, void *out,
                          size_t cap, size_t *len, struct mf_err *err);
enum mf_rc store_meta_put(struct store *st, const char *key, const void *value,
                          size_t len, struct mf_err *err);

/* ---- encrypted secrets (opaque here; auth/secrets encrypts) -------------- */

/* kind: "password", "access_token", "refresh_token", "client_secret". */
struct store_secret {
    unsigned char nonce[32];
    size_t nonce_len;
    unsigned char *ciphertext; /* malloc'd by store_secret_get; caller frees */
    size_t ciphertext_len;
    int64_t expires_at;        /* unix seconds, 0 = does not expire */
    int64_t updated_at;
};

/* Inserts or replaces the (account, kind) row. The account must exist
 * (MF_ENOTFOUND otherwise). */
enum mf_rc store_secret_put(struct store *st, const char *account,
                            const char *kind, const void *nonce, size_t nonce_len,
                            const void *ciphertext, size_t ciphertext_len,
                            int64_t expires_at, struct mf_err *err);
/* MF_ENOTFOUND when absent. On MF_OK out->ciphertext is the caller's. */
enum mf_rc store_secret_get(struct store *st, const char *account,
                            const char *kind, struct store_secret *out,
                            struct mf_err *err);
/* kind NULL deletes every secret of the account. Absent rows are not an error. */
enum mf_rc store_secret_delete(struct store *st, const char *account,
                               const char *kind, struct mf_err *err);
/* Metadata only (never the ciphertext), in kind order. */
typedef int (*store_secret_cb)(void *ctx, const char *kind, int64_t expires_at,
                               int64_t updated_at);
enum mf_rc store_secret_list(struct store *st, const char *account,
                             store_secret_cb cb, void *ctx, struct mf_err *err);

/* ---- OAuth settings of an account (no secrets) ---------------------------- */

struct store_oauth {
    char account[64];
    char profile[16];          /* "microsoft", "google", "oidc" */
    char issuer[512];          /* oidc: the issuer URL; else "" */
    char tenant[128];          /* microsoft: common, organizations, ... */
    char client_id[256];
    char scope[1024];          /* space-separated, as requested */
    char flow[24];             /* "device", "browser", "client_credentials" */
    char token_endpoint[512];  /* where refreshes go */
    char client_auth[8];       /* "post" or "basic": how a client secret is sent */
    char cafile[1024];         /* extra trust anchors for the provider, "" = system */
    int64_t updated_at;
};

enum mf_rc store_oauth_put(struct store *st, const struct store_oauth *o,
                           struct mf_err *err);
/* MF_ENOTFOUND when the account has no OAuth settings. */
enum mf_rc store_oauth_get(struct store *st, const char *account,
                           struct store_oauth *out, struct mf_err *err);
enum mf_rc store_oauth_delete(struct store *st, const char *account,
                              struct mf_err *err);

/* ---- the sending engine's tables ------------------------------------------ */

/* A mailbox is an account that sends for campaigns, with its limits. */
struct store_mailbox {
    char account[64];
    char tenant[128];          /* "" = no tenant-wide cap */
    char timezone[64];         /* IANA zone, for ramp days and "today" */
    int per_minute;            /* provider: messages per 60 s (M365: 30) */
    int rcpt_per_day;          /* provider: recipients per rolling 24 h (10,000) */
    int max_connections;       /* provider: concurrent connections (3) */
    int daily_cap;             /* the user's cap: messages per rolling 24 h */
    int ramp_start;            /* day-1 allowance; 0 = no ramp */
    int ramp_days;             /* days to reach daily_cap */
    int64_t started_at;        /* ramp day 1 */
    char status[16];           /* "active", "paused" */
    char pause_reason[512];
    int64_t backoff_until;     /* no sends before this (4xx storms) */
    int backoff_s;             /* the current backoff step, 0 = none */
    int64_t next_send_at;      /* the random gap: no send before this */
};

enum mf_rc store_mailbox_put(struct store *st, const struct store_mailbox *m,
                             struct mf_err *err);
/* MF_ENOTFOUND when the account is not a mailbox. */
enum mf_rc store_mailbox_get(struct store *st, const char *account,
                             struct store_mailbox *out, struct mf_err *err);
typedef int (*store_mailbox_cb)(void *ctx, const struct store_mailbox *m);
enum mf_rc store_mailbox_list(struct store *st, store_mailbox_cb cb, void *ctx,
                              struct mf_err *err);
/* status "active" clears the reason and the backoff. */
enum mf_rc store_mailbox_set_status(struct store *st, const char *account,
                                    const char *status, const char *reason,
                                    struct mf_err *err);
enum mf_rc store_mailbox_set_backoff(struct store *st, const char *account,
                                     int64_t until, int backoff_s, struct mf_err *err);
enum mf_rc store_mailbox_set_next_send(struct store *st, const char *account,
                                       int64_t at, struct mf_err *err);

enum mf_rc store_tenant_put(struct store *st, const char *name, int daily_external_cap,
                            struct mf_err *err);
/* *cap = -1 when the tenant has no cap. */
enum mf_rc store_tenant_cap(struct store *st, const char *name, int *cap,
                            struct mf_err *err);

struct store_lead {
    int64_t id;
    char address[320];         /* normalised */
    char domain[256];
    char *fields;              /* JSON object text; owned (store_lead_clear) */
    char timezone[64];
    char status[16];           /* active, replied, bounced, unsubscribed, complained */
    int64_t created_at;
};
void store_lead_clear(struct store_lead *l);

/* Inserts a lead unless its address exists: *id is the row either way,
 * *inserted says which. fields: a JSON object text. */
enum mf_rc store_lead_add(struct store *st, const char *address, const char *domain,
                          const char *fields, const char *timezone, int64_t *id,
                          bool *inserted, struct mf_err *err);
enum mf_rc store_lead_get(struct store *st, int64_t id, struct store_lead *out,
                          struct mf_err *err);
enum mf_rc store_lead_by_address(struct store *st, const char *address,
                                 struct store_lead *out, struct mf_err *err);
/* The highest lead id (0 when there is none). */
enum mf_rc store_lead_max_id(struct store *st, int64_t *id, struct mf_err *err);
enum mf_rc store_lead_set_status(struct store *st, int64_t id, const char *status,
                                 struct mf_err *err);

/* Suppression: a normalised address, or "@domain" for a whole domain. */
enum mf_rc store_suppress_add(struct store *st, const char *value, const char *reason,
                              struct mf_err *err);
enum mf_rc store_suppress_remove(struct store *st, const char *value, struct mf_err *err);
/* *reason (may be NULL) gets why when suppressed. */
enum mf_rc store_suppressed(struct store *st, const char *address, const char *domain,
                            bool *yes, char *reason, size_t reason_size,
                            struct mf_err *err);
typedef int (*store_suppress_cb)(void *ctx, const char *value, const char *reason,
                                 int64_t created_at);
enum mf_rc store_suppress_list(struct store *st, store_suppress_cb cb, void *ctx,
                               struct mf_err *err);

struct store_campaign {
    int64_t id;
    char name[65];
    char *spec;                /* the campaign file's text; owned (store_campaign_clear) */
    int nsteps;
    char status[16];           /* draft, active, paused, done */
    char pause_reason[512];
    int64_t created_at;
};
void store_campaign_clear(struct store_campaign *c);

/* Inserts, or replaces the spec of a campaign of that name (keeps status). */
enum mf_rc store_campaign_put(struct store *st, const char *name, const char *spec,
                              int nsteps, int64_t *id, struct mf_err *err);
enum mf_rc store_campaign_get(struct store *st, const char *name,
                              struct store_campaign *out, struct mf_err *err);
enum mf_rc store_campaign_by_id(struct store *st, int64_t id, struct store_campaign *out,
                                struct mf_err *err);
typedef int (*store_campaign_cb)(void *ctx, const struct store_campaign *c);
enum mf_rc store_campaign_list(struct store *st, store_campaign_cb cb, void *ctx,
                               struct mf_err *err);
enum mf_rc store_campaign_set_status(struct store *st, int64_t id, const char *status,
                                     const char *reason, struct mf_err *err);

struct store_enrollment {
    int64_t id, campaign_id, lead_id;
    char mailbox[64];          /* "" until the first touch picks one */
    int next_step;             /* 0-based */
    int64_t next_due;
    char state[16];            /* active, sending, done, stopped, skipped */
    char reason[256];
    char thread_id[256];       /* Message-ID of the first touch, with <> */
    char thread_subject[512];
    char last_message_id[256];
};

/* Enrols a lead (no-op when already enrolled; *inserted says which). */
enum mf_rc store_enroll(struct store *st, int64_t campaign_id, int64_t lead_id,
                        int64_t due, bool *inserted, struct mf_err *err);
/* Active enrollments of active campaigns due by `until`, oldest due first,
 * at most limit of those `skip` (may be NULL) lets through: it is asked
 * each due row's mailbox ("" before the first touch), and the rows it skips
 * neither count nor reach cb. */
typedef int (*store_enrollment_cb)(void *ctx, const struct store_enrollment *e);
typedef bool (*store_mailbox_skip_cb)(void *ctx, const char *mailbox);
enum mf_rc store_enrollments_due(struct store *st, int64_t until, int limit,
                                 store_mailbox_skip_cb skip, store_enrollment_cb cb,
                                 void *ctx, struct mf_err *err);
enum mf_rc store_enrollment_get(struct store *st, int64_t id, struct store_enrollment *out,
                                struct mf_err *err);
enum mf_rc store_enrollment_update(struct store *st, const struct store_enrollment *e,
                                   struct mf_err *err);
/* Stops every active or sending enrollment of a lead (campaign_id 0 = all). */
enum mf_rc store_enrollments_stop_lead(struct store *st, int64_t lead_id,
                                       int64_t campaign_id, const char *reason,
                                       struct mf_err *err);
enum mf_rc store_enrollments_of_lead(struct store *st, int64_t lead_id,
                                     store_enrollment_cb cb, void *ctx, struct mf_err *err);
/* Enrollments still to go (active, or sending a message whose fate is not
 * `unknown` — those wait for a person) in active campaigns, and the
 * earliest next_due among the active ones (0 when none). */
enum mf_rc store_enrollments_open(struct store *st, int64_t *open, int64_t *next_due,
                                  struct mf_err *err);
/* Per campaign: enrollments by state and by next step. */
typedef int (*store_count_cb)(void *ctx, int64_t campaign_id, const char *state,
                              int step, int64_t count);
enum mf_rc store_enrollment_counts(struct store *st, store_count_cb cb, void *ctx,
                                   struct mf_err *err);

/* The outbox: queued -> sending -> data_sent -> sent | failed, and unknown
 * (a connection lost after the final dot: maybe delivered, never resent). */
struct store_outbox {
    int64_t id, enrollment_id;
    int step;
    char mailbox[64];
    char message_id[256];
    char sender[320];
    char rcpt[320];
    char subject[512];
    char *raw;                 /* the message; owned (store_outbox_clear) */
    size_t raw_len;
    char state[16];
    int attempts;
    char last_error[512];
    int64_t created_at, updated_at;
};
void store_outbox_clear(struct store_outbox *o);

enum mf_rc store_outbox_add(struct store *st, const struct store_outbox *o, int64_t *id,
                            struct mf_err *err);
/* error may be NULL (kept). attempts_inc adds one attempt. */
enum mf_rc store_outbox_set_state(struct store *st, int64_t id, const char *state,
                                  const char *error, bool attempts_inc, struct mf_err *err);
enum mf_rc store_outbox_get(struct store *st, int64_t id, struct store_outbox *out,
                            struct mf_err *err);
/* The outbox message with this Message-ID ("<...>"); MF_ENOTFOUND if none. */
enum mf_rc store_outbox_by_message_id(struct store *st, const char *message_id,
                                      struct store_outbox *out, struct mf_err *err);
/* Removes a message that was never sent (its first touch goes elsewhere). */
enum mf_rc store_outbox_delete(struct store *st, int64_t id, struct mf_err *err);
/* Messages of a mailbox in queued, sending or data_sent: about to count. */
enum mf_rc store_outbox_pending(struct store *st, const char *mailbox, int64_t *count,
                                struct mf_err *err);
/* Mailboxes with queued messages, in name order. */
typedef int (*store_name_cb)(void *ctx, const char *name, int64_t count);
enum mf_rc store_outbox_queued_mailboxes(struct store *st, store_name_cb cb, void *ctx,
                                         struct mf_err *err);
/* Rows in a state (mailbox NULL = any), oldest first, at most limit; the
 * callback's row (raw included) is borrowed. */
typedef int (*store_outbox_cb)(void *ctx, const struct store_outbox *o);
enum mf_rc store_outbox_by_state(struct store *st, const char *state, const char *mailbox,
                                 int limit, store_outbox_cb cb, void *ctx,
                                 struct mf_err *err);
/* At start-up: sending -> queued (nothing was sent), data_sent -> unknown. */
enum mf_rc store_outbox_recover(struct store *st, int *requeued, int *unknown,
                                struct mf_err *err);
typedef int (*store_state_count_cb)(void *ctx, const char *state, int64_t count);
enum mf_rc store_outbox_counts(struct store *st, store_state_count_cb cb, void *ctx,
                               struct mf_err *err);

/* The send log: the truth for every rate window. */
enum mf_rc store_sendlog_add(struct store *st, const char *mailbox, const char *tenant,
                             int64_t at_ms, int rcpts, int external, int64_t outbox_id,
                             struct mf_err *err);
/* Messages and recipients of a mailbox since since_ms. */
enum mf_rc store_sendlog_mailbox(struct store *st, const char *mailbox, int64_t since_ms,
                                 int64_t *msgs, int64_t *rcpts, struct mf_err *err);
/* External recipients of a tenant since since_ms. */
enum mf_rc store_sendlog_tenant(struct store *st, const char *tenant, int64_t since_ms,
                                int64_t *external, struct mf_err *err);
/* The latest at_ms of the whole send log (0 when empty). */
enum mf_rc store_sendlog_latest(struct store *st, int64_t *at_ms, struct mf_err *err);
/* The at_ms of the mailbox's n-th most recent send (n >= 1), 0 if fewer. */
enum mf_rc store_sendlog_nth_last(struct store *st, const char *mailbox, int n,
                                  int64_t *at_ms, struct mf_err *err);

/* Events at unix time at (0 = now); source_key (may be NULL) makes an event
 * idempotent: a second add with the same key is a no-op and *inserted is
 * false. */
enum mf_rc store_event_add(struct store *st, int64_t at, const char *kind, int64_t lead_id,
                           int64_t campaign_id, const char *mailbox, int64_t outbox_id,
                           const char *detail, const char *source_key, bool *inserted,
                           struct mf_err *err);
/* Events of a kind since a time, for a mailbox ("" = any) and a campaign
 * (0 = any). Not for `sent` (always 0: the send log counts sends). */
enum mf_rc store_events_count(struct store *st, const char *kind, const char *mailbox,
                              int64_t campaign_id, int64_t since, int64_t *count,
                              struct mf_err *err);
typedef int (*store_event_cb)(void *ctx, int64_t at, const char *kind, int64_t campaign_id,
                              const char *mailbox, const char *detail);
enum mf_rc store_events_of_lead(struct store *st, int64_t lead_id, store_event_cb cb,
                                void *ctx, struct mf_err *err);

/* ---- what comes back (store_sync.c) ------------------------------------------------ */

/* A mailbox's IMAP server, and the health of its sync. */
struct store_imap {
    char mailbox[64];
    char host[256];
    int port;
    char security[16];        /* starttls, tls, none */
    int64_t synced_at;        /* the last complete, successful check; 0 never */
    char sync_error[512];     /* why the last attempt failed; "" when it worked */
    int64_t error_at;
};
/* Sets host, port and security (the health is kept). MF_EINVAL when the
 * mailbox does not exist or a value is out of range. */
enum mf_rc store_imap_put(struct store *st, const struct store_imap *m, struct mf_err *err);
/* MF_ENOTFOUND when the mailbox has no IMAP server. */
enum mf_rc store_imap_get(struct store *st, const char *mailbox, struct store_imap *out,
                          struct mf_err *err);
typedef int (*store_imap_cb)(void *ctx, const struct store_imap *m);
enum mf_rc store_imap_list(struct store *st, store_imap_cb cb, void *ctx, struct mf_err *err);
/* A check that worked (clears the error) / one that failed (keeps synced_at). */
enum mf_rc store_imap_ok(struct store *st, const char *mailbox, int64_t at, struct mf_err *err);
enum mf_rc store_imap_failed(struct store *st, const char *mailbox, int64_t at,
                             const char *error, struct mf_err *err);

/* What the sync has seen of one folder: zeros when it never looked. */
struct store_folder {
    uint32_t uidvalidity, last_uid;
    uint64_t modseq;
    int64_t checked_at;
};
enum mf_rc store_folder_get(struct store *st, const char *mailbox, const char *folder,
                            struct store_folder *out, struct mf_err *err);
enum mf_rc store_folder_put(struct store *st, const char *mailbox, const char *folder,
                            const struct store_folder *f, struct mf_err *err);

/* An event made from a message that came back. source_key makes it
 * idempotent (*inserted false and *id 0 when it was there). raw (may be
 * NULL) is stored as given: the caller cuts it to the size it keeps. */
struct store_inbound {
    int64_t at;
    const char *kind, *mailbox, *detail, *source_key;
    int64_t lead_id, campaign_id, outbox_id;
    int step;                 /* 1-based step answered; 0 unknown */
    const char *sender, *subject, *summary, *matched;
    const char *raw;
    size_t raw_len;
};
enum mf_rc store_inbound_add(struct store *st, const struct store_inbound *ev, int64_t *id,
                             bool *inserted, struct mf_err *err);
/* Whether an event with this source key exists. */
enum mf_rc store_event_exists(struct store *st, const char *source_key, bool *exists,
                              struct mf_err *err);

struct store_event {
    int64_t id, at, lead_id, campaign_id, outbox_id;
    int step;
    char kind[32];
    char mailbox[64];
    char detail[1024];
    char sender[320];
    char subject[512];
    char summary[512];
    char matched[16];         /* strict, probable, token, recipient; "" */
    char lead[320];           /* the lead's address, "" when none */
    char campaign[64];        /* the campaign's name, "" when none */
    bool inbound;             /* made from mail by the sync */
};
enum mf_rc store_event_get(struct store *st, int64_t id, struct store_event *out,
                           struct mf_err *err);
/* The kept raw message (*raw: caller frees; NULL with len 0 when none). */
enum mf_rc store_event_raw(struct store *st, int64_t id, char **raw, size_t *len,
                           struct mf_err *err);
enum mf_rc store_event_set_kind(struct store *st, int64_t id, const char *kind,
                                const char *detail, struct mf_err *err);
/* Events made from mail (replies only unless all), newest first. */
typedef int (*store_inbox_cb)(void *ctx, const struct store_event *ev);
enum mf_rc store_inbox(struct store *st, bool all, int64_t since, int limit,
                       store_inbox_cb cb, void *ctx, struct mf_err *err);

/* Counts one more soft bounce of a lead; *count gets the new total. */
enum mf_rc store_lead_soft_bounce(struct store *st, int64_t lead_id, int *count,
                                  struct mf_err *err);
/* A lead whose status an event set goes back to active (reclassify). */
enum mf_rc store_lead_restore(struct store *st, int64_t lead_id, const char *status,
                              struct mf_err *err);
/* Undo of an event's effects: suppressions tagged "(event ID)" go, and
 * enrollments stopped with that tag become active again — only where the
 * lead is active and not suppressed (something later may have stopped it
 * for good). Lift the suppressions and restore the lead first. */
enum mf_rc store_enrollments_resume_event(struct store *st, int64_t event_id, int *resumed,
                                          struct mf_err *err);
enum mf_rc store_suppress_remove_event(struct store *st, int64_t event_id,
                                       struct mf_err *err);
/* The enrollment of a lead in which this mailbox has sent at least one
 * message, the latest first; MF_ENOTFOUND when none. */
enum mf_rc store_enrollment_probable(struct store *st, const char *mailbox, int64_t lead_id,
                                     struct store_enrollment *out, struct mf_err *err);
/* The latest message sent (or maybe sent) from a mailbox to an address;
 * MF_ENOTFOUND when none. raw is not read. */
enum mf_rc store_outbox_latest_to(struct store *st, const char *mailbox, const char *rcpt,
                                  struct store_outbox *out, struct mf_err *err);
/* The at_ms of the mailbox's first send (0 when it never sent). */
enum mf_rc store_sendlog_first(struct store *st, const char *mailbox, int64_t *at_ms,
                               struct mf_err *err);
/* Stops the active enrollments of a campaign's other leads at a domain. */
enum mf_rc store_enrollments_stop_domain(struct store *st, int64_t campaign_id,
                                         const char *domain, int64_t except_lead,
                                         const char *reason, int *stopped,
                                         struct mf_err *err);

/* bulk import and planning */

/* A lead import (`leads import`) in one transaction: begin, one
 * store_import_row per accepted CSV row in file order, then
 * store_import_finish. Leads are inserted as rows come; their enrollments
 * all at the end, in one statement, in the order of the file. While it
 * runs, the connection holds the write lock and skips CHECK constraints
 * (the import writes only values that pass them). Nothing is kept after a
 * rollback. The struct is the store's: store_import_finish frees it, and
 * must be called once begin succeeded (commit false: roll back). */
struct store_import;
enum store_import_outcome {
    STORE_IMPORT_ENROLLED,        /* new lead, or an earlier one new to the campaign */
    STORE_IMPORT_SUPPRESSED,      /* the address or its domain is suppressed */
    STORE_IMPORT_DUP_FILE,        /* an earlier row of this import has the address */
    STORE_IMPORT_DUP_CAMPAIGN,    /* the lead is already in the campaign */
};
enum mf_rc store_import_begin(struct store *st, int64_t campaign_id,
                              struct store_import **out, struct mf_err *err);
/* reason gets why when suppressed ("x is suppressed: ..."). The lead's
 * fields (JSON object text) are kept only when the lead is new. */
enum mf_rc store_import_row(struct store_import *im, const char *address, const char *domain,
                            const char *fields, const char *timezone,
                            enum store_import_outcome *outcome, char *reason,
                            size_t reason_size, struct mf_err *err);
enum mf_rc store_import_finish(struct store_import *im, bool commit, struct mf_err *err);

/* A read snapshot (BEGIN DEFERRED ... COMMIT): the planner's queries see
 * one state of the store and take no write lock. */
enum mf_rc store_read_begin(struct store *st, struct mf_err *err);
void store_read_end(struct store *st);

/* What the planner reads of an enrollment and its lead. Strings are
 * borrowed for the callback, which must not use the store. */
struct store_plan_row {
    int64_t enrollment_id, campaign_id, lead_id;
    int next_step;
    int64_t next_due;
    const char *mailbox;          /* "" until the first touch */
    const char *address, *timezone, *status, *fields;
    bool suppressed;
    /* store_plan_backlog only: the queued message */
    int64_t outbox_id;
    int step;
    const char *outbox_mailbox, *rcpt;
};
typedef int (*store_plan_cb)(void *ctx, const struct store_plan_row *r);
/* The campaign's active enrollments in the engine's order (next_due, id). */
enum mf_rc store_plan_enrollments(struct store *st, int64_t campaign_id, store_plan_cb cb,
                                  void *ctx, struct mf_err *err);
/* Messages waiting in the outbox (queued, or sending: requeued at start),
 * oldest first, with their enrollment and lead. */
enum mf_rc store_plan_backlog(struct store *st, store_plan_cb cb, void *ctx,
                              struct mf_err *err);
/* Send log rows after since_ms, oldest first. */
typedef int (*store_sendlog_cb)(void *ctx, const char *mailbox, const char *tenant,
                                int64_t at_ms, int rcpts, int external);
enum mf_rc store_sendlog_since(struct store *st, int64_t since_ms, store_sendlog_cb cb,
                               void *ctx, struct mf_err *err);
/* A mailbox's latest `limit` rows at or before before_ms, newest first. */
enum mf_rc store_sendlog_before(struct store *st, const char *mailbox, int64_t before_ms,
                                int limit, store_sendlog_cb cb, void *ctx, struct mf_err *err);

/* placement checks (store_placement.c) */

/* One (sender, seed) pair of an inbox-placement run (engine/placement). */
struct store_placement {
    int64_t id, run_id;
    char sender[64];           /* the sending mailbox (account name) */
    char seed[64];             /* the seed mailbox looked into */
    char token[65];            /* the probe's token; "" when never built */
    int64_t sent_at;           /* unix seconds of the send's 250; 0 not sent */
    char result[16];           /* inbox, junk, missing, not_sent, refused */
    char folder[256];          /* where the probe was found; "" */
    int64_t delay_ms;          /* 250 -> first seen; -1 never seen */
    char detail[512];          /* why (refused, not sent, not looked for); "" */
    int64_t created_at;        /* unix seconds */
};
/* Inserts a row (id and created_at are set here). MF_EINVAL for a result
 * outside the list. Several rows of a run: wrap them in store_begin/commit. */
enum mf_rc store_placement_add(struct store *st, const struct store_placement *p,
                               struct mf_err *err);
/* The highest run id so far (0 when there is none). */
enum mf_rc store_placement_latest_run(struct store *st, int64_t *run_id, struct mf_err *err);
/* The rows of a run in the order they were added; the row is borrowed for
 * the callback; a non-zero return stops. */
typedef int (*store_placement_cb)(void *ctx, const struct store_placement *p);
enum mf_rc store_placement_list(struct store *st, int64_t run_id, store_placement_cb cb,
                                void *ctx, struct mf_err *err);

#endif
