/* engine/store: mailboxes, tenants, leads, suppression, campaigns and
 * enrollments — the sending engine's tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/store_int.h"
#include "util/clock.h"

#define TEXT STORE_TEXT
#define INT STORE_INT


static char *col_dup(sqlite3_stmt *s, int col)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    return strdup(t ? (const char *)t : "");
}

/* ---- mailboxes --------------------------------------------------------------- */

#define MAILBOX_COLS "account, tenant, timezone, per_minute, rcpt_per_day," \
    " max_connections, daily_cap, ramp_start, ramp_days, started_at, status," \
    " pause_reason, backoff_until, backoff_s, next_send_at"

static void row_to_mailbox(sqlite3_stmt *s, struct store_mailbox *m)
{
    memset(m, 0, sizeof *m);
    store_col_text(s, 0, m->account, sizeof m->account);
    store_col_text(s, 1, m->tenant, sizeof m->tenant);
    store_col_text(s, 2, m->timezone, sizeof m->timezone);
    m->per_minute = sqlite3_column_int(s, 3);
    m->rcpt_per_day = sqlite3_column_int(s, 4);
    m->max_connections = sqlite3_column_int(s, 5);
    m->daily_cap = sqlite3_column_int(s, 6);
    m->ramp_start = sqlite3_column_int(s, 7);
    m->ramp_days = sqlite3_column_int(s, 8);
    m->started_at = sqlite3_column_int64(s, 9);
    store_col_text(s, 10, m->status, sizeof m->status);
    store_col_text(s, 11, m->pause_reason, sizeof m->pause_reason);
    m->backoff_until = sqlite3_column_int64(s, 12);
    m->backoff_s = sqlite3_column_int(s, 13);
    m->next_send_at = sqlite3_column_int64(s, 14);
}

enum mf_rc store_mailbox_put(struct store *st, const struct store_mailbox *m,
                             struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_PUT,
        "INSERT INTO mailboxes (" MAILBOX_COLS ") VALUES"
        " (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
        " ON CONFLICT(account) DO UPDATE SET tenant=?2, timezone=?3, per_minute=?4,"
        " rcpt_per_day=?5, max_connections=?6, daily_cap=?7, ramp_start=?8,"
        " ramp_days=?9", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, m->account);
    TEXT(s, 2, m->tenant);
    TEXT(s, 3, m->timezone[0] ? m->timezone : "UTC");
    INT(s, 4, m->per_minute);
    INT(s, 5, m->rcpt_per_day);
    INT(s, 6, m->max_connections);
    INT(s, 7, m->daily_cap);
    INT(s, 8, m->ramp_start);
    INT(s, 9, m->ramp_days);
    INT(s, 10, m->started_at ? m->started_at : mf_wall_seconds());
    TEXT(s, 11, m->status[0] ? m->status : "active");
    TEXT(s, 12, m->pause_reason);
    INT(s, 13, m->backoff_until);
    INT(s, 14, m->backoff_s);
    INT(s, 15, m->next_send_at);
    return store_done_or(st, s, "saving the mailbox", err);
}

enum mf_rc store_mailbox_get(struct store *st, const char *account,
                             struct store_mailbox *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_GET,
        "SELECT " MAILBOX_COLS " FROM mailboxes WHERE account = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, account);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW)
        row_to_mailbox(s, out);
    else if (rc == SQLITE_DONE)
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no mailbox \"%s\" "
                         "(mailfleet mailbox import, or mailbox add)", account);
    else
        ret = store_db_error(st, err, "reading the mailbox");
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_mailbox_list(struct store *st, store_mailbox_cb cb, void *ctx,
                              struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_LIST,
        "SELECT " MAILBOX_COLS " FROM mailboxes ORDER BY account", err);
    if (!s)
        return MF_ESTORE;
    int rc;
    struct store_mailbox m;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        row_to_mailbox(s, &m);
        if (cb(ctx, &m)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "listing mailboxes");
}

