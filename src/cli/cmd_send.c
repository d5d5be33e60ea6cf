/* `mailfleet send` and `mailfleet sendmail`: deliver one message through
 * the submission server, the second as a drop-in for sendmail/msmtp. */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "mail/msg.h"

static const char send_usage[] =
    "usage: mailfleet send [ACCOUNT] [options] [FILE|-]\n"
    "\n"
    "Sends an RFC 5322 message read from FILE or standard input, or one built\n"
    "from --subject and --body. Date and Message-ID are added when missing,\n"
    "Bcc is never sent on.\n"
    "\n"
    "  --to ADDRESS           a recipient (repeat for more)\n"
    "  -t, --read-recipients  also send to the To, Cc and Bcc of the message\n"
    "  --from ADDRESS         envelope sender (default: the From header, the\n"
    "                         account's address, or --user)\n"
    "  --from-name NAME       display name for an added From header\n"
    "  --subject TEXT, --body TEXT  build a plain-text message instead\n"
    "  -v, --verbose          show the SMTP session as it happens\n"
    "  --json                 print the result as JSON\n"
    "\n"
    "%s"
    "\n"
    "Examples:\n"
    "  mailfleet send work --to lead@example.org --subject Hello --body 'Hi there'\n"
    "  mailfleet send --account work -t < message.eml\n";

struct send_req {
    struct cli_conn c;
    const char *to[MSG_MAX_RCPTS];
    size_t nto;
    bool extract, verbose, json, dot_ends;
    const char *from, *from_name, *subject, *body, *file;
};

static int deliver(const struct cli_global *g, struct send_req *q)
{
    int rc = cli_conn_resolve(&q->c, g);
    if (rc != CLI_OK)
        return rc;
    const char *default_from = q->from ? q->from : q->c.from ? q->c.from : q->c.user;
    char *raw = NULL;
    size_t len = 0;
    struct mf_buf built;
    mf_buf_init(&built, MSG_MAX_SIZE);
    struct mf_err e;
    mf_err_clear(&e);
    if (q->subject || q->body) {
        if (!default_from || msg_build_text(default_from, q->from_name, q->to, q->nto,
                                            q->subject, q->body ? q->body : "", &built,
                                            &e) != MF_OK) {
            fprintf(stderr, "mailfleet: %s\n", default_from ? e.detail
                                                            : "no sender: give --from");
            mf_buf_free(&built);
            return CLI_USAGE;
        }
    } else {
        FILE *in = stdin;
        if (q->file && strcmp(q->file, "-") != 0 && !(in = fopen(q->file, "rb"))) {
            fprintf(stderr, "mailfleet: cannot open %s\n", q->file);
            return CLI_NOINPUT;
        }
        raw = cli_read_all(in, &len, q->dot_ends, MSG_MAX_SIZE);
        if (in != stdin)
            fclose(in);
        if (!raw)
            return CLI_IOERR;
    }
    struct msg_opts mo = {.extract_recipients = q->extract, .envelope_from = q->from,
                          .from_name = q->from_name, .default_from = default_from,
                          .rcpts = q->to, .nrcpts = q->nto};
    struct msg_prepared m;
    enum mf_rc mrc = raw ? msg_prepare(raw, len, &mo, &m, &e)
                         : msg_prepare(mf_buf_data(&built), mf_buf_len(&built), &mo, &m, &e);
    free(raw);
    mf_buf_free(&built);
    if (mrc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        msg_prepared_free(&m);
        return CLI_DATAERR;
    }
    struct smtp_msg sm = {.from = m.from, .rcpts = (const char *const *)m.rcpts,
                          .nrcpt = m.nrcpt, .data = mf_buf_data(&m.data),
                          .len = mf_buf_len(&m.data)};
    struct smtp_test_opts o;
    cli_conn_run_opts(&q->c, &o);
    o.msgs = &sm;
    o.nmsgs = 1;
    if (q->verbose && !q->json) {
        o.live = cli_live_printer;
        o.live_ctx = stderr;
    }
    struct smtp_test_report r;
    /* A refused token fails at AUTH, before any message: safe to run again. */
    while (smtp_test_run(&o, &r), !r.base.ok && cli_conn_token_retry(&q->c, g, &r.base.err)) {
        smtp_test_report_free(&r);
        o.secret = q->c.secret;
    }
    if (q->json) {
        json_t *j = smtp_test_report_json(&r);
        json_object_set_new(j, "message_id", json_string(m.message_id));
        cli_print_json(j);
    } else if (r.base.ok) {
        size_t refused = 0;
        for (size_t i = 0; i < r.nrcpts; i++)
            refused += !r.rcpts[i].ok;
        if (q->verbose || refused) {
            cli_print_report(stderr, &r.base, false);
            cli_print_rcpts(stderr, &r);
        } else {
            fprintf(stderr, "mailfleet: sent <%s> to %zu recipient(s) via %s:%d\n",
                    m.message_id, m.nrcpt - refused, r.base.host, r.base.port);
        }
    } else {
        cli_print_report(stderr, &r.base, false);
        cli_print_rcpts(stderr, &r);
    }
    rc = r.base.ok ? CLI_OK : cli_exit_for(&r.base.err);
    smtp_test_report_free(&r);
    msg_prepared_free(&m);
    return rc;
}

