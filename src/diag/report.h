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
#include "net/session.h"
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
    bool implicit_tls;        /* TLS from the first byte */
    bool tls_pending;         /* connected, implicit handshake not done */
    bool tls_seen;            /* a handshake completed */
    const char *upgrade;      /* the step name of an upgrade: "starttls", "stls" */
};

void diag_run_start(struct diag_run *run, struct diag_report *r, diag_live_fn live,
                    void *live_ctx);
/* How TLS comes: implicit, or by an upgrade step named `upgrade`. */
void diag_run_tls(struct diag_run *run, bool implicit_tls, const char *upgrade);
/* The step a TLS failure belongs to: "tls" before an implicit handshake
 * completed, else the upgrade step. */
const char *diag_tls_step(const struct diag_run *run);

/* Transport observer callbacks for any tester whose run struct begins with
 * a struct diag_run (ctx is that struct): resolve, connect and TLS steps.
 * Testers add their own on_done. */
extern const struct session_observer diag_transport_observer;
/* A trace hook for the protocol cores (ctx: the struct diag_run). */
void diag_trace_cb(void *ctx, char dir, const char *line, size_t len);
/* Closes the interval since the last step as a named step. */
void diag_step(struct diag_run *run, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_warn(struct diag_run *run, const char *text);
/* A protocol line for the transcript (sanitised and redacted here too). */
void diag_trace(struct diag_run *run, char dir, const char *line, size_t len);
/* Records the first failure. */
void diag_fail(struct diag_run *run, const struct mf_err *err, const char *step);
/* A failed step (our words, then the server's) and the failure itself. */
void diag_step_failed(struct diag_run *run, const char *step, const struct mf_err *err);
/* The step a failure before the protocol spoke belongs to: "resolve" or
 * "connect"; NULL once connected. */
const char *diag_transport_step(const struct diag_run *run, const struct mf_err *err);
/* Everything a tester run opens and closes: its loop, resolver and TLS
 * context. diag_env_open fails the run's "setup" step when it cannot. */
struct diag_env {
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
};
bool diag_env_open(struct diag_run *run, struct diag_env *env);
/* Builds the TLS context (unless need is false); false after a failed
 * "setup" step. Call it once the connect is under way: OpenSSL 3 takes
 * milliseconds here. */
bool diag_env_tls(struct diag_run *run, struct diag_env *env, bool need,
                  const char *cafile, bool insecure);
void diag_env_close(struct diag_env *env);
/* Marks a Microsoft host (for the explanations) and registers the secret
 * for redaction. */
void diag_prepare(struct diag_report *r, const char *secret);
/* Steps for the transport milestones, shared by every tester. */
void diag_finish(struct diag_run *run);

#endif
