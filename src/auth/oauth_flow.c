#include "auth/oauth_flow.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/loopback.h"
#include "util/buf.h"
#include "util/clock.h"

extern char **environ;

static void say(const struct oauth_login *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(const struct oauth_login *l, const char *fmt, ...)
{
    if (!l->prompt)
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    l->prompt(l->prompt_ctx, text);
}

/* The client authenticates with its secret in the form (client_secret_post)
 * or in a Basic header; a public client sends only its id. */
struct client_auth {
    const char *basic_user, *basic_pass;
    const char *post_secret;
};

static struct client_auth client_auth_for(const struct oauth_client *c, bool secret_post)
{
    struct client_auth a = {0};
    if (c->client_secret && *c->client_secret) {
        if (secret_post)
            a.post_secret = c->client_secret;
        else
            a.basic_user = c->client_id, a.basic_pass = c->client_secret;
    }
    return a;
}

/* POSTs a token request and reads the answer. */
static enum mf_rc token_request(const struct oauth_http_opts *http, const char *what,
                                const char *url, const struct oauth_form_field *form,
                                const struct client_auth *a, const char *account,
                                struct oauth_tokens *t, struct mf_err *err)
{
    long status = 0;
    json_t *j = NULL;
    enum mf_rc rc = oauth_http_post_form(http, what, url, form, a->basic_user,
                                         a->basic_pass, &status, &j, err);
    if (rc == MF_OK)
        rc = oauth_parse_token_answer(j, status, mf_wall_seconds(), account, t, NULL, err);
    json_decref(j);
    return rc;
}

enum mf_rc oauth_client_credentials(const struct oauth_http_opts *http,
                                    const struct oauth_client *c,
                                    const char *token_endpoint, bool secret_post,
                                    struct oauth_tokens *t, struct mf_err *err)
{
    if (!c->client_secret || !*c->client_secret)
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "the client credentials flow needs the app's client secret");
    struct client_auth a = client_auth_for(c, secret_post);
    const struct oauth_form_field form[] = {
        {"grant_type", "client_credentials"},
        {"client_id", c->client_id},
        {"client_secret", a.post_secret},
        {"scope", c->scope[0] ? c->scope : NULL},
        {NULL, NULL},
    };
    return token_request(http, "client credentials", token_endpoint, form, &a, NULL, t, err);
}

enum mf_rc oauth_refresh(const struct oauth_http_opts *http, const struct oauth_client *c,
                         const char *token_endpoint, bool secret_post,
                         const char *refresh_token, const char *account,
                         struct oauth_tokens *t, struct mf_err *err)
{
    struct client_auth a = client_auth_for(c, secret_post);
    const struct oauth_form_field form[] = {
        {"grant_type", "refresh_token"},
        {"refresh_token", refresh_token},
        {"client_id", c->client_id},
        {"client_secret", a.post_secret},
        {"scope", c->scope[0] ? c->scope : NULL},
        {NULL, NULL},
    };
    return token_request(http, "token refresh", token_endpoint, form, &a, account, t, err);
}

enum mf_rc oauth_revoke(const struct oauth_http_opts *http, const struct oauth_client *c,
                        const char *revocation_endpoint, bool secret_post,
                        const char *refresh_token, struct mf_err *err)
{
    struct client_auth a = client_auth_for(c, secret_post);
    const struct oauth_form_field form[] = {
        {"token", refresh_token},
        {"token_type_hint", "refresh_token"},
        {"client_id", c->client_id},
        {"client_secret", a.post_secret},
        {NULL, NULL},
    };
    long status = 0;
    json_t *j = NULL;
    enum mf_rc rc = oauth_http_post_form(http, "token revocation", revocation_endpoint, form,
                                         a.basic_user, a.basic_pass, &status, &j, err);
    /* RFC 7009: 200 with any (often empty) body is success. */
    if (rc == MF_EPROTO && status == 200) {
        mf_err_clear(err);
        rc = MF_OK;
    } else if (rc == MF_OK && status != 200) {
        rc = mf_err_set(err, MF_EREJECT, MF_LAYER_AUTH,
                        "the provider did not revoke the token (HTTP %ld)", status);
    }
    json_decref(j);
    return rc;
}

/* ---- device authorization grant -------------------------------------------- */

