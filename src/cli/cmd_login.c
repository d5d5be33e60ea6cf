/* `mailfleet login` and `mailfleet logout`: OAuth 2.0 sign-in of an account. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/oauth_account.h"
#include "auth/oauth_flow.h"
#include "auth/secrets.h"
#include "cli/cli.h"
#include "diag/providers.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

static const char login_usage[] =
    "usage: mailfleet login ACCOUNT [--device | --browser | --client-credentials]\n"
    "                       [--provider microsoft|google|oidc] [--tenant TENANT]\n"
    "                       [--issuer URL] [--client-id ID] [--scope \"SCOPE ...\"]\n"
    "                       [--client-secret-env VAR | --client-secret-file FILE]\n"
    "                       [--cafile PEM] [--timeout SECONDS]\n"
    "       mailfleet login ACCOUNT --refresh\n"
    "\n"
    "Signs ACCOUNT in with OAuth 2.0 using YOUR app registration, stores the\n"
    "tokens encrypted, and from then on `test`, `send` and `sendmail` use\n"
    "XOAUTH2 with a token refreshed before it expires. ACCOUNT is an account\n"
    "name, or a mailbox address (a new account is made from its provider).\n"
    "\n"
    "Flows:\n"
    "  --device               show a code to enter at the provider's page, on any\n"
    "                         device (default for Microsoft and OpenID providers)\n"
    "  --browser              authorization code + PKCE: opens $BROWSER and waits\n"
    "                         on http://127.0.0.1:PORT/callback (default for Google)\n"
    "  --client-credentials   app-only, for daemons: needs the client secret\n"
    "  --refresh              refresh the tokens now (checks the sign-in still works)\n"
    "\n"
    "Provider:\n"
    "  --provider NAME        microsoft, google or oidc (default: from the account's\n"
    "                         preset; oidc when --issuer is given)\n"
    "  --tenant TENANT        microsoft: organizations (default), common, consumers\n"
    "                         (outlook.com), a tenant id or domain\n"
    "  --issuer URL           oidc: the issuer (its discovery metadata is read)\n"
    "  --client-id ID         the application (client) id; default $MAILFLEET_CLIENT_ID\n"
    "  --client-secret-env VAR, --client-secret-file FILE\n"
    "                         the app's secret, when it has one (stored encrypted)\n"
    "  --scope \"S ...\"        what to ask for (default: SMTP, IMAP, POP and\n"
    "                         offline_access for Microsoft; mail.google.com for Google)\n"
    "  --cafile PEM           extra CA certificates for the provider's HTTPS\n"
    "  --timeout SECONDS      how long to wait for you (default 300)\n"
    "\n"
    "Examples:\n"
    "  mailfleet login me@contoso.com --client-id 00000000-0000-0000-0000-000000000000\n"
    "  mailfleet login me@gmail.com --client-id ID.apps.googleusercontent.com \\\n"
    "      --client-secret-env GOOGLE_CLIENT_SECRET\n"
    "  mailfleet login relay --client-credentials --tenant contoso.onmicrosoft.com \\\n"
    "      --client-id ID --client-secret-env APP_SECRET\n";

static const char logout_usage[] =
    "usage: mailfleet logout ACCOUNT [--keep-remote]\n"
    "\n"
    "Forgets the account's OAuth tokens and settings (the account stays). The\n"
    "refresh token is first revoked at the provider when it offers revocation\n"
    "(Google, OpenID providers); --keep-remote skips that.\n";

struct login_req {
    const char *account, *provider, *tenant, *issuer, *client_id, *scope;
    const char *secret_env, *secret_file, *cafile;
    int timeout_s;
    int flow; /* -1 = default */
    bool refresh;
};

static void print_prompt(void *ctx, const char *text)
{
    (void)ctx;
    printf("%s\n", text);
    fflush(stdout);
}

/* Finds the account, or makes one from a mailbox address's preset. */
static int ensure_account(struct store *st, const char *name, struct store_account *a)
{
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = store_account_get(st, name, a, &e);
    if (rc != MF_ENOTFOUND) {
        if (rc != MF_OK)
            fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_OK ? CLI_OK : CLI_IOERR;
    }
    const struct provider *p = strchr(name, '@') ? providers_for_address(name) : NULL;
    if (!p || !p->smtp.host) {
        fprintf(stderr, "mailfleet: no account named \"%s\"%s: add it first (mailfleet "
                        "account add %s --host ... --user ...)\n", name,
                strchr(name, '@') ? " and its domain has no preset" : "", name);
        return CLI_CONFIG;
    }
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->provider, sizeof a->provider, "%s", p->id);
    snprintf(a->host, sizeof a->host, "%s", p->smtp.host);
    a->port = p->smtp.port;
    snprintf(a->security, sizeof a->security, "%s",
             p->smtp.security == PROVIDER_SEC_TLS ? "tls" : "starttls");
    snprintf(a->user, sizeof a->user, "%s", name);
    snprintf(a->auth, sizeof a->auth, "xoauth2");
    if (store_account_put(st, a, false, &e) != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return CLI_IOERR;
    }
    printf("account %s: %s:%d %s as %s (from the %s preset)\n", a->name, a->host, a->port,
           a->security, a->user, p->name);
    return CLI_OK;
}

