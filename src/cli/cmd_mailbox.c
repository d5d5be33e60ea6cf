/* `mailfleet mailbox add|import|list|pause|resume`: sending mailboxes and
 * their limits. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/secrets.h"
#include "cli/cli.h"
#include "diag/providers.h"
#include "engine/csvin.h"
#include "mail/addr.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/tz.h"

static const char usage[] =
    "usage: mailfleet mailbox import FILE.csv\n"
    "       mailfleet mailbox add ACCOUNT [--daily-cap N] [--ramp START:DAYS]\n"
    "                             [--timezone ZONE] [--tenant NAME]\n"
    "                             [--imap-host HOST [--imap-port N]\n"
    "                              [--imap-security tls|starttls|none]]\n"
    "       mailfleet mailbox list\n"
    "       mailfleet mailbox pause|resume ACCOUNT\n"
    "       mailfleet mailbox tenant NAME --daily-external-cap N\n"
    "\n"
    "A mailbox is an account that sends for campaigns. Its provider's limits\n"
    "come from the preset (Microsoft 365: 30 messages a minute, 10,000\n"
    "recipients a day, 3 connections) and are hard ceilings; the daily cap and\n"
    "the ramp (e.g. 5:14 = 5 a day on day 1 rising to the cap on day 14) are yours.\n"
    "\n"
    "CSV columns (header row, any order): email (required), provider (a preset\n"
    "id) or host, port, security; user (default: email); secret (stored\n"
    "encrypted, never in a plain column); daily_cap (default 50); ramp_start,\n"
    "ramp_days (default 5, 14); timezone (default UTC); tenant; from_name;\n"
    "imap_host, imap_port, imap_security.\n"
    "\n"
    "IMAP: mailfleet sync and mailfleet run read each mailbox's folders for\n"
    "replies and bounces (read-only). The server comes from the provider preset\n"
    "(outlook.office365.com:993 for Microsoft 365) or --imap-host; a mailbox\n"
    "without one is not watched, and its sequences do not stop on replies.\n";

struct mb_defaults {
    int daily_cap, ramp_start, ramp_days;
    const char *timezone, *tenant;
    const char *imap_host, *imap_security; /* NULL: the preset's */
    int imap_port;
};

/* The mailbox's IMAP server: the one given, else the preset's when none is
 * stored yet. */
static enum mf_rc save_imap(struct store *st, const struct store_account *a,
                            const struct mb_defaults *d, struct mf_err *e)
{
    struct store_imap m;
    memset(&m, 0, sizeof m);
    snprintf(m.mailbox, sizeof m.mailbox, "%s", a->name);
    if (d->imap_host) {
        const char *sec = d->imap_security ? d->imap_security
                          : d->imap_port == 143 ? "starttls" : "tls";
        snprintf(m.host, sizeof m.host, "%s", d->imap_host);
        snprintf(m.security, sizeof m.security, "%s", sec);
        m.port = d->imap_port ? d->imap_port : !strcmp(sec, "tls") ? 993 : 143;
        return store_imap_put(st, &m, e);
    }
    struct store_imap have;
    if (store_imap_get(st, a->name, &have, e) == MF_OK)
        return MF_OK;
    mf_err_clear(e);
    const struct provider *p = a->provider[0] ? providers_by_id(a->provider)
                                              : providers_for_address(a->user);
    if (!p || !p->imap.host)
        return MF_OK;
    snprintf(m.host, sizeof m.host, "%s", p->imap.host);
    m.port = p->imap.port;
    snprintf(m.security, sizeof m.security, "%s", providers_security_name(p->imap.security));
    return store_imap_put(st, &m, e);
}

static bool security_ok(const char *s)
{
    return !strcmp(s, "tls") || !strcmp(s, "starttls") || !strcmp(s, "none");
}

/* Fills the provider limits of a mailbox from its account's preset. */
static void preset_limits(const struct store_account *a, struct store_mailbox *m)
{
    const struct provider *p = a->provider[0] ? providers_by_id(a->provider)
                                              : providers_for_address(a->user);
    m->per_minute = p && p->limits.messages_per_minute ? p->limits.messages_per_minute : 30;
    m->rcpt_per_day = p && p->limits.recipients_per_day ? p->limits.recipients_per_day : 10000;
    m->max_connections = p && p->limits.max_connections ? p->limits.max_connections : 3;
}

