#include "auth/oauth_account.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/oauth_flow.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

int oauth_account_refresh_margin(void)
{
    const char *v = getenv("MAILFLEET_REFRESH_MARGIN");
    if (v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*end && n >= 0 && n <= 86400)
            return (int)n;
    }
    return 300;
}

static enum mf_rc put_tokens(struct secrets *sec, const char *account,
                             const struct oauth_tokens *t, struct mf_err *err)
{
    enum mf_rc rc = MF_OK;
    /* The refresh token first: once a rotated one is issued, the old is spent. */
    if (t->refresh_token)
        rc = secrets_put(sec, account, SECRET_REFRESH_TOKEN, t->refresh_token, 0, err);
    if (rc == MF_OK)
        rc = secrets_put(sec, account, SECRET_ACCESS_TOKEN, t->access_token,
                         t->expires_at, err);
    return rc;
}

enum mf_rc oauth_account_save(struct store *st, struct secrets *sec,
                              const struct store_oauth *settings,
                              const struct oauth_tokens *t, const char *client_secret,
                              struct mf_err *err)
{
    enum mf_rc rc = store_begin(st, err);
    if (rc != MF_OK)
        return rc;
    /* A new sign-in replaces everything of the old one. */
    rc = store_secret_delete(st, settings->account, SECRET_REFRESH_TOKEN, err);
    if (rc == MF_OK)
        rc = store_secret_delete(st, settings->account, SECRET_CLIENT_SECRET, err);
    if (rc == MF_OK)
        rc = store_oauth_put(st, settings, err);
    if (rc == MF_OK && client_secret && *client_secret)
        rc = secrets_put(sec, settings->account, SECRET_CLIENT_SECRET, client_secret, 0, err);
    if (rc == MF_OK)
        rc = put_tokens(sec, settings->account, t, err);
    if (rc == MF_OK)
        return store_commit(st, err);
    store_rollback(st);
    return rc;
}

/* The client as stored, with its secret (owned by *secret) when it has one. */
static enum mf_rc load_client(struct secrets *sec, const struct store_oauth *o,
                              struct oauth_client *c, char **secret, struct mf_err *err)
{
    memset(c, 0, sizeof *c);
    *secret = NULL;
    if (!oauth_profile_parse(o->profile, &c->profile))
        return mf_err_set(err, MF_ESTORE, MF_LAYER_LOCAL, "unknown OAuth profile \"%s\"",
                          o->profile);
    snprintf(c->tenant, sizeof c->tenant, "%s", o->tenant);
    snprintf(c->issuer, sizeof c->issuer, "%s", o->issuer);
    snprintf(c->client_id, sizeof c->client_id, "%s", o->client_id);
    snprintf(c->scope, sizeof c->scope, "%s", o->scope);
    enum mf_rc rc = secrets_get(sec, o->account, SECRET_CLIENT_SECRET, secret, NULL, err);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(err);
        return MF_OK;
    }
    c->client_secret = *secret;
    return rc;
}

/* Gets new tokens for the account: refresh, or client credentials again. */
static enum mf_rc renew(struct secrets *sec, const struct store_oauth *o,
                        struct oauth_tokens *t, bool *rotated, struct mf_err *err)
{
    struct oauth_client c;
    char *client_secret = NULL, *refresh = NULL;
    struct oauth_http_opts http = {.cafile = o->cafile[0] ? o->cafile : NULL};
    bool post = strcmp(o->client_auth, "basic") != 0;
    enum mf_rc rc = load_client(sec, o, &c, &client_secret, err);
    if (rc == MF_OK && strcmp(o->flow, "client_credentials") == 0) {
        rc = oauth_client_credentials(&http, &c, o->token_endpoint, post, t, err);
    } else if (rc == MF_OK) {
        rc = secrets_get(sec, o->account, SECRET_REFRESH_TOKEN, &refresh, NULL, err);
        if (rc == MF_ENOTFOUND)
            rc = mf_err_set(err, MF_EAUTH, MF_LAYER_AUTH,
                            "the access token of \"%s\" expired and there is no refresh "
                            "token (offline_access was not granted): sign in again: "
                            "mailfleet login %s", o->account, o->account);
        if (rc == MF_OK)
            rc = oauth_refresh(&http, &c, o->token_endpoint, post, refresh, o->account, t,
                               err);
        *rotated = rc == MF_OK && t->refresh_token && strcmp(t->refresh_token, refresh) != 0;
    }
    mf_wipe_free_str(client_secret);
    mf_wipe_free_str(refresh);
    return rc;
}

