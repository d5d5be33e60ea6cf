#include <event2/event.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/oauth_account.h"
#include "auth/secrets.h"
#include "cli/cli.h"
#include "util/buf.h"
#include "util/clock.h"
#include "diag/providers.h"
#include "util/log.h"

enum {
    O_ACCOUNT = CLI_CONN_OPTION_BASE, O_PROVIDER, O_HOST, O_PORT, O_SECURITY,
    O_USER, O_PASSWORD_ENV, O_PASSWORD_FILE, O_TOKEN_ENV, O_AUTH, O_CAFILE,
    O_INSECURE, O_ALLOW_PLAINTEXT, O_EHLO, O_TIMEOUT, O_IPV4, O_IPV6,
};

const struct option cli_conn_options[] = {
    {"account", required_argument, NULL, O_ACCOUNT},
    {"provider", required_argument, NULL, O_PROVIDER},
    {"host", required_argument, NULL, O_HOST},
    {"port", required_argument, NULL, O_PORT},
    {"security", required_argument, NULL, O_SECURITY},
    {"user", required_argument, NULL, O_USER},
    {"password-env", required_argument, NULL, O_PASSWORD_ENV},
    {"password-file", required_argument, NULL, O_PASSWORD_FILE},
    {"oauth-token-env", required_argument, NULL, O_TOKEN_ENV},
    {"auth", required_argument, NULL, O_AUTH},
    {"cafile", required_argument, NULL, O_CAFILE},
    {"insecure", no_argument, NULL, O_INSECURE},
    {"allow-plaintext-auth", no_argument, NULL, O_ALLOW_PLAINTEXT},
    {"ehlo", required_argument, NULL, O_EHLO},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"ipv4", no_argument, NULL, O_IPV4},
    {"ipv6", no_argument, NULL, O_IPV6},
};
const size_t cli_conn_options_count = sizeof cli_conn_options / sizeof *cli_conn_options;

const char cli_conn_help[] =
    "Where to connect (an account, a preset, or explicit flags; flags win):\n"
    "  --account NAME         a saved account (mailfleet account list)\n"
    "  --provider ID          a preset: m365, outlook, gmail, yahoo, icloud, zoho,\n"
    "                         fastmail, generic (default: from the --user domain)\n"
    "  --host HOST --port N   the server; --security starttls|tls|none\n"
    "                         (default starttls; tls on port 465)\n"
    "How to sign in (secrets never go on the command line):\n"
    "  --user ADDRESS         the login; without it no AUTH is attempted\n"
    "  --password-env VAR     take the password (or app password) from $VAR\n"
    "  --password-file FILE   take it from the first line of FILE\n"
    "  --oauth-token-env VAR  an OAuth access token from $VAR (XOAUTH2/OAUTHBEARER)\n"
    "                         (no flag: prompted for on a terminal)\n"
    "  --auth MECH            auto, plain, login, xoauth2, oauthbearer or none\n"
    "  --allow-plaintext-auth allow AUTH without TLS (never do this on the Internet)\n"
    "TLS and transport:\n"
    "  --cafile FILE          trust this CA bundle instead of the system store\n"
    "  --insecure             do not verify the certificate (loudly reported)\n"
    "  --ehlo NAME            the name to greet with (default: this host's name)\n"
    "  --timeout SECONDS      per-command timeout (default 60)\n"
    "  --ipv4, --ipv6         use only that address family\n";

static bool parse_port(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return false;
    *out = (int)v;
    return true;
}

