/* auth/oauth: the pure parts of the OAuth flows — PKCE, the authorization
 * URL, the URL policy, endpoints (built in and from discovery metadata),
 * token and device answers, RFC 8628 polling decisions, error explanations,
 * and that no secret ever reaches an error message. No network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/oauth.h"
#include "util/buf.h"
#include "util/log.h"

#define NOW ((int64_t)1700000000)

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", text, je.text);
    return j;
}

static int teardown(void **state)
{
    (void)state;
    mf_secret_clear_all();
    return 0;
}

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static bool all_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* ---- PKCE ------------------------------------------------------------------ */

static void test_pkce_rfc7636_vector(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'x', sizeof out);
    oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out, sizeof out);
    assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    /* exactly the documented minimum size is enough */
    char small[44];
    oauth_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", small, sizeof small);
    assert_string_equal(small, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static bool b64url_only(const char *s)
{
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
           strlen(s);
}

static void test_pkce_new(void **state)
{
    (void)state;
    struct oauth_pkce a, b;
    oauth_pkce_new(&a);
    oauth_pkce_new(&b);
    assert_int_equal(strlen(a.verifier), 43);
    assert_int_equal(strlen(a.challenge), 43);
    assert_int_equal(strlen(a.state), 22);
    assert_true(b64url_only(a.verifier));
    assert_true(b64url_only(a.challenge));
    assert_true(b64url_only(a.state));
    char want[64];
    oauth_pkce_challenge(a.verifier, want, sizeof want);
    assert_string_equal(a.challenge, want);
    oauth_pkce_challenge(b.verifier, want, sizeof want);
    assert_string_equal(b.challenge, want);
    assert_string_not_equal(a.verifier, b.verifier);
    assert_string_not_equal(a.challenge, b.challenge);
    assert_string_not_equal(a.state, b.state);
}

/* ---- the authorization URL ---------------------------------------------------- */

static void fixed_pkce(struct oauth_pkce *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->verifier, sizeof p->verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    snprintf(p->challenge, sizeof p->challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    snprintf(p->state, sizeof p->state, "st4te");
}

static void client_of(struct oauth_client *c, enum oauth_profile p, const char *scope)
{
    memset(c, 0, sizeof *c);
    c->profile = p;
    snprintf(c->client_id, sizeof c->client_id, "cid-123");
    snprintf(c->scope, sizeof c->scope, "%s", scope);
}

static void test_authorize_url_microsoft(void **state)
{
    (void)state;
    struct oauth_client c;
    client_of(&c, OAUTH_MICROSOFT, "https://outlook.office.com/SMTP.Send offline_access");
    struct oauth_endpoints ep;
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, NULL), MF_OK);
    struct oauth_pkce p;
    fixed_pkce(&p);
    char *url = oauth_authorize_url(&c, &ep, &p, "http://127.0.0.1:53682/callback",
                                    "me@contoso.com");
    assert_non_null(url);
    assert_string_equal(url,
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
        "?response_type=code"
        "&client_id=cid-123"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A53682%2Fcallback"
        "&scope=https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20offline_access"
        "&state=st4te"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256"
        "&login_hint=me%40contoso.com");
    /* Microsoft gets neither Google's offline switch nor a forced consent */
    assert_false(has(url, "prompt="));
    assert_false(has(url, "access_type="));
    free(url);

    /* no login hint (NULL or ""): no parameter */
    url = oauth_authorize_url(&c, &ep, &p, "http://127.0.0.1:1/callback", NULL);
    assert_non_null(url);
    assert_false(has(url, "login_hint"));
    free(url);
    url = oauth_authorize_url(&c, &ep, &p, "http://127.0.0.1:1/callback", "");
    assert_non_null(url);
    assert_false(has(url, "login_hint"));
    free(url);
}

static void test_authorize_url_google(void **state)
{
    (void)state;
    struct oauth_client c;
    client_of(&c, OAUTH_GOOGLE, "https://mail.google.com/");
    struct oauth_endpoints ep;
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, NULL), MF_OK);
    struct oauth_pkce p;
    fixed_pkce(&p);
    char *url = oauth_authorize_url(&c, &ep, &p, "http://127.0.0.1:8/callback", NULL);
    assert_non_null(url);
    assert_true(!strncmp(url, "https://accounts.google.com/o/oauth2/v2/auth?response_type=code&",
                         strlen("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&")));
    assert_true(has(url, "&scope=https%3A%2F%2Fmail.google.com%2F&"));
    assert_true(has(url, "&code_challenge_method=S256"));
    assert_true(has(url, "&access_type=offline"));
    assert_true(has(url, "&prompt=consent"));
    free(url);
}

