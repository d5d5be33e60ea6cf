/* engine/store: what comes back — a mailbox's IMAP server and sync health,
 * what the sync has seen per folder, events made from mail, and the
 * lookups that match a message to what was sent. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store_int.h"
#include "util/clock.h"

#define TEXT STORE_TEXT
#define INT STORE_INT

/* ---- IMAP server and sync health ------------------------------------------------- */

enum mf_rc store_imap_put(struct store *st, const struct store_imap *m, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_IMAP_PUT,
        "INSERT INTO mailbox_imap (mailbox, host, port, security) VALUES (?1,?2,?3,?4)"
        " ON CONFLICT(mailbox) DO UPDATE SET host = ?2, port = ?3, security = ?4", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, m->mailbox);
    TEXT(s, 2, m->host);
    INT(s, 3, m->port);
    TEXT(s, 4, m->security);
    return store_done_or(st, s, "saving the mailbox's IMAP server", err);
}

#define IMAP_COLS "mailbox, host, port, security, synced_at, sync_error, error_at"

static void row_to_imap(sqlite3_stmt *s, void *out)
{
    struct store_imap *m = out;
    memset(m, 0, sizeof *m);
    store_col_text(s, 0, m->mailbox, sizeof m->mailbox);
    store_col_text(s, 1, m->host, sizeof m->host);
    m->port = sqlite3_column_int(s, 2);
    store_col_text(s, 3, m->security, sizeof m->security);
    m->synced_at = sqlite3_column_int64(s, 4);
    store_col_text(s, 5, m->sync_error, sizeof m->sync_error);
    m->error_at = sqlite3_column_int64(s, 6);
}

enum mf_rc store_imap_get(struct store *st, const char *mailbox, struct store_imap *out,
                          struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_IMAP_GET,
        "SELECT " IMAP_COLS " FROM mailbox_imap WHERE mailbox = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    enum mf_rc rc = store_step_row(st, s, row_to_imap, out,
                                   "reading the mailbox's IMAP server", err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "mailbox %s has no IMAP server", mailbox);
    return rc;
}

enum mf_rc store_imap_list(struct store *st, store_imap_cb cb, void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_IMAP_LIST,
        "SELECT " IMAP_COLS " FROM mailbox_imap ORDER BY mailbox", err);
    if (!s)
        return MF_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_imap m;
        row_to_imap(s, &m);
        if (cb(ctx, &m)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "listing IMAP servers");
}

enum mf_rc store_imap_ok(struct store *st, const char *mailbox, int64_t at, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_IMAP_OK,
        "UPDATE mailbox_imap SET synced_at = ?2, sync_error = '' WHERE mailbox = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, at);
    return store_done_or(st, s, "recording the sync", err);
}

enum mf_rc store_imap_failed(struct store *st, const char *mailbox, int64_t at,
                             const char *error, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_IMAP_FAILED,
        "UPDATE mailbox_imap SET sync_error = ?3, error_at = ?2 WHERE mailbox = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, at);
    TEXT(s, 3, error);
    return store_done_or(st, s, "recording the sync's failure", err);
}

/* ---- folders ----------------------------------------------------------------------- */

enum mf_rc store_folder_get(struct store *st, const char *mailbox, const char *folder,
                            struct store_folder *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_FOLDER_GET,
        "SELECT uidvalidity, last_uid, modseq, checked_at FROM sync_folders"
        " WHERE mailbox = ?1 AND folder = ?2", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    TEXT(s, 2, folder);
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->uidvalidity = (uint32_t)sqlite3_column_int64(s, 0);
        out->last_uid = (uint32_t)sqlite3_column_int64(s, 1);
        out->modseq = (uint64_t)sqlite3_column_int64(s, 2);
        out->checked_at = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? MF_OK
                                                 : store_db_error(st, err, "reading a folder");
}

