/* engine/store: transactions, meta facts, encrypted secret blobs and the
 * OAuth settings of an account. */
#include <stdlib.h>
#include <string.h>

#include "engine/store_int.h"
#include "util/clock.h"

static int step_done(sqlite3_stmt *s);

static enum mf_rc exec_simple(struct store *st, const char *sql, struct mf_err *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return MF_OK;
    return store_db_error(st, err, sql);
}

enum mf_rc store_begin(struct store *st, struct mf_err *err)
{
    if (!st->group)
        return exec_simple(st, "BEGIN IMMEDIATE", err);
    enum mf_rc rc = exec_simple(st, "SAVEPOINT mf_step", err);
    st->savepoints += rc == MF_OK;
    return rc;
}

enum mf_rc store_commit(struct store *st, struct mf_err *err)
{
    if (st->group && st->savepoints > 0) {
        enum mf_rc rc = exec_simple(st, "RELEASE mf_step", err);
        if (rc != MF_OK)
            store_rollback(st);
        else
            st->savepoints--;
        return rc;
    }
    enum mf_rc rc = exec_simple(st, "COMMIT", err);
    if (rc != MF_OK)
        store_rollback(st);
    return rc;
}

void store_rollback(struct store *st)
{
    if (st->group) {
        /* only the caller's own work: the group holds other messages' */
        if (st->savepoints > 0) {
            if (sqlite3_exec(st->db, "ROLLBACK TO mf_step; RELEASE mf_step", NULL, NULL,
                             NULL) != SQLITE_OK)
                st->group_failed = true;
            st->savepoints--;
        }
        return;
    }
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

enum mf_rc store_group_open(struct store *st, struct mf_err *err)
{
    if (st->group)
        return MF_OK;
    enum mf_rc rc = exec_simple(st, "BEGIN IMMEDIATE", err);
    st->group = rc == MF_OK;
    st->group_failed = false;
    st->savepoints = 0;
    return rc;
}

bool store_group_active(const struct store *st)
{
    return st->group;
}

enum mf_rc store_group_commit(struct store *st, struct mf_err *err)
{
    if (!st->group)
        return MF_OK;
    st->group = false;
    enum mf_rc rc = MF_OK;
    if (st->group_failed || st->savepoints > 0) {
        rc = mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                        "a step of the grouped transaction could not be undone cleanly; "
                        "the whole group was rolled back");
    } else if (!sqlite3_get_autocommit(st->db)) {
        rc = exec_simple(st, "COMMIT", err);
    }
    if (!sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    st->savepoints = 0;
    st->group_failed = false;
    return rc;
}

sqlite3_stmt *store_lazy(struct store *st, enum lazy_id id, const char *sql,
                         struct mf_err *err)
{
    if (!st->lazy[id] &&
        sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->lazy[id],
                           NULL) != SQLITE_OK) {
        store_db_error(st, err, "preparing a statement");
        return NULL;
    }
    sqlite3_reset(st->lazy[id]);
    sqlite3_clear_bindings(st->lazy[id]);
    return st->lazy[id];
}

int store_step_done(sqlite3_stmt *s)
{
    return step_done(s);
}

enum mf_rc store_step_int64(struct store *st, sqlite3_stmt *s, int64_t *out,
                            const char *what, struct mf_err *err)
{
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, what);
}

enum mf_rc store_step_row(struct store *st, sqlite3_stmt *s, store_row_fn fill, void *out,
                          const char *what, struct mf_err *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        fill(s, out);
    enum mf_rc ret = rc == SQLITE_ROW    ? MF_OK
                     : rc == SQLITE_DONE ? MF_ENOTFOUND
                                         : store_db_error(st, err, what);
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_done_or(struct store *st, sqlite3_stmt *s, const char *what,
                         struct mf_err *err)
{
    int rc = step_done(s);
    if (rc == SQLITE_DONE)
        return MF_OK;
    if (rc == SQLITE_CONSTRAINT)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "%s: a value is out of range, "
                          "duplicate, or refers to nothing", what);
    return store_db_error(st, err, what);
}

/* Runs a statement that returns no rows and resets it. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return rc;
}

enum mf_rc store_meta_get(struct store *st, const char *key, void *out,
                          size_t cap, size_t *len, struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_META_GET];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(s, 0);
        const void *v = sqlite3_column_blob(s, 0);
        if (v && n)
            memcpy(out, v, n < cap ? n : cap);
        *len = n;
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no %s in the store", key);
    } else {
        ret = store_db_error(st, err, "reading the store");
    }
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_meta_put(struct store *st, const char *key, const void *value,
                          size_t len, struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_META_PUT];
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, value, (int)len, SQLITE_STATIC);
    return step_done(s) == SQLITE_DONE ? MF_OK
                                       : store_db_error(st, err, "writing the store");
}

/* ---- secrets ------------------------------------------------------------- */