enum mf_rc oauth_account_token(struct store *st, struct secrets *sec, const char *account,
                               int margin_s, bool force, char **token,
                               struct oauth_token_info *info, struct mf_err *err)
{
    *token = NULL;
    memset(info, 0, sizeof *info);
    struct store_oauth o;
    enum mf_rc rc = store_oauth_get(st, account, &o, err);
    if (rc != MF_OK)
        return rc;
    /* Under the write lock: another process may have just refreshed. */
    if ((rc = store_begin(st, err)) != MF_OK)
        return rc;
    int64_t expires_at = 0;
    char *access = NULL;
    rc = secrets_get(sec, account, SECRET_ACCESS_TOKEN, &access, &expires_at, err);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(err);
        rc = MF_OK;
    }
    bool fresh = access && (expires_at == 0 || expires_at - margin_s > mf_wall_seconds());
    if (rc == MF_OK && (force || !fresh)) {
        struct oauth_tokens t;
        memset(&t, 0, sizeof t);
        rc = renew(sec, &o, &t, &info->rotated, err);
        if (rc == MF_OK)
            rc = put_tokens(sec, account, &t, err);
        if (rc == MF_OK) {
            mf_wipe_free_str(access);
            access = t.access_token;
            t.access_token = NULL;
            expires_at = t.expires_at;
            info->refreshed = true;
        }
        oauth_tokens_clear(&t);
    }
    rc = rc == MF_OK ? store_commit(st, err) : (store_rollback(st), rc);
    if (rc != MF_OK) {
        mf_wipe_free_str(access);
        return rc;
    }
    info->expires_at = expires_at;
    *token = access;
    return MF_OK;
}

enum mf_rc oauth_account_forget(struct store *st, const char *account, struct mf_err *err)
{
    enum mf_rc rc = store_begin(st, err);
    if (rc != MF_OK)
        return rc;
    static const char *const kinds[] = {SECRET_ACCESS_TOKEN, SECRET_REFRESH_TOKEN,
                                        SECRET_CLIENT_SECRET};
    for (size_t i = 0; rc == MF_OK && i < sizeof kinds / sizeof *kinds; i++)
        rc = store_secret_delete(st, account, kinds[i], err);
    if (rc == MF_OK)
        rc = store_oauth_delete(st, account, err);
    if (rc == MF_OK)
        return store_commit(st, err);
    store_rollback(st);
    return rc;
}

/* The password in the account's environment variable or file (NULL when
 * neither gives one). */
static char *password_outside(const struct store_account *a)
{
    const char *v = a->password_env[0] ? getenv(a->password_env) : NULL;
    if (v && *v)
        return strdup(v);
    if (!a->password_file[0])
        return NULL;
    char *secret = NULL;
    FILE *f = fopen(a->password_file, "r");
    char line[4096];
    if (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        secret = strdup(line);
        mf_wipe(line, sizeof line);
    }
    if (f)
        fclose(f);
    return secret;
}

enum mf_rc oauth_account_secret(struct store *st, struct secrets *sec,
                                const struct store_account *a, bool force, char **secret,
                                bool *is_token, struct mf_err *err)
{
    *is_token = false;
    *secret = NULL;
    if (sec) {
        struct oauth_token_info info;
        enum mf_rc rc = oauth_account_token(st, sec, a->name, oauth_account_refresh_margin(),
                                            force, secret, &info, err);
        if (rc == MF_OK) {
            *is_token = true;
            return MF_OK;
        }
        if (rc != MF_ENOTFOUND)
            return rc;
        rc = secrets_get(sec, a->name, SECRET_PASSWORD, secret, NULL, err);
        if (rc == MF_OK)
            return MF_OK;
        if (rc != MF_ENOTFOUND)
            return rc;
    }
    mf_err_clear(err);
    *secret = password_outside(a);
    if (*secret) {
        mf_secret_register(*secret);
        return MF_OK;
    }
    if (!a->user[0])
        return MF_OK;
    return mf_err_set(err, MF_ECONFIG, MF_LAYER_AUTH, "mailbox %s has no secret: store one "
                      "(account add --password-stdin, or mailfleet login)", a->name);
}
