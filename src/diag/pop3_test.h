/*
 * diag/pop3_test — one observed POP3 session for `mailfleet test pop3`:
 * resolve, connect, greeting, CAPA, STLS or implicit TLS, CAPA again,
 * AUTH (SASL) or USER/PASS, STAT, QUIT — each step timed and explained.
 * It never retrieves or deletes mail.
 *
 * Ownership: the report owns its storage (pop3_test_report_free).
 */
#ifndef MF_DIAG_POP3_TEST_H
#define MF_DIAG_POP3_TEST_H

#include "diag/report.h"
#include "proto/pop3.h"

struct pop3_test_opts {
    const char *host;
    int port;
    int family;
    enum pop3_security security;
    const char *user;
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

struct pop3_test_report {
    struct diag_report base;
    bool have_stat;
    uint64_t messages, octets;
};

enum mf_rc pop3_test_run(const struct pop3_test_opts *opts, struct pop3_test_report *r);
void pop3_test_report_free(struct pop3_test_report *r);
json_t *pop3_test_report_json(const struct pop3_test_report *r);

#endif
