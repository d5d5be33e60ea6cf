/*
 * auth/oauth_account — an account's OAuth sign-in as the rest of mailfleet
 * sees it: save what a login produced, hand out an access token that is
 * good for a while (refreshing it first when needed), forget it all.
 *
 * A refresh happens inside one store transaction (BEGIN IMMEDIATE): the
 * token is re-read under the lock, so two processes never spend the same
 * refresh token, and the rotated refresh token is stored before the new
 * access token is handed out.
 *
 * Ownership: *token is the caller's (mf_wipe_free_str).
 */
#ifndef MF_AUTH_OAUTH_ACCOUNT_H
#define MF_AUTH_OAUTH_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/oauth.h"
#include "auth/secrets.h"
#include "engine/store.h"

/* Refresh when the access token expires within this many seconds: 300, or
 * $MAILFLEET_REFRESH_MARGIN. */
int oauth_account_refresh_margin(void);

/* Stores the settings and the tokens (and the client secret, when given)
 * in one transaction. */
enum mf_rc oauth_account_save(struct store *st, struct secrets *sec,
                              const struct store_oauth *settings,
                              const struct oauth_tokens *t, const char *client_secret,
                              struct mf_err *err);

struct oauth_token_info {
    int64_t expires_at;   /* of the token handed out; 0 = unknown */
    bool refreshed;       /* a refresh (or a new client-credentials token) happened */
    bool rotated;         /* the provider issued a new refresh token */
};

/* The account's access token, refreshed first when it expires within
 * margin_s seconds or when force. MF_ENOTFOUND when the account has no
 * OAuth sign-in; MF_EAUTH with "sign in again" when the refresh token is
 * no longer valid. */
enum mf_rc oauth_account_token(struct store *st, struct secrets *sec, const char *account,
                               int margin_s, bool force, char **token,
                               struct oauth_token_info *info, struct mf_err *err);

/* What an account signs in with: its OAuth access token (refreshed when
 * due, or when force), else its stored password, else the password in its
 * environment variable or file. *is_token says which kind. *secret is
 * registered with the log redactor; the caller frees it with
 * mf_wipe_free_str. MF_ECONFIG (layer AUTH) when the account has a user
 * but no secret anywhere; MF_OK with *secret NULL when it needs none. */
enum mf_rc oauth_account_secret(struct store *st, struct secrets *sec,
                                const struct store_account *a, bool force, char **secret,
                                bool *is_token, struct mf_err *err);

/* Deletes the settings and every stored token of the account (the account
 * itself stays). */
enum mf_rc oauth_account_forget(struct store *st, const char *account, struct mf_err *err);

#endif