static void test_authorize_url_oidc(void **state)
{
    (void)state;
    struct oauth_client c;
    struct oauth_endpoints ep;
    memset(&ep, 0, sizeof ep);
    /* an endpoint that already carries a query gets '&' */
    snprintf(ep.authorization, sizeof ep.authorization, "https://id.example.com/auth?realm=x");
    struct oauth_pkce p;
    fixed_pkce(&p);

    client_of(&c, OAUTH_OIDC, "openid offline_access");
    char *url = oauth_authorize_url(&c, &ep, &p, "http://localhost:9/cb", NULL);
    assert_non_null(url);
    assert_true(!strncmp(url, "https://id.example.com/auth?realm=x&response_type=code&client_id=cid-123&",
                         strlen("https://id.example.com/auth?realm=x&response_type=code&client_id=cid-123&")));
    assert_int_equal(strchr(url, '?') - url, strrchr(url, '?') - url); /* one '?' */
    assert_true(has(url, "&scope=openid%20offline_access&"));
    assert_true(has(url, "&prompt=consent"));
    assert_false(has(url, "access_type"));
    free(url);

    /* without offline_access (as a whole word) no consent is forced */
    client_of(&c, OAUTH_OIDC, "openid email");
    url = oauth_authorize_url(&c, &ep, &p, "http://localhost:9/cb", NULL);
    assert_non_null(url);
    assert_false(has(url, "prompt="));
    free(url);
    client_of(&c, OAUTH_OIDC, "openid offline_accessx");
    url = oauth_authorize_url(&c, &ep, &p, "http://localhost:9/cb", NULL);
    assert_non_null(url);
    assert_false(has(url, "prompt="));
    free(url);
    client_of(&c, OAUTH_OIDC, "offline_access");
    url = oauth_authorize_url(&c, &ep, &p, "http://localhost:9/cb", NULL);
    assert_non_null(url);
    assert_true(has(url, "&prompt=consent"));
    free(url);
}

/* ---- URL policy ---------------------------------------------------------------- */

static void test_url_allowed(void **state)
{
    (void)state;
    assert_true(oauth_url_allowed("https://login.microsoftonline.com/common"));
    assert_true(oauth_url_allowed("HTTPS://example.com/"));
    assert_true(oauth_url_allowed("http://127.0.0.1:8080/x"));
    assert_true(oauth_url_allowed("http://127.0.0.1"));
    assert_true(oauth_url_allowed("http://localhost/"));
    assert_true(oauth_url_allowed("http://[::1]:9/"));
    assert_false(oauth_url_allowed("https://"));
    assert_false(oauth_url_allowed("http://example.com"));
    assert_false(oauth_url_allowed("http://example.com/http://127.0.0.1/"));
    assert_false(oauth_url_allowed("http://127.0.0.1.evil.com/"));
    assert_false(oauth_url_allowed("http://localhost.evil.com"));
    assert_false(oauth_url_allowed("http://10.0.0.1/"));
    assert_false(oauth_url_allowed("ftp://127.0.0.1/"));
    assert_false(oauth_url_allowed("ftp://example.com/"));
    assert_false(oauth_url_allowed("file:///etc/passwd"));
    assert_false(oauth_url_allowed(""));
}

/* A loopback name in the userinfo is not a loopback host: libcurl connects
 * to what follows the '@' (RFC 3986 3.2.1). And after "[::1]" only a port,
 * a path, a query or a fragment may follow. */
static void test_url_allowed_host_end(void **state)
{
    (void)state;
    assert_false(oauth_url_allowed("http://[::1].evil.com/"));
    assert_false(oauth_url_allowed("http://[::1]evil.com/"));
    assert_false(oauth_url_allowed("http://[::1"));
    assert_true(oauth_url_allowed("http://[::1]"));
    assert_true(oauth_url_allowed("http://[::1]/cb"));
    assert_true(oauth_url_allowed("http://localhost?x=a@b"));
    assert_true(oauth_url_allowed("http://127.0.0.1:9/a@b"));
    assert_false(oauth_url_allowed("http://127.0.0.1@evil.com/"));
    assert_false(oauth_url_allowed("http://localhost:x@evil.com/"));
    assert_false(oauth_url_allowed("http://127.0.0.1:80@evil.com/token"));
    assert_false(oauth_url_allowed("http://[::1]:1@evil.com/"));
    assert_false(oauth_url_allowed("http://[::1]@evil.com/"));
}

/* ---- endpoints ------------------------------------------------------------------- */

static void test_endpoints_microsoft(void **state)
{
    (void)state;
    struct oauth_client c;
    struct oauth_endpoints ep;
    struct mf_err e;
    client_of(&c, OAUTH_MICROSOFT, "");
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_OK);
    assert_string_equal(ep.authorization,
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
    assert_string_equal(ep.token,
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token");
    assert_string_equal(ep.device,
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode");
    assert_string_equal(ep.issuer, "https://login.microsoftonline.com/organizations/v2.0");
    assert_true(ep.secret_post);

    snprintf(c.tenant, sizeof c.tenant, "consumers");
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_OK);
    assert_string_equal(ep.token,
        "https://login.microsoftonline.com/consumers/oauth2/v2.0/token");
    assert_string_equal(ep.device,
        "https://login.microsoftonline.com/consumers/oauth2/v2.0/devicecode");

    snprintf(c.tenant, sizeof c.tenant, "contoso.onmicrosoft.com");
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_OK);
    assert_string_equal(ep.token,
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");

    const char *bad[] = {"a/b", "a?b", "a b", "common#", "..%2f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(c.tenant, sizeof c.tenant, "%s", bad[i]);
        mf_err_clear(&e);
        assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_ECONFIG);
        assert_int_equal(e.rc, MF_ECONFIG);
        assert_true(has(e.detail, "--tenant"));
    }
}

