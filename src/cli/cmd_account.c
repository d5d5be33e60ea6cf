/* `mailfleet account add|list|remove`: saved connection settings. */
#include <stdlib.h>
#include <string.h>

#include "auth/secrets.h"
#include "util/buf.h"
#include "util/log.h"
#include "cli/cli.h"
#include "diag/providers.h"
#include "util/clock.h"

static const char usage[] =
    "usage: mailfleet account add NAME [--provider ID | --host HOST --port N\n"
    "                                   --security starttls|tls|none]\n"
    "                                  [--user ADDRESS] [--from ADDRESS]\n"
    "                                  [--auth MECH] [--password-env VAR |\n"
    "                                   --password-file FILE | --password-stdin]\n"
    "                                  [--replace]\n"
    "       mailfleet account list [--json]\n"
    "       mailfleet account remove NAME\n"
    "\n"
    "An account remembers where to connect and where the secret comes from: an\n"
    "environment variable, a file, or (--password-stdin: the first line of\n"
    "standard input) the encrypted store. OAuth tokens: mailfleet login NAME.\n"
    "Example:\n"
    "  mailfleet account add work --provider m365 --user me@contoso.com \\\n"
    "      --password-env WORK_SMTP_PASSWORD\n";

static void set(char *dst, size_t size, const char *v)
{
    snprintf(dst, size, "%s", v ? v : "");
}

