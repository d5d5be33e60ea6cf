/* `mailfleet placement run|report`: inbox-placement checks among the
 * user's own mailboxes (engine/placement), for people. */
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "engine/placement.h"
#include "net/conn.h"
#include "net/dns.h"
#include "util/buf.h"
#include "util/clock.h"

#define MAX_NAMED 256

static const char usage[] =
    "usage: mailfleet placement run [--from MAILBOX]... [--seed ACCOUNT]...\n"
    "                               [--wait SECONDS] [--pause-below PERCENT]\n"
    "                               [--cafile PEM] [--insecure] [--json]\n"
    "       mailfleet placement report [--run ID] [--json]\n"
    "\n"
    "Does mail from a mailbox land in the Inbox or in Junk? `run` sends one probe\n"
    "from each sender to each seed - a short plain message whose Subject and\n"
    "X-Mailfleet-Probe header carry a random token - then searches each seed over\n"
    "IMAP (INBOX, and its junk folder: the one marked \\Junk, else Junk, Junk\n"
    "E-mail, Spam, Bulk Mail, [Gmail]/Spam) every 5 seconds until every probe is\n"
    "found or the wait is over, records the run and prints a matrix:\n"
    "\n"
    "  SENDER \\ SEED  gmail-seed   outlook-seed\n"
    "  sales1         inbox 4.0s   junk 12s\n"
    "  sales2         missing      refused\n"
    "\n"
    "Seeds are your own mailboxes OUTSIDE the sender's organisation: another\n"
    "provider, another company's tenant. A pair whose sender and seed share an\n"
    "address domain (or one is a subdomain of the other) or a mailbox tenant is\n"
    "refused, and so is a seed that is the sender: mail that stays inside one\n"
    "organisation is delivered internally, and internal delivery says nothing\n"
    "about how outside filters treat you.\n"
    "\n"
    "Probes are not engagement. mailfleet only looks for them (EXAMINE and UID\n"
    "SEARCH, read-only): it never opens, flags, moves, answers or deletes them,\n"
    "and never pulls mail out of Junk to train filters (what fake \"warmup\"\n"
    "networks do). They stay where they landed; delete them yourself if you like.\n"
    "\n"
    "  --from MAILBOX       a sender (repeat; default: every active mailbox). A\n"
    "                       paused mailbox may be named: check it before resuming\n"
    "  --seed ACCOUNT       a seed: a mailbox with an IMAP server (repeat; default:\n"
    "                       every mailbox with an IMAP server but the sender)\n"
    "  --wait SECONDS       how long to look for the probes (default 300)\n"
    "  --pause-below PCT    pause a sender whose probes reached the inbox in fewer\n"
    "                       than PCT% of its checked pairs (default 0: never); the\n"
    "                       reason carries the numbers (mailfleet status shows it;\n"
    "                       mailfleet mailbox resume undoes it)\n"
    "  --cafile PEM         extra CA certificates for the servers\n"
    "  --insecure           do not verify certificates (loudly reported)\n"
    "  --json               one JSON object instead of the matrix\n"
    "  --run ID             report: that run (default: the latest)\n"
    "\n"
    "Cells: inbox / junk with the time from the send's 250 to the look that found\n"
    "it (to the nearest 5 s poll); missing: looked for and not found; unread: the\n"
    "seed could not be searched; not sent: the sender's server refused (why is\n"
    "printed below the matrix); refused: the pair rule. A sender's inbox rate\n"
    "counts inbox, junk and missing only.\n"
    "\n"
    "Exit status: 0 every probe that was sent reached an inbox; 1 a probe landed in\n"
    "junk or went missing; 75 none did, but the check is incomplete (a probe was\n"
    "not sent, or a seed could not be read): run it again; 78 nothing to check (no\n"
    "sender, no seed, every pair refused); 64 bad usage; 65 no such mailbox or\n"
    "run; 74 the store failed. report exits 0 when it printed a run.\n";

