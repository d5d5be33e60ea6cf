/* `mailfleet test smtp`: prove a mailbox can submit mail, step by step. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mail/msg.h"
#include "util/clock.h"

static const char usage[] =
    "usage: mailfleet test smtp [ACCOUNT] [options]\n"
    "\n"
    "Connects to the SMTP submission server and shows every step, timed:\n"
    "resolve, connect, banner, EHLO, STARTTLS (TLS version, cipher and\n"
    "certificate), EHLO again, AUTH, an optional test message, QUIT. On a\n"
    "failure it says which layer failed, what the server said, what it means\n"
    "and how to fix it. The exit status tells the failing layer (sysexits).\n"
    "\n"
    "  --to ADDRESS           also send a short test message to ADDRESS\n"
    "  --from ADDRESS         its sender (default: the account's or --user)\n"
    "  --json                 print the report as JSON instead\n"
    "  --quiet                print only the summary\n"
    "\n"
    "%s"
    "\n"
    "Examples:\n"
    "  mailfleet test smtp --provider m365 --user me@contoso.com\n"
    "  MF_PW=... mailfleet test smtp --user me@gmail.com --password-env MF_PW --to me@gmail.com\n"
    "  mailfleet test smtp --host mail.example.com --port 465 --auth none\n";

int cmd_test(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fprintf(argc < 2 ? stderr : stdout, usage, cli_conn_help);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "smtp") != 0) {
        fprintf(stderr, "mailfleet: test: unknown protocol \"%s\" (smtp)\n", argv[1]);
        return CLI_USAGE;
    }
    enum { O_TO = 1, O_FROM, O_JSON, O_QUIET, O_HELP };
    struct option opts[40];
    size_t n = 0;
    opts[n++] = (struct option){"to", required_argument, NULL, O_TO};
    opts[n++] = (struct option){"from", required_argument, NULL, O_FROM};
    opts[n++] = (struct option){"json", no_argument, NULL, O_JSON};
    opts[n++] = (struct option){"quiet", no_argument, NULL, O_QUIET};
    opts[n++] = (struct option){"help", no_argument, NULL, O_HELP};
    for (size_t i = 0; i < cli_conn_options_count; i++)
        opts[n++] = cli_conn_options[i];
    opts[n] = (struct option){0};

    struct cli_conn c;
    memset(&c, 0, sizeof c);
    const char *to = NULL, *from = NULL;
    bool json = false, quiet = false, bad = false;
    int ch;
    optind = 1;
    argc--;
    argv++;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == O_TO) to = optarg;
        else if (ch == O_FROM) from = optarg;
        else if (ch == O_JSON) json = true;
        else if (ch == O_QUIET) quiet = true;
        else if (ch == O_HELP || ch == 'h') {
            printf(usage, cli_conn_help);
            return CLI_OK;
        } else if (!cli_conn_option(&c, ch, optarg, &bad))
            return CLI_USAGE;
    }
    if (bad)
        return CLI_USAGE;
    if (optind < argc)
        c.account = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "mailfleet: test smtp: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_USAGE;
    }
    if (to && !msg_address_ok(to)) {
        fprintf(stderr, "mailfleet: --to: not an address: \"%s\"\n", to);
        return CLI_USAGE;
    }
    int rc = cli_conn_resolve(&c, g);
    if (rc != CLI_OK) {
        cli_conn_free(&c);
        return rc;
    }
    struct smtp_test_opts o;
    cli_conn_run_opts(&c, &o);

    struct mf_buf data;
    mf_buf_init(&data, 1 << 20);
    struct smtp_msg msg;
    const char *rcpts[1] = {to};
    if (to) {
        const char *sender = from ? from : c.from ? c.from : c.user;
        struct mf_err e;
        mf_err_clear(&e);
        char body[600];
        snprintf(body, sizeof body,
                 "This is a test message sent by mailfleet test smtp through\n"
                 "%s port %d. If you can read it, this mailbox can send.\n",
                 c.host, c.port);
        if (!sender || msg_build_text(sender, NULL, rcpts, 1, "mailfleet test message",
                                      body, &data, &e) != MF_OK) {
            fprintf(stderr, "mailfleet: test message: %s\n",
                    sender ? e.detail : "give --from ADDRESS");
            mf_buf_free(&data);
            cli_conn_free(&c);
            return CLI_USAGE;
        }
        msg = (struct smtp_msg){.from = sender, .rcpts = rcpts, .nrcpt = 1,
                                .data = mf_buf_data(&data), .len = mf_buf_len(&data)};
        o.msgs = &msg;
        o.nmsgs = 1;
    }
    if (!json && !quiet) {
        printf("mailfleet: testing SMTP submission at %s port %d (%s)%s%s\n", c.host,
               c.port, c.sec == SMTP_SEC_TLS ? "implicit TLS"
                       : c.sec == SMTP_SEC_NONE ? "no TLS" : "STARTTLS",
               o.user ? " as " : ", no AUTH", o.user ? o.user : "");
        o.live = cli_live_printer;
        o.live_ctx = stdout;
    }
    struct smtp_test_report r;
    smtp_test_run(&o, &r);
    if (json)
        cli_print_json(smtp_test_report_json(&r));
    else {
        cli_print_report(stdout, &r.base, false);
        cli_print_rcpts(stdout, &r);
    }
    rc = r.base.ok ? CLI_OK : cli_exit_for(&r.base.err);
    smtp_test_report_free(&r);
    mf_buf_free(&data);
    cli_conn_free(&c);
    return rc;
}
