/*
 * cli — the `mailfleet` command. One file per subcommand; shared pieces
 * (connection options, secrets, exit codes, report printing) live in
 * cli_common.c. Only cli/ calls exit() or prints to the user.
 */
#ifndef MF_CLI_H
#define MF_CLI_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag/smtp_test.h"
#include "engine/store.h"

/* sysexits.h values, named here so every command maps failures alike. */
enum cli_exit {
    CLI_OK = 0, CLI_USAGE = 64, CLI_DATAERR = 65, CLI_NOINPUT = 66,
    CLI_NOUSER = 67, CLI_NOHOST = 68, CLI_UNAVAILABLE = 69, CLI_SOFTWARE = 70,
    CLI_OSERR = 71, CLI_IOERR = 74, CLI_TEMPFAIL = 75, CLI_PROTOCOL = 76,
    CLI_NOPERM = 77, CLI_CONFIG = 78,
};

struct cli_global {
    const char *db_path;     /* --db, else the default */
    int verbose;
};

/* Which service a connection is for: picks the preset's endpoint and the
 * default ports (587/465, 993/143, 995/110). */
enum cli_proto { CLI_SMTP, CLI_IMAP, CLI_POP3 };

/* Where a connection goes and how it signs in, from an account, a preset
 * and flags (flags win). */
struct cli_conn {
    const char *account;
    const char *provider;
    const char *host;
    int port;
    const char *security;
    const char *user;
    const char *password_env;
    const char *password_file;
    const char *token_env;
    const char *auth;        /* auto, none, plain, login, xoauth2, oauthbearer */
    const char *cafile;
    const char *ehlo;
    const char *from;        /* default sender from the account */
    bool insecure;
    bool allow_plaintext_auth;
    int timeout_s;
    int family;
    /* filled by cli_conn_resolve */
    char host_buf[256];
    char user_buf[320];
    char from_buf[320];
    char provider_buf[32];
    char pwenv_buf[128];
    char pwfile_buf[1024];
    char auth_buf[16];
    char *secret;            /* owned, wiped by cli_conn_free */
    bool secret_is_token;
    bool secret_flag;        /* the secret's source was given on the command line */
    bool token_from_store;   /* an OAuth token of the account's stored sign-in */
    bool token_retried;      /* ...already refreshed once after a refusal */
    enum smtp_security sec;
    enum sasl_mech mech;
    bool want_auth;
    enum cli_proto proto;        /* set before cli_conn_resolve */
};

/* Connection flags shared by test, send and sendmail: getopt_long entries
 * with these ids; cli_conn_option() consumes one. */
#define CLI_CONN_OPTION_BASE 1000
extern const struct option cli_conn_options[];
extern const size_t cli_conn_options_count;
/* Returns true if `id` was a connection option (value in optarg). On a bad
 * value prints why and returns true with *bad set. */
bool cli_conn_option(struct cli_conn *c, int id, const char *arg, bool *bad);
extern const char cli_conn_help[];

/* Fills the connection from the store/preset/flags and reads the secret.
 * Returns CLI_OK or an exit code after printing why. */
int cli_conn_resolve(struct cli_conn *c, const struct cli_global *g);
void cli_conn_free(struct cli_conn *c);
/* After a failed run: when the server refused a stored OAuth token, refreshes
 * it once (says so on stderr) and returns true: run again with c->secret. */
bool cli_conn_token_retry(struct cli_conn *c, const struct cli_global *g,
                          const struct mf_err *failure);
/* The run options for diag/smtp_test from a resolved connection. */
void cli_conn_run_opts(const struct cli_conn *c, struct smtp_test_opts *o);

/* The first line of a secret file (warns when others may read it); NULL
 * after printing why. The caller frees with mf_wipe_free_str. */
char *cli_secret_from_file(const char *path);

/* "45 s", "9 min", "2 h 5 min" into buf (returns buf). */
const char *cli_duration(long seconds, char *buf, size_t size);

