#include "auth/oauth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

static const char *const profile_names[] = {"microsoft", "google", "oidc"};
static const char *const flow_names[] = {"device", "browser", "client_credentials"};

const char *oauth_profile_name(enum oauth_profile p)
{
    return (unsigned)p < 3 ? profile_names[p] : "unknown";
}

bool oauth_profile_parse(const char *s, enum oauth_profile *out)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, profile_names[i]) == 0) {
            *out = (enum oauth_profile)i;
            return true;
        }
    return false;
}

const char *oauth_flow_name(enum oauth_flow f)
{
    return (unsigned)f < 3 ? flow_names[f] : "unknown";
}

bool oauth_flow_parse(const char *s, enum oauth_flow *out)
{
    for (int i = 0; i < 3; i++)
        if (strcasecmp(s, flow_names[i]) == 0) {
            *out = (enum oauth_flow)i;
            return true;
        }
    return false;
}

bool oauth_profile_for_preset(const char *preset_id, enum oauth_profile *out)
{
    if (!preset_id)
        return false;
    if (strcmp(preset_id, "m365") == 0 || strcmp(preset_id, "outlook") == 0) {
        *out = OAUTH_MICROSOFT;
        return true;
    }
    if (strcmp(preset_id, "gmail") == 0) {
        *out = OAUTH_GOOGLE;
        return true;
    }
    return false;
}

const char *oauth_default_scope(enum oauth_profile p, enum oauth_flow f)
{
    switch (p) {
    case OAUTH_MICROSOFT:
        return f == OAUTH_FLOW_CLIENT_CREDENTIALS
                   ? "https://outlook.office365.com/.default"
                   : "https://outlook.office.com/SMTP.Send "
                     "https://outlook.office.com/IMAP.AccessAsUser.All "
                     "https://outlook.office.com/POP.AccessAsUser.All offline_access";
    case OAUTH_GOOGLE:
        return "https://mail.google.com/";
    case OAUTH_OIDC:
        return f == OAUTH_FLOW_CLIENT_CREDENTIALS ? "" : "openid offline_access";
    }
    return "";
}

/* ---- endpoints ------------------------------------------------------------ */

static bool tenant_ok(const char *t)
{
    return *t && strlen(t) < 100 &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
               strlen(t);
}

static void microsoft_endpoints(const char *tenant, struct oauth_endpoints *ep)
{
    static const char base[] = "https://login.microsoftonline.com/";
    snprintf(ep->issuer, sizeof ep->issuer, "%s%s/v2.0", base, tenant);
    snprintf(ep->authorization, sizeof ep->authorization, "%s%s/oauth2/v2.0/authorize",
             base, tenant);
    snprintf(ep->token, sizeof ep->token, "%s%s/oauth2/v2.0/token", base, tenant);
    snprintf(ep->device, sizeof ep->device, "%s%s/oauth2/v2.0/devicecode", base, tenant);
    ep->secret_post = true;
}

static void google_endpoints(struct oauth_endpoints *ep)
{
    snprintf(ep->issuer, sizeof ep->issuer, "https://accounts.google.com");
    snprintf(ep->authorization, sizeof ep->authorization,
             "https://accounts.google.com/o/oauth2/v2/auth");
    snprintf(ep->token, sizeof ep->token, "https://oauth2.googleapis.com/token");
    /* Google's device flow does not allow mail scopes: no device endpoint. */
    snprintf(ep->revocation, sizeof ep->revocation, "https://oauth2.googleapis.com/revoke");
    ep->secret_post = true;
}

static bool same_issuer(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    while (la && a[la - 1] == '/')
        la--;
    while (lb && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static bool copy_endpoint(json_t *meta, const char *key, char *dst, size_t size,
                          bool required, struct mf_err *err)
{
    const char *v = json_string_value(json_object_get(meta, key));
    if (!v) {
        if (required)
            mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                       "the issuer's metadata has no %s", key);
        return !required;
    }
    if (!oauth_url_allowed(v) || strlen(v) >= size) {
        mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                   "the issuer's %s is not an https URL (or is too long)", key);
        return false;
    }
    snprintf(dst, size, "%s", v);
    return true;
}

enum mf_rc oauth_endpoints_from_metadata(json_t *meta, const char *issuer,
                                         struct oauth_endpoints *out,
                                         struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    const char *iss = json_string_value(json_object_get(meta, "issuer"));
    if (!iss || !same_issuer(iss, issuer))
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "the metadata names another issuer than %s (RFC 8414 "
                          "section 3.3: refused)", issuer);
    snprintf(out->issuer, sizeof out->issuer, "%s", issuer);
    if (!copy_endpoint(meta, "token_endpoint", out->token, sizeof out->token, true, err) ||
        !copy_endpoint(meta, "authorization_endpoint", out->authorization,
                       sizeof out->authorization, false, err) ||
        !copy_endpoint(meta, "device_authorization_endpoint", out->device,
                       sizeof out->device, false, err) ||
        !copy_endpoint(meta, "revocation_endpoint", out->revocation,
                       sizeof out->revocation, false, err))
        return err ? err->rc : MF_EPROTO;
    json_t *methods = json_object_get(meta, "token_endpoint_auth_methods_supported");
    size_t i;
    json_t *m;
    out->secret_post = !json_is_array(methods); /* RFC 8414 default is basic, but
                                                   most servers take both */
    json_array_foreach(methods, i, m)
        if (json_is_string(m) && strcmp(json_string_value(m), "client_secret_post") == 0)
            out->secret_post = true;
    return MF_OK;
}

