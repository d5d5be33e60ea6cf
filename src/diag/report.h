/*
 * diag/report — what every tester run produces, whatever the protocol:
 * timed steps, the transcript (sanitised, secrets redacted), the TLS
 * session, the first failure with its layer and explanation, and JSON.
 * Also the step clock the testers share (struct diag_run).
 *
 * Ownership: the report owns its transcript (diag_report_free).
 */
#ifndef MF_DIAG_REPORT_H
#define MF_DIAG_REPORT_H

#include <jansson.h>
#include <stdbool.h>

#include "diag/explain.h"
#include "net/conn.h"
#include "net/dns.h"
#include "util/buf.h"

#define DIAG_MAX_STEPS 24

struct diag_step {
    char name[16];          /* "resolve", "connect", "banner", "auth", ... */
    bool ok;
    double start_ms;        /* from the start of the run */
    double ms;              /* duration */
    char detail[600];
};

/* Live output: kind 'C'/'S' transcript line, '*' a finished step (text is
 * its name), '!' a warning. */
typedef void (*diag_live_fn)(void *ctx, char kind, double t_ms, const char *text,
                             const struct diag_step *step);

struct diag_report {
    char protocol[8];                 /* "smtp", "imap", "pop3" */
    char host[256];
    int port;
    char security[16];                /* "starttls", "tls", "none" */
    struct diag_step steps[DIAG_MAX_STEPS];
    size_t nsteps;
    struct mf_buf transcript;         /* "C: ..."/"S: ..." lines */
    bool have_tls;
    struct conn_tls_info tls;
    char auth[32];                    /* mechanism used, "" if none */
    char connected_to[80];
    char summary[512];                /* the protocol's own one-line result */
    bool ok;
    struct mf_err err;                /* the first failure, when !ok */
    char failed_step[16];
    const struct explain_entry *explain; /* static, may be NULL */
    double total_ms;
    bool is_microsoft;
    bool insecure;
};

void diag_report_init(struct diag_report *r, const char *protocol, const char *host,
                      int port, const char *security, bool insecure);
void diag_report_free(struct diag_report *r);
/* Looks up the explanation for r->err (call once the run is over). */
void diag_report_explain(struct diag_report *r, enum explain_proto proto);
/* The common fields as JSON (new reference). */
json_t *diag_report_json(const struct diag_report *r);

/* The step clock of one run. */
struct diag_run {
    struct diag_report *r;
    diag_live_fn live;
    void *live_ctx;
    double t0, last;
};

void diag_run_start(struct diag_run *run, struct diag_report *r, diag_live_fn live,
                    void *live_ctx);
/* Closes the interval since the last step as a named step. */
void diag_step(struct diag_run *run, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_warn(struct diag_run *run, const char *text);
/* A protocol line for the transcript (sanitised and redacted here too). */
void diag_trace(struct diag_run *run, char dir, const char *line, size_t len);
/* Records the first failure. */
void diag_fail(struct diag_run *run, const struct mf_err *err, const char *step);
/* Steps for the transport milestones, shared by every tester. */
void diag_on_resolved(struct diag_run *run, const struct dns_result *res);
void diag_on_connect_failed(struct diag_run *run, const struct dns_addr *addr,
                            const struct mf_err *err);
void diag_on_connected(struct diag_run *run, const struct dns_addr *addr);
void diag_on_tls(struct diag_run *run, const struct conn_tls_info *t, const char *name);
void diag_finish(struct diag_run *run);

#endif
