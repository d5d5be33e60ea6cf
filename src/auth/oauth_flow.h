/*
 * auth/oauth_flow — the OAuth 2.0 flows that talk to the provider and wait
 * for the user: the device authorization grant (RFC 8628), the
 * authorization code grant with PKCE and a loopback redirect (RFC 7636,
 * RFC 8252), client credentials, and refresh (with rotation: the caller
 * stores whatever refresh token comes back).
 *
 * Ownership: tokens land in a caller-provided struct oauth_tokens
 * (oauth_tokens_clear). Nothing here touches the store.
 */
#ifndef MF_AUTH_OAUTH_FLOW_H
#define MF_AUTH_OAUTH_FLOW_H

#include "auth/oauth.h"

struct oauth_login {
    struct oauth_client client;
    enum oauth_flow flow;
    struct oauth_http_opts http;
    const char *login_hint;     /* the mailbox address, or NULL */
    const char *browser;        /* command that opens a URL; NULL = $BROWSER,
                                   else xdg-open when there is a display */
    int timeout_s;              /* how long the user may take; 0 = 300 */
    /* Tells the user what to do (the device code, the URL to open). */
    void (*prompt)(void *ctx, const char *text);
    void *prompt_ctx;
};

/* Runs l->flow against the endpoints. MF_OK with *t; else *err explains
 * (declined, expired, provider down, malformed answer, ...). */
enum mf_rc oauth_login_run(const struct oauth_login *l, const struct oauth_endpoints *ep,
                           struct oauth_tokens *t, struct mf_err *err);

/* A fresh access token for the client-credentials flow. */
enum mf_rc oauth_client_credentials(const struct oauth_http_opts *http,
                                    const struct oauth_client *c,
                                    const char *token_endpoint, bool secret_post,
                                    struct oauth_tokens *t, struct mf_err *err);

/* Trades a refresh token for new tokens. account names the account in the
 * "sign in again" advice when the refresh token is no longer valid. */
enum mf_rc oauth_refresh(const struct oauth_http_opts *http, const struct oauth_client *c,
                         const char *token_endpoint, bool secret_post,
                         const char *refresh_token, const char *account,
                         struct oauth_tokens *t, struct mf_err *err);

/* Revokes a refresh token at an RFC 7009 endpoint (best effort on logout). */
enum mf_rc oauth_revoke(const struct oauth_http_opts *http, const struct oauth_client *c,
                        const char *revocation_endpoint, bool secret_post,
                        const char *refresh_token, struct mf_err *err);

#endif
