#include "diag/smtp_test.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag/providers.h"
#include "net/dns.h"
#include "net/smtp_drive.h"
#include "util/clock.h"
#include "util/log.h"

struct run {
    const struct smtp_test_opts *o;
    struct smtp_test_report *r;
    struct smtp_drive *drive;
    struct event_base *base;
    double t0, last_milestone;
    bool implicit_tls_pending;
    bool done;
};

static double since_start(struct run *run)
{
    return mf_now_ms() - run->t0;
}

static void live(struct run *run, char kind, const char *text,
                 const struct smtp_test_step *step)
{
    if (run->o->live)
        run->o->live(run->o->live_ctx, kind, since_start(run), text, step);
}

/* Closes the interval since the last milestone as a named step. */
static void step(struct run *run, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void step(struct run *run, const char *name, bool ok, const char *fmt, ...)
{
    struct smtp_test_report *r = run->r;
    double now = since_start(run);
    if (r->nsteps == SMTP_TEST_MAX_STEPS)
        return;
    struct smtp_test_step *s = &r->steps[r->nsteps++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ok = ok;
    s->start_ms = run->last_milestone;
    s->ms = now - run->last_milestone;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof s->detail, fmt, ap);
    va_end(ap);
    run->last_milestone = now;
    live(run, '*', s->name, s);
}

static void on_trace(void *ctx, char dir, const char *line, size_t len)
{
    struct run *run = ctx;
    struct mf_buf tmp;
    mf_buf_init(&tmp, 70000);
    char clean[2048];
    size_t n = mf_sanitize(clean, sizeof clean, line, len, 0);
    /* second line of defence: registered secrets never get through */
    if (mf_redact(&tmp, clean, n) == MF_OK) {
        mf_buf_printf(&run->r->transcript, "%c: %s\n", dir, mf_buf_data(&tmp));
        char kind[2] = {dir, '\0'};
        (void)kind;
        live(run, dir, mf_buf_data(&tmp), NULL);
    }
    mf_buf_free(&tmp);
}

static void on_resolved(void *ctx, const struct dns_result *res)
{
    struct run *run = ctx;
    char list[400] = "";
    size_t used = 0;
    for (size_t i = 0; i < res->n && used + 70 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                 i ? ", " : "", res->addrs[i].text);
    step(run, "resolve", true, "%s: %s", run->r->host, list);
}

static void on_connect_failed(void *ctx, const struct dns_addr *addr,
                              const struct mf_err *err)
{
    struct run *run = ctx;
    char msg[400];
    snprintf(msg, sizeof msg, "%s: %s (trying the next address)", addr->text,
             err->detail);
    live(run, '!', msg, NULL);
}

static void on_connected(void *ctx, const struct dns_addr *addr)
{
    struct run *run = ctx;
    snprintf(run->r->connected_to, sizeof run->r->connected_to,
             addr->family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr->text,
             run->r->port);
    step(run, "connect", true, "%s", run->r->connected_to);
    run->implicit_tls_pending = run->o->security == SMTP_SEC_TLS;
}

static void on_tls(void *ctx, const struct conn_tls_info *t)
{
    struct run *run = ctx;
    run->r->have_tls = true;
    run->r->tls = *t;
    step(run, run->implicit_tls_pending ? "tls" : "starttls", true,
         "%s, %s; certificate %s, issuer %s, SANs %s, expires %s (%ld days)%s%s",
         t->version, t->cipher, t->subject, t->issuer, t->sans[0] ? t->sans : "-",
         t->not_after, t->days_left, t->verified ? ", verified" : ", NOT VERIFIED: ",
         t->verified ? "" : t->verify_result);
    run->implicit_tls_pending = false;
    if (!t->verified)
        live(run, '!', "the server's certificate was not verified (--insecure)", NULL);
    else if (t->days_left < 14)
        live(run, '!', "the server's certificate expires within 14 days", NULL);
}

static void caps_summary(const struct smtp_caps *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s%s%s%s%s%s", c->domain,
             c->pipelining ? " PIPELINING" : "", c->starttls ? " STARTTLS" : "",
             c->eightbitmime ? " 8BITMIME" : "", c->smtputf8 ? " SMTPUTF8" : "",
             c->enhancedstatuscodes ? " ENHANCEDSTATUSCODES" : "",
             c->chunking ? " CHUNKING" : "", c->dsn ? " DSN" : "");
    size_t n = strlen(buf);
    if (c->size && c->size_max)
        n += (size_t)snprintf(buf + n, size - n, " SIZE %lu", c->size_max);
    else if (c->size && n < size)
        n += (size_t)snprintf(buf + n, size - n, " SIZE");
    if (n < size)
        snprintf(buf + n, size - n, " AUTH %s", c->auth_list[0] ? c->auth_list
                                                               : "(none offered)");
}

