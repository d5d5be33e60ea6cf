/*
 * auth/secrets — passwords, app passwords and OAuth tokens encrypted at rest.
 *
 * Each value is sealed with libsodium's XChaCha20-Poly1305 (IETF AEAD) under
 * a random 24-byte nonce; the associated data names the row (account and
 * kind), so a ciphertext moved to another row fails to open. The 32-byte key
 * comes from $MAILFLEET_KEY (base64 or hex) or from a key file
 * ($MAILFLEET_KEY_FILE, else $XDG_CONFIG_HOME/mailfleet/key, else
 * ~/.config/mailfleet/key) created 0600 on first use; a key file readable by
 * anyone else, or not owned by the user, is refused. The store keeps a key
 * check, so a wrong key is told apart from a tampered row.
 *
 * Every value read or written is registered with util/log's redactor, so it
 * can never reach a log or a transcript in clear.
 *
 * Ownership: struct secrets is the caller's (secrets_close); it borrows the
 * store, which must outlive it. Values returned by secrets_get are the
 * caller's, to be freed with mf_wipe_free_str().
 */
#ifndef MF_AUTH_SECRETS_H
#define MF_AUTH_SECRETS_H

#include <stdint.h>

#include "engine/store.h"
#include "util/err.h"

#define SECRET_PASSWORD "password"
#define SECRET_ACCESS_TOKEN "access_token"
#define SECRET_REFRESH_TOKEN "refresh_token"
#define SECRET_CLIENT_SECRET "client_secret"

struct secrets;

/* Loads (or creates) the key and checks it against the store. MF_ECONFIG
 * with the reason and the fix: bad $MAILFLEET_KEY, unsafe key file, a key
 * that does not open this store's secrets. */
struct secrets *secrets_open(struct store *st, struct mf_err *err);
void secrets_close(struct secrets *sec);

/* "$MAILFLEET_KEY" or the key file's path, for messages. Borrowed. */
const char *secrets_key_source(const struct secrets *sec);

/* Encrypts and stores value (a NUL-terminated string) as (account, kind).
 * expires_at: unix seconds, 0 = never. */
enum mf_rc secrets_put(struct secrets *sec, const char *account, const char *kind,
                       const char *value, int64_t expires_at, struct mf_err *err);

/* Decrypts (account, kind). *value is the caller's (mf_wipe_free_str);
 * expires_at may be NULL. MF_ENOTFOUND when absent; MF_ESTORE when the row
 * does not open (damaged or tampered with) — nothing is changed. */
enum mf_rc secrets_get(struct secrets *sec, const char *account, const char *kind,
                       char **value, int64_t *expires_at, struct mf_err *err);

/* The key file path secrets_open would use (without reading it): writes
 * into buf; NULL when it does not fit or HOME is unset. */
const char *secrets_key_file_path(char *buf, size_t size);

#endif
