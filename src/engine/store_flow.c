/* engine/store: enrollments, the outbox, the send log and events — what the
 * sender writes as it goes. */
#include <stdlib.h>
#include <string.h>

#include "engine/store_int.h"
#include "util/clock.h"

#define TEXT STORE_TEXT
#define INT STORE_INT


/* ---- enrollments ------------------------------------------------------------------ */

void store_row_to_enrollment(sqlite3_stmt *s, struct store_enrollment *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(s, 0);
    e->campaign_id = sqlite3_column_int64(s, 1);
    e->lead_id = sqlite3_column_int64(s, 2);
    store_col_text(s, 3, e->mailbox, sizeof e->mailbox);
    e->next_step = sqlite3_column_int(s, 4);
    e->next_due = sqlite3_column_int64(s, 5);
    store_col_text(s, 6, e->state, sizeof e->state);
    store_col_text(s, 7, e->reason, sizeof e->reason);
    store_col_text(s, 8, e->thread_id, sizeof e->thread_id);
    store_col_text(s, 9, e->thread_subject, sizeof e->thread_subject);
    store_col_text(s, 10, e->last_message_id, sizeof e->last_message_id);
}

void store_row_enrollment(sqlite3_stmt *s, void *out)
{
    store_row_to_enrollment(s, out);
}

enum mf_rc store_enroll(struct store *st, int64_t campaign_id, int64_t lead_id,
                        int64_t due, bool *inserted, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL,
        "INSERT INTO enrollments (campaign_id, lead_id, next_due) VALUES (?1, ?2, ?3)"
        " ON CONFLICT(campaign_id, lead_id) DO NOTHING", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, campaign_id);
    INT(s, 2, lead_id);
    INT(s, 3, due);
    enum mf_rc rc = store_done_or(st, s, "enrolling the lead", err);
    *inserted = rc == MF_OK && sqlite3_changes(st->db) > 0;
    return rc;
}

/* Rows are collected first: the callback may write to the store. */
static enum mf_rc collect_enrollments(struct store *st, sqlite3_stmt *s, int limit,
                                      store_mailbox_skip_cb skip, store_enrollment_cb cb,
                                      void *ctx, const char *what, struct mf_err *err)
{
    size_t cap = 64, n = 0;
    struct store_enrollment *rows = malloc(cap * sizeof *rows);
    int rc = SQLITE_DONE;
    while (rows && (limit <= 0 || n < (size_t)limit) && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *mailbox = sqlite3_column_text(s, 3); /* ENROLL_COLS' e.mailbox */
        if (skip && skip(ctx, mailbox ? (const char *)mailbox : ""))
            continue;
        if (n == cap) {
            struct store_enrollment *bigger = realloc(rows, 2 * cap * sizeof *rows);
            if (!bigger)
                break;
            rows = bigger;
            cap *= 2;
        }
        store_row_to_enrollment(s, &rows[n++]);
    }
    sqlite3_reset(s);
    enum mf_rc ret = MF_OK;
    if (!rows)
        ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    else if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = store_db_error(st, err, what);
    for (size_t i = 0; ret == MF_OK && i < n; i++)
        if (cb(ctx, &rows[i]))
            break;
    free(rows);
    return ret;
}

enum mf_rc store_enrollments_due(struct store *st, int64_t until, int limit,
                                 store_mailbox_skip_cb skip, store_enrollment_cb cb,
                                 void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_DUE,
        "SELECT " ENROLL_COLS " FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id"
        " WHERE e.state = 'active' AND e.next_due <= ?1 AND c.status = 'active'"
        " ORDER BY e.next_due, e.id", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, until);
    return collect_enrollments(st, s, limit, skip, cb, ctx, "reading due enrollments", err);
}