bool cli_conn_option(struct cli_conn *c, int id, const char *arg, bool *bad)
{
    switch (id) {
    case O_ACCOUNT: c->account = arg; return true;
    case O_PROVIDER: c->provider = arg; return true;
    case O_HOST: c->host = arg; return true;
    case O_PORT:
        if (!parse_port(arg, &c->port)) {
            fprintf(stderr, "mailfleet: --port wants a number from 1 to 65535, not \"%s\"\n", arg);
            *bad = true;
        }
        return true;
    case O_SECURITY:
        if (strcmp(arg, "starttls") && strcmp(arg, "tls") && strcmp(arg, "none") &&
            strcmp(arg, "ssl")) {
            fprintf(stderr, "mailfleet: --security is starttls, tls or none, not \"%s\"\n", arg);
            *bad = true;
        }
        c->security = strcmp(arg, "ssl") == 0 ? "tls" : arg;
        return true;
    case O_USER: c->user = arg; return true;
    case O_PASSWORD_ENV: c->password_env = arg; return true;
    case O_PASSWORD_FILE: c->password_file = arg; return true;
    case O_TOKEN_ENV: c->token_env = arg; return true;
    case O_AUTH:
        if (strcasecmp(arg, "auto") && strcasecmp(arg, "none") &&
            sasl_mech_parse(arg, strlen(arg)) == SASL_MECH_NONE) {
            fprintf(stderr, "mailfleet: --auth is auto, none, plain, login, xoauth2 or oauthbearer, not \"%s\"\n", arg);
            *bad = true;
        }
        c->auth = arg;
        return true;
    case O_CAFILE: c->cafile = arg; return true;
    case O_INSECURE: c->insecure = true; return true;
    case O_ALLOW_PLAINTEXT: c->allow_plaintext_auth = true; return true;
    case O_EHLO: c->ehlo = arg; return true;
    case O_TIMEOUT: {
        char *end;
        long v = strtol(arg, &end, 10);
        if (*end || v < 1 || v > 3600) {
            fprintf(stderr, "mailfleet: --timeout wants seconds from 1 to 3600\n");
            *bad = true;
        }
        c->timeout_s = (int)v;
        return true;
    }
    case O_IPV4: c->family = AF_INET; return true;
    case O_IPV6: c->family = AF_INET6; return true;
    default: return false;
    }
}

/* ---- secrets ---------------------------------------------------------------- */


char *cli_secret_from_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mailfleet: cannot read the password file %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        fprintf(stderr, "mailfleet: warning: %s is readable by other users "
                        "(chmod 600 it)\n", path);
    char buf[16385];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    char *s = buf[0] ? strdup(buf) : NULL;
    mf_wipe(buf, (size_t)n);
    if (!s)
        fprintf(stderr, "mailfleet: the password file %s is empty\n", path);
    return s;
}

/* Reads a line from the terminal with echo off. */
static char *secret_from_tty(const char *prompt)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct termios old, quiet;
    bool restored = tcgetattr(fd, &old) != 0;
    if (!restored) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    (void)!write(fd, prompt, strlen(prompt));
    char buf[16385];
    size_t n = 0;
    char ch;
    while (n + 1 < sizeof buf && read(fd, &ch, 1) == 1 && ch != '\n')
        buf[n++] = ch;
    buf[n] = '\0';
    if (!restored)
        tcsetattr(fd, TCSAFLUSH, &old);
    (void)!write(fd, "\n", 1);
    close(fd);
    char *s = n ? strdup(buf) : NULL;
    mf_wipe(buf, n);
    return s;
}

const char *cli_duration(long seconds, char *buf, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 120)
        snprintf(buf, size, "%ld s", seconds);
    else if (seconds < 7200)
        snprintf(buf, size, "%ld min", seconds / 60);
    else
        snprintf(buf, size, "%ld h %ld min", seconds / 3600, seconds % 3600 / 60);
    return buf;
}

/* ---- secrets kept in the encrypted store ------------------------------------ */

struct has_ctx {
    bool password, oauth;
};

static int has_cb(void *ctx, const char *kind, int64_t expires_at, int64_t updated_at)
{
    (void)expires_at, (void)updated_at;
    struct has_ctx *h = ctx;
    if (strcmp(kind, SECRET_PASSWORD) == 0)
        h->password = true;
    else if (strcmp(kind, SECRET_ACCESS_TOKEN) == 0 || strcmp(kind, SECRET_REFRESH_TOKEN) == 0)
        h->oauth = true;
    return 0;
}

/* The account's OAuth token (refreshed when due, or when force) or its stored
 * password. *found is false when the store holds neither. */