/* The first line of standard input (no echo concerns: it is a pipe or a file). */
static char *read_password_line(void)
{
    char buf[4097];
    if (!fgets(buf, sizeof buf, stdin)) {
        fprintf(stderr, "mailfleet: --password-stdin: nothing on standard input\n");
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf[0] ? strdup(buf) : NULL;
    mf_wipe(buf, sizeof buf);
    if (!s)
        fprintf(stderr, "mailfleet: --password-stdin: the first line is empty\n");
    else
        mf_secret_register(s);
    return s;
}

static enum mf_rc save_password(struct store *st, const char *account, const char *password,
                                struct mf_err *e)
{
    struct secrets *sec = secrets_open(st, e);
    if (!sec)
        return e->rc;
    enum mf_rc rc = secrets_put(sec, account, SECRET_PASSWORD, password, 0, e);
    secrets_close(sec);
    return rc;
}

static int account_add(const struct cli_global *g, int argc, char **argv)
{
    enum { O_PROVIDER = 1, O_HOST, O_PORT, O_SECURITY, O_USER, O_FROM, O_AUTH,
           O_PWENV, O_PWFILE, O_PWSTDIN, O_REPLACE };
    static const struct option opts[] = {
        {"provider", required_argument, NULL, O_PROVIDER},
        {"host", required_argument, NULL, O_HOST},
        {"port", required_argument, NULL, O_PORT},
        {"security", required_argument, NULL, O_SECURITY},
        {"user", required_argument, NULL, O_USER},
        {"from", required_argument, NULL, O_FROM},
        {"auth", required_argument, NULL, O_AUTH},
        {"password-env", required_argument, NULL, O_PWENV},
        {"password-file", required_argument, NULL, O_PWFILE},
        {"password-stdin", no_argument, NULL, O_PWSTDIN},
        {"replace", no_argument, NULL, O_REPLACE},
        {0},
    };
    struct store_account a;
    memset(&a, 0, sizeof a);
    const char *provider = NULL, *host = NULL, *security = NULL, *user = NULL,
               *from = NULL, *auth = "auto", *pwenv = NULL, *pwfile = NULL;
    int port = 0, ch;
    bool replace = false, pwstdin = false;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case O_PROVIDER: provider = optarg; break;
        case O_HOST: host = optarg; break;
        case O_PORT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 65535) {
                fprintf(stderr, "mailfleet: --port wants 1..65535\n");
                return CLI_USAGE;
            }
            port = (int)v;
            break;
        }
        case O_SECURITY: security = optarg; break;
        case O_USER: user = optarg; break;
        case O_FROM: from = optarg; break;
        case O_AUTH: auth = optarg; break;
        case O_PWENV: pwenv = optarg; break;
        case O_PWFILE: pwfile = optarg; break;
        case O_PWSTDIN: pwstdin = true; break;
        case O_REPLACE: replace = true; break;
        default: fputs(usage, stderr); return CLI_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[optind];
    const struct provider *p = provider ? providers_by_id(provider)
                               : (!host && user) ? providers_for_address(user) : NULL;
    if (provider && !p) {
        fprintf(stderr, "mailfleet: no provider preset \"%s\" (see: mailfleet providers)\n",
                provider);
        return CLI_USAGE;
    }
    if (!host && p && p->smtp.host) {
        host = p->smtp.host;
        if (!port)
            port = p->smtp.port;
        if (!security)
            security = p->smtp.security == PROVIDER_SEC_TLS ? "tls" : "starttls";
    }
    if (!host) {
        fprintf(stderr, "mailfleet: give --provider ID or --host HOST (or a --user "
                        "address of a known provider)\n");
        return CLI_USAGE;
    }
    if (!port)
        port = security && strcmp(security, "tls") == 0 ? 465 : 587;
    if (!security)
        security = port == 465 ? "tls" : "starttls";
    if (strcmp(security, "starttls") && strcmp(security, "tls") && strcmp(security, "none")) {
        fprintf(stderr, "mailfleet: --security is starttls, tls or none\n");
        return CLI_USAGE;
    }
    if (strcasecmp(auth, "auto") && strcasecmp(auth, "none") &&
        sasl_mech_parse(auth, strlen(auth)) == SASL_MECH_NONE) {
        fprintf(stderr, "mailfleet: --auth is auto, none, plain, login, xoauth2 or oauthbearer\n");
        return CLI_USAGE;
    }
    set(a.name, sizeof a.name, name);
    set(a.provider, sizeof a.provider, p ? p->id : "");
    set(a.host, sizeof a.host, host);
    a.port = port;
    set(a.security, sizeof a.security, security);
    set(a.user, sizeof a.user, user);
    set(a.from_addr, sizeof a.from_addr, from);
    set(a.auth, sizeof a.auth, auth);
    set(a.password_env, sizeof a.password_env, pwenv);
    set(a.password_file, sizeof a.password_file, pwfile);
    if (pwstdin && (pwenv || pwfile)) {
        fprintf(stderr, "mailfleet: --password-stdin replaces --password-env/--password-file\n");
        return CLI_USAGE;
    }
    char *password = NULL;
    if (pwstdin && !(password = read_password_line()))
        return CLI_NOINPUT;
    struct store *st = cli_open_store(g);
    if (!st) {
        mf_wipe_free_str(password);
        return CLI_CONFIG;
    }
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = store_account_put(st, &a, replace, &e);
    if (rc == MF_OK && password)
        rc = save_password(st, a.name, password, &e);
    mf_wipe_free_str(password);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s%s\n", e.detail,
                rc == MF_EINVAL && !replace ? " (use --replace to change it)" : "");
        return rc == MF_ECONFIG ? CLI_CONFIG : CLI_DATAERR;
    }
    printf("account %s: %s:%d %s%s%s%s\n", a.name, a.host, a.port, a.security,
           a.user[0] ? " as " : "", a.user, pwstdin ? "; password stored encrypted" : "");
    return CLI_OK;
}

struct list_ctx {
    struct store *st;
    json_t *arr;
    int n;
};

/* What the store holds for an account: metadata only, never a value. */
struct held {
    bool password, refresh;
    int64_t access_expires_at;
    bool access;
};

static int held_cb(void *ctx, const char *kind, int64_t expires_at, int64_t updated_at)
{
    (void)updated_at;
    struct held *h = ctx;
    if (strcmp(kind, SECRET_PASSWORD) == 0)
        h->password = true;
    else if (strcmp(kind, SECRET_REFRESH_TOKEN) == 0)
        h->refresh = true;
    else if (strcmp(kind, SECRET_ACCESS_TOKEN) == 0)
        h->access = true, h->access_expires_at = expires_at;
    return 0;
}