enum mf_rc store_folder_put(struct store *st, const char *mailbox, const char *folder,
                            const struct store_folder *f, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_FOLDER_PUT,
        "INSERT OR REPLACE INTO sync_folders (mailbox, folder, uidvalidity, last_uid,"
        " modseq, checked_at) VALUES (?1,?2,?3,?4,?5,?6)", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    TEXT(s, 2, folder);
    INT(s, 3, f->uidvalidity);
    INT(s, 4, f->last_uid);
    INT(s, 5, (int64_t)(f->modseq & INT64_MAX));
    INT(s, 6, f->checked_at);
    return store_done_or(st, s, "saving a folder's sync state", err);
}

/* ---- events made from mail ------------------------------------------------------- */

enum mf_rc store_inbound_add(struct store *st, const struct store_inbound *ev, int64_t *id,
                             bool *inserted, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_INBOUND_ADD,
        "INSERT INTO events (at, kind, lead_id, campaign_id, mailbox, outbox_id, detail,"
        " source_key, step, sender, subject, summary, matched, raw)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)"
        " ON CONFLICT(source_key) DO NOTHING", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, ev->at ? ev->at : mf_wall_seconds());
    TEXT(s, 2, ev->kind);
    if (ev->lead_id)
        INT(s, 3, ev->lead_id);
    if (ev->campaign_id)
        INT(s, 4, ev->campaign_id);
    TEXT(s, 5, ev->mailbox ? ev->mailbox : "");
    if (ev->outbox_id)
        INT(s, 6, ev->outbox_id);
    TEXT(s, 7, ev->detail ? ev->detail : "");
    if (ev->source_key)
        TEXT(s, 8, ev->source_key);
    if (ev->step)
        INT(s, 9, ev->step);
    TEXT(s, 10, ev->sender ? ev->sender : "");
    TEXT(s, 11, ev->subject ? ev->subject : "");
    TEXT(s, 12, ev->summary ? ev->summary : "");
    TEXT(s, 13, ev->matched ? ev->matched : "");
    if (ev->raw)
        sqlite3_bind_blob64(s, 14, ev->raw, ev->raw_len, SQLITE_STATIC);
    enum mf_rc rc = store_done_or(st, s, "recording the event", err);
    bool added = rc == MF_OK && sqlite3_changes(st->db) > 0;
    if (inserted)
        *inserted = added;
    if (id)
        *id = added ? sqlite3_last_insert_rowid(st->db) : 0;
    return rc;
}

enum mf_rc store_event_exists(struct store *st, const char *source_key, bool *exists,
                              struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_EVENT_EXISTS,
        "SELECT count(*) FROM events WHERE source_key = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, source_key);
    int64_t n = 0;
    enum mf_rc rc = store_step_int64(st, s, &n, "looking up an event", err);
    *exists = n > 0;
    return rc;
}

#define EVENT_COLS "v.id, v.at, coalesce(v.lead_id, 0), coalesce(v.campaign_id, 0)," \
    " coalesce(v.outbox_id, 0), coalesce(v.step, 0), v.kind, v.mailbox, v.detail, v.sender," \
    " v.subject, v.summary, v.matched, coalesce(l.address, ''), coalesce(c.name, '')," \
    " coalesce(v.source_key LIKE 'in:%', 0)"
#define EVENT_FROM " FROM events v LEFT JOIN leads l ON l.id = v.lead_id" \
    " LEFT JOIN campaigns c ON c.id = v.campaign_id"

static void row_to_event(sqlite3_stmt *s, void *out)
{
    struct store_event *ev = out;
    memset(ev, 0, sizeof *ev);
    ev->id = sqlite3_column_int64(s, 0);
    ev->at = sqlite3_column_int64(s, 1);
    ev->lead_id = sqlite3_column_int64(s, 2);
    ev->campaign_id = sqlite3_column_int64(s, 3);
    ev->outbox_id = sqlite3_column_int64(s, 4);
    ev->step = sqlite3_column_int(s, 5);
    store_col_text(s, 6, ev->kind, sizeof ev->kind);
    store_col_text(s, 7, ev->mailbox, sizeof ev->mailbox);
    store_col_text(s, 8, ev->detail, sizeof ev->detail);
    store_col_text(s, 9, ev->sender, sizeof ev->sender);
    store_col_text(s, 10, ev->subject, sizeof ev->subject);
    store_col_text(s, 11, ev->summary, sizeof ev->summary);
    store_col_text(s, 12, ev->matched, sizeof ev->matched);
    store_col_text(s, 13, ev->lead, sizeof ev->lead);
    store_col_text(s, 14, ev->campaign, sizeof ev->campaign);
    ev->inbound = sqlite3_column_int(s, 15) != 0;
}

