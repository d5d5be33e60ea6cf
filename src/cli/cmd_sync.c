/* `mailfleet sync`, `inbox` and `event reclassify`: what came back to the
 * sending mailboxes, for people. */
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "engine/inbound.h"
#include "engine/render.h"
#include "engine/sync.h"
#include "net/conn.h"
#include "net/dns.h"
#include "util/clock.h"

static const char sync_usage[] =
    "usage: mailfleet sync [--once] [--poll SECONDS] [--no-idle] [--cafile PEM]\n"
    "                      [--insecure] [MAILBOX...]\n"
    "\n"
    "Reads every sending mailbox's folders over IMAP (read-only: EXAMINE and\n"
    "BODY.PEEK; nothing is flagged, moved or deleted) for replies, bounces,\n"
    "auto-replies, complaints and unsubscribes, and applies them: a reply stops\n"
    "the lead's sequences, a hard bounce or a complaint suppresses the address,\n"
    "an out-of-office changes nothing. Mail that answers nothing mailfleet sent\n"
    "is left alone. mailfleet run does this too, beside the sending; use sync\n"
    "when sending runs elsewhere or to catch up once.\n"
    "\n"
    "  --once            check every folder of every mailbox once, then stop\n"
    "  --poll SECONDS    full check interval (default 60); INBOX is watched with\n"
    "                    IDLE in between when the server offers it\n"
    "  --no-idle         poll only\n"
    "  --cafile PEM      extra CA certificates for the IMAP servers\n"
    "  --insecure        do not verify certificates (loudly reported)\n"
    "  MAILBOX...        only these mailboxes (default: every one with an IMAP server)\n"
    "\n"
    "Set a mailbox's IMAP server with mailfleet mailbox add ACCOUNT --imap-host;\n"
    "presets (Microsoft 365, Outlook.com, Gmail, ...) bring their own.\n";

static const char inbox_usage[] =
    "usage: mailfleet inbox [--all] [--since DURATION] [--limit N] [--json]\n"
    "\n"
    "The unified inbox: replies across every mailbox, newest first, with the\n"
    "mailbox, lead, campaign, step answered, how it was matched (strict = by\n"
    "Message-ID; probable = same sender and thread subject) and its first line.\n"
    "\n"
    "  --all             every event made from mail (bounces, auto-replies, ...)\n"
    "  --since DURATION  only newer than this (e.g. 24h, 7d)\n"
    "  --limit N         at most N (default 50; 0 = all)\n"
    "  --json            one JSON array\n";

static const char event_usage[] =
    "usage: mailfleet event reclassify ID KIND\n"
    "       mailfleet event show ID\n"
    "\n"
    "Corrects what the sync decided about a message (the ID is in mailfleet\n"
    "inbox --all and lead show): the effects of the old kind are undone —\n"
    "sequences it stopped resume, suppressions it added go — and the new kind's\n"
    "are applied. KIND: reply, auto-reply, bounce (hard), complaint,\n"
    "unsubscribe, other.\n";

static void print_line(void *ctx, const char *line)
{
    (void)ctx;
    cli_print_stamped(mf_wall_seconds(), line);
}

struct sync_opts {
    bool once, no_idle, insecure;
    int poll;
    const char *cafile;
    const char **only;
    size_t nonly;
};

static int parse_sync(int argc, char **argv, struct sync_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--once"))
            o->once = true;
        else if (!strcmp(argv[i], "--no-idle"))
            o->no_idle = true;
        else if (!strcmp(argv[i], "--insecure"))
            o->insecure = true;
        else if (!strcmp(argv[i], "--cafile") && v)
            o->cafile = argv[++i];
        else if (!strcmp(argv[i], "--poll") && cli_int_arg(v, 5, 1500, &o->poll))
            i++;
        else if (argv[i][0] != '-')
            o->only[o->nonly++] = argv[i];
        else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            if (!help)
                fprintf(stderr, "mailfleet: sync: bad or unknown option \"%s\" (--poll takes "
                        "5..1500 seconds)\n", argv[i]);
            fputs(sync_usage, help ? stdout : stderr);
            return help ? CLI_OK : CLI_USAGE;
        }
    }
    return -1;
}

