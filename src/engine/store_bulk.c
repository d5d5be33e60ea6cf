/* engine/store: bulk work — a lead import in one transaction (leads
 * import), and the few bulk reads the planner (engine/plan) needs instead of
 * a query per enrollment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store_int.h"

#define TEXT STORE_TEXT
#define INT STORE_INT

/* leads_domain (only the company stop and domain suppressions read it) is
 * dropped for the rest of the import and built again at its end, in the
 * same transaction, once the import has made at least half as many leads as
 * were there before: 97 insertion points a row cost more than the sort of
 * the whole table. Weighed at DOMAIN_LOOK_FIRST new leads, then at each
 * doubling. */
#define DOMAIN_LOOK_FIRST 16384
#define LEADS_DOMAIN_SQL "CREATE INDEX leads_domain ON leads(domain)" /* as schema 1 */

/* The import's page cache: the indexes it grows stay in memory instead of
 * spilling to the WAL mid-transaction (bounded: KiB, as cache_size takes). */
#define IMPORT_CACHE_KIB 262144

struct store_import {
    struct store *st;
    int64_t campaign_id;
    int64_t max_id_before;      /* leads above it are this import's */
    int64_t last_new_id;        /* the latest lead this import made */
    bool check_suppression;     /* the list is not empty */
    bool have_pre;              /* the temp table exists */
    int64_t pre_rows;
    int64_t new_rows;           /* leads this import made */
    int64_t next_look;          /* new_rows at which to weigh the domain index again */
    bool domain_dropped;        /* leads_domain is rebuilt at the end */
    int old_cache;              /* cache_size to restore */
    sqlite3_stmt *pre_add;      /* temp table statements: the import's own */
};

static enum mf_rc exec_sql(struct store *st, const char *sql, const char *what,
                           struct mf_err *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return MF_OK;
    return store_db_error(st, err, what);
}

static int pragma_int(struct store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int v = 0;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void set_cache(struct store *st, int kib_or_pages)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", kib_or_pages);
    sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

/* Back to how every other command runs: constraints checked, the usual
 * cache. */
static void import_restore(struct store_import *im)
{
    sqlite3_exec(im->st->db, "PRAGMA ignore_check_constraints = OFF; PRAGMA foreign_keys = ON",
                 NULL, NULL, NULL);
    set_cache(im->st, im->old_cache);
}

enum mf_rc store_import_begin(struct store *st, int64_t campaign_id,
                              struct store_import **out, struct mf_err *err)
{
    *out = NULL;
    struct store_import *im = calloc(1, sizeof *im);
    if (!im)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    im->st = st;
    im->campaign_id = campaign_id;
    im->old_cache = pragma_int(st, "PRAGMA cache_size");
    set_cache(st, -IMPORT_CACHE_KIB);
    /* The import writes only 'active' into the columns that have CHECKs
     * (leads.status, enrollments.state: their defaults): SQLite builds each
     * CHECK's IN-list as a temporary b-tree on every execution of an
     * INSERT, which cost more than the insert itself. And its enrollments
     * point at the campaign, read again under the write lock below, and at
     * leads it reads from the table in the same statement: the foreign
     * keys hold by construction, and checking them took a quarter of the
     * final insert. (foreign_keys only changes outside a transaction.) */
    enum mf_rc rc = exec_sql(st, "PRAGMA ignore_check_constraints = ON; PRAGMA foreign_keys = OFF",
                             "preparing the import", err);
    if (rc == MF_OK)
        rc = store_begin(st, err);
    sqlite3_stmt *s = NULL;
    struct store_campaign c;
    memset(&c, 0, sizeof c);
    if (rc == MF_OK)
        rc = store_campaign_by_id(st, campaign_id, &c, err);
    store_campaign_clear(&c);
    if (rc == MF_OK)
        rc = store_lead_max_id(st, &im->max_id_before, err);
    if (rc == MF_OK && !(s = store_lazy(st, L_IMPORT_SUPPRESS_ANY,
                                        "SELECT EXISTS (SELECT 1 FROM suppression)", err)))
        rc = MF_ESTORE;
    int64_t any = 0;
    if (rc == MF_OK)
        rc = store_step_int64(st, s, &any, "reading the suppression list", err);
    im->check_suppression = any != 0;
    im->last_new_id = im->max_id_before;
    im->next_look = DOMAIN_LOOK_FIRST;
    if (rc != MF_OK) {
        store_rollback(st);
        import_restore(im);
        free(im);
        return rc;
    }
    *out = im;
    return MF_OK;
}

/* A lead that existed before the import joins the campaign where its row
 * stands: its enrollment waits in a temp table, in file order, so that the
 * final insert keeps every enrollment in the order of the file. */
static enum mf_rc pre_add(struct store_import *im, int64_t lead_id, bool *added,
                          struct mf_err *err)
{
    struct store *st = im->st;
    if (!im->have_pre) {
        enum mf_rc rc = exec_sql(st, "CREATE TEMP TABLE IF NOT EXISTS import_pre ("
                                     " seq INTEGER PRIMARY KEY, after_id INTEGER NOT NULL,"
                                     " lead_id INTEGER NOT NULL UNIQUE);"
                                     "DELETE FROM temp.import_pre", "importing", err);
        if (rc != MF_OK)
            return rc;
        if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO temp.import_pre (after_id, lead_id)"
                                       " VALUES (?1, ?2)", -1, &im->pre_add, NULL) != SQLITE_OK)
            return store_db_error(st, err, "importing");
        im->have_pre = true;
    }
    INT(im->pre_add, 1, im->last_new_id);
    INT(im->pre_add, 2, lead_id);
    enum mf_rc rc = store_done_or(st, im->pre_add, "enrolling the lead", err);
    *added = rc == MF_OK && sqlite3_changes(st->db) > 0;
    im->pre_rows += *added;
    return rc;
}