/* Fills the client from flags, the account's earlier sign-in and its preset. */
static int build_client(const struct login_req *q, const struct store_account *a,
                        const struct store_oauth *prev, struct oauth_client *c,
                        enum oauth_flow *flow)
{
    memset(c, 0, sizeof *c);
    bool have_prev = prev->client_id[0] != '\0';
    if (q->provider) {
        if (!oauth_profile_parse(q->provider, &c->profile)) {
            fprintf(stderr, "mailfleet: --provider is microsoft, google or oidc\n");
            return CLI_USAGE;
        }
    } else if (q->issuer) {
        c->profile = OAUTH_OIDC;
    } else if (have_prev) {
        oauth_profile_parse(prev->profile, &c->profile);
    } else if (!oauth_profile_for_preset(a->provider, &c->profile)) {
        fprintf(stderr, "mailfleet: account %s has no OAuth provider preset: give "
                        "--provider microsoft|google, or --issuer URL\n", a->name);
        return CLI_USAGE;
    }
    const char *tenant = q->tenant ? q->tenant : have_prev ? prev->tenant
                         : strcmp(a->provider, "outlook") == 0 ? "consumers" : "";
    const char *issuer = q->issuer ? q->issuer : have_prev ? prev->issuer : "";
    const char *id = q->client_id ? q->client_id : getenv("MAILFLEET_CLIENT_ID");
    if ((!id || !*id) && have_prev)
        id = prev->client_id;
    if (!id || !*id) {
        fprintf(stderr, "mailfleet: give --client-id: the application id of your own app "
                        "registration (README: \"Sign in with OAuth 2.0\")\n");
        return CLI_USAGE;
    }
    *flow = q->flow >= 0 ? (enum oauth_flow)q->flow
            : have_prev && oauth_flow_parse(prev->flow, flow) ? *flow
            : c->profile == OAUTH_GOOGLE ? OAUTH_FLOW_BROWSER : OAUTH_FLOW_DEVICE;
    const char *scope = q->scope ? q->scope
                        : have_prev && q->flow < 0 ? prev->scope
                        : oauth_default_scope(c->profile, *flow);
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    snprintf(c->issuer, sizeof c->issuer, "%s", issuer);
    snprintf(c->client_id, sizeof c->client_id, "%s", id);
    snprintf(c->scope, sizeof c->scope, "%s", scope);
    return CLI_OK;
}

static void print_signed_in(const char *account, const struct store_oauth *o,
                            const struct oauth_tokens *t)
{
    printf("signed in: %s (%s, %s flow", account, o->profile, o->flow);
    char d[32];
    if (t->expires_at)
        printf("; access token valid for %s",
               cli_duration((long)(t->expires_at - mf_wall_seconds()), d, sizeof d));
    printf(t->refresh_token ? "; refresh token stored, encrypted)\n"
           : o->flow[0] == 'c' ? "; a new token is fetched when this one expires)\n"
                               : "; NO refresh token: ask for offline_access)\n");
    if (t->scope[0])
        printf("granted scope: %s\n", t->scope);
}

static int fail(const struct mf_err *e)
{
    fprintf(stderr, "mailfleet: login failed: %s\n", e->detail);
    if (e->reply[0])
        fprintf(stderr, "mailfleet: the provider said: %s\n", e->reply);
    return cli_exit_for(e);
}