enum mf_rc store_mailbox_set_status(struct store *st, const char *account,
                                    const char *status, const char *reason,
                                    struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_STATUS,
        "UPDATE mailboxes SET status = ?2, pause_reason = ?3,"
        " backoff_until = CASE WHEN ?2 = 'active' THEN 0 ELSE backoff_until END,"
        " backoff_s = CASE WHEN ?2 = 'active' THEN 0 ELSE backoff_s END"
        " WHERE account = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, account);
    TEXT(s, 2, status);
    TEXT(s, 3, reason ? reason : "");
    enum mf_rc rc = store_done_or(st, s, "changing the mailbox", err);
    if (rc == MF_OK && sqlite3_changes(st->db) == 0)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no mailbox \"%s\"", account);
    return rc;
}

enum mf_rc store_mailbox_set_backoff(struct store *st, const char *account,
                                     int64_t until, int backoff_s, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_BACKOFF,
        "UPDATE mailboxes SET backoff_until = ?2, backoff_s = ?3 WHERE account = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, account);
    INT(s, 2, until);
    INT(s, 3, backoff_s);
    return store_done_or(st, s, "saving the backoff", err);
}

enum mf_rc store_mailbox_set_next_send(struct store *st, const char *account,
                                       int64_t at, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_MAILBOX_NEXT_SEND,
        "UPDATE mailboxes SET next_send_at = ?2 WHERE account = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, account);
    INT(s, 2, at);
    return store_done_or(st, s, "saving the next send time", err);
}

enum mf_rc store_tenant_put(struct store *st, const char *name, int daily_external_cap,
                            struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_TENANT_PUT,
        "INSERT OR REPLACE INTO tenants (name, daily_external_cap) VALUES (?1, ?2)", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, name);
    INT(s, 2, daily_external_cap);
    return store_done_or(st, s, "saving the tenant", err);
}

enum mf_rc store_tenant_cap(struct store *st, const char *name, int *cap,
                            struct mf_err *err)
{
    *cap = -1;
    sqlite3_stmt *s = store_lazy(st, L_TENANT_GET,
        "SELECT daily_external_cap FROM tenants WHERE name = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *cap = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? MF_OK
                                                 : store_db_error(st, err, "reading the tenant");
}

/* ---- leads ------------------------------------------------------------------------ */

void store_lead_clear(struct store_lead *l)
{
    free(l->fields);
    memset(l, 0, sizeof *l);
}

enum mf_rc store_lead_insert(struct store *st, const char *address, const char *domain,
                             const char *fields, const char *timezone, bool *inserted,
                             struct mf_err *err)
{
    *inserted = false;
    sqlite3_stmt *s = store_lazy(st, L_LEAD_INSERT,
        "INSERT INTO leads (address, domain, fields, timezone, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(address) DO NOTHING", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, address);
    TEXT(s, 2, domain);
    TEXT(s, 3, fields && *fields ? fields : "{}");
    TEXT(s, 4, timezone ? timezone : "");
    INT(s, 5, mf_wall_seconds());
    enum mf_rc rc = store_done_or(st, s, "saving the lead", err);
    *inserted = rc == MF_OK && sqlite3_changes(st->db) > 0;
    return rc;
}

enum mf_rc store_lead_add(struct store *st, const char *address, const char *domain,
                          const char *fields, const char *timezone, int64_t *id,
                          bool *inserted, struct mf_err *err)
{
    enum mf_rc rc = store_lead_insert(st, address, domain, fields, timezone, inserted, err);
    if (rc != MF_OK)
        return rc;
    if (*inserted) {
        *id = sqlite3_last_insert_rowid(st->db);
        return MF_OK;
    }
    struct store_lead l;
    rc = store_lead_by_address(st, address, &l, err);
    *id = l.id;
    store_lead_clear(&l);
    return rc;
}

static enum mf_rc lead_query(struct store *st, sqlite3_stmt *s, struct store_lead *out,
                             const char *what, struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        store_col_text(s, 1, out->address, sizeof out->address);
        store_col_text(s, 2, out->domain, sizeof out->domain);
        out->fields = col_dup(s, 3);
        store_col_text(s, 4, out->timezone, sizeof out->timezone);
        store_col_text(s, 5, out->status, sizeof out->status);
        out->created_at = sqlite3_column_int64(s, 6);
        if (!out->fields)
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no such lead: %s", what);
    } else {
        ret = store_db_error(st, err, "reading the lead");
    }
    sqlite3_reset(s);
    return ret;
}