/* "oauth microsoft, token 52 min" / "stored password" / "env:VAR" ... */
static void describe_sign_in(const struct store_account *a, const struct held *h,
                             const struct store_oauth *o, bool oauth, char *buf, size_t size)
{
    if (oauth) {
        long left = h->access && h->access_expires_at
                        ? (long)(h->access_expires_at - mf_wall_seconds()) : 0;
        char d[32];
        int n = snprintf(buf, size, "oauth %s/%s, ", o->profile, o->flow);
        if (n < 0 || (size_t)n >= size)
            return;
        if (!h->access)
            snprintf(buf + n, size - (size_t)n, "no token");
        else if (!h->access_expires_at)
            snprintf(buf + n, size - (size_t)n, "token");
        else if (left >= 0)
            snprintf(buf + n, size - (size_t)n, "token %s%s", cli_duration(left, d, sizeof d),
                     h->refresh ? " + refresh" : "");
        else
            snprintf(buf + n, size - (size_t)n, "token expired%s",
                     h->refresh ? " (refreshes)" : "");
    } else if (h->password) {
        snprintf(buf, size, "stored password");
    } else if (a->password_env[0]) {
        snprintf(buf, size, "env:%s", a->password_env);
    } else if (a->password_file[0]) {
        snprintf(buf, size, "file:%s", a->password_file);
    } else {
        snprintf(buf, size, "prompt");
    }
}

static int list_cb(void *ctx, const struct store_account *a)
{
    struct list_ctx *l = ctx;
    l->n++;
    struct held h = {0};
    struct store_oauth o;
    struct mf_err e;
    store_secret_list(l->st, a->name, held_cb, &h, &e);
    bool oauth = store_oauth_get(l->st, a->name, &o, &e) == MF_OK;
    char sign_in[1200];
    describe_sign_in(a, &h, &o, oauth, sign_in, sizeof sign_in);
    if (l->arr) {
        const char *secret_from = oauth ? "oauth" : h.password ? "store"
                                  : a->password_env[0] ? "env"
                                  : a->password_file[0] ? "file" : "prompt";
        const char *secret_name = a->password_env[0] ? a->password_env : a->password_file;
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s}",
                              "name", a->name, "provider", a->provider, "host", a->host,
                              "port", a->port, "security", a->security, "user", a->user,
                              "auth", a->auth, "from", a->from_addr,
                              "secret_from", secret_from, "secret_name", secret_name);
        if (oauth)
            json_object_set_new(j, "oauth", json_pack(
                "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "profile", o.profile,
                "flow", o.flow, "client_id", o.client_id, "tenant", o.tenant,
                "issuer", o.issuer, "scope", o.scope,
                "access_token_expires_at", (json_int_t)h.access_expires_at,
                "refresh_token", h.refresh));
        json_array_append_new(l->arr, j);
        return 0;
    }
    printf("%-16s %-9s %-28s %5d %-8s %-28s %s\n", a->name,
           a->provider[0] ? a->provider : "-", a->host, a->port, a->security,
           a->user[0] ? a->user : "-", sign_in);
    return 0;
}

static int account_list(const struct cli_global *g, int argc, char **argv)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct list_ctx l = {.st = st, .arr = json ? json_array() : NULL};
    if (!json)
        printf("%-16s %-9s %-28s %5s %-8s %-28s %s\n", "NAME", "PROVIDER", "HOST",
               "PORT", "SECURITY", "USER", "SIGN-IN");
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = store_account_list(st, list_cb, &l, &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        json_decref(l.arr);
        return CLI_IOERR;
    }
    if (json)
        cli_print_json(l.arr);
    else if (!l.n)
        printf("(no accounts yet: mailfleet account add NAME --provider ID --user ADDRESS)\n");
    return CLI_OK;
}

static int account_remove(const struct cli_global *g, int argc, char **argv)
{
    if (argc != 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = store_account_remove(st, argv[1], &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_ENOTFOUND ? CLI_DATAERR : CLI_IOERR;
    }
    printf("account %s removed\n", argv[1]);
    return CLI_OK;
}

int cmd_account(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "add") == 0)
        return account_add(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "list") == 0)
        return account_list(g, argc - 1, argv + 1);
    if (strcmp(argv[1], "remove") == 0 || strcmp(argv[1], "rm") == 0)
        return account_remove(g, argc - 1, argv + 1);
    fprintf(stderr, "mailfleet: account: unknown command \"%s\"\n%s", argv[1], usage);
    return CLI_USAGE;
}