enum mf_rc store_enrollments_of_lead(struct store *st, int64_t lead_id,
                                     store_enrollment_cb cb, void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_BY_LEAD,
        "SELECT " ENROLL_COLS " FROM enrollments e WHERE e.lead_id = ?1 ORDER BY e.id", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, lead_id);
    return collect_enrollments(st, s, 0, NULL, cb, ctx, "reading the lead's enrollments", err);
}

enum mf_rc store_enrollment_get(struct store *st, int64_t id, struct store_enrollment *out,
                                struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_GET,
        "SELECT " ENROLL_COLS " FROM enrollments e WHERE e.id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    enum mf_rc rc = store_step_row(st, s, store_row_enrollment, out, "reading the enrollment",
                                   err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no enrollment %lld", (long long)id);
    return rc;
}

enum mf_rc store_enrollment_update(struct store *st, const struct store_enrollment *e,
                                   struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_UPDATE,
        "UPDATE enrollments SET mailbox = ?2, next_step = ?3, next_due = ?4, state = ?5,"
        " reason = ?6, thread_id = ?7, thread_subject = ?8, last_message_id = ?9"
        " WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, e->id);
    TEXT(s, 2, e->mailbox);
    INT(s, 3, e->next_step);
    INT(s, 4, e->next_due);
    TEXT(s, 5, e->state);
    TEXT(s, 6, e->reason);
    TEXT(s, 7, e->thread_id);
    TEXT(s, 8, e->thread_subject);
    TEXT(s, 9, e->last_message_id);
    return store_done_or(st, s, "saving the enrollment", err);
}

enum mf_rc store_enrollments_stop_lead(struct store *st, int64_t lead_id,
                                       int64_t campaign_id, const char *reason,
                                       struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_STOP_LEAD,
        "UPDATE enrollments SET state = 'stopped', reason = ?3"
        " WHERE lead_id = ?1 AND (?2 = 0 OR campaign_id = ?2)"
        " AND state IN ('active','sending')", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, lead_id);
    INT(s, 2, campaign_id);
    TEXT(s, 3, reason);
    return store_done_or(st, s, "stopping the lead's sequences", err);
}

enum mf_rc store_enrollments_open(struct store *st, int64_t *open, int64_t *next_due,
                                  struct mf_err *err)
{
    *open = *next_due = 0;
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_OPEN,
        "SELECT count(*), min(CASE WHEN e.state = 'active' THEN e.next_due END)"
        " FROM enrollments e JOIN campaigns c ON c.id = e.campaign_id"
        " WHERE e.state IN ('active','sending') AND c.status = 'active'"
        " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.enrollment_id = e.id"
        "   AND o.state = 'unknown')", err);
    if (!s)
        return MF_ESTORE;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *open = sqlite3_column_int64(s, 0);
        *next_due = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? MF_OK : store_db_error(st, err, "counting enrollments");
}

enum mf_rc store_enrollment_counts(struct store *st, store_count_cb cb, void *ctx,
                                   struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_COUNTS,
        "SELECT campaign_id, state, next_step, count(*) FROM enrollments"
        " GROUP BY campaign_id, state, next_step ORDER BY campaign_id, state, next_step",
        err);
    if (!s)
        return MF_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
               sqlite3_column_int(s, 2), sqlite3_column_int64(s, 3))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "counting enrollments");
}

/* ---- outbox --------------------------------------------------------------------------- */

void store_outbox_clear(struct store_outbox *o)
{
    free(o->raw);
    memset(o, 0, sizeof *o);
}

#define OUTBOX_COLS "id, enrollment_id, step, mailbox, message_id, sender, rcpt, subject," \
    " raw, state, attempts, last_error, created_at, updated_at"