static int save_mailbox(struct store *st, const struct store_account *a,
                        const struct mb_defaults *d, struct mf_err *e)
{
    struct store_mailbox m;
    memset(&m, 0, sizeof m);
    snprintf(m.account, sizeof m.account, "%s", a->name);
    snprintf(m.tenant, sizeof m.tenant, "%s", d->tenant ? d->tenant : "");
    snprintf(m.timezone, sizeof m.timezone, "%s", d->timezone ? d->timezone : "UTC");
    preset_limits(a, &m);
    m.daily_cap = d->daily_cap;
    m.ramp_start = d->ramp_start;
    m.ramp_days = d->ramp_days;
    return store_mailbox_put(st, &m, e) == MF_OK && save_imap(st, a, d, e) == MF_OK
               ? CLI_OK : CLI_DATAERR;
}

static int mailbox_add(const struct cli_global *g, int argc, char **argv)
{
    struct mb_defaults d = {.daily_cap = 50, .ramp_start = 5, .ramp_days = 14};
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--daily-cap") && v && cli_int_arg(v, 0, 100000, &d.daily_cap))
            i++;
        else if (!strcmp(argv[i], "--ramp") && v &&
                 sscanf(v, "%d:%d", &d.ramp_start, &d.ramp_days) == 2 && d.ramp_start >= 0 &&
                 d.ramp_days >= 0 && d.ramp_days <= 365)
            i++;
        else if (!strcmp(argv[i], "--no-ramp"))
            d.ramp_start = d.ramp_days = 0;
        else if (!strcmp(argv[i], "--timezone") && v && mf_tz_valid(v))
            d.timezone = argv[++i];
        else if (!strcmp(argv[i], "--tenant") && v)
            d.tenant = argv[++i];
        else if (!strcmp(argv[i], "--imap-host") && v)
            d.imap_host = argv[++i];
        else if (!strcmp(argv[i], "--imap-port") && v && cli_int_arg(v, 1, 65535, &d.imap_port))
            i++;
        else if (!strcmp(argv[i], "--imap-security") && v && security_ok(v))
            d.imap_security = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            fprintf(stderr, "mailfleet: mailbox add: bad or unknown option \"%s\"\n%s",
                    argv[i], usage);
            return CLI_USAGE;
        }
    }
    if (!name || ((d.imap_port || d.imap_security) && !d.imap_host)) {
        if (name)
            fprintf(stderr, "mailfleet: mailbox add: --imap-port and --imap-security need "
                    "--imap-host\n");
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct store_account a;
    int rc = store_account_get(st, name, &a, &e) == MF_OK ? save_mailbox(st, &a, &d, &e)
                                                           : CLI_CONFIG;
    if (rc == CLI_OK) {
        struct store_mailbox m;
        store_mailbox_get(st, name, &m, &e);
        printf("mailbox %s: %d/min, %d recipients/24 h, %d connections (provider); daily "
               "cap %d, ramp %d -> %d over %d days; %s\n", name, m.per_minute, m.rcpt_per_day,
               m.max_connections, m.daily_cap, m.ramp_start ? m.ramp_start : m.daily_cap,
               m.daily_cap, m.ramp_days, m.timezone);
        struct store_imap im;
        if (store_imap_get(st, name, &im, &e) == MF_OK)
            printf("replies read from imap %s:%d (%s)\n", im.host, im.port, im.security);
        else
            printf("no IMAP server: replies are not read (add --imap-host)\n");
    } else {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    }
    store_close(st);
    return rc;
}

/* ---- import ------------------------------------------------------------------------ */

enum { C_EMAIL, C_PROVIDER, C_HOST, C_PORT, C_SECURITY, C_USER, C_SECRET, C_CAP, C_RAMP_START,
       C_RAMP_DAYS, C_TZ, C_TENANT, C_FROM_NAME, C_IMAP_HOST, C_IMAP_PORT, C_IMAP_SECURITY,
       C_N };
static const char *const col_names[C_N] = {"email", "provider", "host", "port", "security",
                                           "user", "secret", "daily_cap", "ramp_start",
                                           "ramp_days", "timezone", "tenant", "from_name",
                                           "imap_host", "imap_port", "imap_security"};

struct mb_import {
    struct store *st;
    struct secrets *sec;
    size_t col[C_N];
    long ok, rejected;
    struct mf_err *err;
    bool failed;
};