static void print_note(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "placement: %s\n", line);
}

struct run_opts {
    const char *from[MAX_NAMED], *seed[MAX_NAMED];
    size_t nfrom, nseed;
    int wait_s, pause_below;
    const char *cafile;
    bool insecure, json;
    int64_t run_id;
};

/* -1: go on; else the exit status. */
static int parse(int argc, char **argv, bool report, struct run_opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n = 0;
        if (!report && !strcmp(a, "--from") && v && o->nfrom < MAX_NAMED)
            o->from[o->nfrom++] = argv[++i];
        else if (!report && !strcmp(a, "--seed") && v && o->nseed < MAX_NAMED)
            o->seed[o->nseed++] = argv[++i];
        else if (!report && !strcmp(a, "--wait") && cli_long_arg(v, 5, 86400, &n))
            o->wait_s = (int)n, i++;
        else if (!report && !strcmp(a, "--pause-below") && cli_long_arg(v, 0, 100, &n))
            o->pause_below = (int)n, i++;
        else if (!report && !strcmp(a, "--cafile") && v)
            o->cafile = argv[++i];
        else if (!report && !strcmp(a, "--insecure"))
            o->insecure = true;
        else if (report && !strcmp(a, "--run") && cli_long_arg(v, 1, 1000000000L, &n))
            o->run_id = n, i++;
        else if (!strcmp(a, "--json"))
            o->json = true;
        else {
            bool help = !strcmp(a, "--help") || !strcmp(a, "-h");
            if (!help)
                fprintf(stderr, "mailfleet: placement %s: bad or unknown option \"%s\" (--wait "
                        "takes 5..86400 seconds, --pause-below 0..100)\n", argv[1], a);
            fputs(usage, help ? stdout : stderr);
            return help ? CLI_OK : CLI_USAGE;
        }
    }
    return -1;
}

/* ---- the pairs ------------------------------------------------------------------------ */

struct names {
    char (*v)[64];
    size_t n, cap;
    bool nomem;
};

static void names_add(struct names *l, const char *name)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        char(*nv)[64] = realloc(l->v, ncap * sizeof *nv);
        if (!nv) {
            l->nomem = true;
            return;
        }
        l->v = nv;
        l->cap = ncap;
    }
    snprintf(l->v[l->n++], 64, "%s", name);
}

static int active_cb(void *ctx, const struct store_mailbox *m)
{
    if (!strcmp(m->status, "active"))
        names_add(ctx, m->account);
    return 0;
}

static int imap_cb(void *ctx, const struct store_imap *m)
{
    names_add(ctx, m->mailbox);
    return 0;
}

/* Adds every pair; prints what is wrong. CLI_OK or an exit status. */
static int add_pairs(struct placement *p, struct store *st, const struct run_opts *o)
{
    struct names senders = {0}, seeds = {0};
    struct mf_err e;
    mf_err_clear(&e);
    int rc = CLI_OK;
    for (size_t i = 0; i < o->nfrom; i++)
        names_add(&senders, o->from[i]);
    for (size_t i = 0; i < o->nseed; i++)
        names_add(&seeds, o->seed[i]);
    if ((!o->nfrom && store_mailbox_list(st, active_cb, &senders, &e) != MF_OK) ||
        (!o->nseed && store_imap_list(st, imap_cb, &seeds, &e) != MF_OK)) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        rc = CLI_IOERR;
    } else if (senders.nomem || seeds.nomem) {
        fprintf(stderr, "mailfleet: out of memory\n");
        rc = CLI_OSERR;
    } else if (!senders.n || !seeds.n) {
        fprintf(stderr, "mailfleet: placement run: no %s (%s)\n", senders.n ? "seed" : "sender",
                senders.n ? "seeds are mailboxes with an IMAP server: mailfleet mailbox add "
                            "ACCOUNT --imap-host HOST"
                          : "no active mailbox: mailfleet mailbox add ACCOUNT, or name a "
                            "paused one with --from");
        rc = CLI_CONFIG;
    }
    size_t added = 0;
    for (size_t i = 0; rc == CLI_OK && i < senders.n; i++)
        for (size_t j = 0; rc == CLI_OK && j < seeds.n; j++) {
            /* by default a mailbox is not its own seed; named, the rule says why not */
            if (!o->nseed && !strcmp(senders.v[i], seeds.v[j]))
                continue;
            if (placement_add(p, senders.v[i], seeds.v[j], &e) != MF_OK) {
                fprintf(stderr, "mailfleet: placement run: %s\n", e.detail);
                rc = e.rc == MF_ENOTFOUND || e.rc == MF_EINVAL ? CLI_DATAERR : CLI_IOERR;
            }
            added++;
        }
    if (rc == CLI_OK && !added) {
        fprintf(stderr, "mailfleet: placement run: no pair to check: the only seed is the "
                "sender (add a mailbox at another provider with --imap-host)\n");
        rc = CLI_CONFIG;
    }
    free(senders.v);
    free(seeds.v);
    return rc;
}