/* Fills *o from a row; raw is borrowed from the statement when !copy. */
static bool row_to_outbox(sqlite3_stmt *s, struct store_outbox *o, bool copy)
{
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(s, 0);
    o->enrollment_id = sqlite3_column_int64(s, 1);
    o->step = sqlite3_column_int(s, 2);
    store_col_text(s, 3, o->mailbox, sizeof o->mailbox);
    store_col_text(s, 4, o->message_id, sizeof o->message_id);
    store_col_text(s, 5, o->sender, sizeof o->sender);
    store_col_text(s, 6, o->rcpt, sizeof o->rcpt);
    store_col_text(s, 7, o->subject, sizeof o->subject);
    o->raw_len = (size_t)sqlite3_column_bytes(s, 8);
    const void *raw = sqlite3_column_blob(s, 8);
    if (copy) {
        o->raw = malloc(o->raw_len + 1);
        if (!o->raw)
            return false;
        if (o->raw_len)
            memcpy(o->raw, raw, o->raw_len);
        o->raw[o->raw_len] = '\0';
    } else {
        o->raw = (char *)raw;
    }
    store_col_text(s, 9, o->state, sizeof o->state);
    o->attempts = sqlite3_column_int(s, 10);
    store_col_text(s, 11, o->last_error, sizeof o->last_error);
    o->created_at = sqlite3_column_int64(s, 12);
    o->updated_at = sqlite3_column_int64(s, 13);
    return true;
}

enum mf_rc store_outbox_add(struct store *st, const struct store_outbox *o, int64_t *id,
                            struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_ADD,
        "INSERT INTO outbox (enrollment_id, step, mailbox, message_id, sender, rcpt, subject,"
        " raw, state, created_at, updated_at)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'queued',?9,?9)", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, o->enrollment_id);
    INT(s, 2, o->step);
    TEXT(s, 3, o->mailbox);
    TEXT(s, 4, o->message_id);
    TEXT(s, 5, o->sender);
    TEXT(s, 6, o->rcpt);
    TEXT(s, 7, o->subject);
    sqlite3_bind_blob(s, 8, o->raw, (int)o->raw_len, SQLITE_STATIC);
    INT(s, 9, mf_wall_seconds());
    enum mf_rc rc = store_done_or(st, s, "queueing the message", err);
    if (rc == MF_OK)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

enum mf_rc store_outbox_set_state(struct store *st, int64_t id, const char *state,
                                  const char *error, bool attempts_inc, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_STATE,
        "UPDATE outbox SET state = ?2, last_error = coalesce(?3, last_error),"
        " attempts = attempts + ?4, updated_at = ?5 WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    TEXT(s, 2, state);
    if (error)
        TEXT(s, 3, error);
    INT(s, 4, attempts_inc ? 1 : 0);
    INT(s, 5, mf_wall_seconds());
    return store_done_or(st, s, "changing the message's state", err);
}

enum mf_rc store_outbox_get(struct store *st, int64_t id, struct store_outbox *out,
                            struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_GET,
        "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        if (!row_to_outbox(s, out, true))
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no message %lld in the outbox",
                         (long long)id);
    } else {
        ret = store_db_error(st, err, "reading the outbox");
    }
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_outbox_by_message_id(struct store *st, const char *message_id,
                                      struct store_outbox *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_BY_MSGID,
        "SELECT " OUTBOX_COLS " FROM outbox WHERE message_id = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, message_id);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        if (!row_to_outbox(s, out, true))
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no outbox message %s", message_id);
    } else {
        ret = store_db_error(st, err, "reading the outbox");
    }
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_outbox_delete(struct store *st, int64_t id, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_DELETE,
        "DELETE FROM outbox WHERE id = ?1 AND state IN ('queued','sending','failed')", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    return store_done_or(st, s, "removing the message", err);
}

enum mf_rc store_outbox_pending(struct store *st, const char *mailbox, int64_t *count,
                                struct mf_err *err)
{
    *count = 0;
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_PENDING,
        "SELECT count(*) FROM outbox WHERE mailbox = ?1 AND state IN"
        " ('queued','sending','data_sent')", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    return store_step_int64(st, s, count, "reading the outbox", err);
}