static void test_endpoints_google_and_oidc_config(void **state)
{
    (void)state;
    struct oauth_client c;
    struct oauth_endpoints ep;
    struct mf_err e;
    client_of(&c, OAUTH_GOOGLE, "");
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_OK);
    assert_string_equal(ep.authorization, "https://accounts.google.com/o/oauth2/v2/auth");
    assert_string_equal(ep.token, "https://oauth2.googleapis.com/token");
    assert_string_equal(ep.device, ""); /* Google's device flow refuses mail scopes */
    assert_string_equal(ep.revocation, "https://oauth2.googleapis.com/revoke");

    /* an OIDC issuer must be https (or loopback http): refused before any fetch */
    client_of(&c, OAUTH_OIDC, "");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_ECONFIG);
    assert_true(has(e.detail, "--issuer"));
    snprintf(c.issuer, sizeof c.issuer, "http://id.example.com");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_get(&c, NULL, &ep, &e), MF_ECONFIG);
    assert_true(has(e.detail, "--issuer"));
}

static void test_endpoints_from_metadata(void **state)
{
    (void)state;
    struct oauth_endpoints ep;
    struct mf_err e;
    json_t *m = J("{\"issuer\":\"https://id.example.com/\","
                  "\"authorization_endpoint\":\"https://id.example.com/auth\","
                  "\"token_endpoint\":\"https://id.example.com/token\","
                  "\"device_authorization_endpoint\":\"https://id.example.com/device\","
                  "\"revocation_endpoint\":\"https://id.example.com/revoke\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e), MF_OK);
    assert_string_equal(ep.issuer, "https://id.example.com");
    assert_string_equal(ep.authorization, "https://id.example.com/auth");
    assert_string_equal(ep.token, "https://id.example.com/token");
    assert_string_equal(ep.device, "https://id.example.com/device");
    assert_string_equal(ep.revocation, "https://id.example.com/revoke");
    assert_true(ep.secret_post); /* no methods listed: post is tried */
    /* the issuer compared the other way round (trailing slash on ours) */
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com/", &ep, &e), MF_OK);

    /* another issuer: refused (RFC 8414 3.3) */
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://evil.example.com", &ep, &e),
                     MF_EPROTO);
    assert_true(has(e.detail, "another issuer"));
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.co", &ep, &e),
                     MF_EPROTO);
    json_decref(m);

    m = J("{\"token_endpoint\":\"https://id.example.com/token\"}"); /* no issuer */
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e),
                     MF_EPROTO);
    json_decref(m);

    /* an http token endpoint (not loopback) is refused */
    m = J("{\"issuer\":\"https://id.example.com\","
          "\"token_endpoint\":\"http://id.example.com/token\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e),
                     MF_EPROTO);
    assert_true(has(e.detail, "token_endpoint"));
    json_decref(m);

    /* ... and so is an http device endpoint */
    m = J("{\"issuer\":\"https://id.example.com\","
          "\"token_endpoint\":\"https://id.example.com/token\","
          "\"device_authorization_endpoint\":\"http://id.example.com/device\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e),
                     MF_EPROTO);
    assert_true(has(e.detail, "device_authorization_endpoint"));
    json_decref(m);

    /* a local test provider on loopback http is fine */
    m = J("{\"issuer\":\"http://127.0.0.1:8080\","
          "\"token_endpoint\":\"http://127.0.0.1:8080/token\"}");
    assert_int_equal(oauth_endpoints_from_metadata(m, "http://127.0.0.1:8080", &ep, &e), MF_OK);
    assert_string_equal(ep.token, "http://127.0.0.1:8080/token");
    assert_string_equal(ep.device, "");
    assert_string_equal(ep.authorization, "");
    json_decref(m);

    /* missing token_endpoint */
    m = J("{\"issuer\":\"https://id.example.com\","
          "\"authorization_endpoint\":\"https://id.example.com/auth\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e),
                     MF_EPROTO);
    assert_true(has(e.detail, "no token_endpoint"));
    json_decref(m);
    /* the same with a NULL err: still refused */
    m = J("{\"issuer\":\"https://id.example.com\"}");
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, NULL),
                     MF_EPROTO);
    json_decref(m);
}

static bool secret_post_of(const char *methods)
{
    char text[512];
    snprintf(text, sizeof text,
             "{\"issuer\":\"https://id.example.com\","
             "\"token_endpoint\":\"https://id.example.com/token\","
             "\"token_endpoint_auth_methods_supported\":%s}", methods);
    json_t *m = J(text);
    struct oauth_endpoints ep;
    struct mf_err e;
    assert_int_equal(oauth_endpoints_from_metadata(m, "https://id.example.com", &ep, &e), MF_OK);
    json_decref(m);
    return ep.secret_post;
}

static void test_endpoints_auth_methods(void **state)
{
    (void)state;
    assert_false(secret_post_of("[\"client_secret_basic\"]"));
    assert_false(secret_post_of("[]"));
    assert_false(secret_post_of("[\"private_key_jwt\", 7, null]"));
    assert_true(secret_post_of("[\"client_secret_basic\",\"client_secret_post\"]"));
    assert_true(secret_post_of("[\"client_secret_post\"]"));
}