static void record_rcpt(struct run *run, const struct smtp_event *ev)
{
    struct smtp_test_report *r = run->r;
    struct smtp_test_rcpt *n = realloc(r->rcpts, (r->nrcpts + 1) * sizeof *n);
    if (!n)
        return;
    r->rcpts = n;
    struct smtp_test_rcpt *x = &r->rcpts[r->nrcpts++];
    memset(x, 0, sizeof *x);
    x->msg = ev->msg;
    x->index = ev->rcpt;
    x->ok = ev->ok;
    x->code = ev->code;
    snprintf(x->enhanced, sizeof x->enhanced, "%s", ev->enhanced);
    mf_sanitize(x->text, sizeof x->text, ev->text, strlen(ev->text), 0);
}

static void first_failure(struct run *run, const struct mf_err *err,
                          const char *stepname)
{
    if (!run->r->ok || !err)
        return;
    run->r->ok = false;
    run->r->err = *err;
    snprintf(run->r->failed_step, sizeof run->r->failed_step, "%s", stepname);
}

static const char *step_for_state(struct run *run, enum smtp_state st)
{
    switch (st) {
    case SMTP_ST_GREETING:
        return run->implicit_tls_pending ? "tls" : "banner";
    case SMTP_ST_EHLO: case SMTP_ST_HELO: return "ehlo";
    case SMTP_ST_STARTTLS: case SMTP_ST_TLS: return "starttls";
    case SMTP_ST_AUTH: return "auth";
    case SMTP_ST_QUIT: case SMTP_ST_CLOSED: return "quit";
    default: return "send";
    }
}

static void on_event(void *ctx, const struct smtp_event *ev)
{
    struct run *run = ctx;
    struct smtp *core = smtp_drive_core(run->drive);
    char buf[600];
    switch (ev->type) {
    case SMTP_EV_GREETING:
        step(run, "banner", ev->ok, "%d %s", ev->code, ev->text);
        break;
    case SMTP_EV_CAPS:
        run->r->caps = *smtp_caps(core);
        caps_summary(&run->r->caps, buf, sizeof buf);
        step(run, "ehlo", true, "%s", buf);
        break;
    case SMTP_EV_AUTH_OK:
        run->r->mech = smtp_auth_mech(core);
        step(run, "auth", true, "%s accepted: %d %s", sasl_mech_name(run->r->mech),
             ev->code, ev->text);
        break;
    case SMTP_EV_RCPT:
        record_rcpt(run, ev);
        break;
    case SMTP_EV_MSG_DONE:
        if (ev->ok) {
            run->r->msgs_ok++;
            step(run, "send", true, "accepted for %zu recipient(s): %d %s%s%s",
                 ev->rcpt_ok, ev->code, ev->enhanced, ev->enhanced[0] ? " " : "",
                 ev->text);
        } else {
            run->r->msgs_failed++;
            step(run, "send", false, "%s%s%s", ev->err.detail,
                 ev->err.reply[0] ? ": " : "", ev->err.reply);
            first_failure(run, &ev->err, "send");
        }
        break;
    case SMTP_EV_CLOSED:
        step(run, "quit", true, "%d %s", ev->code, ev->text);
        break;
    case SMTP_EV_ERROR: {
        run->r->mech = smtp_auth_mech(core);
        const char *name = step_for_state(run, smtp_state(core));
        if (smtp_state(core) == SMTP_ST_QUIT || smtp_state(core) == SMTP_ST_FAILED)
            name = run->r->mech != SASL_MECH_NONE && !run->r->msgs_ok &&
                           ev->err.layer == MF_LAYER_AUTH ? "auth"
                   : ev->err.layer == MF_LAYER_TLS
                       ? (run->o->security == SMTP_SEC_TLS && !run->r->have_tls
                              ? "tls" : "starttls")
                   : ev->err.layer == MF_LAYER_FEATURE ? "ehlo" : name;
        step(run, name, false, "%s%s%s", ev->err.detail,
             ev->err.reply[0] ? ": " : "", ev->err.reply);
        first_failure(run, &ev->err, name);
        break;
    }
    default:
        break;
    }
    if (ev->type == SMTP_EV_READY) {
        /* everything asked for is queued; QUIT follows the last message */
        smtp_drive_quit(run->drive);
    }
}

