/*
 * auth/oauth — OAuth 2.0 for mail: the providers, their endpoints, and the
 * pure parts of every flow (PKCE, the authorization URL, token and device
 * answers, RFC 8628 polling decisions, error explanations). No I/O here but
 * the discovery fetch; the flows that wait and listen are in oauth_flow.c.
 *
 * Providers: the Microsoft identity platform v2.0 (tenant common,
 * organizations, consumers or a tenant id), Google, and any issuer that
 * publishes OpenID Connect discovery or RFC 8414 metadata.
 *
 * Ownership: strings inside struct oauth_tokens and struct oauth_device are
 * owned by the struct: oauth_tokens_clear / oauth_device_clear wipe and free
 * them. Everything else is fixed-size and copied.
 */
#ifndef MF_AUTH_OAUTH_H
#define MF_AUTH_OAUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/oauth_http.h"
#include "util/err.h"

enum oauth_profile { OAUTH_MICROSOFT, OAUTH_GOOGLE, OAUTH_OIDC };
enum oauth_flow { OAUTH_FLOW_DEVICE, OAUTH_FLOW_BROWSER, OAUTH_FLOW_CLIENT_CREDENTIALS };

/* "microsoft", "google", "oidc" and back; parse returns false when unknown. */
const char *oauth_profile_name(enum oauth_profile p);
bool oauth_profile_parse(const char *s, enum oauth_profile *out);
const char *oauth_flow_name(enum oauth_flow f);
bool oauth_flow_parse(const char *s, enum oauth_flow *out);

/* The profile a mail provider preset signs in with: m365/outlook ->
 * microsoft, gmail -> google; false when the preset has no OAuth profile. */
bool oauth_profile_for_preset(const char *preset_id, enum oauth_profile *out);

struct oauth_endpoints {
    char issuer[512];
    char authorization[512];
    char token[512];
    char device[512];          /* "" when the provider has no device flow */
    char revocation[512];      /* "" when unknown */
    bool secret_post;          /* client_secret_post accepted (else basic) */
};

struct oauth_client {
    enum oauth_profile profile;
    char tenant[128];          /* microsoft; "" = organizations */
    char issuer[512];          /* oidc */
    char client_id[256];
    const char *client_secret; /* borrowed; NULL for public clients */
    char scope[1024];
};

/* The scope to ask for when the user gave none: Microsoft's SMTP.Send,
 * IMAP.AccessAsUser.All, POP.AccessAsUser.All and offline_access (app-only:
 * https://outlook.office365.com/.default); Google's https://mail.google.com/;
 * an OIDC issuer's "openid offline_access". Static string. */
const char *oauth_default_scope(enum oauth_profile p, enum oauth_flow f);

/* Fills the endpoints: built in for Microsoft and Google, discovered for an
 * issuer (/.well-known/openid-configuration, then RFC 8414's
 * /.well-known/oauth-authorization-server). MF_ECONFIG when the tenant or
 * the issuer is not usable. */
enum mf_rc oauth_endpoints_get(const struct oauth_client *c,
                               const struct oauth_http_opts *http,
                               struct oauth_endpoints *out, struct mf_err *err);
/* Reads discovery metadata (exposed for tests). issuer must match. */
enum mf_rc oauth_endpoints_from_metadata(json_t *meta, const char *issuer,
                                         struct oauth_endpoints *out,
                                         struct mf_err *err);

/* ---- PKCE (RFC 7636) and the authorization URL ---------------------------- */

struct oauth_pkce {
    char verifier[64];         /* 43 chars, base64url of 32 random bytes */
    char challenge[64];        /* base64url(SHA-256(verifier)) */
    char state[32];            /* 22 chars, base64url of 16 random bytes */
};

void oauth_pkce_new(struct oauth_pkce *p);
/* base64url(SHA-256(verifier)) into out (>= 44 bytes). */
void oauth_pkce_challenge(const char *verifier, char *out, size_t size);

/* The URL the browser opens; malloc'd, caller frees. login_hint may be NULL. */
char *oauth_authorize_url(const struct oauth_client *c, const struct oauth_endpoints *ep,
                          const struct oauth_pkce *p, const char *redirect_uri,
                          const char *login_hint);

/* ---- token endpoint answers ----------------------------------------------- */

struct oauth_tokens {
    char *access_token;        /* owned */
    char *refresh_token;       /* owned; NULL when none was issued */
    int64_t expires_at;        /* unix seconds; 0 when the answer had no expiry */
    char scope[1024];
};
void oauth_tokens_clear(struct oauth_tokens *t);

/* The OAuth error of an answer, when there is one ("invalid_grant", ...). */
struct oauth_error {
    char code[64];
    char description[256];     /* sanitised */
};

/* Reads a token endpoint answer. MF_OK with *t filled (tokens registered
 * with the log redactor); else an error explained for a person, with
 * *oe holding the OAuth error code when the provider gave one. account
 * names the account in "sign in again" advice (may be NULL). */
enum mf_rc oauth_parse_token_answer(json_t *j, long status, int64_t now,
                                    const char *account, struct oauth_tokens *t,
                                    struct oauth_error *oe, struct mf_err *err);

/* Sets *err from an OAuth error answer, with the cause and the fix
 * (invalid_grant -> sign in again; AADSTS codes; access_denied; ...). */
enum mf_rc oauth_explain_error(const struct oauth_error *oe, long status,
                               const char *account, struct mf_err *err);

/* ---- device authorization grant (RFC 8628) -------------------------------- */

struct oauth_device {
    char *device_code;         /* owned */
    char user_code[64];
    char verification_uri[512];
    char verification_uri_complete[1024]; /* "" when not given */
    int interval_s;            /* polling interval (default 5) */
    int64_t expires_at;
};
void oauth_device_clear(struct oauth_device *d);

enum mf_rc oauth_parse_device_answer(json_t *j, long status, int64_t now,
                                     struct oauth_device *d, struct mf_err *err);

enum oauth_poll { OAUTH_POLL_DONE, OAUTH_POLL_PENDING, OAUTH_POLL_SLOW_DOWN,
                  OAUTH_POLL_FAILED };
/* Reads one polling answer: DONE with *t filled; PENDING (keep waiting);
 * SLOW_DOWN (d->interval_s grows by 5 s, RFC 8628 3.5); FAILED with *err
 * (denied, expired_token, ...). */
enum oauth_poll oauth_device_poll_answer(json_t *j, long status, int64_t now,
                                         struct oauth_device *d,
                                         struct oauth_tokens *t, struct mf_err *err);

#endif