static int secret_from_store(struct cli_conn *c, const struct cli_global *g, bool force,
                             bool *found)
{
    *found = false;
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct has_ctx h = {0};
    struct store_oauth o;
    enum mf_rc rc = store_secret_list(st, c->account, has_cb, &h, &e);
    if (rc == MF_OK)
        h.oauth = store_oauth_get(st, c->account, &o, &e) == MF_OK;
    mf_err_clear(&e);
    struct secrets *sec = NULL;
    if (rc == MF_OK && (h.oauth || h.password)) {
        *found = true;
        sec = secrets_open(st, &e);
        rc = sec ? MF_OK : e.rc;
    }
    if (rc == MF_OK && h.oauth) {
        struct oauth_token_info info;
        rc = oauth_account_token(st, sec, c->account, oauth_account_refresh_margin(), force,
                                 &c->secret, &info, &e);
        c->secret_is_token = c->token_from_store = rc == MF_OK;
        if (rc == MF_OK && info.refreshed) {
            char d[32];
            fprintf(stderr, "mailfleet: refreshed the OAuth access token of %s%s", c->account,
                    info.rotated ? " (the refresh token rotated)" : "");
            if (info.expires_at)
                fprintf(stderr, "; valid for %s",
                        cli_duration((long)(info.expires_at - mf_wall_seconds()), d, sizeof d));
            fputc('\n', stderr);
        }
    } else if (rc == MF_OK && h.password) {
        rc = secrets_get(sec, c->account, SECRET_PASSWORD, &c->secret, NULL, &e);
        c->secret_is_token = false;
    }
    secrets_close(sec);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        if (e.reply[0])
            fprintf(stderr, "mailfleet: the provider said: %s\n", e.reply);
        return cli_exit_for(&e);
    }
    return CLI_OK;
}

bool cli_conn_token_retry(struct cli_conn *c, const struct cli_global *g,
                          const struct mf_err *failure)
{
    if (!c->token_from_store || c->token_retried || failure->layer != MF_LAYER_AUTH)
        return false;
    c->token_retried = true;
    fprintf(stderr, "mailfleet: the server refused the OAuth access token; refreshing it "
                    "and trying once more\n");
    char *old = c->secret;
    c->secret = NULL;
    bool found = false;
    if (secret_from_store(c, g, true, &found) != CLI_OK || !found || !c->secret) {
        mf_wipe_free_str(c->secret);
        c->secret = old;
        return false;
    }
    mf_wipe_free_str(old);
    return true;
}

static int read_secret(struct cli_conn *c, const struct cli_global *g)
{
    if (c->secret)
        return CLI_OK; /* already read (test all asks once) */
    if (c->account && !c->secret_flag) {
        bool found = false;
        int rc = secret_from_store(c, g, false, &found);
        if (rc != CLI_OK || found)
            return rc;
    }
    const char *env_name = c->token_env ? c->token_env : c->password_env;
    c->secret_is_token = c->token_env != NULL;
    if (env_name) {
        const char *v = getenv(env_name);
        if (!v || !*v) {
            fprintf(stderr, "mailfleet: $%s is not set or empty\n", env_name);
            return CLI_CONFIG;
        }
        c->secret = strdup(v);
    } else if (c->password_file) {
        c->secret = cli_secret_from_file(c->password_file);
        if (!c->secret)
            return CLI_NOINPUT;
    } else if (isatty(STDIN_FILENO)) {
        char prompt[400];
        snprintf(prompt, sizeof prompt, "Password for %s: ", c->user);
        c->secret = secret_from_tty(prompt);
    }
    if (!c->secret) {
        fprintf(stderr, "mailfleet: no password for %s: use --password-env VAR, "
                        "--password-file FILE or --oauth-token-env VAR, or run on a "
                        "terminal to be asked (or --auth none to skip AUTH)\n", c->user);
        return CLI_CONFIG;
    }
    mf_secret_register(c->secret);
    return CLI_OK;
}

/* ---- resolving a connection ------------------------------------------------ */

struct store *cli_open_store(const struct cli_global *g)
{
    struct mf_err e;
    mf_err_clear(&e);
    struct store *st = store_open(g->db_path, &e);
    if (!st)
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    return st;
}

static void copy_if(char *dst, size_t size, const char *src, const char **field)
{
    if (*field || !src || !*src)
        return;
    snprintf(dst, size, "%s", src);
    *field = dst;
}