/* ---- output --------------------------------------------------------------------------- */

static json_t *pairs_json(const struct placement_pair *x, size_t n, int64_t run, int pause_below)
{
    json_t *arr = json_array(), *snd = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:s}", "sender", x[i].sender, "seed",
            x[i].seed, "from", x[i].from, "to", x[i].to, "token", x[i].token, "result",
            x[i].seed_unread ? "unread" : placement_result_name(x[i].result), "folder",
            x[i].folder, "sent_at", (json_int_t)x[i].sent_at, "delay_ms",
            x[i].delay_ms >= 0 ? json_integer((json_int_t)x[i].delay_ms) : json_null(),
            "detail", x[i].detail));
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(x[j].sender, x[i].sender);
        if (seen)
            continue;
        struct placement_tally t;
        char reason[512] = "";
        placement_tally(x, n, x[i].sender, &t);
        bool paused = placement_below(&t, pause_below, x[i].sender, reason, sizeof reason);
        json_array_append_new(snd, json_pack(
            "{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:b, s:s}", "sender", x[i].sender,
            "inbox", t.inbox, "junk", t.junk, "missing", t.missing, "unread", t.unread,
            "not_sent", t.not_sent, "refused", t.refused, "checked", t.checked, "inbox_percent",
            t.checked ? json_integer(t.inbox * 100 / t.checked) : json_null(), "paused", paused,
            "reason", reason));
    }
    return json_pack("{s:I, s:o, s:o}", "run", (json_int_t)run, "pairs", arr, "senders", snd);
}

static int print_matrix(const struct placement_pair *x, size_t n)
{
    struct mf_buf b;
    mf_buf_init(&b, 4u << 20);
    enum mf_rc rc = placement_matrix_text(x, n, &b);
    if (rc == MF_OK)
        fputs(mf_buf_data(&b), stdout);
    mf_buf_free(&b);
    if (rc != MF_OK)
        fprintf(stderr, "mailfleet: the matrix does not fit in memory\n");
    return rc == MF_OK ? CLI_OK : CLI_OSERR;
}

/* The exit status a run's results call for. */
static int results_status(const struct placement_pair *x, size_t n)
{
    bool bad = false, incomplete = false, any = false;
    for (size_t i = 0; i < n; i++) {
        enum placement_result r = x[i].result;
        any = any || r != PLACEMENT_REFUSED;
        bad = bad || r == PLACEMENT_JUNK || (r == PLACEMENT_MISSING && !x[i].seed_unread);
        incomplete = incomplete || r == PLACEMENT_NOT_SENT || r == PLACEMENT_PENDING ||
                     (r == PLACEMENT_MISSING && x[i].seed_unread);
    }
    return !any ? CLI_CONFIG : bad ? 1 : incomplete ? CLI_TEMPFAIL : CLI_OK;
}

/* ---- run ------------------------------------------------------------------------------ */