int cmd_send(const struct cli_global *g, int argc, char **argv)
{
    enum { O_TO = 1, O_FROM, O_FROM_NAME, O_SUBJECT, O_BODY, O_JSON, O_HELP, O_T };
    struct option opts[40];
    size_t n = 0;
    opts[n++] = (struct option){"to", required_argument, NULL, O_TO};
    opts[n++] = (struct option){"from", required_argument, NULL, O_FROM};
    opts[n++] = (struct option){"from-name", required_argument, NULL, O_FROM_NAME};
    opts[n++] = (struct option){"subject", required_argument, NULL, O_SUBJECT};
    opts[n++] = (struct option){"body", required_argument, NULL, O_BODY};
    opts[n++] = (struct option){"json", no_argument, NULL, O_JSON};
    opts[n++] = (struct option){"read-recipients", no_argument, NULL, O_T};
    opts[n++] = (struct option){"verbose", no_argument, NULL, 'v'};
    opts[n++] = (struct option){"help", no_argument, NULL, O_HELP};
    for (size_t i = 0; i < cli_conn_options_count; i++)
        opts[n++] = cli_conn_options[i];
    opts[n] = (struct option){0};

    struct send_req q;
    memset(&q, 0, sizeof q);
    bool bad = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "tvh", opts, NULL)) != -1) {
        switch (ch) {
        case O_TO:
            if (q.nto == MSG_MAX_RCPTS) {
                fprintf(stderr, "mailfleet: too many --to\n");
                return CLI_USAGE;
            }
            q.to[q.nto++] = optarg;
            break;
        case O_FROM: q.from = optarg; break;
        case O_FROM_NAME: q.from_name = optarg; break;
        case O_SUBJECT: q.subject = optarg; break;
        case O_BODY: q.body = optarg; break;
        case O_JSON: q.json = true; break;
        case 't': case O_T: q.extract = true; break;
        case 'v': q.verbose = true; break;
        case 'h': case O_HELP:
            printf(send_usage, cli_conn_help);
            return CLI_OK;
        default:
            if (!cli_conn_option(&q.c, ch, optarg, &bad))
                return CLI_USAGE;
        }
    }
    if (bad)
        return CLI_USAGE;
    /* one positional: an account name or a file; two: account then file */
    if (optind < argc && !q.c.account && argc - optind >= 2)
        q.c.account = argv[optind++];
    if (optind < argc) {
        const char *a = argv[optind];
        FILE *probe = strcmp(a, "-") == 0 ? NULL : fopen(a, "rb");
        if (probe || strcmp(a, "-") == 0 || q.c.account) {
            if (probe)
                fclose(probe);
            q.file = a;
        } else {
            q.c.account = a;
        }
        optind++;
    }
    if (optind < argc) {
        fprintf(stderr, "mailfleet: send: unexpected argument \"%s\"\n", argv[optind]);
        return CLI_USAGE;
    }
    int rc = deliver(g, &q);
    cli_conn_free(&q.c);
    return rc;
}