static int apply_account(struct cli_conn *c, const struct cli_global *g)
{
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct store_account a;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = store_account_get(st, c->account, &a, &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_ENOTFOUND ? CLI_CONFIG : CLI_IOERR;
    }
    copy_if(c->provider_buf, sizeof c->provider_buf, a.provider, &c->provider);
    if (c->proto == CLI_SMTP) {
        copy_if(c->host_buf, sizeof c->host_buf, a.host, &c->host);
        if (!c->port)
            c->port = a.port;
        if (!c->security)
            c->security = strcmp(a.security, "tls") == 0    ? "tls"
                          : strcmp(a.security, "none") == 0 ? "none" : "starttls";
    } else if (!c->provider && !c->host) {
        /* no preset: the mail server is most often the same host */
        copy_if(c->host_buf, sizeof c->host_buf, a.host, &c->host);
    }
    copy_if(c->user_buf, sizeof c->user_buf, a.user, &c->user);
    copy_if(c->from_buf, sizeof c->from_buf, a.from_addr, &c->from);
    if (!c->password_env && !c->password_file && !c->token_env) {
        copy_if(c->pwenv_buf, sizeof c->pwenv_buf, a.password_env, &c->password_env);
        copy_if(c->pwfile_buf, sizeof c->pwfile_buf, a.password_file, &c->password_file);
    }
    if (!c->auth && a.auth[0] && strcmp(a.auth, "auto") != 0)
        copy_if(c->auth_buf, sizeof c->auth_buf, a.auth, &c->auth);
    return CLI_OK;
}

static int apply_preset(struct cli_conn *c)
{
    const struct provider *p = NULL;
    if (c->provider) {
        p = providers_by_id(c->provider);
        if (!p) {
            fprintf(stderr, "mailfleet: no provider preset \"%s\" (see: mailfleet "
                            "providers)\n", c->provider);
            return CLI_USAGE;
        }
    } else if (!c->host && c->user) {
        p = providers_for_address(c->user);
    }
    const struct provider_endpoint *ep = !p ? NULL
                                         : c->proto == CLI_IMAP ? &p->imap
                                         : c->proto == CLI_POP3 ? &p->pop3 : &p->smtp;
    if (ep && !ep->host && !c->host) {
        fprintf(stderr, "mailfleet: %s has no %s service\n", p->name,
                c->proto == CLI_IMAP ? "IMAP" : c->proto == CLI_POP3 ? "POP3" : "SMTP");
        return CLI_UNAVAILABLE;
    }
    if (ep && ep->host && !c->host) {
        /* --port 465 with a preset that offers it picks that endpoint */
        if (c->proto == CLI_SMTP && c->port && c->port != ep->port && p->smtp_alt.host &&
            p->smtp_alt.port == c->port)
            ep = &p->smtp_alt;
        c->host = ep->host;
        if (!c->port)
            c->port = ep->port;
        if (!c->security)
            c->security = ep->security == PROVIDER_SEC_TLS ? "tls" : "starttls";
    }
    return CLI_OK;
}

int cli_conn_resolve(struct cli_conn *c, const struct cli_global *g)
{
    int rc;
    c->secret_flag = c->password_env || c->password_file || c->token_env;
    if (c->account && (rc = apply_account(c, g)) != CLI_OK)
        return rc;
    if ((rc = apply_preset(c)) != CLI_OK)
        return rc;
    if (!c->host) {
        fprintf(stderr, "mailfleet: no server: give --account NAME, --provider ID, "
                        "--host HOST, or a --user address of a known provider\n");
        return CLI_USAGE;
    }
    static const int implicit_port[] = {[CLI_SMTP] = 465, [CLI_IMAP] = 993, [CLI_POP3] = 995};
    static const int upgrade_port[] = {[CLI_SMTP] = 587, [CLI_IMAP] = 143, [CLI_POP3] = 110};
    /* submission defaults to STARTTLS on 587; mail access to implicit TLS
     * (993/995), as RFC 8314 recommends */
    bool want_tls = c->security ? strcmp(c->security, "tls") == 0 : c->proto != CLI_SMTP;
    if (!c->port)
        c->port = want_tls ? implicit_port[c->proto] : upgrade_port[c->proto];
    if (!c->security && c->proto == CLI_SMTP)
        c->security = c->port == implicit_port[c->proto] ? "tls" : "starttls";
    else if (!c->security)
        c->security = c->port == upgrade_port[c->proto] ? "starttls" : "tls";
    c->sec = strcmp(c->security, "tls") == 0    ? SMTP_SEC_TLS
             : strcmp(c->security, "none") == 0 ? SMTP_SEC_NONE : SMTP_SEC_STARTTLS;
    c->mech = SASL_MECH_NONE;
    c->want_auth = c->user && !(c->auth && strcasecmp(c->auth, "none") == 0);
    if (c->auth && strcasecmp(c->auth, "auto") && strcasecmp(c->auth, "none"))
        c->mech = sasl_mech_parse(c->auth, strlen(c->auth));
    if (c->want_auth && (rc = read_secret(c, g)) != CLI_OK)
        return rc;
    if (c->want_auth && c->secret_is_token && c->mech != SASL_MECH_NONE &&
        !sasl_mech_is_oauth(c->mech)) {
        fprintf(stderr, "mailfleet: an OAuth token goes with --auth xoauth2 or "
                        "oauthbearer, not %s\n", c->auth);
        return CLI_USAGE;
    }
    if (c->insecure)
        cli_warn_insecure("the server's certificate");
    return CLI_OK;
}