static int do_login(const struct cli_global *g, const struct login_req *q, struct store *st,
                    struct secrets *sec)
{
    struct store_account a;
    int rc = ensure_account(st, q->account, &a);
    if (rc != CLI_OK)
        return rc;
    struct mf_err e;
    mf_err_clear(&e);
    struct store_oauth prev;
    if (store_oauth_get(st, a.name, &prev, &e) != MF_OK)
        memset(&prev, 0, sizeof prev);
    struct oauth_login l = {.login_hint = a.user[0] ? a.user : NULL,
                            .timeout_s = q->timeout_s, .prompt = print_prompt};
    if ((rc = build_client(q, &a, &prev, &l.client, &l.flow)) != CLI_OK)
        return rc;
    char *secret = q->secret_env ? (getenv(q->secret_env) && *getenv(q->secret_env)
                                        ? strdup(getenv(q->secret_env)) : NULL)
                   : q->secret_file ? cli_secret_from_file(q->secret_file) : NULL;
    if ((q->secret_env || q->secret_file) && !secret) {
        if (q->secret_env)
            fprintf(stderr, "mailfleet: $%s is not set or empty\n", q->secret_env);
        return CLI_CONFIG;
    }
    if (!secret && !q->secret_env && !q->secret_file && prev.client_id[0])
        secrets_get(sec, a.name, SECRET_CLIENT_SECRET, &secret, NULL, &e);
    if (secret)
        mf_secret_register(secret);
    l.client.client_secret = secret;
    const char *cafile = q->cafile ? q->cafile : prev.cafile[0] ? prev.cafile : NULL;
    l.http.cafile = cafile;
    (void)g;
    struct oauth_endpoints ep;
    struct oauth_tokens t;
    memset(&t, 0, sizeof t);
    enum mf_rc mrc = oauth_endpoints_get(&l.client, &l.http, &ep, &e);
    if (mrc == MF_OK)
        mrc = oauth_login_run(&l, &ep, &t, &e);
    struct store_oauth o;
    memset(&o, 0, sizeof o);
    snprintf(o.account, sizeof o.account, "%s", a.name);
    snprintf(o.profile, sizeof o.profile, "%s", oauth_profile_name(l.client.profile));
    snprintf(o.issuer, sizeof o.issuer, "%s", l.client.issuer);
    snprintf(o.tenant, sizeof o.tenant, "%s", l.client.tenant);
    snprintf(o.client_id, sizeof o.client_id, "%s", l.client.client_id);
    snprintf(o.scope, sizeof o.scope, "%s", l.client.scope);
    snprintf(o.flow, sizeof o.flow, "%s", oauth_flow_name(l.flow));
    snprintf(o.token_endpoint, sizeof o.token_endpoint, "%s", ep.token);
    snprintf(o.client_auth, sizeof o.client_auth, "%s", ep.secret_post ? "post" : "basic");
    snprintf(o.cafile, sizeof o.cafile, "%s", cafile ? cafile : "");
    if (mrc == MF_OK)
        mrc = oauth_account_save(st, sec, &o, &t, secret, &e);
    mf_wipe_free_str(secret);
    if (mrc != MF_OK) {
        oauth_tokens_clear(&t);
        return fail(&e);
    }
    print_signed_in(a.name, &o, &t);
    oauth_tokens_clear(&t);
    return CLI_OK;
}

static int do_refresh(const struct login_req *q, struct store *st, struct secrets *sec)
{
    struct mf_err e;
    mf_err_clear(&e);
    char *token = NULL;
    struct oauth_token_info info;
    enum mf_rc rc = oauth_account_token(st, sec, q->account, 0, true, &token, &info, &e);
    mf_wipe_free_str(token);
    if (rc != MF_OK)
        return fail(&e);
    char d[32];
    printf("refreshed: %s (%s); access token valid for %s\n", q->account,
           info.rotated ? "the refresh token rotated" : "same refresh token",
           info.expires_at ? cli_duration((long)(info.expires_at - mf_wall_seconds()), d,
                                          sizeof d)
                           : "an unknown time");
    return CLI_OK;
}

static int parse_login(int argc, char **argv, struct login_req *q)
{
    enum { O_DEVICE = 1, O_BROWSER, O_CC, O_REFRESH, O_PROVIDER, O_TENANT, O_ISSUER,
           O_CLIENT_ID, O_SCOPE, O_SECRET_ENV, O_SECRET_FILE, O_CAFILE, O_TIMEOUT, O_HELP };
    static const struct option opts[] = {
        {"device", no_argument, NULL, O_DEVICE},
        {"browser", no_argument, NULL, O_BROWSER},
        {"client-credentials", no_argument, NULL, O_CC},
        {"refresh", no_argument, NULL, O_REFRESH},
        {"provider", required_argument, NULL, O_PROVIDER},
        {"tenant", required_argument, NULL, O_TENANT},
        {"issuer", required_argument, NULL, O_ISSUER},
        {"client-id", required_argument, NULL, O_CLIENT_ID},
        {"scope", required_argument, NULL, O_SCOPE},
        {"client-secret-env", required_argument, NULL, O_SECRET_ENV},
        {"client-secret-file", required_argument, NULL, O_SECRET_FILE},
        {"cafile", required_argument, NULL, O_CAFILE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, O_HELP},
        {0},
    };
    memset(q, 0, sizeof *q);
    q->flow = -1;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case O_DEVICE: q->flow = OAUTH_FLOW_DEVICE; break;
        case O_BROWSER: q->flow = OAUTH_FLOW_BROWSER; break;
        case O_CC: q->flow = OAUTH_FLOW_CLIENT_CREDENTIALS; break;
        case O_REFRESH: q->refresh = true; break;
        case O_PROVIDER: q->provider = optarg; break;
        case O_TENANT: q->tenant = optarg; break;
        case O_ISSUER: q->issuer = optarg; break;
        case O_CLIENT_ID: q->client_id = optarg; break;
        case O_SCOPE: q->scope = optarg; break;
        case O_SECRET_ENV: q->secret_env = optarg; break;
        case O_SECRET_FILE: q->secret_file = optarg; break;
        case O_CAFILE: q->cafile = optarg; break;
        case O_TIMEOUT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 5 || v > 3600) {
                fprintf(stderr, "mailfleet: --timeout wants 5..3600 seconds\n");
                return CLI_USAGE;
            }
            q->timeout_s = (int)v;
            break;
        }
        case O_HELP: case 'h': fputs(login_usage, stdout); return -1;
        default: fputs(login_usage, stderr); return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(login_usage, stderr);
        return CLI_USAGE;
    }
    q->account = argv[optind];
    return CLI_OK;
}

