/*
 * diag/smtp_test — one observed SMTP session, for `mailfleet test smtp` and
 * `mailfleet send`: resolve, connect, banner, EHLO, STARTTLS or implicit
 * TLS, EHLO again, AUTH, optional messages, QUIT — each step timed, the
 * transcript kept (secrets redacted at the source), the TLS session and
 * certificate described, and on failure the failing layer, the server's
 * words and the explanation from diag/explain.
 *
 * Ownership: the report owns its transcript; smtp_test_report_free()
 * releases it. Options and messages are borrowed for the run.
 */
#ifndef MF_DIAG_SMTP_TEST_H
#define MF_DIAG_SMTP_TEST_H

#include <jansson.h>
#include <stdbool.h>

#include "diag/explain.h"
#include "net/conn.h"
#include "proto/smtp.h"
#include "util/buf.h"

#define SMTP_TEST_MAX_STEPS 24

struct smtp_test_step {
    char name[16];          /* "resolve", "connect", "banner", "ehlo", ... */
    bool ok;
    double start_ms;        /* from the start of the run */
    double ms;              /* duration */
    char detail[600];
};

/* Live output: kind is 'C'/'S' for transcript lines, '*' for a finished
 * step (text is its name, detail in the report), '!' for a warning. */
typedef void (*smtp_test_live_fn)(void *ctx, char kind, double t_ms,
                                  const char *text,
                                  const struct smtp_test_step *step);

struct smtp_test_opts {
    const char *host;
    int port;
    int family;                       /* AF_UNSPEC / AF_INET / AF_INET6 */
    enum smtp_security security;
    const char *helo;                 /* NULL: the local host name */
    const char *user;                 /* NULL: no AUTH */
    const char *secret;
    bool secret_is_token;
    enum sasl_mech mech;              /* NONE: best offered */
    bool allow_plaintext_auth;
    const char *cafile;
    bool insecure;
    int timeout_ms;                   /* per command; 0 → 60 s */
    const struct smtp_msg *msgs;      /* messages to send, may be NULL */
    size_t nmsgs;
    smtp_test_live_fn live;
    void *live_ctx;
};

struct smtp_test_rcpt {
    const struct smtp_msg *msg;
    size_t index;
    bool ok;
    int code;
    char enhanced[16];
    char text[256];
};

struct smtp_test_report {
    char host[256];
    int port;
    enum smtp_security security;
    struct smtp_test_step steps[SMTP_TEST_MAX_STEPS];
    size_t nsteps;
    struct mf_buf transcript;         /* "C: ..."/"S: ..." lines, '\n' each */
    bool have_tls;
    struct conn_tls_info tls;
    struct smtp_caps caps;            /* the last EHLO's answer */
    enum sasl_mech mech;              /* used for AUTH, NONE if none */
    char connected_to[80];            /* address:port actually used */
    size_t msgs_ok, msgs_failed;
    struct smtp_test_rcpt *rcpts;     /* owned: per-recipient results */
    size_t nrcpts;
    bool ok;                          /* everything asked for worked */
    struct mf_err err;                /* the first failure, when !ok */
    char failed_step[16];
    const struct explain_entry *explain; /* for err, may be NULL (static) */
    double total_ms;
    bool is_microsoft;
    bool insecure;                    /* verification was turned off */
};

/* Runs the session to its end on a private event loop. Returns MF_OK when
 * everything worked, else the rc of report->err. report is always filled
 * and must be freed with smtp_test_report_free(). */
enum mf_rc smtp_test_run(const struct smtp_test_opts *opts,
                         struct smtp_test_report *report);
void smtp_test_report_free(struct smtp_test_report *report);

/* The report as JSON (new reference: caller json_decref()s it). */
json_t *smtp_test_report_json(const struct smtp_test_report *report);

#endif
