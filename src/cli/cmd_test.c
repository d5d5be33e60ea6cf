/* `mailfleet test smtp|imap|all`: prove a mailbox works, step by step. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "diag/imap_test.h"
#include "diag/pop3_test.h"
#include "mail/msg.h"

static const char usage[] =
    "usage: mailfleet test smtp|imap|pop3|all [ACCOUNT] [options]\n"
    "\n"
    "Connects and shows every step, timed, with the server's words:\n"
    "  smtp  resolve, connect, banner, EHLO, STARTTLS (TLS version, cipher,\n"
    "        certificate), EHLO again, AUTH, an optional test message, QUIT\n"
    "  imap  resolve, connect, greeting, CAPABILITY, TLS, AUTHENTICATE/LOGIN,\n"
    "        LIST (finds Inbox, Junk, Sent), EXAMINE INBOX, LOGOUT (read-only)\n"
    "  pop3  resolve, connect, greeting, CAPA, TLS, AUTH or USER/PASS, STAT, QUIT\n"
    "  all   SMTP, IMAP and POP3 of one mailbox, then a one-screen summary\n"
    "On a failure it says which layer failed, what the server said, what it\n"
    "means and how to fix it. The exit status tells the failing layer.\n"
    "\n"
    "  --to ADDRESS           smtp: also send a short test message to ADDRESS\n"
    "  --from ADDRESS         its sender (default: the account's or --user)\n"
    "  --json                 print the report as JSON instead\n"
    "  --quiet                print only the summary\n"
    "  --smtp-port N, --imap-port N, --pop3-port N\n"
    "                         test all: ports other than 587 / 993 / 995\n"
    "\n"
    "%s"
    "  (IMAP and POP3 default to implicit TLS on 993 / 995; --security starttls\n"
    "  uses 143 / 110)\n"
    "\n"
    "Examples:\n"
    "  mailfleet test smtp --provider m365 --user me@contoso.com\n"
    "  mailfleet test imap --user me@outlook.com --oauth-token-env TOKEN\n"
    "  MF_PW=... mailfleet test all --user me@gmail.com --password-env MF_PW\n";

struct test_req {
    struct cli_conn c;
    int smtp_port, imap_port, pop3_port; /* test all: per-service ports */
    const char *to, *from;
    bool json, quiet;
};

static void announce(const struct test_req *q, const struct cli_conn *c, const char *what,
                     bool auth)
{
    if (q->json || q->quiet)
        return;
    printf("mailfleet: testing %s at %s port %d (%s)%s%s\n", what, c->host, c->port,
           c->sec == SMTP_SEC_TLS ? "implicit TLS"
           : c->sec == SMTP_SEC_NONE ? "no TLS" : "STARTTLS",
           auth ? " as " : ", no sign-in", auth ? c->user : "");
}

/* Runs the SMTP test; fills *out (caller frees) and returns the exit code. */
static int run_smtp(const struct cli_global *g, struct test_req *q, struct cli_conn *c,
                    struct smtp_test_report *r, bool print)
{
    c->proto = CLI_SMTP;
    int rc = cli_conn_resolve(c, g);
    if (rc != CLI_OK)
        return rc;
    struct smtp_test_opts o;
    cli_conn_run_opts(c, &o);
    struct mf_buf data;
    mf_buf_init(&data, 1 << 20);
    struct smtp_msg msg;
    const char *rcpts[1] = {q->to};
    if (q->to) {
        const char *sender = q->from ? q->from : c->from ? c->from : c->user;
        struct mf_err e;
        mf_err_clear(&e);
        char body[600];
        snprintf(body, sizeof body,
                 "This is a test message sent by mailfleet test smtp through\n"
                 "%s port %d. If you can read it, this mailbox can send.\n",
                 c->host, c->port);
        if (!sender || msg_build_text(sender, NULL, rcpts, 1, "mailfleet test message",
                                      body, &data, &e) != MF_OK) {
            fprintf(stderr, "mailfleet: test message: %s\n",
                    sender ? e.detail : "give --from ADDRESS");
            mf_buf_free(&data);
            return CLI_USAGE;
        }
        msg = (struct smtp_msg){.from = sender, .rcpts = rcpts, .nrcpt = 1,
                                .data = mf_buf_data(&data), .len = mf_buf_len(&data)};
        o.msgs = &msg;
        o.nmsgs = 1;
    }
    if (print && !q->json && !q->quiet) {
        announce(q, c, "SMTP submission", o.user != NULL);
        o.live = cli_live_printer;
        o.live_ctx = stdout;
    }
    while (smtp_test_run(&o, r), !r->base.ok && cli_conn_token_retry(c, g, &r->base.err)) {
        smtp_test_report_free(r);
        memset(r, 0, sizeof *r);
        o.secret = c->secret;
    }
    if (print && q->json) {
        cli_print_json(smtp_test_report_json(r));
    } else if (print) {
        cli_print_report(stdout, &r->base, false);
        cli_print_rcpts(stdout, r);
    }
    mf_buf_free(&data);
    return r->base.ok ? CLI_OK : cli_exit_for(&r->base.err);
}

