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
 * No secret is ever stored in a plain column: an account records where its
 * password comes from (an environment variable or a file), never the value.
 *
 * Ownership: struct store is the caller's (store_close). Output structs are
 * caller-provided and filled by copy.
 */
#ifndef MF_ENGINE_STORE_H
#define MF_ENGINE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store;

#define STORE_SCHEMA_VERSION 1

/* Opens (creating directories and the file when missing) and migrates.
 * path NULL → store_default_path(). MF_ESTORE / MF_EIO with the reason. */
struct store *store_open(const char *path, struct mf_err *err);
void store_close(struct store *st);

/* $MAILFLEET_DB, else $XDG_DATA_HOME/mailfleet/mailfleet.db, else
 * ~/.local/share/mailfleet/mailfleet.db. Writes into buf; returns buf or
 * NULL when it does not fit / HOME is unset. */
const char *store_default_path(char *buf, size_t size);

int store_schema_version(struct store *st);

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

#endif
