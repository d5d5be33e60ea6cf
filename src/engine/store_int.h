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

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    int version;
};

enum mf_rc store_db_error(struct store *st, struct mf_err *err, const char *what);
/* Copies column col as text into dst (truncating; NULL reads as ""). */
void store_col_text(sqlite3_stmt *s, int col, char *dst, size_t size);

#endif