int cmd_sync(const struct cli_global *g, int argc, char **argv)
{
    const char *only[256];
    struct sync_opts o = {.only = only};
    if (argc > 257) {
        fputs(sync_usage, stderr);
        return CLI_USAGE;
    }
    int prc = parse_sync(argc, argv, &o);
    if (prc >= 0)
        return prc;
    if (o.insecure)
        cli_warn_insecure("the IMAP servers' certificates");
    struct secrets *sec = NULL;
    struct store *st = cli_open_store_secrets(g, &sec);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    unsigned char key[32];
    struct event_base *base = event_base_new();
    struct dns *dns = base ? dns_new(base, &e) : NULL;
    SSL_CTX *tls = dns ? conn_tls_ctx_new(o.cafile, o.insecure, 0, &e) : NULL;
    struct sync *s = NULL;
    int rc = CLI_OK, watched = 0;
    if (!tls || render_unsub_key(st, key, &e) != MF_OK) {
        rc = CLI_SOFTWARE;
    } else {
        struct sync_cfg cfg = {.st = st, .sec = sec, .base = base, .dns = dns, .tls = tls,
                               .unsub_key = key, .poll_s = o.poll, .once = o.once,
                               .no_idle = o.no_idle, .only = o.nonly ? o.only : NULL,
                               .nonly = o.nonly, .note = print_line};
        s = sync_new(&cfg, &e);
        if (!s || sync_start(s, &watched, &e) != MF_OK)
            rc = CLI_SOFTWARE;
    }
    if (rc == CLI_OK && !watched) {
        fprintf(stderr, "mailfleet: sync: no mailbox has an IMAP server%s (mailfleet mailbox "
                "add ACCOUNT --imap-host HOST)\n", o.nonly ? " among those named" : "");
        rc = CLI_CONFIG;
    }
    if (rc == CLI_OK) {
        cli_catch_stop();
        while (sync_active(s) && !cli_stop)
            cli_pump(base, 200);
        sync_stop(s);
        for (int64_t end = mf_now_ms() + 10000; sync_active(s) && mf_now_ms() < end;)
            cli_pump(base, 100);
        const struct sync_stats *x = sync_stats(s);
        printf("sync: %d mailbox%s, %ld check%s, %ld message%s read, %ld new event%s, "
               "%ld seen before, %ld left alone, %ld failure%s\n", watched,
               watched == 1 ? "" : "es", x->checks, x->checks == 1 ? "" : "s", x->fetched,
               x->fetched == 1 ? "" : "s", x->events, x->events == 1 ? "" : "s",
               x->duplicates, x->ignored, x->failures, x->failures == 1 ? "" : "s");
        rc = x->failures ? CLI_TEMPFAIL : CLI_OK;
    } else if (e.detail[0]) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    }
    sync_free(s);
    if (tls)
        conn_tls_ctx_free(tls);
    dns_free(dns);
    if (base)
        event_base_free(base);
    secrets_close(sec);
    store_close(st);
    return rc;
}

/* ---- inbox ----------------------------------------------------------------------------- */

/* "90s", "30m", "24h", "7d" (a bare number is seconds) into seconds. */
static bool parse_duration(const char *s, int64_t *out)
{
    char *end = NULL;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0 || n > 100000000LL)
        return false;
    int64_t unit = !*end || !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60
                   : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : 0;
    *out = n * unit;
    return unit != 0;
}

struct inbox_ctx {
    bool json;
    json_t *arr;
    long n;
};

static int inbox_cb(void *ctx, const struct store_event *ev)
{
    struct inbox_ctx *c = ctx;
    char when[32];
    time_t t = (time_t)ev->at;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    const char *first = ev->summary[0] ? ev->summary : ev->subject;
    c->n++;
    if (c->json) {
        json_array_append_new(c->arr, json_pack(
            "{s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "id",
            (json_int_t)ev->id, "at", when, "kind", ev->kind, "mailbox", ev->mailbox, "lead",
            ev->lead, "campaign", ev->campaign, "step", ev->step, "matched", ev->matched,
            "from", ev->sender, "subject", ev->subject, "first_line", ev->summary, "detail",
            ev->detail));
        return 0;
    }
    printf("%-6" PRId64 " %s  %-11s %-24.24s %-28.28s %-14.14s step %d  %s%s\n   %.110s\n",
           ev->id, when, ev->kind, ev->mailbox, ev->lead, ev->campaign, ev->step,
           ev->matched, strcmp(ev->matched, "probable") ? "" : " (check it)", first);
    return 0;
}