void cli_conn_free(struct cli_conn *c)
{
    mf_wipe_free_str(c->secret);
    c->secret = NULL;
}

void cli_conn_run_opts(const struct cli_conn *c, struct smtp_test_opts *o)
{
    memset(o, 0, sizeof *o);
    o->host = c->host;
    o->port = c->port;
    o->family = c->family;
    o->security = c->sec;
    o->helo = c->ehlo;
    o->user = c->want_auth ? c->user : NULL;
    o->secret = c->want_auth ? c->secret : NULL;
    o->secret_is_token = c->secret_is_token;
    o->mech = c->mech;
    o->allow_plaintext_auth = c->allow_plaintext_auth;
    o->cafile = c->cafile;
    o->insecure = c->insecure;
    o->timeout_ms = c->timeout_s * 1000;
}

/* ---- exit codes --------------------------------------------------------------- */

int cli_exit_for(const struct mf_err *err)
{
    switch (err->layer) {
    case MF_LAYER_DNS: return CLI_NOHOST;
    case MF_LAYER_TCP:
        return err->rc == MF_ECONNECT ? CLI_UNAVAILABLE : CLI_TEMPFAIL;
    case MF_LAYER_TLS: return err->rc == MF_ECONFIG ? CLI_CONFIG : CLI_PROTOCOL;
    case MF_LAYER_PROTO: return err->rc == MF_ETEMP ? CLI_TEMPFAIL : CLI_PROTOCOL;
    case MF_LAYER_AUTH:
        return err->rc == MF_ETEMP ? CLI_TEMPFAIL : err->rc == MF_ECONFIG ? CLI_CONFIG
                                                                          : CLI_NOPERM;
    case MF_LAYER_REJECT:
        if (err->rc == MF_ETEMP)
            return CLI_TEMPFAIL;
        return strncmp(err->enhanced, "5.1.", 4) == 0 ? CLI_NOUSER : CLI_UNAVAILABLE;
    case MF_LAYER_FEATURE: return CLI_UNAVAILABLE;
    case MF_LAYER_LOCAL: return err->rc == MF_EINVAL ? CLI_DATAERR : CLI_IOERR;
    default: return CLI_SOFTWARE;
    }
}

/* ---- output -------------------------------------------------------------------- */

static const char *security_label(const char *s)
{
    return !strcmp(s, "tls") ? "implicit TLS" : !strcmp(s, "none") ? "no TLS" : "STARTTLS";
}

void cli_print_rcpts(FILE *out, const struct smtp_test_report *r)
{
    for (size_t i = 0; i < r->nrcpts; i++)
        if (!r->rcpts[i].ok)
            fprintf(out, "recipient %s refused: %d %s %s\n",
                    r->rcpts[i].msg->rcpts[r->rcpts[i].index], r->rcpts[i].code,
                    r->rcpts[i].enhanced, r->rcpts[i].text);
}

void cli_live_printer(void *ctx, char kind, double t_ms, const char *text,
                      const struct diag_step *step)
{
    FILE *out = ctx;
    if (kind == '*')
        fprintf(out, "%8.1f ms  %-8s %s  %s\n", t_ms, step->name,
                step->ok ? "ok  " : "FAIL", step->detail);
    else if (kind == '!')
        fprintf(out, "%8.1f ms  warning  %s\n", t_ms, text);
    else
        fprintf(out, "%8.1f ms      %c: %s\n", t_ms, kind, text);
    fflush(out);
}

static void print_wrapped(FILE *out, const char *label, const char *text)
{
    fprintf(out, "  %-7s", label);
    size_t col = 9;
    const char *p = text;
    while (*p) {
        const char *sp = strchr(p, ' ');
        size_t w = sp ? (size_t)(sp - p) : strlen(p);
        if (col + w > 78 && col > 9) {
            fprintf(out, "\n         ");
            col = 9;
        }
        fprintf(out, "%.*s%s", (int)w, p, sp ? " " : "");
        col += w + 1;
        p += w + (sp ? 1 : 0);
    }
    fputc('\n', out);
}