enum mf_rc store_secret_put(struct store *st, const char *account,
                            const char *kind, const void *nonce, size_t nonce_len,
                            const void *ciphertext, size_t ciphertext_len,
                            int64_t expires_at, struct mf_err *err)
{
    if (nonce_len > sizeof ((struct store_secret *)0)->nonce || ciphertext_len > (1u << 20))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "secret too large");
    sqlite3_stmt *s = st->stmt[S_SECRET_PUT];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s, 3, nonce, (int)nonce_len, SQLITE_STATIC);
    sqlite3_bind_blob(s, 4, ciphertext, (int)ciphertext_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, expires_at);
    sqlite3_bind_int64(s, 6, mf_wall_seconds());
    int rc = step_done(s);
    if (rc == SQLITE_DONE)
        return MF_OK;
    if (rc == SQLITE_CONSTRAINT)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "no account named \"%s\" to keep a %s for", account, kind);
    return store_db_error(st, err, "saving a secret");
}

enum mf_rc store_secret_get(struct store *st, const char *account,
                            const char *kind, struct store_secret *out,
                            struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = st->stmt[S_SECRET_GET];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        size_t nlen = (size_t)sqlite3_column_bytes(s, 0);
        size_t clen = (size_t)sqlite3_column_bytes(s, 1);
        const void *n = sqlite3_column_blob(s, 0);
        const void *c = sqlite3_column_blob(s, 1);
        if (nlen > sizeof out->nonce) {
            ret = mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL,
                             "the stored %s of \"%s\" is damaged (bad nonce)",
                             kind, account);
        } else if (!(out->ciphertext = malloc(clen ? clen : 1))) {
            ret = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        } else {
            if (nlen)
                memcpy(out->nonce, n, nlen);
            if (clen)
                memcpy(out->ciphertext, c, clen);
            out->nonce_len = nlen;
            out->ciphertext_len = clen;
            out->expires_at = sqlite3_column_int64(s, 2);
            out->updated_at = sqlite3_column_int64(s, 3);
        }
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                         "no stored %s for \"%s\"", kind, account);
    } else {
        ret = store_db_error(st, err, "reading a secret");
    }
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_secret_delete(struct store *st, const char *account,
                               const char *kind, struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[kind ? S_SECRET_DELETE : S_SECRET_DELETE_ALL];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    if (kind)
        sqlite3_bind_text(s, 2, kind, -1, SQLITE_STATIC);
    return step_done(s) == SQLITE_DONE ? MF_OK
                                       : store_db_error(st, err, "deleting a secret");
}

enum mf_rc store_secret_list(struct store *st, const char *account,
                             store_secret_cb cb, void *ctx, struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_SECRET_LIST];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    int rc;
    char kind[32];
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        store_col_text(s, 0, kind, sizeof kind);
        if (cb(ctx, kind, sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2))) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? MF_OK : store_db_error(st, err, "listing secrets");
}

/* ---- OAuth settings ------------------------------------------------------ */

enum mf_rc store_oauth_put(struct store *st, const struct store_oauth *o,
                           struct mf_err *err)
{
    if (!o->account[0] || !o->client_id[0] || !o->token_endpoint[0])
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "OAuth settings need an account, a client id and a "
                          "token endpoint");
    sqlite3_stmt *s = st->stmt[S_OAUTH_PUT];
    sqlite3_bind_text(s, 1, o->account, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, o->profile, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, o->issuer, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, o->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, o->client_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, o->scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, o->flow, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, o->token_endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 9, o->client_auth[0] ? o->client_auth : "post", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 10, o->cafile, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 11, mf_wall_seconds());
    int rc = step_done(s);
    if (rc == SQLITE_DONE)
        return MF_OK;
    if (rc == SQLITE_CONSTRAINT)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "cannot save OAuth settings for \"%s\": no such account, "
                          "or an unknown profile/flow", o->account);
    return store_db_error(st, err, "saving OAuth settings");
}

enum mf_rc store_oauth_get(struct store *st, const char *account,
                           struct store_oauth *out, struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = st->stmt[S_OAUTH_GET];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    enum mf_rc ret = MF_OK;
    if (rc == SQLITE_ROW) {
        store_col_text(s, 0, out->account, sizeof out->account);
        store_col_text(s, 1, out->profile, sizeof out->profile);
        store_col_text(s, 2, out->issuer, sizeof out->issuer);
        store_col_text(s, 3, out->tenant, sizeof out->tenant);
        store_col_text(s, 4, out->client_id, sizeof out->client_id);
        store_col_text(s, 5, out->scope, sizeof out->scope);
        store_col_text(s, 6, out->flow, sizeof out->flow);
        store_col_text(s, 7, out->token_endpoint, sizeof out->token_endpoint);
        store_col_text(s, 8, out->client_auth, sizeof out->client_auth);
        store_col_text(s, 9, out->cafile, sizeof out->cafile);
        out->updated_at = sqlite3_column_int64(s, 10);
    } else if (rc == SQLITE_DONE) {
        ret = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                         "account \"%s\" has not signed in with OAuth "
                         "(mailfleet login %s)", account, account);
    } else {
        ret = store_db_error(st, err, "reading OAuth settings");
    }
    sqlite3_clear_bindings(s);
    sqlite3_reset(s);
    return ret;
}

enum mf_rc store_oauth_delete(struct store *st, const char *account,
                              struct mf_err *err)
{
    sqlite3_stmt *s = st->stmt[S_OAUTH_DELETE];
    sqlite3_bind_text(s, 1, account, -1, SQLITE_STATIC);
    return step_done(s) == SQLITE_DONE ? MF_OK
                                       : store_db_error(st, err, "deleting OAuth settings");
}
