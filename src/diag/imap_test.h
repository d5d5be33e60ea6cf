/*
 * diag/imap_test — one observed IMAP session for `mailfleet test imap`:
 * resolve, connect, greeting, CAPABILITY, STARTTLS or implicit TLS,
 * CAPABILITY again, AUTHENTICATE or LOGIN, LIST with the special-use
 * folders found (Inbox, Junk, Sent), EXAMINE INBOX (messages, UIDVALIDITY,
 * UIDNEXT), LOGOUT - read-only, each step timed and explained.
 *
 * Ownership: the report owns its storage (imap_test_report_free).
 */
#ifndef MF_DIAG_IMAP_TEST_H
#define MF_DIAG_IMAP_TEST_H

#include "diag/report.h"
#include "proto/imap.h"

struct imap_test_opts {
    const char *host;
    int port;
    int family;
    enum imap_security security;
    const char *user;                 /* NULL: no sign-in (LIST fails then) */
    const char *secret;
    bool secret_is_token;
    enum sasl_mech mech;
    bool allow_plaintext_auth;
    const char *cafile;
    bool insecure;
    int timeout_ms;
    diag_live_fn live;
    void *live_ctx;
};

struct imap_test_report {
    struct diag_report base;
    size_t folders;
    char inbox[128], junk[128], sent[128];   /* names found, "" if none */
    struct imap_select inbox_status;
    bool examined;
};

enum mf_rc imap_test_run(const struct imap_test_opts *opts, struct imap_test_report *r);
void imap_test_report_free(struct imap_test_report *r);
json_t *imap_test_report_json(const struct imap_test_report *r);

#endif