/* The exit code for a failure. */
int cli_exit_for(const struct mf_err *err);

/* Opens the store named by g (prints the error). NULL on failure. */
struct store *cli_open_store(const struct cli_global *g);
/* cli_open_store, and the encrypted secrets when a key can be had (*sec
 * NULL otherwise, with a warning: only passwords from the environment or
 * files will work). The long-running commands (run, sync, placement). */
struct secrets;
struct store *cli_open_store_secrets(const struct cli_global *g, struct secrets **sec);

/* Prints a report for humans: steps, failure, cause and fix. */
void cli_print_report(FILE *out, const struct diag_report *r, bool transcript);
/* The SMTP extras: refused recipients. */
void cli_print_rcpts(FILE *out, const struct smtp_test_report *r);
/* Live printer for smtp_test_opts.live (ctx: a FILE *). */
void cli_live_printer(void *ctx, char kind, double t_ms, const char *text,
                      const struct diag_step *step);
void cli_print_json(json_t *j); /* steals the reference */
struct event_base;
/* Runs the event loop for at most ms milliseconds (long-running commands
 * check their stop flag between calls). */
void cli_pump(struct event_base *base, int ms);

/* The long-running commands' stop: cli_catch_stop makes SIGINT and SIGTERM
 * set cli_stop (and ignores SIGPIPE); the command finishes what is in
 * flight and ends. */
extern volatile sig_atomic_t cli_stop;
/* The loud line every --insecure command prints first; certs names them
 * ("the server's certificate", "the IMAP servers' certificates"). */
void cli_warn_insecure(const char *certs);
void cli_catch_stop(void);
/* Prints "YYYY-MM-DD HH:MM:SSZ line" for unix time t to stdout, flushed:
 * the notes of run and sync. */
void cli_print_stamped(int64_t t, const char *line);

/* A whole decimal number in [lo, hi] (no sign tricks, no trailing text, no
 * overflow); false otherwise and *out is left alone. s may be NULL. */
bool cli_long_arg(const char *s, long lo, long hi, long *out);
bool cli_int_arg(const char *s, int lo, int hi, int *out);

/* Reads a whole stream into a malloc'd buffer (NUL-terminated); with
 * dot_ends, a line holding a single '.' ends the input (sendmail without
 * -i). NULL on error (printed). */
char *cli_read_all(FILE *in, size_t *len, bool dot_ends, size_t max);

int cmd_test(const struct cli_global *g, int argc, char **argv);
int cmd_send(const struct cli_global *g, int argc, char **argv);
int cmd_sendmail(const struct cli_global *g, int argc, char **argv);
int cmd_account(const struct cli_global *g, int argc, char **argv);
int cmd_providers(const struct cli_global *g, int argc, char **argv);
int cmd_explain(const struct cli_global *g, int argc, char **argv);
int cmd_login(const struct cli_global *g, int argc, char **argv);
int cmd_mailbox(const struct cli_global *g, int argc, char **argv);
int cmd_campaign(const struct cli_global *g, int argc, char **argv);
int cmd_leads(const struct cli_global *g, int argc, char **argv);
int cmd_lead(const struct cli_global *g, int argc, char **argv);
int cmd_suppress(const struct cli_global *g, int argc, char **argv);
int cmd_outbox(const struct cli_global *g, int argc, char **argv);
int cmd_run(const struct cli_global *g, int argc, char **argv);
int cmd_status(const struct cli_global *g, int argc, char **argv);
int cmd_plan(const struct cli_global *g, int argc, char **argv);
int cmd_logout(const struct cli_global *g, int argc, char **argv);
int cmd_classify(const struct cli_global *g, int argc, char **argv);
int cmd_serve(const struct cli_global *g, int argc, char **argv);
int cmd_sync(const struct cli_global *g, int argc, char **argv);
int cmd_inbox(const struct cli_global *g, int argc, char **argv);
int cmd_event(const struct cli_global *g, int argc, char **argv);
int cmd_placement(const struct cli_global *g, int argc, char **argv);

#endif