int cmd_login(const struct cli_global *g, int argc, char **argv)
{
    struct login_req q;
    int rc = parse_login(argc, argv, &q);
    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct secrets *sec = secrets_open(st, &e);
    if (!sec) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        store_close(st);
        return CLI_CONFIG;
    }
    rc = q.refresh ? do_refresh(&q, st, sec) : do_login(g, &q, st, sec);
    secrets_close(sec);
    store_close(st);
    return rc;
}

/* Best effort: revoke the refresh token where the provider offers it. */
static void revoke_remote(struct store *st, struct secrets *sec, const struct store_oauth *o)
{
    struct oauth_client c;
    memset(&c, 0, sizeof c);
    if (!oauth_profile_parse(o->profile, &c.profile) || c.profile == OAUTH_MICROSOFT)
        return; /* Microsoft has no revocation endpoint for these tokens */
    snprintf(c.issuer, sizeof c.issuer, "%s", o->issuer);
    snprintf(c.client_id, sizeof c.client_id, "%s", o->client_id);
    struct mf_err e;
    mf_err_clear(&e);
    char *refresh = NULL, *secret = NULL;
    if (secrets_get(sec, o->account, SECRET_REFRESH_TOKEN, &refresh, NULL, &e) != MF_OK)
        return;
    secrets_get(sec, o->account, SECRET_CLIENT_SECRET, &secret, NULL, &e);
    c.client_secret = secret;
    struct oauth_http_opts http = {.cafile = o->cafile[0] ? o->cafile : NULL};
    struct oauth_endpoints ep;
    mf_err_clear(&e);
    enum mf_rc rc = oauth_endpoints_get(&c, &http, &ep, &e);
    if (rc == MF_OK && !ep.revocation[0])
        rc = mf_err_set(&e, MF_EFEATURE, MF_LAYER_FEATURE, "the provider offers no revocation");
    if (rc == MF_OK)
        rc = oauth_revoke(&http, &c, ep.revocation, strcmp(o->client_auth, "basic") != 0,
                          refresh, &e);
    if (rc == MF_OK)
        printf("revoked the refresh token at the provider\n");
    else
        fprintf(stderr, "mailfleet: warning: could not revoke at the provider (%s); the "
                        "tokens are forgotten here anyway\n", e.detail);
    mf_wipe_free_str(refresh);
    mf_wipe_free_str(secret);
    (void)st;
}

int cmd_logout(const struct cli_global *g, int argc, char **argv)
{
    bool keep_remote = false;
    const char *account = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(logout_usage, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--keep-remote") == 0) {
            keep_remote = true;
        } else if (argv[i][0] == '-' || account) {
            fputs(logout_usage, stderr);
            return CLI_USAGE;
        } else {
            account = argv[i];
        }
    }
    if (!account) {
        fputs(logout_usage, stderr);
        return CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct store_oauth o;
    enum mf_rc rc = store_oauth_get(st, account, &o, &e);
    if (rc == MF_OK && !keep_remote) {
        struct secrets *sec = secrets_open(st, &e);
        if (sec)
            revoke_remote(st, sec, &o);
        else
            fprintf(stderr, "mailfleet: warning: %s\n", e.detail);
        secrets_close(sec);
        mf_err_clear(&e);
    }
    if (rc == MF_OK)
        rc = oauth_account_forget(st, account, &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_ENOTFOUND ? CLI_DATAERR : CLI_IOERR;
    }
    printf("signed out: %s (tokens deleted)\n", account);
    return CLI_OK;
}
