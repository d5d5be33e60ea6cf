/*
 * engine/store internals shared by the store's files (store.c: open,
 * migrations, statements, accounts; store_secrets.c: secrets, OAuth settings,
 * meta). Only these files include sqlite3.h.
 */
#ifndef MF_ENGINE_STORE_INT_H
#define MF_ENGINE_STORE_INT_H

#include <sqlite3.h>

#include "engine/store.h"

enum stmt_id {
    S_ACCOUNT_INSERT, S_ACCOUNT_UPSERT, S_ACCOUNT_GET, S_ACCOUNT_DELETE,
    S_ACCOUNT_LIST, S_META_GET, S_META_PUT, S_SECRET_PUT, S_SECRET_GET,
    S_SECRET_DELETE, S_SECRET_DELETE_ALL, S_SECRET_LIST, S_OAUTH_PUT,
    S_OAUTH_GET, S_OAUTH_DELETE, S_COUNT
};

/* Statements of the engine's tables, prepared on first use (store_lazy). */
enum lazy_id {
    L_MAILBOX_PUT, L_MAILBOX_GET, L_MAILBOX_LIST, L_MAILBOX_STATUS, L_MAILBOX_BACKOFF,
    L_MAILBOX_NEXT_SEND, L_TENANT_PUT, L_TENANT_GET,
    L_LEAD_INSERT, L_LEAD_BY_ADDRESS, L_LEAD_GET, L_LEAD_STATUS,
    L_SUPPRESS_ADD, L_SUPPRESS_REMOVE, L_SUPPRESS_LIST, L_SUPPRESS_CHECK,
    L_CAMPAIGN_PUT, L_CAMPAIGN_GET, L_CAMPAIGN_BY_ID, L_CAMPAIGN_LIST, L_CAMPAIGN_STATUS,
    L_ENROLL, L_ENROLL_DUE, L_ENROLL_UPDATE, L_ENROLL_GET, L_ENROLL_STOP_LEAD,
    L_ENROLL_COUNTS, L_ENROLL_BY_LEAD,
    L_OUTBOX_ADD, L_OUTBOX_STATE, L_OUTBOX_BY_STATE, L_OUTBOX_BY_STATE_MAILBOX, L_OUTBOX_RECOVER_SENDING,
    L_OUTBOX_RECOVER_DATA, L_OUTBOX_GET, L_OUTBOX_COUNTS,
    L_SENDLOG_ADD, L_SENDLOG_MAILBOX, L_SENDLOG_TENANT, L_SENDLOG_LAST,
    L_EVENT_ADD, L_EVENT_BY_LEAD, L_OUTBOX_DELETE, L_OUTBOX_PENDING, L_OUTBOX_QUEUED_MB, L_ENROLL_OPEN, L_LEAD_MAX, L_SENDLOG_LATEST, L_OUTBOX_BY_MSGID, L_EVENT_COUNT,
    /* what comes back (store_sync.c) */
    L_IMAP_PUT, L_IMAP_GET, L_IMAP_LIST, L_IMAP_OK, L_IMAP_FAILED, L_FOLDER_GET, L_FOLDER_PUT,
    L_INBOUND_ADD, L_EVENT_GET, L_EVENT_RAW, L_EVENT_KIND, L_INBOX, L_SOFT_BOUNCE,
    L_ENROLL_RESUME_EVENT, L_SUPPRESS_REMOVE_EVENT, L_ENROLL_PROBABLE, L_OUTBOX_LATEST_TO,
    L_ENROLL_STOP_DOMAIN, L_EVENT_EXISTS, L_LEAD_RESTORE, L_SENDLOG_FIRST,
    /* import/plan */ L_IMPORT_SUPPRESS_ANY, L_IMPORT_LEAD_ID, L_IMPORT_ENROLLED,
    L_PLAN_SENDLOG, L_PLAN_SENDLOG_BEFORE, L_PLAN_ENROLLMENTS, L_PLAN_BACKLOG,
    /* placement */ L_PLACEMENT_ADD, L_PLACEMENT_LATEST, L_PLACEMENT_LIST,
    L_DATA_VERSION,
    L_COUNT
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    sqlite3_stmt *lazy[L_COUNT];
    int version;
    bool group;                 /* a group transaction is open */
    bool group_failed;          /* ...and a statement or savepoint in it failed */
    int savepoints;             /* store_begin levels inside the group */
    bool busy;                  /* the last error: another connection held the lock */
};

/* Inserts a lead unless its address is there (*inserted says which; the
 * new id is sqlite3_last_insert_rowid): store_lead_add and the import. */
enum mf_rc store_lead_insert(struct store *st, const char *address, const char *domain,
                             const char *fields, const char *timezone, bool *inserted,
                             struct mf_err *err);

/* The statement for slot id, prepared from sql on first use; NULL (with
 * *err set) when it does not prepare. Reset and unbound before it is
 * handed out. */
sqlite3_stmt *store_lazy(struct store *st, enum lazy_id id, const char *sql,
                         struct mf_err *err);
/* Steps a statement that returns no row; resets it. SQLITE_DONE on success. */
int store_step_done(sqlite3_stmt *s);
/* store_step_done as an mf_rc: a constraint is MF_EINVAL naming what. */
enum mf_rc store_done_or(struct store *st, sqlite3_stmt *s, const char *what,
                         struct mf_err *err);

/* Steps a bound statement whose first row's first column is a number:
 * *out gets it (0 when there is no row); resets the statement. */
enum mf_rc store_step_int64(struct store *st, sqlite3_stmt *s, int64_t *out,
                            const char *what, struct mf_err *err);

/* Steps a bound statement that returns at most one row: fill(s, out) reads
 * it. MF_OK, MF_ENOTFOUND (no row; err untouched: the caller says what is
 * missing), MF_ESTORE (err says what failed while doing `what`). Resets. */
typedef void (*store_row_fn)(sqlite3_stmt *s, void *out);
enum mf_rc store_step_row(struct store *st, sqlite3_stmt *s, store_row_fn fill, void *out,
                          const char *what, struct mf_err *err);
void store_row_enrollment(sqlite3_stmt *s, void *out); /* store_row_to_enrollment */

/* Binding shorthands for the engine's statements. */
#define STORE_TEXT(s, i, v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC)
#define STORE_INT(s, i, v) sqlite3_bind_int64(s, i, (sqlite3_int64)(v))

/* The columns an enrollment is read from (alias e), and the reading. */
#define ENROLL_COLS "e.id, e.campaign_id, e.lead_id, e.mailbox, e.next_step, e.next_due," \
    " e.state, e.reason, e.thread_id, e.thread_subject, e.last_message_id"
void store_row_to_enrollment(sqlite3_stmt *s, struct store_enrollment *e);

enum mf_rc store_db_error(struct store *st, struct mf_err *err, const char *what);
/* Copies column col as text into dst (truncating; NULL reads as ""). */
void store_col_text(sqlite3_stmt *s, int col, char *dst, size_t size);

#endif