static const char sendmail_usage[] =
    "usage: mailfleet sendmail [-t] [-i] [-f FROM] [-F NAME] [-a ACCOUNT] [RECIPIENT...]\n"
    "\n"
    "A drop-in for sendmail and msmtp: reads a message on standard input and\n"
    "submits it through a saved account (-a NAME, else $MAILFLEET_ACCOUNT,\n"
    "else the account named \"default\", else the only account).\n"
    "  -t        send to the To, Cc and Bcc of the message as well\n"
    "  -i, -oi   a line with a single dot does not end the input\n"
    "  -f FROM   envelope sender (also -r); -F NAME the sender's name\n"
    "  -v        show the SMTP session\n"
    "Accepted and ignored: -B TYPE, -o*, -N DSN, -R RET, -V ID, -X FILE,\n"
    "-C FILE, -bm, -m, -U. Exit status follows sysexits.h (75 = try later).\n";

static int pick_account(const struct cli_global *g, char *buf, size_t size);

int cmd_sendmail(const struct cli_global *g, int argc, char **argv)
{
    struct send_req q;
    memset(&q, 0, sizeof q);
    q.dot_ends = true;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        /* flags that take a value, attached (-fme@x) or separate (-f me@x) */
        char f = a[1];
        const char *val = NULL;
        if (strchr("fFrBNRVXCaL", f)) {
            val = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                fprintf(stderr, "mailfleet sendmail: %s needs a value\n", a);
                return CLI_USAGE;
            }
        }
        switch (f) {
        case 't': q.extract = true; break;
        case 'i': q.dot_ends = false; break;
        case 'o': if (strcmp(a, "-oi") == 0) q.dot_ends = false; break;
        case 'f': case 'r': q.from = strcmp(val, "<>") == 0 ? "" : val; break;
        case 'F': q.from_name = val; break;
        case 'a': q.c.account = val; break;
        case 'v': q.verbose = true; break;
        case 'b':
            if (strcmp(a, "-bm") != 0) {
                fprintf(stderr, "mailfleet sendmail: mode %s is not supported "
                                "(only sending, -bm)\n", a);
                return CLI_USAGE;
            }
            break;
        case 'h':
            printf("%s", sendmail_usage);
            return CLI_OK;
        case 'B': case 'N': case 'R': case 'V': case 'X': case 'C': case 'L':
        case 'p': case 'm': case 'U': case 'G': case 'e':
            break; /* sendmail options that do not apply here */
        default:
            fprintf(stderr, "mailfleet sendmail: unknown option %s\n", a);
            return CLI_USAGE;
        }
    }
    for (; i < argc; i++) {
        if (q.nto == MSG_MAX_RCPTS)
            return CLI_USAGE;
        q.to[q.nto++] = argv[i];
    }
    char acct[64];
    if (!q.c.account) {
        int rc = pick_account(g, acct, sizeof acct);
        if (rc != CLI_OK)
            return rc;
        q.c.account = acct;
    }
    int rc = deliver(g, &q);
    cli_conn_free(&q.c);
    return rc;
}

struct pick {
    char first[64];
    int count;
    bool has_default;
};

static int pick_cb(void *ctx, const struct store_account *a)
{
    struct pick *p = ctx;
    if (p->count++ == 0)
        snprintf(p->first, sizeof p->first, "%s", a->name);
    if (strcmp(a->name, "default") == 0)
        p->has_default = true;
    return 0;
}

static int pick_account(const struct cli_global *g, char *buf, size_t size)
{
    const char *env = getenv("MAILFLEET_ACCOUNT");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return CLI_OK;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct pick p = {.count = 0};
    struct mf_err e;
    store_account_list(st, pick_cb, &p, &e);
    store_close(st);
    if (p.has_default || p.count == 1) {
        snprintf(buf, size, "%s", p.has_default ? "default" : p.first);
        return CLI_OK;
    }
    fprintf(stderr, "mailfleet sendmail: %s: name one with -a NAME or "
                    "$MAILFLEET_ACCOUNT (see: mailfleet account add)\n",
            p.count ? "several accounts and none is named \"default\"" : "no account");
    return CLI_CONFIG;
}