enum mf_rc store_event_get(struct store *st, int64_t id, struct store_event *out,
                           struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_EVENT_GET,
        "SELECT " EVENT_COLS EVENT_FROM " WHERE v.id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    enum mf_rc rc = store_step_row(st, s, row_to_event, out, "reading the event", err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no event %" PRId64, id);
    return rc;
}

enum mf_rc store_event_raw(struct store *st, int64_t id, char **raw, size_t *len,
                           struct mf_err *err)
{
    *raw = NULL;
    *len = 0;
    sqlite3_stmt *s = store_lazy(st, L_EVENT_RAW, "SELECT raw FROM events WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        *raw = malloc(n + 1);
        if (*raw) {
            memcpy(*raw, sqlite3_column_blob(s, 0), n);
            (*raw)[n] = '\0';
            *len = n;
        } else {
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        }
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no event %" PRId64, id);
    } else if (rc != SQLITE_ROW) {
        ret = store_db_error(st, err, "reading the event's message");
    }
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_event_set_kind(struct store *st, int64_t id, const char *kind,
                                const char *detail, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_EVENT_KIND,
        "UPDATE events SET kind = ?2, detail = ?3 WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    TEXT(s, 2, kind);
    TEXT(s, 3, detail);
    return store_done_or(st, s, "correcting the event", err);
}

enum mf_rc store_inbox(struct store *st, bool all, int64_t since, int limit,
                       store_inbox_cb cb, void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_INBOX,
        "SELECT " EVENT_COLS EVENT_FROM " WHERE v.source_key LIKE 'in:%' AND v.at >= ?2"
        " AND (?1 OR v.kind = 'reply') ORDER BY v.at DESC, v.id DESC LIMIT ?3", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, all);
    INT(s, 2, since);
    INT(s, 3, limit > 0 ? limit : -1);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_event ev;
        row_to_event(s, &ev);
        if (cb(ctx, &ev)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading the inbox");
}

/* ---- effects and their undo --------------------------------------------------------- */

enum mf_rc store_lead_soft_bounce(struct store *st, int64_t lead_id, int *count,
                                  struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SOFT_BOUNCE,
        "UPDATE leads SET soft_bounces = soft_bounces + 1 WHERE id = ?1"
        " RETURNING soft_bounces", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, lead_id);
    int64_t n = 0;
    enum mf_rc rc = store_step_int64(st, s, &n, "counting a soft bounce", err);
    *count = (int)n;
    return rc;
}

enum mf_rc store_lead_restore(struct store *st, int64_t lead_id, const char *status,
                              struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_LEAD_RESTORE,
        "UPDATE leads SET status = 'active' WHERE id = ?1 AND status = ?2", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, lead_id);
    TEXT(s, 2, status);
    return store_done_or(st, s, "restoring the lead", err);
}

/* The tag an event's effects carry in their reason, for the undo. */
static void event_tag(char *buf, size_t size, int64_t event_id)
{
    snprintf(buf, size, "%%(event %" PRId64 ")", event_id);
}

enum mf_rc store_enrollments_resume_event(struct store *st, int64_t event_id, int *resumed,
                                          struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_RESUME_EVENT,
        "UPDATE enrollments SET state = 'active', reason = '' WHERE state = 'stopped'"
        " AND reason LIKE ?1 AND lead_id IN (SELECT l.id FROM leads l WHERE l.status = 'active'"
        " AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.value = l.address"
        " OR s.value = '@' || l.domain))", err);
    if (!s)
        return MF_ESTORE;
    char tag[64];
    event_tag(tag, sizeof tag, event_id);
    TEXT(s, 1, tag);
    enum mf_rc rc = store_done_or(st, s, "resuming sequences", err);
    if (resumed)
        *resumed = rc == MF_OK ? sqlite3_changes(st->db) : 0;
    return rc;
}