static void on_done(void *ctx, const struct mf_err *err)
{
    struct run *run = ctx;
    if (err && run->r->ok) {
        const char *name = run->r->connected_to[0] ? "connect" : "resolve";
        if (run->r->connected_to[0])
            name = err->layer == MF_LAYER_TLS ? (run->o->security == SMTP_SEC_TLS
                                                     ? "tls" : "starttls")
                                              : step_for_state(run,
                                                    smtp_state(smtp_drive_core(run->drive)));
        step(run, name, false, "%s", err->detail);
        first_failure(run, err, name);
    }
    run->done = true;
    event_base_loopbreak(run->base);
}

static void default_helo(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0 || !buf[0] || strchr(buf, ' '))
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
}

static enum mf_rc run_session(struct run *run)
{
    const struct smtp_test_opts *o = run->o;
    struct smtp_test_report *r = run->r;
    struct mf_err err;
    mf_err_clear(&err);
    struct dns *dns = dns_new(run->base, &err);
    SSL_CTX *tls = NULL;
    if (!dns) {
        step(run, "setup", false, "%s", err.detail);
        first_failure(run, &err, "setup");
        return err.rc;
    }
    char helo[256];
    if (o->helo)
        snprintf(helo, sizeof helo, "%s", o->helo);
    else
        default_helo(helo, sizeof helo);
    struct sasl_creds creds = {.user = o->user, .secret = o->secret,
                               .host = o->host, .port = o->port};
    struct smtp_drive_cfg cfg = {
        .base = run->base, .dns = dns, .tls = tls, .host = o->host,
        .port = o->port, .family = o->family,
        .command_timeout_ms = o->timeout_ms,
        .smtp = {.helo_name = helo, .security = o->security,
                 .allow_plaintext_auth = o->allow_plaintext_auth,
                 .creds = o->user ? &creds : NULL,
                 .secret_is_token = o->secret_is_token, .mech = o->mech,
                 .trace = on_trace, .ctx = run},
        .obs = {.on_resolved = on_resolved, .on_connected = on_connected,
                .on_connect_failed = on_connect_failed, .on_tls = on_tls,
                .on_event = on_event, .on_done = on_done},
        .ctx = run,
    };
    run->drive = smtp_drive_start(&cfg, &err);
    if (!run->drive) {
        step(run, "resolve", false, "%s", err.detail);
        first_failure(run, &err, "resolve");
    } else {
        /* the connect is under way: build the TLS context meanwhile */
        if (o->security != SMTP_SEC_NONE) {
            tls = conn_tls_ctx_new(o->cafile, o->insecure, 0, &err);
            if (!tls) {
                step(run, "setup", false, "%s", err.detail);
                first_failure(run, &err, "setup");
                run->done = true;
            }
            smtp_drive_set_tls(run->drive, tls);
        }
        for (size_t i = 0; i < o->nmsgs && !run->done; i++)
            smtp_drive_submit(run->drive, &o->msgs[i]);
        if (!run->done)
            event_base_dispatch(run->base);
        smtp_drive_free(run->drive);
    }
    dns_free(dns);
    conn_tls_ctx_free(tls);
    return r->ok ? MF_OK : r->err.rc;
}

