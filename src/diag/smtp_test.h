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

#include "diag/report.h"
#include "proto/smtp.h"
#include "util/buf.h"

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
    diag_live_fn live;
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
    struct diag_report base;          /* steps, transcript, TLS, failure */
    struct smtp_caps caps;            /* the last EHLO's answer */
    enum sasl_mech mech;              /* used for AUTH, NONE if none */
    size_t msgs_ok, msgs_failed;
    struct smtp_test_rcpt *rcpts;     /* owned: per-recipient results */
    size_t nrcpts;
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