static void sleep_s(int s)
{
    struct timespec ts = {.tv_sec = s};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static enum mf_rc device_flow(const struct oauth_login *l, const struct oauth_endpoints *ep,
                              struct oauth_tokens *t, struct mf_err *err)
{
    if (!ep->device[0])
        return mf_err_set(err, MF_EFEATURE, MF_LAYER_FEATURE,
                          l->client.profile == OAUTH_GOOGLE
                              ? "Google does not allow the device flow for mail: "
                                "sign in with --browser"
                              : "this provider has no device authorization endpoint: "
                                "sign in with --browser");
    struct client_auth a = client_auth_for(&l->client, ep->secret_post);
    const struct oauth_form_field start[] = {
        {"client_id", l->client.client_id},
        {"client_secret", a.post_secret},
        {"scope", l->client.scope},
        {NULL, NULL},
    };
    long status = 0;
    json_t *j = NULL;
    struct oauth_device d;
    memset(&d, 0, sizeof d);
    enum mf_rc rc = oauth_http_post_form(&l->http, "device authorization", ep->device,
                                         start, a.basic_user, a.basic_pass, &status, &j, err);
    if (rc == MF_OK)
        rc = oauth_parse_device_answer(j, status, mf_wall_seconds(), &d, err);
    json_decref(j);
    if (rc != MF_OK)
        return rc;
    long minutes = (long)((d.expires_at - mf_wall_seconds() + 59) / 60);
    say(l, "To sign in, open %s and enter the code %s (valid for %ld minute%s).",
        d.verification_uri, d.user_code, minutes, minutes == 1 ? "" : "s");
    if (d.verification_uri_complete[0])
        say(l, "Or open %s", d.verification_uri_complete);
    say(l, "Waiting for the sign-in...");
    const struct oauth_form_field poll[] = {
        {"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
        {"device_code", d.device_code},
        {"client_id", l->client.client_id},
        {"client_secret", a.post_secret},
        {NULL, NULL},
    };
    int64_t give_up = mf_wall_seconds() + (l->timeout_s > 0 ? l->timeout_s : 900);
    if (give_up > d.expires_at)
        give_up = d.expires_at;
    enum oauth_poll p = OAUTH_POLL_PENDING;
    while (p == OAUTH_POLL_PENDING || p == OAUTH_POLL_SLOW_DOWN) {
        if (mf_wall_seconds() + d.interval_s > give_up) {
            rc = mf_err_set(err, MF_ETIMEOUT, MF_LAYER_AUTH,
                            "the code %s expired before the sign-in was finished: "
                            "run mailfleet login again", d.user_code);
            break;
        }
        sleep_s(d.interval_s);
        rc = oauth_http_post_form(&l->http, "device token poll", ep->token, poll,
                                  a.basic_user, a.basic_pass, &status, &j, err);
        if (rc != MF_OK)
            break;
        p = oauth_device_poll_answer(j, status, mf_wall_seconds(), &d, t, err);
        json_decref(j);
        j = NULL;
        if (p == OAUTH_POLL_SLOW_DOWN)
            say(l, "The provider asked to poll more slowly: every %d s now.", d.interval_s);
        rc = p != OAUTH_POLL_FAILED ? MF_OK : err ? err->rc : MF_EAUTH;
    }
    oauth_device_clear(&d);
    return rc;
}

/* ---- authorization code + PKCE ----------------------------------------------- */

/* Starts the browser on url and does not wait for it. */
static pid_t open_browser(const struct oauth_login *l, const char *url)
{
    char cmd[1024];
    const char *b = l->browser ? l->browser : getenv("BROWSER");
    if (b && *b) {
        snprintf(cmd, sizeof cmd, "%.*s", (int)strcspn(b, ":"), b);
    } else if (getenv("DISPLAY") || getenv("WAYLAND_DISPLAY")) {
        snprintf(cmd, sizeof cmd, "xdg-open");
    } else {
        return -1;
    }
    char *argv[] = {cmd, (char *)url, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    if (posix_spawnp(&pid, cmd, &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static enum mf_rc browser_flow(const struct oauth_login *l, const struct oauth_endpoints *ep,
                               struct oauth_tokens *t, struct mf_err *err)
{
    if (!ep->authorization[0])
        return mf_err_set(err, MF_EFEATURE, MF_LAYER_FEATURE,
                          "this provider has no authorization endpoint: use the "
                          "device flow (--device)");
    struct oauth_pkce pkce;
    oauth_pkce_new(&pkce);
    struct loopback *lb = loopback_start(pkce.state, err);
    if (!lb)
        return err ? err->rc : MF_EIO;
    char redirect[64];
    snprintf(redirect, sizeof redirect, "http://127.0.0.1:%d/callback", loopback_port(lb));
    char *url = oauth_authorize_url(&l->client, ep, &pkce, redirect, l->login_hint);
    if (!url) {
        loopback_stop(lb);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    }
    pid_t pid = open_browser(l, url);
    say(l, pid > 0 ? "Opened the sign-in page in your browser. If it did not open, "
                     "visit:\n  %s"
                   : "Open this address in a browser on this machine to sign in:\n  %s",
        url);
    say(l, "Waiting for the browser to come back to %s ...", redirect);
    free(url);
    char *code = NULL;
    enum mf_rc rc = loopback_wait(lb, l->timeout_s > 0 ? l->timeout_s : 300, &code, err);
    loopback_stop(lb);
    if (pid > 0)
        waitpid(pid, NULL, WNOHANG);
    if (rc != MF_OK)
        return rc;
    struct client_auth a = client_auth_for(&l->client, ep->secret_post);
    const struct oauth_form_field form[] = {
        {"grant_type", "authorization_code"},
        {"code", code},
        {"redirect_uri", redirect},
        {"client_id", l->client.client_id},
        {"client_secret", a.post_secret},
        {"code_verifier", pkce.verifier},
        {NULL, NULL},
    };
    rc = token_request(&l->http, "code exchange", ep->token, form, &a, NULL, t, err);
    mf_wipe_free_str(code);
    mf_wipe(&pkce, sizeof pkce);
    return rc;
}

enum mf_rc oauth_login_run(const struct oauth_login *l, const struct oauth_endpoints *ep,
                           struct oauth_tokens *t, struct mf_err *err)
{
    memset(t, 0, sizeof *t);
    switch (l->flow) {
    case OAUTH_FLOW_DEVICE:
        return device_flow(l, ep, t, err);
    case OAUTH_FLOW_BROWSER:
        return browser_flow(l, ep, t, err);
    case OAUTH_FLOW_CLIENT_CREDENTIALS:
        return oauth_client_credentials(&l->http, &l->client, ep->token, ep->secret_post,
                                        t, err);
    }
    return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "unknown OAuth flow");
}