int cmd_inbox(const struct cli_global *g, int argc, char **argv)
{
    bool all = false, json = false;
    long limit = 50;
    int64_t since = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t d = 0;
        if (!strcmp(argv[i], "--all"))
            all = true;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--limit") && cli_long_arg(v, 0, 1000000000L, &limit))
            i++;
        else if (!strcmp(argv[i], "--since") && v && parse_duration(v, &d)) {
            since = mf_wall_seconds() - d;
            i++;
        } else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fputs(inbox_usage, help ? stdout : stderr);
            return help ? CLI_OK : CLI_USAGE;
        }
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct inbox_ctx c = {.json = json, .arr = json ? json_array() : NULL};
    if (!json)
        printf("%-6s %-16s  %-11s %-24s %-28s %-14s %-6s  %s\n", "ID", "WHEN (UTC)", "KIND",
               "MAILBOX", "LEAD", "CAMPAIGN", "STEP", "MATCH / FIRST LINE");
    enum mf_rc rc = store_inbox(st, all, since, (int)limit, inbox_cb, &c, &e);
    if (rc != MF_OK)
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    else if (json)
        cli_print_json(c.arr), c.arr = NULL;
    else if (!c.n)
        printf("(nothing yet: mailfleet sync --once reads the mailboxes)\n");
    json_decref(c.arr);
    store_close(st);
    return rc == MF_OK ? CLI_OK : CLI_IOERR;
}

/* ---- event ----------------------------------------------------------------------------- */

static int event_show(struct store *st, int64_t id)
{
    struct store_event ev;
    struct mf_err e;
    if (store_event_get(st, id, &ev, &e) != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return CLI_DATAERR;
    }
    printf("event %" PRId64 ": %s\n  mailbox %s, lead %s, campaign %s, step %d, match %s\n"
           "  from %s\n  subject %s\n  %s\n", ev.id, ev.kind, ev.mailbox,
           ev.lead[0] ? ev.lead : "-", ev.campaign[0] ? ev.campaign : "-", ev.step,
           ev.matched[0] ? ev.matched : "-", ev.sender[0] ? ev.sender : "-",
           ev.subject[0] ? ev.subject : "-", ev.detail);
    return CLI_OK;
}

int cmd_event(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(event_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    char *end = NULL;
    int64_t id = argc >= 3 ? strtoll(argv[2], &end, 10) : 0;
    enum classify_kind kind = CLASSIFY_OTHER;
    bool show = !strcmp(argv[1], "show") && argc == 3;
    bool re = !strcmp(argv[1], "reclassify") && argc == 4;
    if ((!show && !re) || id <= 0 || *end || (re && !inbound_kind_parse(argv[3], &kind))) {
        fprintf(stderr, "mailfleet: event: bad arguments\n%s", event_usage);
        return CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    int rc = CLI_OK;
    if (show) {
        rc = event_show(st, id);
    } else {
        struct mf_err e;
        mf_err_clear(&e);
        unsigned char key[32];
        struct inbound_cfg ic = {.st = st, .unsub_key = key};
        struct inbound_outcome out;
        if (render_unsub_key(st, key, &e) != MF_OK ||
            inbound_reclassify(&ic, id, kind, mf_wall_seconds(), &out, &e) != MF_OK) {
            fprintf(stderr, "mailfleet: %s\n", e.detail);
            rc = e.rc == MF_ENOTFOUND || e.rc == MF_EINVAL ? CLI_DATAERR : CLI_IOERR;
        } else {
            printf("%s\n", out.note);
        }
    }
    store_close(st);
    return rc;
}