enum mf_rc store_outbox_queued_mailboxes(struct store *st, store_name_cb cb, void *ctx,
                                         struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_QUEUED_MB,
        "SELECT mailbox, count(*) FROM outbox WHERE state = 'queued' GROUP BY mailbox"
        " ORDER BY mailbox", err);
    if (!s)
        return MF_ESTORE;
    char names[256][64];
    int64_t counts[256];
    size_t n = 0;
    int rc;
    while (n < 256 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        store_col_text(s, 0, names[n], sizeof names[n]);
        counts[n++] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    for (size_t i = 0; i < n; i++)
        if (cb(ctx, names[i], counts[i]))
            break;
    return MF_OK;
}

enum mf_rc store_outbox_by_state(struct store *st, const char *state, const char *mailbox,
                                 int limit, store_outbox_cb cb, void *ctx,
                                 struct mf_err *err)
{
    /* two statements: with "?2 IS NULL OR mailbox = ?2" the planner used
     * only the state of outbox_state(state, mailbox) and read every queued
     * message of every mailbox for each connection's claim */
    sqlite3_stmt *s = mailbox
        ? store_lazy(st, L_OUTBOX_BY_STATE_MAILBOX,
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE state = ?1 AND mailbox = ?2"
                     " ORDER BY id LIMIT ?3", err)
        : store_lazy(st, L_OUTBOX_BY_STATE,
                     "SELECT " OUTBOX_COLS " FROM outbox WHERE state = ?1 ORDER BY id LIMIT ?3",
                     err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, state);
    if (mailbox)
        TEXT(s, 2, mailbox);
    INT(s, 3, limit > 0 ? limit : -1);
    int rc;
    struct store_outbox o;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_to_outbox(s, &o, false);
        if (cb(ctx, &o)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading the outbox");
}

enum mf_rc store_outbox_recover(struct store *st, int *requeued, int *unknown,
                                struct mf_err *err)
{
    *requeued = *unknown = 0;
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_RECOVER_SENDING,
        "UPDATE outbox SET state = 'queued', updated_at = ?1 WHERE state = 'sending'", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, mf_wall_seconds());
    enum mf_rc rc = store_done_or(st, s, "recovering the outbox", err);
    if (rc != MF_OK)
        return rc;
    *requeued = sqlite3_changes(st->db);
    s = store_lazy(st, L_OUTBOX_RECOVER_DATA,
        "UPDATE outbox SET state = 'unknown', updated_at = ?1, last_error ="
        " 'the connection ended after the message was sent and before the server"
        " answered: it may have been delivered; never resent automatically'"
        " WHERE state = 'data_sent'", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, mf_wall_seconds());
    rc = store_done_or(st, s, "recovering the outbox", err);
    if (rc == MF_OK)
        *unknown = sqlite3_changes(st->db);
    return rc;
}

enum mf_rc store_outbox_counts(struct store *st, store_state_count_cb cb, void *ctx,
                               struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_COUNTS,
        "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state", err);
    if (!s)
        return MF_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int64(s, 1))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "counting the outbox");
}

/* ---- send log ------------------------------------------------------------------------ */

enum mf_rc store_sendlog_add(struct store *st, const char *mailbox, const char *tenant,
                             int64_t at_ms, int rcpts, int external, int64_t outbox_id,
                             struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_ADD,
        "INSERT INTO send_log (mailbox, tenant, at_ms, rcpts, external, outbox_id)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    TEXT(s, 2, tenant ? tenant : "");
    INT(s, 3, at_ms);
    INT(s, 4, rcpts);
    INT(s, 5, external);
    if (outbox_id)
        INT(s, 6, outbox_id);
    return store_done_or(st, s, "writing the send log", err);
}

enum mf_rc store_sendlog_mailbox(struct store *st, const char *mailbox, int64_t since_ms,
                                 int64_t *msgs, int64_t *rcpts, struct mf_err *err)
{
    *msgs = *rcpts = 0;
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_MAILBOX,
        "SELECT count(*), coalesce(sum(rcpts), 0) FROM send_log"
        " WHERE mailbox = ?1 AND at_ms > ?2", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, since_ms);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *msgs = sqlite3_column_int64(s, 0);
        *rcpts = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? MF_OK : store_db_error(st, err, "reading the send log");
}