void cli_print_report(FILE *out, const struct diag_report *r, bool transcript)
{
    if (transcript) {
        fprintf(out, "\nTranscript (secrets redacted):\n");
        const char *t = mf_buf_data(&r->transcript);
        while (*t) {
            const char *nl = strchr(t, '\n');
            size_t n = nl ? (size_t)(nl - t) : strlen(t);
            fprintf(out, "  %.*s\n", (int)n, t);
            t += n + (nl ? 1 : 0);
        }
    }
    fprintf(out, "\n%-9s %-6s %9s  %s\n", "step", "result", "time", "detail");
    for (size_t i = 0; i < r->nsteps; i++) {
        const struct diag_step *s = &r->steps[i];
        fprintf(out, "%-9s %-6s %6.1f ms  %.150s\n", s->name, s->ok ? "ok" : "FAIL",
                s->ms, s->detail);
    }
    if (r->ok) {
        fprintf(out, "\nRESULT: OK  %s %s:%d (%s%s%s)%s%s in %.0f ms%s%s\n", r->protocol,
                r->host, r->port, security_label(r->security), r->have_tls ? ", " : "",
                r->have_tls ? r->tls.version : "", r->auth[0] ? ", AUTH " : "",
                r->auth, r->total_ms, r->summary[0] ? "\n        " : "", r->summary);
        if (r->insecure)
            fprintf(out, "WARNING: the certificate was not verified (--insecure)\n");
        return;
    }
    fprintf(out, "\nRESULT: FAILED %s at %s (layer: %s)\n", r->protocol, r->failed_step,
            mf_layer_name(r->err.layer));
    if (r->err.reply[0])
        fprintf(out, "  %-7s%d %s%s%s\n", "server", r->err.reply_code, r->err.enhanced,
                r->err.enhanced[0] ? " " : "", r->err.reply);
    if (r->err.detail[0])
        print_wrapped(out, "what", r->err.detail);
    if (r->explain) {
        print_wrapped(out, "cause", r->explain->cause);
        print_wrapped(out, "fix", r->explain->fix);
        print_wrapped(out, "see", r->explain->source);
    }
}

void cli_print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        puts(s);
    free(s);
    json_decref(j);
}

char *cli_read_all(FILE *in, size_t *len, bool dot_ends, size_t max)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    while ((got = getline(&line, &line_cap, in)) > 0) {
        size_t l = (size_t)got; /* NUL bytes inside a line are kept */
        bool at_start = n == 0 || buf[n - 1] == '\n';
        if (dot_ends && at_start &&
            ((l == 2 && memcmp(line, ".\n", 2) == 0) ||
             (l == 3 && memcmp(line, ".\r\n", 3) == 0)))
            break;
        if (n + l + 1 > max) {
            fprintf(stderr, "mailfleet: the message is larger than %zu bytes\n", max);
            free(line);
            free(buf);
            return NULL;
        }
        if (n + l + 1 > cap) {
            while (n + l + 1 > cap)
                cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(line);
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + n, line, l);
        n += l;
    }
    free(line);
    if (ferror(in)) {
        fprintf(stderr, "mailfleet: reading the message: %s\n", strerror(errno));
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct store *cli_open_store_secrets(const struct cli_global *g, struct secrets **sec)
{
    struct store *st = cli_open_store(g);
    *sec = NULL;
    if (!st)
        return NULL;
    struct mf_err e;
    mf_err_clear(&e);
    *sec = secrets_open(st, &e);
    if (!*sec)
        fprintf(stderr, "mailfleet: warning: %s (only passwords from the environment or "
                        "files will work)\n", e.detail);
    return st;
}

void cli_warn_insecure(const char *certs)
{
    fprintf(stderr, "mailfleet: WARNING: --insecure: %s will NOT be verified; anyone on the "
                    "path can read the passwords\n", certs);
}

volatile sig_atomic_t cli_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_catch_stop(void)
{
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    signal(SIGPIPE, SIG_IGN);
}

void cli_print_stamped(int64_t t, const char *line)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    printf("%04d-%02d-%02d %02d:%02d:%02dZ %s\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, line);
    fflush(stdout);
}

void cli_pump(struct event_base *base, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

bool cli_long_arg(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool cli_int_arg(const char *s, int lo, int hi, int *out)
{
    long v;
    if (!cli_long_arg(s, lo, hi, &v))
        return false;
    *out = (int)v;
    return true;
}
