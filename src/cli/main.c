/* mailfleet: the command line. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"
#include "util/log.h"

static const char usage[] =
    "usage: mailfleet [--db PATH] [-v] COMMAND [ARGS]\n"
    "\n"
    "Set up and prove mailboxes, then send from them without breaking limits.\n"
    "\n"
    "Commands:\n"
    "  test smtp|imap|pop3|all [ACCOUNT]\n"
    "                          prove a mailbox works, step by step, explained\n"
    "  send [ACCOUNT] ...      send a message (file, stdin, or --subject/--body)\n"
    "  sendmail [-t] [-i] ...  a drop-in for sendmail/msmtp in scripts and cron\n"
    "  login ACCOUNT           sign in with OAuth 2.0 (device code, browser, app-only)\n"
    "  logout ACCOUNT          forget (and revoke) the account's OAuth tokens\n"
    "  account add|list|remove saved accounts; secrets only encrypted\n"
    "  mailbox import|add|list|pause|resume   sending mailboxes and their limits\n"
    "  campaign create|start|pause|resume|list   sequences from a YAML file\n"
    "  leads import FILE --campaign NAME       enrol a CSV of leads\n"
    "  run                     send the active campaigns within every limit\n"
    "  status                  mailboxes, limits, sequences, outbox\n"
    "  plan [--hours N]        what run would send, by whom, when (sends nothing)\n"
    "  lead show ADDRESS       a lead's sequences and history\n"
    "  suppress add|remove|list   the do-not-send list\n"
    "  outbox list|resolve     messages whose fate is unknown\n"
    "  classify FILE|DIR... [--json] [--files-from LIST]\n"
    "                          what came back: bounce, reply, auto-reply, ...\n"
    "  serve                   the one-click unsubscribe endpoint (RFC 8058)\n"
    "  sync [--once]           read the mailboxes over IMAP: replies stop sequences\n"
    "  inbox [--all]           replies (and bounces, ...) across every mailbox\n"
    "  event reclassify ID KIND   correct what the sync decided, and its effects\n"
    "  placement run|report    inbox-placement checks among your own mailboxes\n"
    "  providers [ID]          provider presets: servers, sign-in, sending limits\n"
    "  explain \"REPLY\"         what a server reply means and how to fix it\n"
    "\n"
    "Global options:\n"
    "  --db PATH   the store (default $MAILFLEET_DB, else\n"
    "              ~/.local/share/mailfleet/mailfleet.db)\n"
    "  -v          more logging\n"
    "\n"
    "Run 'mailfleet COMMAND --help' for a command's options.\n";

#define FILES_WANTED 65536

int main(int argc, char **argv)
{
    /* tokens and passwords sit in our buffers and in libraries': no core dumps */
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    /* a fleet's run watches every mailbox over IMAP (a session each) beside
     * its SMTP connections: past the usual soft limit of 1,024 descriptors
     * when there are hundreds of mailboxes; the hard limit allows more */
    struct rlimit files;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < FILES_WANTED &&
        files.rlim_cur < files.rlim_max) {
        files.rlim_cur = files.rlim_max < FILES_WANTED ? files.rlim_max : FILES_WANTED;
        setrlimit(RLIMIT_NOFILE, &files);
    }

    /* installed as "sendmail" (symlink), behave as sendmail */
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    struct cli_global g = {.db_path = NULL};
    if (strcmp(prog, "sendmail") == 0)
        return cmd_sendmail(&g, argc, argv);

    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            g.db_path = argv[++i];
        } else if (strcmp(argv[i], "-v") == 0) {
            g.verbose++;
            mf_log_set_level(MF_LOG_DEBUG);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return CLI_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            puts("mailfleet 0.1.0");
            return CLI_OK;
        } else {
            fprintf(stderr, "mailfleet: unknown option %s\n%s", argv[i], usage);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    static const struct {
        const char *name;
        int (*fn)(const struct cli_global *, int, char **);
    } cmds[] = {
        {"test", cmd_test}, {"send", cmd_send}, {"sendmail", cmd_sendmail},
        {"account", cmd_account}, {"providers", cmd_providers},
        {"explain", cmd_explain}, {"login", cmd_login}, {"logout", cmd_logout},
        {"mailbox", cmd_mailbox}, {"campaign", cmd_campaign}, {"leads", cmd_leads},
        {"lead", cmd_lead}, {"suppress", cmd_suppress}, {"outbox", cmd_outbox},
        {"run", cmd_run}, {"status", cmd_status}, {"plan", cmd_plan},
        {"classify", cmd_classify},
        {"serve", cmd_serve}, {"sync", cmd_sync}, {"inbox", cmd_inbox},
        {"event", cmd_event},
        {"placement", cmd_placement},
    };
    for (size_t k = 0; k < sizeof cmds / sizeof *cmds; k++)
        if (strcmp(argv[i], cmds[k].name) == 0) {
            int rc = cmds[k].fn(&g, argc - i, argv + i);
            mf_secret_clear_all();
            return rc;
        }
    fprintf(stderr, "mailfleet: unknown command \"%s\"\n%s", argv[i], usage);
    return CLI_USAGE;
}