enum mf_rc store_suppress_remove_event(struct store *st, int64_t event_id, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SUPPRESS_REMOVE_EVENT,
        "DELETE FROM suppression WHERE reason LIKE ?1", err);
    if (!s)
        return MF_ESTORE;
    char tag[64];
    event_tag(tag, sizeof tag, event_id);
    TEXT(s, 1, tag);
    return store_done_or(st, s, "lifting a suppression", err);
}

enum mf_rc store_enrollment_probable(struct store *st, const char *mailbox, int64_t lead_id,
                                     struct store_enrollment *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_PROBABLE,
        "SELECT " ENROLL_COLS " FROM enrollments e"
        " WHERE e.lead_id = ?2 AND e.mailbox = ?1 AND EXISTS (SELECT 1 FROM outbox o"
        " WHERE o.enrollment_id = e.id AND o.state IN ('sent','unknown'))"
        " ORDER BY e.id DESC LIMIT 1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, lead_id);
    enum mf_rc rc = store_step_row(st, s, store_row_enrollment, out, "reading the enrollment",
                                   err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no enrollment");
    return rc;
}

/* The outbox columns store_outbox_latest_to reads (raw stays out). */
static void row_to_sent(sqlite3_stmt *s, void *out)
{
    struct store_outbox *o = out;
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(s, 0);
    o->enrollment_id = sqlite3_column_int64(s, 1);
    o->step = sqlite3_column_int(s, 2);
    store_col_text(s, 3, o->mailbox, sizeof o->mailbox);
    store_col_text(s, 4, o->message_id, sizeof o->message_id);
    store_col_text(s, 5, o->sender, sizeof o->sender);
    store_col_text(s, 6, o->rcpt, sizeof o->rcpt);
    store_col_text(s, 7, o->subject, sizeof o->subject);
    store_col_text(s, 8, o->state, sizeof o->state);
}

enum mf_rc store_outbox_latest_to(struct store *st, const char *mailbox, const char *rcpt,
                                  struct store_outbox *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_OUTBOX_LATEST_TO,
        "SELECT id, enrollment_id, step, mailbox, message_id, sender, rcpt, subject, state"
        " FROM outbox WHERE rcpt = ?2 AND mailbox = ?1 AND state IN ('sent','unknown')"
        " ORDER BY id DESC LIMIT 1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    TEXT(s, 2, rcpt);
    enum mf_rc rc = store_step_row(st, s, row_to_sent, out, "reading the outbox", err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "nothing sent to %s", rcpt);
    return rc;
}

enum mf_rc store_enrollments_stop_domain(struct store *st, int64_t campaign_id,
                                         const char *domain, int64_t except_lead,
                                         const char *reason, int *stopped,
                                         struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_ENROLL_STOP_DOMAIN,
        "UPDATE enrollments SET state = 'stopped', reason = ?4"
        " WHERE campaign_id = ?1 AND lead_id <> ?3 AND state = 'active'"
        " AND lead_id IN (SELECT id FROM leads WHERE domain = ?2)", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, campaign_id);
    TEXT(s, 2, domain);
    INT(s, 3, except_lead);
    TEXT(s, 4, reason);
    enum mf_rc rc = store_done_or(st, s, "stopping the company's sequences", err);
    if (stopped)
        *stopped = rc == MF_OK ? sqlite3_changes(st->db) : 0;
    return rc;
}

enum mf_rc store_sendlog_first(struct store *st, const char *mailbox, int64_t *at_ms,
                               struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SENDLOG_FIRST,
        "SELECT coalesce(min(at_ms), 0) FROM send_log WHERE mailbox = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    return store_step_int64(st, s, at_ms, "reading the send log", err);
}