/* An address already in the store: this file's earlier row, or a lead of
 * before that may or may not be in the campaign yet. */
static enum mf_rc existing_lead(struct store_import *im, const char *address,
                                enum store_import_outcome *outcome, struct mf_err *err)
{
    struct store *st = im->st;
    sqlite3_stmt *s = store_lazy(st, L_IMPORT_LEAD_ID,
                                 "SELECT id FROM leads WHERE address = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, address);
    int64_t id = 0, enrolled = 0;
    enum mf_rc rc = store_step_int64(st, s, &id, "reading the lead", err);
    if (rc != MF_OK)
        return rc;
    if (id > im->max_id_before) {
        *outcome = STORE_IMPORT_DUP_FILE;
        return MF_OK;
    }
    if (!(s = store_lazy(st, L_IMPORT_ENROLLED,
                         "SELECT EXISTS (SELECT 1 FROM enrollments WHERE campaign_id = ?1"
                         " AND lead_id = ?2)", err)))
        return MF_ESTORE;
    INT(s, 1, im->campaign_id);
    INT(s, 2, id);
    rc = store_step_int64(st, s, &enrolled, "reading the enrollments", err);
    bool added = false;
    if (rc == MF_OK && !enrolled)
        rc = pre_add(im, id, &added, err);
    *outcome = added ? STORE_IMPORT_ENROLLED : STORE_IMPORT_DUP_CAMPAIGN;
    return rc;
}

enum mf_rc store_import_row(struct store_import *im, const char *address, const char *domain,
                            const char *fields, const char *timezone,
                            enum store_import_outcome *outcome, char *reason,
                            size_t reason_size, struct mf_err *err)
{
    struct store *st = im->st;
    bool sup = false;
    if (im->check_suppression) {
        enum mf_rc rc = store_suppressed(st, address, domain, &sup, reason, reason_size, err);
        if (rc != MF_OK)
            return rc;
    }
    if (sup) {
        *outcome = STORE_IMPORT_SUPPRESSED;
        return MF_OK;
    }
    bool inserted = false;
    enum mf_rc rc = store_lead_insert(st, address, domain, fields, timezone, &inserted, err);
    if (rc != MF_OK)
        return rc;
    if (!inserted)
        return existing_lead(im, address, outcome, err);
    /* a new lead: enrolled with the others at the end, in one statement */
    im->last_new_id = sqlite3_last_insert_rowid(st->db);
    *outcome = STORE_IMPORT_ENROLLED;
    if (++im->new_rows < im->next_look || im->domain_dropped)
        return MF_OK;
    im->next_look *= 2;
    if (im->new_rows * 2 < im->max_id_before)
        return MF_OK;
    rc = exec_sql(st, "DROP INDEX IF EXISTS leads_domain", "importing", err);
    im->domain_dropped = rc == MF_OK;
    return rc;
}

/* Every enrollment of the import, in the order of the file: new leads by
 * id (made in file order), each earlier lead after the new lead made just
 * before its row. */
static enum mf_rc enroll_all(struct store_import *im, struct mf_err *err)
{
    struct store *st = im->st;
    sqlite3_stmt *s = NULL;
    const char *sql = im->pre_rows == 0
        ? "INSERT INTO enrollments (campaign_id, lead_id, next_due)"
          " SELECT ?1, id, 0 FROM leads WHERE id > ?2 ORDER BY id"
        : "INSERT INTO enrollments (campaign_id, lead_id, next_due)"
          " SELECT ?1, lead_id, 0 FROM ("
          "  SELECT id AS k, 0 AS w, 0 AS seq, id AS lead_id FROM leads WHERE id > ?2"
          "  UNION ALL SELECT after_id, 1, seq, lead_id FROM temp.import_pre)"
          " ORDER BY k, w, seq";
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return store_db_error(st, err, "enrolling the leads");
    INT(s, 1, im->campaign_id);
    INT(s, 2, im->max_id_before);
    enum mf_rc rc = store_done_or(st, s, "enrolling the leads", err);
    sqlite3_finalize(s);
    return rc;
}

enum mf_rc store_import_finish(struct store_import *im, bool commit, struct mf_err *err)
{
    if (!im)
        return MF_OK;
    struct store *st = im->st;
    enum mf_rc rc = MF_OK;
    if (commit) {
        rc = enroll_all(im, err);
        if (rc == MF_OK && im->domain_dropped)
            rc = exec_sql(st, LEADS_DOMAIN_SQL, "indexing the leads", err);
        rc = rc == MF_OK ? store_commit(st, err) : (store_rollback(st), rc);
    } else {
        store_rollback(st);
    }
    sqlite3_finalize(im->pre_add);
    if (im->have_pre)
        sqlite3_exec(st->db, "DROP TABLE IF EXISTS temp.import_pre", NULL, NULL, NULL);
    import_restore(im);
    free(im);
    return rc;
}

/* ---- planning ------------------------------------------------------------------------ */

enum mf_rc store_read_begin(struct store *st, struct mf_err *err)
{
    if (st->group) /* the group's transaction is the snapshot */
        return MF_OK;
    return exec_sql(st, "BEGIN DEFERRED", "reading the store", err);
}

void store_read_end(struct store *st)
{
    if (!st->group && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* Reads the lead columns every plan row has, from column `at` on. */
static void lead_cols(sqlite3_stmt *s, int at, struct store_plan_row *r)
{
    r->address = col(s, at);
    r->timezone = col(s, at + 1);
    r->status = col(s, at + 2);
    r->fields = col(s, at + 3);
    r->suppressed = sqlite3_column_int(s, at + 4) != 0;
}

/* The suppression check of a lead l, skipped (a constant) when the list is
 * empty. */
#define PLAN_SUPPRESSED \
    "CASE WHEN (SELECT EXISTS (SELECT 1 FROM suppression)) THEN EXISTS (SELECT 1" \
    " FROM suppression s WHERE s.value = l.address OR s.value = '@' || l.domain) ELSE 0 END"
#define PLAN_LEAD_COLS "l.address, l.timezone, l.status, l.fields, " PLAN_SUPPRESSED

static enum mf_rc plan_rows(struct store *st, sqlite3_stmt *s, bool backlog, store_plan_cb cb,
                            void *ctx, struct mf_err *err)
{
    int rc;
    struct store_plan_row r;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        memset(&r, 0, sizeof r);
        r.enrollment_id = sqlite3_column_int64(s, 0);
        r.campaign_id = sqlite3_column_int64(s, 1);
        r.lead_id = sqlite3_column_int64(s, 2);
        r.mailbox = col(s, 3);
        r.next_step = sqlite3_column_int(s, 4);
        r.next_due = sqlite3_column_int64(s, 5);
        lead_cols(s, 6, &r);
        if (backlog) {
            r.outbox_id = sqlite3_column_int64(s, 11);
            r.step = sqlite3_column_int(s, 12);
            r.outbox_mailbox = col(s, 13);
            r.rcpt = col(s, 14);
        }
        if (cb(ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading the enrollments");
}

enum mf_rc store_plan_enrollments(struct store *st, int64_t campaign_id, store_plan_cb cb,
                                  void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLAN_ENROLLMENTS,
        "SELECT e.id, e.campaign_id, e.lead_id, e.mailbox, e.next_step, e.next_due, "
        PLAN_LEAD_COLS " FROM enrollments e JOIN leads l ON l.id = e.lead_id"
        " WHERE e.state = 'active' AND e.campaign_id = ?1 ORDER BY e.next_due, e.id", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, campaign_id);
    return plan_rows(st, s, false, cb, ctx, err);
}

enum mf_rc store_plan_backlog(struct store *st, store_plan_cb cb, void *ctx,
                              struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLAN_BACKLOG,
        "SELECT e.id, e.campaign_id, e.lead_id, e.mailbox, e.next_step, e.next_due, "
        PLAN_LEAD_COLS ", o.id, o.step, o.mailbox, o.rcpt FROM outbox o"
        " JOIN enrollments e ON e.id = o.enrollment_id JOIN leads l ON l.id = e.lead_id"
        " WHERE o.state IN ('queued','sending') ORDER BY o.id", err);
    if (!s)
        return MF_ESTORE;
    return plan_rows(st, s, true, cb, ctx, err);
}

static enum mf_rc sendlog_rows(struct store *st, sqlite3_stmt *s, store_sendlog_cb cb,
                               void *ctx, struct mf_err *err)
{
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, col(s, 0), col(s, 1), sqlite3_column_int64(s, 2),
               sqlite3_column_int(s, 3), sqlite3_column_int(s, 4))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "reading the send log");
}

enum mf_rc store_sendlog_since(struct store *st, int64_t since_ms, store_sendlog_cb cb,
                               void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLAN_SENDLOG,
        "SELECT mailbox, tenant, at_ms, rcpts, external FROM send_log WHERE at_ms > ?1"
        " ORDER BY at_ms", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, since_ms);
    return sendlog_rows(st, s, cb, ctx, err);
}

enum mf_rc store_sendlog_before(struct store *st, const char *mailbox, int64_t before_ms,
                                int limit, store_sendlog_cb cb, void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_PLAN_SENDLOG_BEFORE,
        "SELECT mailbox, tenant, at_ms, rcpts, external FROM send_log WHERE mailbox = ?1"
        " AND at_ms <= ?2 ORDER BY at_ms DESC LIMIT ?3", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, mailbox);
    INT(s, 2, before_ms);
    INT(s, 3, limit);
    return sendlog_rows(st, s, cb, ctx, err);
}