enum mf_rc store_sendlog_tenant(struct store *st, const char *tenant, int64_t since_ms,
                                int64_t *external, struct mf_err *err)
{
    *external = 0;
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_TENANT,
        "SELECT coalesce(sum(external), 0) FROM send_log WHERE tenant = ?1 AND at_ms > ?2",
        err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, tenant);
    INT(s, 2, since_ms);
    return store_step_int64(st, s, external, "reading the send log", err);
}

enum mf_rc store_sendlog_latest(struct store *st, int64_t *at_ms, struct mf_err *err)
{
    *at_ms = 0;
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_LATEST,
        "SELECT coalesce(max(at_ms), 0) FROM send_log", err);
    if (!s)
        return MF_ESTORE;
    return store_step_int64(st, s, at_ms, "reading the send log", err);
}

enum mf_rc store_sendlog_nth_last(struct store *st, const char *mailbox, int n,
                                  int64_t *at_ms, struct mf_err *err)
{
    *at_ms = 0;
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_LAST,
        "SELECT at_ms FROM send_log WHERE mailbox = ?1 ORDER BY at_ms DESC"
        " LIMIT 1 OFFSET ?2", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, n > 0 ? n - 1 : 0);
    return store_step_int64(st, s, at_ms, "reading the send log", err);
}

/* ---- events --------------------------------------------------------------------------- */

enum mf_rc store_event_add(struct store *st, int64_t at, const char *kind, int64_t lead_id,
                           int64_t campaign_id, const char *mailbox, int64_t outbox_id,
                           const char *detail, const char *source_key, bool *inserted,
                           struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_EVENT_ADD,
        "INSERT INTO events (at, kind, lead_id, campaign_id, mailbox, outbox_id, detail,"
        " source_key) VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(source_key) DO NOTHING",
        err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, at ? at : mf_wall_seconds());
    TEXT(s, 2, kind);
    if (lead_id)
        INT(s, 3, lead_id);
    if (campaign_id)
        INT(s, 4, campaign_id);
    TEXT(s, 5, mailbox ? mailbox : "");
    if (outbox_id)
        INT(s, 6, outbox_id);
    TEXT(s, 7, detail ? detail : "");
    if (source_key)
        TEXT(s, 8, source_key);
    enum mf_rc rc = store_done_or(st, s, "recording the event", err);
    if (inserted)
        *inserted = rc == MF_OK && sqlite3_changes(st->db) > 0;
    return rc;
}

enum mf_rc store_events_count(struct store *st, const char *kind, const char *mailbox,
                              int64_t campaign_id, int64_t since, int64_t *count,
                              struct mf_err *err)
{
    *count = 0;
    sqlite3_stmt *s = store_lazy(st, L_EVENT_COUNT,
        "SELECT count(*) FROM events WHERE kind = ?1 AND kind <> 'sent'"
        " AND (?2 = '' OR mailbox = ?2) AND (?3 = 0 OR campaign_id = ?3) AND at >= ?4", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, kind);
    TEXT(s, 2, mailbox ? mailbox : "");
    INT(s, 3, campaign_id);
    INT(s, 4, since);
    return store_step_int64(st, s, count, "counting events", err);
}

enum mf_rc store_events_of_lead(struct store *st, int64_t lead_id, store_event_cb cb,
                                void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_EVENT_BY_LEAD,
        "SELECT at, kind, coalesce(campaign_id, 0), mailbox, detail FROM events"
        " WHERE lead_id = ?1 ORDER BY at, id", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, lead_id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1),
               sqlite3_column_int64(s, 2), (const char *)sqlite3_column_text(s, 3),
               (const char *)sqlite3_column_text(s, 4))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading the lead's events");
}