static int run_imap(const struct cli_global *g, struct test_req *q, struct cli_conn *c,
                    struct imap_test_report *r, bool print)
{
    c->proto = CLI_IMAP;
    int rc = cli_conn_resolve(c, g);
    if (rc != CLI_OK)
        return rc;
    struct smtp_test_opts so;
    cli_conn_run_opts(c, &so);
    struct imap_test_opts o = {
        .host = so.host, .port = so.port, .family = so.family,
        .security = c->sec == SMTP_SEC_TLS ? IMAP_SEC_TLS
                    : c->sec == SMTP_SEC_NONE ? IMAP_SEC_NONE : IMAP_SEC_STARTTLS,
        .user = so.user, .secret = so.secret, .secret_is_token = so.secret_is_token,
        .mech = so.mech, .allow_plaintext_auth = so.allow_plaintext_auth,
        .cafile = so.cafile, .insecure = so.insecure, .timeout_ms = so.timeout_ms,
    };
    if (print && !q->json && !q->quiet) {
        announce(q, c, "IMAP", o.user != NULL);
        o.live = cli_live_printer;
        o.live_ctx = stdout;
    }
    while (imap_test_run(&o, r), !r->base.ok && cli_conn_token_retry(c, g, &r->base.err)) {
        imap_test_report_free(r);
        memset(r, 0, sizeof *r);
        o.secret = c->secret;
    }
    if (print && q->json)
        cli_print_json(imap_test_report_json(r));
    else if (print)
        cli_print_report(stdout, &r->base, false);
    return r->base.ok ? CLI_OK : cli_exit_for(&r->base.err);
}

static int run_pop3(const struct cli_global *g, struct test_req *q, struct cli_conn *c,
                    struct pop3_test_report *r, bool print)
{
    c->proto = CLI_POP3;
    int rc = cli_conn_resolve(c, g);
    if (rc != CLI_OK)
        return rc;
    struct smtp_test_opts so;
    cli_conn_run_opts(c, &so);
    struct pop3_test_opts o = {
        .host = so.host, .port = so.port, .family = so.family,
        .security = c->sec == SMTP_SEC_TLS ? POP3_SEC_TLS
                    : c->sec == SMTP_SEC_NONE ? POP3_SEC_NONE : POP3_SEC_STLS,
        .user = so.user, .secret = so.secret, .secret_is_token = so.secret_is_token,
        .mech = so.mech, .allow_plaintext_auth = so.allow_plaintext_auth,
        .cafile = so.cafile, .insecure = so.insecure, .timeout_ms = so.timeout_ms,
    };
    if (print && !q->json && !q->quiet) {
        announce(q, c, "POP3", o.user != NULL);
        o.live = cli_live_printer;
        o.live_ctx = stdout;
    }
    while (pop3_test_run(&o, r), !r->base.ok && cli_conn_token_retry(c, g, &r->base.err)) {
        pop3_test_report_free(r);
        memset(r, 0, sizeof *r);
        o.secret = c->secret;
    }
    if (print && q->json)
        cli_print_json(pop3_test_report_json(r));
    else if (print)
        cli_print_report(stdout, &r->base, false);
    return r->base.ok ? CLI_OK : cli_exit_for(&r->base.err);
}

static void summary_row(const struct diag_report *r, int rc)
{
    char where[300];
    snprintf(where, sizeof where, "%s:%d", r->host, r->port);
    printf("%-5s %-34s %-8s %-11s %-6s %7.0f ms  %s\n", r->protocol, where,
           r->have_tls ? r->tls.version : r->security, r->auth[0] ? r->auth : "-",
           r->ok ? "ok" : "FAIL", r->total_ms,
           r->ok ? r->summary
                 : (r->explain ? r->explain->fix : r->err.detail));
    (void)rc;
}