#define LEAD_COLS "id, address, domain, fields, timezone, status, created_at"

enum mf_rc store_lead_get(struct store *st, int64_t id, struct store_lead *out,
                          struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_LEAD_GET,
        "SELECT " LEAD_COLS " FROM leads WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    return lead_query(st, s, out, "by id", err);
}

enum mf_rc store_lead_by_address(struct store *st, const char *address,
                                 struct store_lead *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_LEAD_BY_ADDRESS,
        "SELECT " LEAD_COLS " FROM leads WHERE address = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, address);
    return lead_query(st, s, out, address, err);
}

enum mf_rc store_lead_max_id(struct store *st, int64_t *id, struct mf_err *err)
{
    *id = 0;
    sqlite3_stmt *s = store_lazy(st, L_LEAD_MAX, "SELECT coalesce(max(id), 0) FROM leads", err);
    if (!s)
        return MF_ESTORE;
    return store_step_int64(st, s, id, "reading leads", err);
}

enum mf_rc store_lead_set_status(struct store *st, int64_t id, const char *status,
                                 struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_LEAD_STATUS,
        "UPDATE leads SET status = ?2 WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    TEXT(s, 2, status);
    return store_done_or(st, s, "changing the lead", err);
}

/* ---- suppression ---------------------------------------------------------------- */

enum mf_rc store_suppress_add(struct store *st, const char *value, const char *reason,
                              struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SUPPRESS_ADD,
        "INSERT INTO suppression (value, reason, created_at) VALUES (?1, ?2, ?3)"
        " ON CONFLICT(value) DO NOTHING", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, value);
    TEXT(s, 2, reason ? reason : "");
    INT(s, 3, mf_wall_seconds());
    return store_done_or(st, s, "adding to the suppression list", err);
}

enum mf_rc store_suppress_remove(struct store *st, const char *value, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SUPPRESS_REMOVE,
        "DELETE FROM suppression WHERE value = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, value);
    enum mf_rc rc = store_done_or(st, s, "removing from the suppression list", err);
    if (rc == MF_OK && sqlite3_changes(st->db) == 0)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "%s is not on the suppression list", value);
    return rc;
}

enum mf_rc store_suppressed(struct store *st, const char *address, const char *domain,
                            bool *yes, char *reason, size_t reason_size,
                            struct mf_err *err)
{
    *yes = false;
    sqlite3_stmt *s = store_lazy(st, L_SUPPRESS_CHECK,
        "SELECT value, reason FROM suppression WHERE value = ?1 OR value = '@' || ?2"
        " LIMIT 1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, address);
    TEXT(s, 2, domain);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *yes = true;
        if (reason) {
            char value[320], why[256];
            store_col_text(s, 0, value, sizeof value);
            store_col_text(s, 1, why, sizeof why);
            snprintf(reason, reason_size, "%s is suppressed%s%s", value, why[0] ? ": " : "",
                     why);
        }
    }
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE
               ? MF_OK : store_db_error(st, err, "reading the suppression list");
}

enum mf_rc store_suppress_list(struct store *st, store_suppress_cb cb, void *ctx,
                               struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_SUPPRESS_LIST,
        "SELECT value, reason, created_at FROM suppression ORDER BY value", err);
    if (!s)
        return MF_ESTORE;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        if (cb(ctx, (const char *)sqlite3_column_text(s, 0),
               (const char *)sqlite3_column_text(s, 1), sqlite3_column_int64(s, 2))) {
            rc = SQLITE_DONE;
            break;
        }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "listing suppressions");
}

