/* auth/oauth: reading token and device answers, and explaining OAuth errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/oauth.h"
#include "util/buf.h"
#include "util/log.h"

void oauth_tokens_clear(struct oauth_tokens *t)
{
    mf_wipe_free_str(t->access_token);
    mf_wipe_free_str(t->refresh_token);
    memset(t, 0, sizeof *t);
}

void oauth_device_clear(struct oauth_device *d)
{
    mf_wipe_free_str(d->device_code);
    memset(d, 0, sizeof *d);
}

/* A JSON number or a numeric string (older Microsoft endpoints sent
 * "expires_in":"3599"); -1 when absent or not a number. */
static long long json_seconds(json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -1;
    char *end;
    long long n = strtoll(s, &end, 10);
    return *end ? -1 : n;
}

static char *dup_token(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (!v || !*v || strlen(v) > 16384 || strpbrk(v, "\r\n\t "))
        return NULL;
    char *copy = strdup(v);
    if (copy)
        mf_secret_register(copy);
    return copy;
}

static bool read_error(json_t *j, struct oauth_error *oe)
{
    memset(oe, 0, sizeof *oe);
    const char *code = json_string_value(json_object_get(j, "error"));
    if (!code)
        return false;
    mf_sanitize(oe->code, sizeof oe->code, code, strlen(code), false);
    const char *d = json_string_value(json_object_get(j, "error_description"));
    if (d)
        mf_sanitize(oe->description, sizeof oe->description, d, strlen(d), false);
    return true;
}

/* Microsoft Entra ID's AADSTS codes that need a specific fix. */
static const struct {
    const char *code;
    enum mf_rc rc;
    const char *fix;
} aadsts[] = {
    {"AADSTS7000218", MF_ECONFIG, "the app registration does not allow public client "
     "flows: Entra ID > App registrations > Authentication > Allow public client flows = Yes"},
    {"AADSTS700016", MF_ECONFIG, "no application with this client id in the tenant: "
     "check --client-id and --tenant"},
    {"AADSTS65001", MF_EAUTH, "nobody consented to the app's mail permissions: grant "
     "admin consent under API permissions, or sign in and accept"},
    {"AADSTS50076", MF_EAUTH, "multi-factor authentication is required: sign in again "
     "interactively"},
    {"AADSTS50079", MF_EAUTH, "the user must register for multi-factor authentication "
     "first, then sign in again"},
    {"AADSTS53003", MF_EAUTH, "a Conditional Access policy blocked the sign-in: the "
     "tenant admin must allow this app or location"},
    {"AADSTS700082", MF_EAUTH, "the refresh token expired after 90 days unused: sign in "
     "again"},
    {"AADSTS50173", MF_EAUTH, "the sign-in expired because the password changed: sign "
     "in again"},
    {"AADSTS70043", MF_EAUTH, "a sign-in frequency policy ended the session: sign in "
     "again"},
    {"AADSTS50020", MF_EAUTH, "this account is not in the tenant: use --tenant common "
     "(work accounts) or consumers (outlook.com)"},
    {"AADSTS50011", MF_ECONFIG, "the redirect URI is not registered: add "
     "http://localhost under Mobile and desktop applications"},
    {"AADSTS70011", MF_ECONFIG, "a requested scope is not valid for this app: check "
     "--scope and the API permissions"},
    {"AADSTS7000215", MF_ECONFIG, "the client secret is wrong: copy the secret's Value "
     "(not its ID) from Certificates & secrets"},
    {"AADSTS7000222", MF_ECONFIG, "the client secret expired: make a new one under "
     "Certificates & secrets"},
    {"AADSTS50126", MF_EAUTH, "wrong user name or password at the sign-in page"},
};

static const struct {
    const char *error;
    enum mf_rc rc;
    enum mf_layer layer;
    const char *what;
} oauth_errors[] = {
    {"invalid_grant", MF_EAUTH, MF_LAYER_AUTH, "the sign-in is no longer valid (revoked, "
     "expired or already used): sign in again"},
    {"access_denied", MF_EAUTH, MF_LAYER_AUTH, "the sign-in was declined: consent was "
     "refused at the provider"},
    {"expired_token", MF_ETIMEOUT, MF_LAYER_AUTH, "the code expired before the sign-in "
     "was finished: start again"},
    {"invalid_client", MF_ECONFIG, MF_LAYER_AUTH, "the provider does not accept this "
     "client: check the client id (and secret) of your app registration"},
    {"unauthorized_client", MF_ECONFIG, MF_LAYER_AUTH, "the app registration does not "
     "allow this flow: enable it for the app"},
    {"unsupported_grant_type", MF_ECONFIG, MF_LAYER_AUTH, "the provider does not offer "
     "this flow"},
    {"invalid_scope", MF_ECONFIG, MF_LAYER_AUTH, "the provider refused the requested "
     "scope: check --scope and the app's permissions"},
    {"invalid_request", MF_ECONFIG, MF_LAYER_AUTH, "the provider refused the request "
     "as malformed"},
    {"temporarily_unavailable", MF_ETEMP, MF_LAYER_PROTO, "the provider is temporarily "
     "unavailable: try again in a minute"},
    {"server_error", MF_ETEMP, MF_LAYER_PROTO, "the provider failed: try again later"},
};