static int on_header(void *ctx, const struct csvin_header *h)
{
    struct mb_import *im = ctx;
    for (int i = 0; i < C_N; i++)
        im->col[i] = csvin_column(h, col_names[i]);
    if (im->col[C_EMAIL] == CSVIN_NO_COLUMN) {
        fprintf(stderr, "mailfleet: line %ld: the header has no \"email\" column\n", h->line);
        im->failed = true;
        return 1;
    }
    return 0;
}

static const char *val(const struct mb_import *im, size_t n, const char *const *v, int c)
{
    size_t i = im->col[c];
    return i != CSVIN_NO_COLUMN && i < n && v[i][0] ? v[i] : NULL;
}

static void reject(struct mb_import *im, long line, const char *why)
{
    im->rejected++;
    fprintf(stderr, "line %ld: rejected: %s\n", line, why);
}

static int on_row(void *ctx, long line, size_t n, const char *const *v)
{
    struct mb_import *im = ctx;
    char addr[ADDR_BUFSIZE];
    const char *why = NULL, *email = val(im, n, v, C_EMAIL);
    if (!email || !addr_normalize(email, addr, sizeof addr, &why)) {
        reject(im, line, why ? why : "no email");
        return 0;
    }
    struct store_account a;
    memset(&a, 0, sizeof a);
    if (strlen(addr) >= sizeof a.name) {
        reject(im, line, "the address is longer than an account name may be (63)");
        return 0;
    }
    memcpy(a.name, addr, strlen(addr) + 1);
    const char *prov = val(im, n, v, C_PROVIDER), *host = val(im, n, v, C_HOST);
    const struct provider *p = prov ? providers_by_id(prov) : host ? NULL
                               : providers_for_address(addr);
    if (prov && !p) {
        reject(im, line, "unknown provider (see mailfleet providers)");
        return 0;
    }
    const char *sec = val(im, n, v, C_SECURITY);
    int port = 0;
    if (val(im, n, v, C_PORT) && !cli_int_arg(val(im, n, v, C_PORT), 1, 65535, &port)) {
        reject(im, line, "port is not 1..65535");
        return 0;
    }
    if (!host && !(p && p->smtp.host)) {
        reject(im, line, "no host and no provider preset for this domain");
        return 0;
    }
    snprintf(a.provider, sizeof a.provider, "%s", p ? p->id : "");
    snprintf(a.host, sizeof a.host, "%s", host ? host : p->smtp.host);
    a.port = port ? port : host ? 587 : p->smtp.port;
    snprintf(a.security, sizeof a.security, "%s",
             sec ? sec : (!host && p->smtp.security == PROVIDER_SEC_TLS) || a.port == 465
                             ? "tls" : "starttls");
    snprintf(a.user, sizeof a.user, "%s", val(im, n, v, C_USER) ? val(im, n, v, C_USER) : addr);
    snprintf(a.from_addr, sizeof a.from_addr, "%s", addr);
    snprintf(a.auth, sizeof a.auth, "auto");
    struct mb_defaults d = {.daily_cap = 50, .ramp_start = 5, .ramp_days = 14,
                            .timezone = val(im, n, v, C_TZ), .tenant = val(im, n, v, C_TENANT)};
    if ((val(im, n, v, C_CAP) && !cli_int_arg(val(im, n, v, C_CAP), 0, 100000, &d.daily_cap)) ||
        (val(im, n, v, C_RAMP_START) &&
         !cli_int_arg(val(im, n, v, C_RAMP_START), 0, 100000, &d.ramp_start)) ||
        (val(im, n, v, C_RAMP_DAYS) && !cli_int_arg(val(im, n, v, C_RAMP_DAYS), 0, 365, &d.ramp_days))) {
        reject(im, line, "daily_cap, ramp_start or ramp_days is not a number in range");
        return 0;
    }
    d.imap_host = val(im, n, v, C_IMAP_HOST);
    d.imap_security = val(im, n, v, C_IMAP_SECURITY);
    if ((val(im, n, v, C_IMAP_PORT) && !cli_int_arg(val(im, n, v, C_IMAP_PORT), 1, 65535,
                                                  &d.imap_port)) ||
        (d.imap_security && !security_ok(d.imap_security)) ||
        ((d.imap_port || d.imap_security) && !d.imap_host)) {
        reject(im, line, "imap_port must be 1..65535, imap_security tls, starttls or none, "
               "and both need imap_host");
        return 0;
    }
    if (d.timezone && !mf_tz_valid(d.timezone)) {
        reject(im, line, "unknown time zone (use an IANA name like Europe/Paris)");
        return 0;
    }
    const char *secret = val(im, n, v, C_SECRET);
    if (secret)
        mf_secret_register(secret);
    struct mf_err *e = im->err;
    if (store_account_put(im->st, &a, true, e) != MF_OK || save_mailbox(im->st, &a, &d, e) ||
        (secret && secrets_put(im->sec, a.name, SECRET_PASSWORD, secret, 0, e) != MF_OK)) {
        fprintf(stderr, "line %ld: %s\n", line, e->detail);
        im->failed = true;
        return 1;
    }
    im->ok++;
    return 0;
}