enum mf_rc smtp_test_run(const struct smtp_test_opts *o, struct smtp_test_report *r)
{
    memset(r, 0, sizeof *r);
    mf_buf_init(&r->transcript, 4u << 20);
    snprintf(r->host, sizeof r->host, "%s", o->host ? o->host : "");
    r->port = o->port;
    r->security = o->security;
    r->ok = true;
    r->insecure = o->insecure;
    const struct provider *p = providers_by_host(r->host);
    r->is_microsoft = p && (strcmp(p->id, "m365") == 0 || strcmp(p->id, "outlook") == 0);
    if (o->secret)
        mf_secret_register(o->secret);
    struct run run = {.o = o, .r = r, .base = event_base_new()};
    if (!run.base) {
        mf_err_set(&r->err, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot create an event loop");
        r->ok = false;
        return MF_ENOMEM;
    }
    run.t0 = mf_now_ms();
    enum mf_rc rc = run_session(&run);
    event_base_free(run.base);
    r->total_ms = mf_now_ms() - run.t0;
    if (!r->ok)
        r->explain = explain_err(&r->err, EXPLAIN_SMTP, r->port, r->is_microsoft);
    return rc;
}

void smtp_test_report_free(struct smtp_test_report *r)
{
    if (!r)
        return;
    mf_buf_free(&r->transcript);
    free(r->rcpts);
    r->rcpts = NULL;
}

/* ---- JSON ------------------------------------------------------------------ */

static const char *security_name(enum smtp_security s)
{
    return s == SMTP_SEC_TLS ? "tls" : s == SMTP_SEC_NONE ? "none" : "starttls";
}

static json_t *tls_json(const struct conn_tls_info *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:s}",
                     "version", t->version, "cipher", t->cipher,
                     "subject", t->subject, "issuer", t->issuer,
                     "sans", t->sans, "not_after", t->not_after,
                     "days_left", (json_int_t)t->days_left,
                     "verified", t->verified, "verify_result", t->verify_result);
}

json_t *smtp_test_report_json(const struct smtp_test_report *r)
{
    json_t *steps = json_array();
    for (size_t i = 0; i < r->nsteps; i++) {
        const struct smtp_test_step *s = &r->steps[i];
        json_array_append_new(steps, json_pack("{s:s, s:b, s:f, s:f, s:s}",
                                               "step", s->name, "ok", s->ok,
                                               "start_ms", s->start_ms, "ms", s->ms,
                                               "detail", s->detail));
    }
    json_t *lines = json_array();
    const char *t = mf_buf_data(&r->transcript);
    while (*t) {
        const char *nl = strchr(t, '\n');
        size_t n = nl ? (size_t)(nl - t) : strlen(t);
        json_array_append_new(lines, json_stringn(t, n));
        t += n + (nl ? 1 : 0);
    }
    json_t *rcpts = json_array();
    for (size_t i = 0; i < r->nrcpts; i++) {
        const struct smtp_test_rcpt *x = &r->rcpts[i];
        json_array_append_new(rcpts, json_pack(
            "{s:s, s:b, s:i, s:s, s:s}", "address", x->msg->rcpts[x->index],
            "ok", x->ok, "code", x->code, "enhanced", x->enhanced, "text", x->text));
    }
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:b, s:f, s:o, s:o, s:o, s:s, s:I, s:I}",
                          "host", r->host, "port", r->port,
                          "security", security_name(r->security),
                          "connected_to", r->connected_to, "ok", r->ok,
                          "total_ms", r->total_ms, "steps", steps,
                          "transcript", lines, "recipients", rcpts,
                          "auth_mechanism", r->mech ? sasl_mech_name(r->mech) : "",
                          "messages_accepted", (json_int_t)r->msgs_ok,
                          "messages_failed", (json_int_t)r->msgs_failed);
    json_object_set_new(o, "tls", r->have_tls ? tls_json(&r->tls) : json_null());
    if (r->insecure)
        json_object_set_new(o, "insecure", json_true());
    if (!r->ok) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s}",
                              "step", r->failed_step, "layer", mf_layer_name(r->err.layer),
                              "code", mf_rc_name(r->err.rc), "reply_code", r->err.reply_code,
                              "enhanced", r->err.enhanced, "reply", r->err.reply,
                              "detail", r->err.detail);
        if (r->explain)
            json_object_set_new(e, "explanation",
                                json_pack("{s:s, s:s, s:s, s:s}", "id", r->explain->id,
                                          "cause", r->explain->cause, "fix",
                                          r->explain->fix, "source", r->explain->source));
        json_object_set_new(o, "error", e);
    }
    return o;
}