static enum mf_rc discover(const char *issuer, const struct oauth_http_opts *http,
                           struct oauth_endpoints *out, struct mf_err *err)
{
    size_t len = strlen(issuer);
    while (len && issuer[len - 1] == '/')
        len--;
    char url[1200];
    snprintf(url, sizeof url, "%.*s/.well-known/openid-configuration", (int)len, issuer);
    long status = 0;
    json_t *meta = NULL;
    enum mf_rc rc = oauth_http_get_json(http, "OpenID discovery", url, &status, &meta, err);
    if (rc == MF_OK && status != 200) {
        json_decref(meta);
        meta = NULL;
        /* RFC 8414 3.1: the well-known part goes between host and path. */
        const char *host = strstr(issuer, "://");
        const char *path = host ? strchr(host + 3, '/') : NULL;
        size_t hl = path ? (size_t)(path - issuer) : len;
        snprintf(url, sizeof url, "%.*s/.well-known/oauth-authorization-server%.*s",
                 (int)hl, issuer, path ? (int)(len - hl) : 0, path ? path : "");
        rc = oauth_http_get_json(http, "OAuth metadata", url, &status, &meta, err);
        if (rc == MF_OK && status != 200)
            rc = mf_err_set(err, MF_ECONFIG, MF_LAYER_PROTO,
                            "%s publishes no OpenID or OAuth metadata (HTTP %ld): "
                            "check --issuer", issuer, status);
    }
    if (rc == MF_OK)
        rc = oauth_endpoints_from_metadata(meta, issuer, out, err);
    json_decref(meta);
    return rc;
}

enum mf_rc oauth_endpoints_get(const struct oauth_client *c,
                               const struct oauth_http_opts *http,
                               struct oauth_endpoints *out, struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    switch (c->profile) {
    case OAUTH_MICROSOFT: {
        const char *tenant = c->tenant[0] ? c->tenant : "organizations";
        if (!tenant_ok(tenant))
            return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                              "--tenant is common, organizations, consumers, a "
                              "tenant id or a domain name");
        microsoft_endpoints(tenant, out);
        return MF_OK;
    }
    case OAUTH_GOOGLE:
        google_endpoints(out);
        return MF_OK;
    case OAUTH_OIDC:
        if (!c->issuer[0] || !oauth_url_allowed(c->issuer))
            return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                              "an OpenID provider needs --issuer https://...");
        return discover(c->issuer, http, out, err);
    }
    return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "unknown OAuth profile");
}

/* ---- PKCE ----------------------------------------------------------------- */

static void b64url(char *out, size_t size, const unsigned char *bin, size_t len)
{
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void oauth_pkce_challenge(const char *verifier, char *out, size_t size)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    b64url(out, size, h, sizeof h);
}

void oauth_pkce_new(struct oauth_pkce *p)
{
    unsigned char r[32];
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing safe to do */
    randombytes_buf(r, sizeof r);
    b64url(p->verifier, sizeof p->verifier, r, sizeof r);
    oauth_pkce_challenge(p->verifier, p->challenge, sizeof p->challenge);
    randombytes_buf(r, 16);
    b64url(p->state, sizeof p->state, r, 16);
    sodium_memzero(r, sizeof r);
}

static bool scope_has(const char *scope, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = scope; (p = strstr(p, word)); p += wl)
        if ((p == scope || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\0'))
            return true;
    return false;
}

char *oauth_authorize_url(const struct oauth_client *c, const struct oauth_endpoints *ep,
                          const struct oauth_pkce *p, const char *redirect_uri,
                          const char *login_hint)
{
    const char *prompt = NULL;
    /* Google issues a refresh token only with offline access and consent;
     * an OpenID provider keeps offline_access only when consent is asked. */
    if (c->profile == OAUTH_GOOGLE ||
        (c->profile == OAUTH_OIDC && scope_has(c->scope, "offline_access")))
        prompt = "consent";
    const struct oauth_form_field q[] = {
        {"response_type", "code"},
        {"client_id", c->client_id},
        {"redirect_uri", redirect_uri},
        {"scope", c->scope},
        {"state", p->state},
        {"code_challenge", p->challenge},
        {"code_challenge_method", "S256"},
        {"access_type", c->profile == OAUTH_GOOGLE ? "offline" : NULL},
        {"prompt", prompt},
        {"login_hint", login_hint && *login_hint ? login_hint : NULL},
        {NULL, NULL},
    };
    struct mf_buf b;
    mf_buf_init(&b, 16384);
    bool ok = mf_buf_adds(&b, ep->authorization) == MF_OK;
    char sep = strchr(ep->authorization, '?') ? '&' : '?';
    for (const struct oauth_form_field *f = q; ok && f->name; f++) {
        if (!f->value)
            continue;
        char *v = oauth_url_escape(f->value);
        ok = v && mf_buf_printf(&b, "%c%s=%s", sep, f->name, v) == MF_OK;
        free(v);
        sep = '&';
    }
    char *url = ok ? strdup(mf_buf_data(&b)) : NULL;
    mf_buf_free(&b);
    return url;
}