static int run_all(const struct cli_global *g, struct test_req *q)
{
    if (q->c.port) {
        fprintf(stderr, "mailfleet: test all uses each service's own port: use "
                        "--smtp-port / --imap-port instead of --port\n");
        return CLI_USAGE;
    }
    struct cli_conn imapc = q->c, popc = q->c;
    q->c.port = q->smtp_port;
    imapc.port = q->imap_port;
    popc.port = q->pop3_port;
    struct smtp_test_report sr;
    struct imap_test_report ir;
    struct pop3_test_report pr;
    memset(&sr, 0, sizeof sr);
    memset(&ir, 0, sizeof ir);
    memset(&pr, 0, sizeof pr);
    bool quiet = q->quiet;
    q->quiet = true;
    int rs = run_smtp(g, q, &q->c, &sr, !q->json);
    bool stop = rs == CLI_USAGE || rs == CLI_CONFIG;
    /* the secret is read once, whatever its source */
    if (q->c.secret) {
        imapc.secret = strdup(q->c.secret);
        popc.secret = strdup(q->c.secret);
        imapc.secret_is_token = popc.secret_is_token = q->c.secret_is_token;
        imapc.token_from_store = popc.token_from_store = q->c.token_from_store;
    }
    int ri = stop ? rs : run_imap(g, q, &imapc, &ir, !q->json);
    int rp = stop ? rs : run_pop3(g, q, &popc, &pr, !q->json);
    q->quiet = quiet;
    if (q->json) {
        cli_print_json(json_pack("{s:o, s:o, s:o}", "smtp", smtp_test_report_json(&sr),
                                 "imap", imap_test_report_json(&ir),
                                 "pop3", pop3_test_report_json(&pr)));
    } else if (!stop) {
        printf("\n%-5s %-34s %-8s %-11s %-6s %10s  %s\n", "PROTO", "SERVER", "TLS", "AUTH",
               "RESULT", "TIME", "NOTE / FIX");
        summary_row(&sr.base, rs);
        summary_row(&ir.base, ri);
        summary_row(&pr.base, rp);
    }
    smtp_test_report_free(&sr);
    imap_test_report_free(&ir);
    pop3_test_report_free(&pr);
    cli_conn_free(&imapc);
    cli_conn_free(&popc);
    return rs != CLI_OK ? rs : ri != CLI_OK ? ri : rp;
}

int cmd_test(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, usage, cli_conn_help);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *what = argv[1];
    if (strcmp(what, "smtp") && strcmp(what, "imap") && strcmp(what, "pop3") &&
        strcmp(what, "all")) {
        fprintf(stderr, "mailfleet: test: unknown protocol \"%s\" (smtp, imap, pop3, all)\n",
                what);
        return CLI_USAGE;
    }
    enum { O_TO = 1, O_FROM, O_JSON, O_QUIET, O_HELP, O_SMTP_PORT, O_IMAP_PORT, O_POP3_PORT };
    struct option opts[40];
    size_t n = 0;
    opts[n++] = (struct option){"to", required_argument, NULL, O_TO};
    opts[n++] = (struct option){"from", required_argument, NULL, O_FROM};
    opts[n++] = (struct option){"json", no_argument, NULL, O_JSON};
    opts[n++] = (struct option){"quiet", no_argument, NULL, O_QUIET};
    opts[n++] = (struct option){"help", no_argument, NULL, O_HELP};
    opts[n++] = (struct option){"smtp-port", required_argument, NULL, O_SMTP_PORT};
    opts[n++] = (struct option){"imap-port", required_argument, NULL, O_IMAP_PORT};
    opts[n++] = (struct option){"pop3-port", required_argument, NULL, O_POP3_PORT};
    for (size_t i = 0; i < cli_conn_options_count; i++)
        opts[n++] = cli_conn_options[i];
    opts[n] = (struct option){0};

    struct test_req q;
    memset(&q, 0, sizeof q);
    bool bad = false;
    int ch;
    optind = 1;
    argc--;
    argv++;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == O_TO) q.to = optarg;
        else if (ch == O_FROM) q.from = optarg;
        else if (ch == O_JSON) q.json = true;
        else if (ch == O_QUIET) q.quiet = true;
        else if (ch == O_SMTP_PORT || ch == O_IMAP_PORT || ch == O_POP3_PORT) {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 65535) {
                fprintf(stderr, "mailfleet: the per-service ports want 1..65535\n");
                return CLI_USAGE;
            }
            *(ch == O_SMTP_PORT ? &q.smtp_port
              : ch == O_IMAP_PORT ? &q.imap_port : &q.pop3_port) = (int)v;
        }
        else if (ch == O_HELP || ch == 'h') {
            printf(usage, cli_conn_help);
            return CLI_OK;
        } else if (!cli_conn_option(&q.c, ch, optarg, &bad))
            return CLI_USAGE;
    }
    if (bad)
        return CLI_USAGE;
    if (optind < argc)
        q.c.account = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "mailfleet: test: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_USAGE;
    }
    if (q.to && !msg_address_ok(q.to)) {
        fprintf(stderr, "mailfleet: --to: not an address: \"%s\"\n", q.to);
        return CLI_USAGE;
    }
    int rc;
    if (!strcmp(what, "smtp")) {
        struct smtp_test_report r;
        memset(&r, 0, sizeof r);
        rc = run_smtp(g, &q, &q.c, &r, true);
        smtp_test_report_free(&r);
    } else if (!strcmp(what, "pop3")) {
        struct pop3_test_report r;
        memset(&r, 0, sizeof r);
        rc = run_pop3(g, &q, &q.c, &r, true);
        pop3_test_report_free(&r);
    } else if (!strcmp(what, "imap")) {
        struct imap_test_report r;
        memset(&r, 0, sizeof r);
        rc = run_imap(g, &q, &q.c, &r, true);
        imap_test_report_free(&r);
    } else {
        rc = run_all(g, &q);
    }
    cli_conn_free(&q.c);
    return rc;
}