static int mailbox_import(const struct cli_global *g, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mailfleet: cannot open %s\n", path);
        return CLI_NOINPUT;
    }
    struct store *st = cli_open_store(g);
    struct mf_err e;
    mf_err_clear(&e);
    struct secrets *sec = st ? secrets_open(st, &e) : NULL;
    if (!sec) {
        if (st)
            fprintf(stderr, "mailfleet: %s\n", e.detail);
        store_close(st);
        fclose(f);
        return CLI_CONFIG;
    }
    struct mb_import im = {.st = st, .sec = sec, .err = &e};
    struct csvin_result res;
    /* one transaction: nothing half-imported after an error */
    enum mf_rc rc = store_begin(st, &e);
    if (rc == MF_OK)
        rc = csvin_read(f, path, 0, on_header, on_row, &im, &res, &e);
    if (rc == MF_OK && !im.failed)
        rc = store_commit(st, &e);
    else
        store_rollback(st);
    fclose(f);
    secrets_close(sec);
    store_close(st);
    if (rc != MF_OK || im.failed) {
        if (rc != MF_OK)
            fprintf(stderr, "mailfleet: %s\n", e.detail);
        fprintf(stderr, "mailfleet: nothing was imported\n");
        return CLI_DATAERR;
    }
    printf("imported %ld mailbox%s, rejected %ld (secrets stored encrypted)\n", im.ok,
           im.ok == 1 ? "" : "es", im.rejected);
    return im.rejected ? CLI_DATAERR : CLI_OK;
}

static int list_cb(void *ctx, const struct store_mailbox *m)
{
    (void)ctx;
    printf("%-32s %-7s %4d/min %6d/24h %2d conn  cap %-5d ramp %d:%d  %-16s %s\n",
           m->account, m->status, m->per_minute, m->rcpt_per_day, m->max_connections,
           m->daily_cap, m->ramp_start, m->ramp_days, m->timezone, m->pause_reason);
    return 0;
}

int cmd_mailbox(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "add"))
        return mailbox_add(g, argc - 1, argv + 1);
    if (!strcmp(sub, "import") && argc == 3)
        return mailbox_import(g, argv[2]);
    struct store *st = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    int rc = CLI_USAGE;
    if (!strcmp(sub, "list") && argc == 2 && (st = cli_open_store(g))) {
        rc = store_mailbox_list(st, list_cb, NULL, &e) == MF_OK ? CLI_OK : CLI_IOERR;
    } else if ((!strcmp(sub, "pause") || !strcmp(sub, "resume")) && argc == 3 &&
               (st = cli_open_store(g))) {
        bool pause = !strcmp(sub, "pause");
        rc = store_mailbox_set_status(st, argv[2], pause ? "paused" : "active",
                                      pause ? "paused by the user" : "", &e) == MF_OK
                 ? CLI_OK : CLI_DATAERR;
        if (rc == CLI_OK)
            printf("mailbox %s %s\n", argv[2], pause ? "paused" : "resumed");
    } else if (!strcmp(sub, "tenant") && argc == 5 &&
               !strcmp(argv[3], "--daily-external-cap") && (st = cli_open_store(g))) {
        int cap = 0;
        rc = cli_int_arg(argv[4], 0, 10000000, &cap) &&
                     store_tenant_put(st, argv[2], cap, &e) == MF_OK ? CLI_OK : CLI_USAGE;
    } else {
        fprintf(stderr, "mailfleet: mailbox: bad arguments\n%s", usage);
    }
    if (rc != CLI_OK && e.detail[0])
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    store_close(st);
    return rc;
}