/* ---- token answers ------------------------------------------------------------- */

static void test_token_answer_success(void **state)
{
    (void)state;
    mf_secret_clear_all();
    struct oauth_tokens t;
    struct oauth_error oe;
    struct mf_err e;
    json_t *j = J("{\"token_type\":\"Bearer\",\"scope\":\"https://outlook.office.com/SMTP.Send "
                  "offline_access\",\"expires_in\":3599,\"ext_expires_in\":3599,"
                  "\"access_token\":\"eyJ0eXAiOiJKV1QiLCJub25jZSI6.AT-one\","
                  "\"refresh_token\":\"0.AR-refresh-two\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, "ACCT", &t, &oe, &e), MF_OK);
    assert_string_equal(t.access_token, "eyJ0eXAiOiJKV1QiLCJub25jZSI6.AT-one");
    assert_string_equal(t.refresh_token, "0.AR-refresh-two");
    assert_true(t.expires_at == NOW + 3599);
    assert_string_equal(t.scope, "https://outlook.office.com/SMTP.Send offline_access");
    assert_string_equal(oe.code, "");
    /* the tokens are registered with the log redactor */
    struct mf_buf out;
    mf_buf_init(&out, 4096);
    const char *line = "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJub25jZSI6.AT-one r=0.AR-refresh-two";
    assert_int_equal(mf_redact(&out, line, strlen(line)), MF_OK);
    assert_false(has(mf_buf_data(&out), "AT-one"));
    assert_false(has(mf_buf_data(&out), "AR-refresh-two"));
    assert_true(has(mf_buf_data(&out), MF_REDACTED));
    mf_buf_free(&out);
    oauth_tokens_clear(&t);
    assert_null(t.access_token);
    assert_null(t.refresh_token);
    json_decref(j);

    /* expires_in as a string (older Microsoft endpoints), no refresh token,
     * lower-case bearer, oe may be NULL */
    j = J("{\"token_type\":\"bearer\",\"expires_in\":\"3599\",\"access_token\":\"ya29.at\"}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_string_equal(t.access_token, "ya29.at");
    assert_null(t.refresh_token);
    assert_true(t.expires_at == NOW + 3599);
    assert_string_equal(t.scope, "");
    oauth_tokens_clear(&t);
    json_decref(j);

    /* no token_type at all, no expiry, an expiry that is not a number */
    j = J("{\"access_token\":\"tok-1234\"}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_true(t.expires_at == 0);
    oauth_tokens_clear(&t);
    json_decref(j);
    j = J("{\"access_token\":\"tok-1234\",\"expires_in\":\"soon\"}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_true(t.expires_at == 0);
    oauth_tokens_clear(&t);
    json_decref(j);
    /* absurd expiries are not believed */
    j = J("{\"access_token\":\"tok-1234\",\"expires_in\":99999999999999}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_true(t.expires_at == 0);
    oauth_tokens_clear(&t);
    json_decref(j);
    j = J("{\"access_token\":\"tok-1234\",\"expires_in\":\"99999999999999999999999\"}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_true(t.expires_at == 0);
    oauth_tokens_clear(&t);
    json_decref(j);
    j = J("{\"access_token\":\"tok-1234\",\"expires_in\":-5}");
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_OK);
    assert_true(t.expires_at == 0);
    oauth_tokens_clear(&t);
    json_decref(j);
}

static void test_token_answer_refused(void **state)
{
    (void)state;
    struct oauth_tokens t;
    struct mf_err e;
    json_t *j = J("{\"token_type\":\"mac\",\"access_token\":\"SECRET-AT-123\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_EPROTO);
    assert_null(t.access_token);
    assert_true(has(e.detail, "\"mac\""));
    assert_true(has(e.detail, "Bearer"));
    assert_false(has(e.detail, "SECRET-AT-123"));
    json_decref(j);

    j = J("{\"token_type\":\"Bearer\",\"expires_in\":3600}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_EPROTO);
    assert_int_equal(e.rc, MF_EPROTO);
    assert_true(has(e.detail, "access_token"));
    assert_null(t.access_token);
    json_decref(j);

    const char *bad[] = {
        "{\"access_token\":\"SECRET AT\"}",
        "{\"access_token\":\"SECRET\\rAT\"}",
        "{\"access_token\":\"SECRET\\nAT\"}",
        "{\"access_token\":\"SECRET\\tAT\"}",
        "{\"access_token\":\"\"}",
        "{\"access_token\":12345678}",
        "{\"access_token\":null}",
        "[\"access_token\",\"abcdefgh\"]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        j = J(bad[i]);
        mf_err_clear(&e);
        assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_EPROTO);
        assert_null(t.access_token);
        assert_false(has(e.detail, "SECRET"));
        json_decref(j);
    }

    /* a refresh token that is there but unusable: nothing is kept (LSan
     * checks the access token was freed) */
    j = J("{\"access_token\":\"SECRET-AT-123\",\"refresh_token\":\"SECRET RT\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, NULL, &e), MF_EPROTO);
    assert_null(t.access_token);
    assert_null(t.refresh_token);
    assert_true(has(e.detail, "refresh_token"));
    assert_false(has(e.detail, "SECRET"));
    json_decref(j);
}

static void test_token_answer_errors(void **state)
{
    (void)state;
    struct oauth_tokens t;
    struct oauth_error oe;
    struct mf_err e;

    json_t *j = J("{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS70000: "
                  "The provided value for the 'code' parameter is not valid.\","
                  "\"error_codes\":[70000]}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, "ACCT", &t, &oe, &e), MF_EAUTH);
    assert_null(t.access_token);
    assert_string_equal(oe.code, "invalid_grant");
    assert_true(has(oe.description, "AADSTS70000"));
    assert_int_equal(e.rc, MF_EAUTH);
    assert_int_equal(e.layer, MF_LAYER_AUTH);
    assert_true(has(e.detail, "sign in again"));
    assert_true(has(e.detail, "mailfleet login ACCT"));
    assert_int_equal(e.reply_code, 400);
    assert_string_equal(e.reply, "invalid_grant: AADSTS70000: The provided value for the "
                                 "'code' parameter is not valid.");
    /* without an account: the advice, but no command naming nobody */
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_true(has(e.detail, "sign in again"));
    assert_false(has(e.detail, "mailfleet login"));
    json_decref(j);

    /* the error wins even with HTTP 200 */
    j = J("{\"error\":\"invalid_grant\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 200, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_string_equal(e.reply, "invalid_grant");
    json_decref(j);

    /* AADSTS7000218: the public client switch */
    j = J("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000218: The request "
          "body must contain the following parameter: 'client_assertion' or "
          "'client_secret'.\\r\\nTrace ID: 0b7c\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 401, NOW, "ACCT", &t, &oe, &e), MF_ECONFIG);
    assert_int_equal(e.rc, MF_ECONFIG);
    assert_true(has(e.detail, "Allow public client flows"));
    assert_false(has(e.detail, "mailfleet login"));
    assert_true(has(e.reply, "AADSTS7000218"));
    assert_true(all_printable(e.reply));
    assert_true(all_printable(oe.description));
    json_decref(j);

    /* AADSTS700082: the refresh token expired */
    j = J("{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh "
          "token has expired due to inactivity.\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, "ACCT", &t, &oe, &e), MF_EAUTH);
    assert_true(has(e.detail, "90 days"));
    assert_true(has(e.detail, "sign in again"));
    assert_true(has(e.detail, "mailfleet login ACCT"));
    json_decref(j);

    /* an AADSTS code followed by more digits is another code */
    j = J("{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS7000821: other\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_false(has(e.detail, "90 days"));
    assert_true(has(e.detail, "no longer valid")); /* plain invalid_grant */
    json_decref(j);

    /* access_denied */
    j = J("{\"error\":\"access_denied\",\"error_description\":\"The user declined.\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_true(has(e.detail, "declined"));
    assert_string_equal(e.reply, "access_denied: The user declined.");
    json_decref(j);

    /* a provider outage is temporary */
    j = J("{\"error\":\"temporarily_unavailable\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 503, NOW, NULL, &t, &oe, &e), MF_ETEMP);
    assert_int_equal(e.layer, MF_LAYER_PROTO);
    json_decref(j);

    /* an unknown error code is named */
    j = J("{\"error\":\"weird_thing\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_true(has(e.detail, "weird_thing"));
    json_decref(j);

    /* control characters in the provider's words are sanitised everywhere */
    j = J("{\"error\":\"invalid_request\\u0007\",\"error_description\":"
          "\"bad\\r\\nthing\\u0001here\\u001b[31m\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_string_equal(oe.code, "invalid_request?");
    assert_string_equal(oe.description, "bad  thing?here?[31m");
    assert_string_equal(e.reply, "invalid_request?: bad  thing?here?[31m");
    assert_true(all_printable(e.detail));
    json_decref(j);

    /* HTTP 400 with no error field: refused all the same */
    j = J("{\"access_token\":\"SECRET-AT-123\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 400, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_null(t.access_token);
    assert_string_equal(oe.code, "");
    assert_true(has(e.detail, "unknown error"));
    assert_int_equal(e.reply_code, 400);
    assert_false(has(e.detail, "SECRET"));
    assert_false(has(e.reply, "SECRET"));
    json_decref(j);
    /* ... and an error that is not a string */
    j = J("{\"error\":{\"code\":\"invalid_grant\"}}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_token_answer(j, 500, NOW, NULL, &t, &oe, &e), MF_EAUTH);
    assert_true(has(e.detail, "unknown error"));
    json_decref(j);
}

static void test_secrets_never_in_errors(void **state)
{
    (void)state;
    struct oauth_tokens t;
    struct oauth_error oe;
    struct mf_err e;
    const char *answers[] = {
        "{\"error\":\"invalid_grant\",\"access_token\":\"SECRET-AT-123\","
        "\"refresh_token\":\"SECRET-RT-456\"}",
        "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000218: x\","
        "\"access_token\":\"SECRET-AT-123\"}",
        "{\"error\":\"slow_down\",\"access_token\":\"SECRET-AT-123\"}",
        "{\"token_type\":\"pop\",\"access_token\":\"SECRET-AT-123\"}",
        "{\"access_token\":\"SECRET-AT-123\",\"refresh_token\":[\"SECRET-RT-456\"]}",
        "{\"refresh_token\":\"SECRET-RT-456\"}",
    };
    for (size_t i = 0; i < sizeof answers / sizeof *answers; i++) {
        json_t *j = J(answers[i]);
        for (long status = 200; status <= 400; status += 200) {
            mf_err_clear(&e);
            assert_int_not_equal(oauth_parse_token_answer(j, status, NOW, "ACCT", &t, &oe, &e),
                                 MF_OK);
            assert_null(t.access_token);
            assert_null(t.refresh_token);
            assert_false(has(e.detail, "SECRET"));
            assert_false(has(e.reply, "SECRET"));
            assert_false(has(oe.description, "SECRET"));
            assert_true(e.detail[0] != '\0');
        }
        /* the device poll path too */
        struct oauth_device d = {.interval_s = 5};
        mf_err_clear(&e);
        enum oauth_poll p = oauth_device_poll_answer(j, 400, NOW, &d, &t, &e);
        assert_null(t.access_token);
        assert_false(has(e.detail, "SECRET"));
        assert_false(has(e.reply, "SECRET"));
        (void)p;
        json_decref(j);
    }
}

/* ---- device flow ------------------------------------------------------------------ */

static void test_device_answer(void **state)
{
    (void)state;
    struct oauth_device d;
    struct mf_err e;
    /* RFC 8628 3.2's example */
    json_t *j = J("{\"device_code\":\"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS\","
                  "\"user_code\":\"WDJB-MJHT\","
                  "\"verification_uri\":\"https://example.com/device\","
                  "\"verification_uri_complete\":\"https://example.com/device?user_code=WDJB-MJHT\","
                  "\"expires_in\":1800,\"interval\":7}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_OK);
    assert_string_equal(d.device_code, "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS");
    assert_string_equal(d.user_code, "WDJB-MJHT");
    assert_string_equal(d.verification_uri, "https://example.com/device");
    assert_string_equal(d.verification_uri_complete,
                        "https://example.com/device?user_code=WDJB-MJHT");
    assert_int_equal(d.interval_s, 7);
    assert_true(d.expires_at == NOW + 1800);
    oauth_device_clear(&d);
    assert_null(d.device_code);
    json_decref(j);

    /* Google's spelling, no interval (default 5), expiry as a string */
    j = J("{\"device_code\":\"AH-1Ng3xyz\",\"user_code\":\"GQVQ-JKEC\","
          "\"verification_url\":\"https://www.google.com/device\",\"expires_in\":\"1800\"}");
    assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_OK);
    assert_string_equal(d.verification_uri, "https://www.google.com/device");
    assert_string_equal(d.verification_uri_complete, "");
    assert_int_equal(d.interval_s, 5);
    assert_true(d.expires_at == NOW + 1800);
    oauth_device_clear(&d);
    json_decref(j);

    /* interval and expiry out of range fall back to the defaults */
    struct {
        const char *extra;
        int interval;
        int64_t ttl;
    } cases[] = {
        {"\"interval\":1", 1, 900},
        {"\"interval\":60", 60, 900},
        {"\"interval\":0", 5, 900},
        {"\"interval\":-4", 5, 900},
        {"\"interval\":\"9\"", 9, 900},
        {"\"interval\":\"x\"", 5, 900},
        {"\"interval\":1e3", 5, 900},
        {"\"interval\":99999999999999999", 5, 900},
        {"\"expires_in\":3600", 5, 3600},
        {"\"expires_in\":3601", 5, 900},
        {"\"expires_in\":0", 5, 900},
        {"\"expires_in\":-1", 5, 900},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
                 "\"verification_uri\":\"https://example.com/device\",%s}", cases[i].extra);
        j = J(text);
        assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_OK);
        assert_int_equal(d.interval_s, cases[i].interval);
        assert_true(d.expires_at == NOW + cases[i].ttl);
        oauth_device_clear(&d);
        json_decref(j);
    }

    /* a verification_uri_complete that is not https is dropped, not fatal */
    j = J("{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
          "\"verification_uri\":\"https://example.com/device\","
          "\"verification_uri_complete\":\"http://evil.example.com/device?u=1\"}");
    assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_OK);
    assert_string_equal(d.verification_uri_complete, "");
    oauth_device_clear(&d);
    json_decref(j);

    /* unusable answers */
    const char *bad[] = {
        "{\"user_code\":\"U-1\",\"verification_uri\":\"https://example.com/d\"}",
        "{\"device_code\":\"dc-12345\",\"verification_uri\":\"https://example.com/d\"}",
        "{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\"}",
        "{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
        "\"verification_uri\":\"http://example.com/d\"}",
        "{\"device_code\":\"dc-12345\",\"user_code\":\"U\\r\\n1\","
        "\"verification_uri\":\"https://example.com/d\"}",
        "{\"device_code\":\"dc 12345\",\"user_code\":\"U-1\","
        "\"verification_uri\":\"https://example.com/d\"}",
        "{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
        "\"verification_uri\":\"javascript:alert(1)\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        j = J(bad[i]);
        mf_err_clear(&e);
        assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_EPROTO);
        assert_null(d.device_code); /* freed (LSan) and cleared */
        assert_true(has(e.detail, "verification_uri"));
        json_decref(j);
    }

    /* an error answer: explained */
    j = J("{\"error\":\"unauthorized_client\",\"error_description\":\"AADSTS700016: "
          "Application with identifier 'x' was not found\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_parse_device_answer(j, 400, NOW, &d, &e), MF_ECONFIG);
    assert_true(has(e.detail, "--client-id"));
    assert_null(d.device_code);
    json_decref(j);
    /* a non-200 without an error field is not accepted */
    j = J("{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
          "\"verification_uri\":\"https://example.com/device\"}");
    mf_err_clear(&e);
    assert_int_not_equal(oauth_parse_device_answer(j, 500, NOW, &d, &e), MF_OK);
    assert_null(d.device_code);
    json_decref(j);
}

static void test_device_poll(void **state)
{
    (void)state;
    struct oauth_device d;
    struct oauth_tokens t;
    struct mf_err e;
    json_t *j = J("{\"device_code\":\"dc-12345\",\"user_code\":\"U-1\","
                  "\"verification_uri\":\"https://example.com/device\",\"interval\":5}");
    assert_int_equal(oauth_parse_device_answer(j, 200, NOW, &d, &e), MF_OK);
    json_decref(j);

    j = J("{\"error\":\"authorization_pending\",\"error_description\":\"AADSTS70016: "
          "OAuth 2.0 device flow error. Authorization is pending.\"}");
    assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e), OAUTH_POLL_PENDING);
    assert_int_equal(d.interval_s, 5);
    assert_null(t.access_token);
    json_decref(j);

    j = J("{\"error\":\"slow_down\"}");
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e),
                         OAUTH_POLL_SLOW_DOWN);
        assert_int_equal(d.interval_s, 5 + 5 * i);
    }
    json_decref(j);
    /* pending does not undo the slow-down */
    j = J("{\"error\":\"authorization_pending\"}");
    assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e), OAUTH_POLL_PENDING);
    assert_int_equal(d.interval_s, 20);
    json_decref(j);

    j = J("{\"error\":\"expired_token\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e), OAUTH_POLL_FAILED);
    assert_int_equal(e.rc, MF_ETIMEOUT);
    assert_true(has(e.detail, "expired"));
    json_decref(j);

    j = J("{\"error\":\"access_denied\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e), OAUTH_POLL_FAILED);
    assert_int_equal(e.rc, MF_EAUTH);
    assert_true(has(e.detail, "declined"));
    json_decref(j);

    j = J("{}");
    mf_err_clear(&e);
    assert_int_equal(oauth_device_poll_answer(j, 400, NOW, &d, &t, &e), OAUTH_POLL_FAILED);
    assert_int_not_equal(e.rc, MF_OK);
    json_decref(j);

    j = J("{\"token_type\":\"Bearer\",\"access_token\":\"at-device-1\","
          "\"refresh_token\":\"rt-device-1\",\"expires_in\":3600,\"scope\":\"x y\"}");
    assert_int_equal(oauth_device_poll_answer(j, 200, NOW, &d, &t, &e), OAUTH_POLL_DONE);
    assert_string_equal(t.access_token, "at-device-1");
    assert_string_equal(t.refresh_token, "rt-device-1");
    assert_true(t.expires_at == NOW + 3600);
    assert_string_equal(t.scope, "x y");
    oauth_tokens_clear(&t);
    json_decref(j);

    /* a 200 without a usable token is a failure, not DONE */
    j = J("{\"token_type\":\"Bearer\"}");
    mf_err_clear(&e);
    assert_int_equal(oauth_device_poll_answer(j, 200, NOW, &d, &t, &e), OAUTH_POLL_FAILED);
    assert_int_equal(e.rc, MF_EPROTO);
    assert_null(t.access_token);
    json_decref(j);
    oauth_device_clear(&d);
}

/* ---- names, presets, default scopes ------------------------------------------------ */

static void test_names(void **state)
{
    (void)state;
    enum oauth_profile p = OAUTH_OIDC;
    assert_true(oauth_profile_parse("microsoft", &p));
    assert_int_equal(p, OAUTH_MICROSOFT);
    assert_true(oauth_profile_parse("Google", &p));
    assert_int_equal(p, OAUTH_GOOGLE);
    assert_true(oauth_profile_parse("oidc", &p));
    assert_int_equal(p, OAUTH_OIDC);
    p = OAUTH_GOOGLE;
    assert_false(oauth_profile_parse("yahoo", &p));
    assert_false(oauth_profile_parse("", &p));
    assert_false(oauth_profile_parse("microsoftx", &p));
    assert_int_equal(p, OAUTH_GOOGLE); /* untouched */
    assert_string_equal(oauth_profile_name(OAUTH_MICROSOFT), "microsoft");
    assert_string_equal(oauth_profile_name(OAUTH_GOOGLE), "google");
    assert_string_equal(oauth_profile_name(OAUTH_OIDC), "oidc");
    assert_string_equal(oauth_profile_name((enum oauth_profile)7), "unknown");

    enum oauth_flow f = OAUTH_FLOW_BROWSER;
    assert_true(oauth_flow_parse("device", &f));
    assert_int_equal(f, OAUTH_FLOW_DEVICE);
    assert_true(oauth_flow_parse("BROWSER", &f));
    assert_int_equal(f, OAUTH_FLOW_BROWSER);
    assert_true(oauth_flow_parse("client_credentials", &f));
    assert_int_equal(f, OAUTH_FLOW_CLIENT_CREDENTIALS);
    assert_false(oauth_flow_parse("password", &f));
    assert_false(oauth_flow_parse("client-credentials", &f));
    assert_string_equal(oauth_flow_name(OAUTH_FLOW_DEVICE), "device");
    assert_string_equal(oauth_flow_name(OAUTH_FLOW_BROWSER), "browser");
    assert_string_equal(oauth_flow_name(OAUTH_FLOW_CLIENT_CREDENTIALS), "client_credentials");
    assert_string_equal(oauth_flow_name((enum oauth_flow)-1), "unknown");
    /* names round-trip */
    for (int i = 0; i < 3; i++) {
        assert_true(oauth_profile_parse(oauth_profile_name((enum oauth_profile)i), &p));
        assert_int_equal(p, i);
        assert_true(oauth_flow_parse(oauth_flow_name((enum oauth_flow)i), &f));
        assert_int_equal(f, i);
    }
}

static void test_presets_and_scopes(void **state)
{
    (void)state;
    enum oauth_profile p = OAUTH_OIDC;
    assert_true(oauth_profile_for_preset("m365", &p));
    assert_int_equal(p, OAUTH_MICROSOFT);
    p = OAUTH_OIDC;
    assert_true(oauth_profile_for_preset("outlook", &p));
    assert_int_equal(p, OAUTH_MICROSOFT);
    assert_true(oauth_profile_for_preset("gmail", &p));
    assert_int_equal(p, OAUTH_GOOGLE);
    p = OAUTH_OIDC;
    assert_false(oauth_profile_for_preset("yahoo", &p));
    assert_false(oauth_profile_for_preset("icloud", &p));
    assert_false(oauth_profile_for_preset(NULL, &p));
    assert_int_equal(p, OAUTH_OIDC);

    assert_string_equal(oauth_default_scope(OAUTH_MICROSOFT, OAUTH_FLOW_DEVICE),
                        "https://outlook.office.com/SMTP.Send "
                        "https://outlook.office.com/IMAP.AccessAsUser.All "
                        "https://outlook.office.com/POP.AccessAsUser.All offline_access");
    assert_string_equal(oauth_default_scope(OAUTH_MICROSOFT, OAUTH_FLOW_BROWSER),
                        oauth_default_scope(OAUTH_MICROSOFT, OAUTH_FLOW_DEVICE));
    assert_string_equal(oauth_default_scope(OAUTH_MICROSOFT, OAUTH_FLOW_CLIENT_CREDENTIALS),
                        "https://outlook.office365.com/.default");
    assert_string_equal(oauth_default_scope(OAUTH_GOOGLE, OAUTH_FLOW_BROWSER),
                        "https://mail.google.com/");
    assert_string_equal(oauth_default_scope(OAUTH_OIDC, OAUTH_FLOW_BROWSER),
                        "openid offline_access");
    assert_string_equal(oauth_default_scope(OAUTH_OIDC, OAUTH_FLOW_CLIENT_CREDENTIALS), "");
    assert_string_equal(oauth_default_scope((enum oauth_profile)9, OAUTH_FLOW_BROWSER), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_pkce_rfc7636_vector, teardown),
        cmocka_unit_test_teardown(test_pkce_new, teardown),
        cmocka_unit_test_teardown(test_authorize_url_microsoft, teardown),
        cmocka_unit_test_teardown(test_authorize_url_google, teardown),
        cmocka_unit_test_teardown(test_authorize_url_oidc, teardown),
        cmocka_unit_test_teardown(test_url_allowed, teardown),
        cmocka_unit_test_teardown(test_url_allowed_host_end, teardown),
        cmocka_unit_test_teardown(test_endpoints_microsoft, teardown),
        cmocka_unit_test_teardown(test_endpoints_google_and_oidc_config, teardown),
        cmocka_unit_test_teardown(test_endpoints_from_metadata, teardown),
        cmocka_unit_test_teardown(test_endpoints_auth_methods, teardown),
        cmocka_unit_test_teardown(test_token_answer_success, teardown),
        cmocka_unit_test_teardown(test_token_answer_refused, teardown),
        cmocka_unit_test_teardown(test_token_answer_errors, teardown),
        cmocka_unit_test_teardown(test_secrets_never_in_errors, teardown),
        cmocka_unit_test_teardown(test_device_answer, teardown),
        cmocka_unit_test_teardown(test_device_poll, teardown),
        cmocka_unit_test_teardown(test_names, teardown),
        cmocka_unit_test_teardown(test_presets_and_scopes, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
