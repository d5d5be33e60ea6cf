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
 * caller-provided and filled by copy.
 */
#ifndef MF_ENGINE_STORE_H
#define MF_ENGINE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct store;

#define STORE_SCHEMA_VERSION 2

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

/* Explicit transactions (BEGIN IMMEDIATE: one writer at a time). */
enum mf_rc store_begin(struct store *st, struct mf_err *err);
enum mf_rc store_commit(struct store *st, struct mf_err *err);
void store_rollback(struct store *st);

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

#endif