enum mf_rc oauth_explain_error(const struct oauth_error *oe, long status,
                               const char *account, struct mf_err *err)
{
    enum mf_rc rc = MF_EAUTH;
    enum mf_layer layer = MF_LAYER_AUTH;
    const char *what = NULL;
    for (size_t i = 0; i < sizeof oauth_errors / sizeof *oauth_errors; i++)
        if (strcmp(oe->code, oauth_errors[i].error) == 0) {
            rc = oauth_errors[i].rc;
            layer = oauth_errors[i].layer;
            what = oauth_errors[i].what;
        }
    for (size_t i = 0; i < sizeof aadsts / sizeof *aadsts; i++) {
        const char *at = strstr(oe->description, aadsts[i].code);
        if (at && !(at[strlen(aadsts[i].code)] >= '0' && at[strlen(aadsts[i].code)] <= '9')) {
            rc = aadsts[i].rc;
            what = aadsts[i].fix;
        }
    }
    bool sign_in_again = what && strstr(what, "sign in again");
    if (what)
        mf_err_set(err, rc, layer, "%s%s%s", what,
                   sign_in_again && account ? ": mailfleet login " : "",
                   sign_in_again && account ? account : "");
    else
        mf_err_set(err, rc, layer, "the provider refused: %s",
                   oe->code[0] ? oe->code : "an unknown error");
    /* The provider's own words (they carry the AADSTS code) go in the reply. */
    char words[512];
    snprintf(words, sizeof words, "%s%s%s", oe->code, oe->description[0] ? ": " : "",
             oe->description);
    mf_err_set_reply(err, (int)status, "", words, strlen(words));
    return rc;
}

enum mf_rc oauth_parse_token_answer(json_t *j, long status, int64_t now,
                                    const char *account, struct oauth_tokens *t,
                                    struct oauth_error *oe, struct mf_err *err)
{
    memset(t, 0, sizeof *t);
    struct oauth_error local;
    if (!oe)
        oe = &local;
    memset(oe, 0, sizeof *oe);
    if (read_error(j, oe) || status >= 400)
        return oauth_explain_error(oe, status, account, err);
    const char *type = json_string_value(json_object_get(j, "token_type"));
    if (type && strcasecmp(type, "bearer") != 0)
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "the provider issued a \"%.20s\" token; mail needs a "
                          "Bearer token", type);
    if (!(t->access_token = dup_token(j, "access_token")))
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "the token endpoint answered HTTP %ld without a usable "
                          "access_token", status);
    json_t *rt = json_object_get(j, "refresh_token");
    if (rt && !(t->refresh_token = dup_token(j, "refresh_token"))) {
        oauth_tokens_clear(t);
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "the token endpoint's refresh_token is not usable");
    }
    long long ttl = json_seconds(json_object_get(j, "expires_in"));
    t->expires_at = ttl > 0 && ttl < 10LL * 365 * 86400 ? now + ttl : 0;
    const char *scope = json_string_value(json_object_get(j, "scope"));
    if (scope)
        mf_sanitize(t->scope, sizeof t->scope, scope, strlen(scope), false);
    return MF_OK;
}

/* ---- device flow ------------------------------------------------------------ */

static bool copy_str(json_t *j, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(j, key));
    if (!v || strlen(v) >= size || strpbrk(v, "\r\n"))
        return false;
    snprintf(dst, size, "%s", v);
    return true;
}

enum mf_rc oauth_parse_device_answer(json_t *j, long status, int64_t now,
                                     struct oauth_device *d, struct mf_err *err)
{
    memset(d, 0, sizeof *d);
    struct oauth_error oe;
    if (read_error(j, &oe) || status != 200)
        return oauth_explain_error(&oe, status, NULL, err);
    /* Google says verification_url; RFC 8628 says verification_uri. */
    if (!(d->device_code = dup_token(j, "device_code")) ||
        !copy_str(j, "user_code", d->user_code, sizeof d->user_code) ||
        (!copy_str(j, "verification_uri", d->verification_uri, sizeof d->verification_uri) &&
         !copy_str(j, "verification_url", d->verification_uri, sizeof d->verification_uri)) ||
        !oauth_url_allowed(d->verification_uri)) {
        oauth_device_clear(d);
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "the device authorization answer lacks device_code, "
                          "user_code or an https verification_uri");
    }
    if (!copy_str(j, "verification_uri_complete", d->verification_uri_complete,
                  sizeof d->verification_uri_complete) ||
        !oauth_url_allowed(d->verification_uri_complete))
        d->verification_uri_complete[0] = '\0';
    long long interval = json_seconds(json_object_get(j, "interval"));
    /* RFC 8628 3.5: never poll faster than asked; absurd values fall back. */
    d->interval_s = interval >= 1 && interval <= 600 ? (int)interval : 5;
    long long ttl = json_seconds(json_object_get(j, "expires_in"));
    d->expires_at = now + (ttl > 0 && ttl <= 3600 ? ttl : 900);
    return MF_OK;
}

enum oauth_poll oauth_device_poll_answer(json_t *j, long status, int64_t now,
                                         struct oauth_device *d,
                                         struct oauth_tokens *t, struct mf_err *err)
{
    struct oauth_error oe;
    memset(t, 0, sizeof *t);
    if (read_error(j, &oe)) {
        if (strcmp(oe.code, "authorization_pending") == 0)
            return OAUTH_POLL_PENDING;
        if (strcmp(oe.code, "slow_down") == 0) {
            d->interval_s += 5;
            return OAUTH_POLL_SLOW_DOWN;
        }
        oauth_explain_error(&oe, status, NULL, err);
        return OAUTH_POLL_FAILED;
    }
    return oauth_parse_token_answer(j, status, now, NULL, t, NULL, err) == MF_OK
               ? OAUTH_POLL_DONE
               : OAUTH_POLL_FAILED;
}