/* ---- campaigns ------------------------------------------------------------------- */

void store_campaign_clear(struct store_campaign *c)
{
    free(c->spec);
    memset(c, 0, sizeof *c);
}

#define CAMPAIGN_COLS "id, name, spec, nsteps, status, pause_reason, created_at"

static enum mf_rc campaign_query(struct store *st, sqlite3_stmt *s,
                                 struct store_campaign *out, const char *what,
                                 struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        out->id = sqlite3_column_int64(s, 0);
        store_col_text(s, 1, out->name, sizeof out->name);
        out->spec = col_dup(s, 2);
        out->nsteps = sqlite3_column_int(s, 3);
        store_col_text(s, 4, out->status, sizeof out->status);
        store_col_text(s, 5, out->pause_reason, sizeof out->pause_reason);
        out->created_at = sqlite3_column_int64(s, 6);
        if (!out->spec)
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                         "no campaign %s (mailfleet campaign create FILE)", what);
    } else {
        ret = store_db_error(st, err, "reading the campaign");
    }
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_campaign_put(struct store *st, const char *name, const char *spec,
                              int nsteps, int64_t *id, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_CAMPAIGN_PUT,
        "INSERT INTO campaigns (name, spec, nsteps, created_at) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT(name) DO UPDATE SET spec = ?2, nsteps = ?3", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, name);
    TEXT(s, 2, spec);
    INT(s, 3, nsteps);
    INT(s, 4, mf_wall_seconds());
    enum mf_rc rc = store_done_or(st, s, "saving the campaign", err);
    if (rc != MF_OK)
        return rc;
    struct store_campaign c;
    rc = store_campaign_get(st, name, &c, err);
    *id = c.id;
    store_campaign_clear(&c);
    return rc;
}

enum mf_rc store_campaign_get(struct store *st, const char *name,
                              struct store_campaign *out, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_CAMPAIGN_GET,
        "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE name = ?1", err);
    if (!s)
        return MF_ESTORE;
    TEXT(s, 1, name);
    return campaign_query(st, s, out, name, err);
}

enum mf_rc store_campaign_by_id(struct store *st, int64_t id, struct store_campaign *out,
                                struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_CAMPAIGN_BY_ID,
        "SELECT " CAMPAIGN_COLS " FROM campaigns WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    return campaign_query(st, s, out, "with that id", err);
}

enum mf_rc store_campaign_list(struct store *st, store_campaign_cb cb, void *ctx,
                               struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_CAMPAIGN_LIST,
        "SELECT id FROM campaigns ORDER BY name", err);
    if (!s)
        return MF_ESTORE;
    /* ids first: the callback may use the store */
    int64_t ids[1024];
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < 1024)
        ids[n++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_db_error(st, err, "listing campaigns");
    for (size_t i = 0; i < n; i++) {
        struct store_campaign c;
        enum mf_rc r = store_campaign_by_id(st, ids[i], &c, err);
        if (r != MF_OK)
            return r;
        int stop = cb(ctx, &c);
        store_campaign_clear(&c);
        if (stop)
            break;
    }
    return MF_OK;
}

enum mf_rc store_campaign_set_status(struct store *st, int64_t id, const char *status,
                                     const char *reason, struct mf_err *err)
{
    sqlite3_stmt *s = store_lazy(st, L_CAMPAIGN_STATUS,
        "UPDATE campaigns SET status = ?2, pause_reason = ?3 WHERE id = ?1", err);
    if (!s)
        return MF_ESTORE;
    INT(s, 1, id);
    TEXT(s, 2, status);
    TEXT(s, 3, reason ? reason : "");
    return store_done_or(st, s, "changing the campaign", err);
}