static int placement_cmd_run(const struct cli_global *g, struct run_opts *o)
{
    if (o->insecure)
        cli_warn_insecure("the servers' certificates");
    struct secrets *sec = NULL;
    struct store *st = cli_open_store_secrets(g, &sec);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct event_base *base = event_base_new();
    struct dns *dns = base ? dns_new(base, &e) : NULL;
    SSL_CTX *tls = dns ? conn_tls_ctx_new(o->cafile, o->insecure, 0, &e) : NULL;
    struct placement *p = NULL;
    int rc = CLI_OK;
    if (!tls) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        rc = CLI_SOFTWARE;
    } else {
        struct placement_cfg cfg = {.st = st, .sec = sec, .base = base, .dns = dns, .tls = tls,
                                    .wait_s = o->wait_s, .note = print_note};
        if (!(p = placement_new(&cfg, &e))) {
            fprintf(stderr, "mailfleet: %s\n", e.detail);
            rc = CLI_SOFTWARE;
        }
    }
    if (rc == CLI_OK)
        rc = add_pairs(p, st, o);
    if (rc == CLI_OK && placement_start(p, &e) != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        rc = CLI_OSERR;
    }
    if (rc == CLI_OK) {
        cli_catch_stop();
        bool stopped = false;
        while (placement_running(p)) {
            if (cli_stop && !stopped) {
                fprintf(stderr, "placement: stopping: probes not found yet count as "
                        "missing (unread where never looked for)\n");
                placement_stop(p);
                stopped = true;
            }
            cli_pump(base, 200);
        }
        int64_t run = 0;
        size_t n = 0;
        const struct placement_pair *x = placement_pairs(p, &n);
        if (placement_save(p, o->pause_below, &run, &e) != MF_OK) {
            fprintf(stderr, "mailfleet: %s\n", e.detail);
            rc = CLI_IOERR;
        } else if (o->json) {
            cli_print_json(pairs_json(x, n, run, o->pause_below));
        } else {
            printf("placement run %" PRId64 " (%zu pair%s, looked for up to %d s)\n\n", run, n,
                   n == 1 ? "" : "s", o->wait_s);
            rc = print_matrix(x, n);
        }
        if (rc == CLI_OK)
            rc = results_status(x, n);
    }
    placement_free(p);
    if (tls)
        conn_tls_ctx_free(tls);
    dns_free(dns);
    if (base)
        event_base_free(base);
    secrets_close(sec);
    store_close(st);
    return rc;
}

static int placement_cmd_report(const struct cli_global *g, const struct run_opts *o)
{
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct placement_pair *x = NULL;
    size_t n = 0;
    int64_t run = 0;
    int rc = CLI_OK;
    if (placement_load(st, o->run_id, &x, &n, &run, &e) != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        rc = e.rc == MF_ENOTFOUND ? CLI_DATAERR : CLI_IOERR;
    } else if (o->json) {
        cli_print_json(pairs_json(x, n, run, 0));
    } else {
        int64_t at = 0;
        for (size_t i = 0; i < n; i++)
            if (x[i].sent_at > at)
                at = x[i].sent_at;
        char when[32] = "-";
        time_t t = (time_t)at;
        struct tm tm;
        if (at && gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        printf("placement run %" PRId64 " (%zu pair%s, sent %s)\n\n", run, n, n == 1 ? "" : "s",
               when);
        rc = print_matrix(x, n);
    }
    free(x);
    store_close(st);
    return rc;
}

int cmd_placement(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    bool report = !strcmp(argv[1], "report");
    if (!report && strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "mailfleet: placement: unknown subcommand \"%s\"\n%s", argv[1], usage);
        return CLI_USAGE;
    }
    static struct run_opts o;
    memset(&o, 0, sizeof o);
    o.wait_s = 300;
    int prc = parse(argc, argv, report, &o);
    if (prc >= 0)
        return prc;
    return report ? placement_cmd_report(g, &o) : placement_cmd_run(g, &o);
}
