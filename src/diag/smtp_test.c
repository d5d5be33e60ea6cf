#include "diag/smtp_test.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/dns.h"
#include "net/smtp_drive.h"
#include "util/log.h"

/* d comes first: the shared transport callbacks get the run as ctx */
struct run {
    struct diag_run d;
    const struct smtp_test_opts *o;
    struct smtp_test_report *r;
    struct smtp_drive *drive;
    struct diag_env env;
    bool done;
};






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

static const char *step_for_state(struct run *run, enum smtp_state st)
{
    switch (st) {
    case SMTP_ST_GREETING:
        return run->d.tls_pending ? "tls" : "banner";
    case SMTP_ST_EHLO: case SMTP_ST_HELO: return "ehlo";
    case SMTP_ST_STARTTLS: case SMTP_ST_TLS: return "starttls";
    case SMTP_ST_AUTH: return "auth";
    case SMTP_ST_QUIT: case SMTP_ST_CLOSED: return "quit";
    default: return "send";
    }
}

/* Which step an error belongs to, once the core has moved on to QUIT. */
static const char *step_for_error(struct run *run, const struct mf_err *err)
{
    struct smtp *core = smtp_drive_core(run->drive);
    enum smtp_state st = smtp_state(core);
    if (st != SMTP_ST_QUIT && st != SMTP_ST_FAILED)
        return step_for_state(run, st);
    if (err->layer == MF_LAYER_AUTH && run->r->mech != SASL_MECH_NONE && !run->r->msgs_ok)
        return "auth";
    if (err->layer == MF_LAYER_TLS)
        return diag_tls_step(&run->d);
    if (err->layer == MF_LAYER_FEATURE)
        return "ehlo";
    return step_for_state(run, st);
}

static void set_mech(struct run *run, enum sasl_mech m)
{
    run->r->mech = m;
    snprintf(run->r->base.auth, sizeof run->r->base.auth, "%s",
             m ? sasl_mech_name(m) : "");
}

static void on_event(void *ctx, const struct smtp_event *ev)
{
    struct run *run = ctx;
    struct smtp *core = smtp_drive_core(run->drive);
    char buf[600];
    switch (ev->type) {
    case SMTP_EV_GREETING:
        diag_step(&run->d, "banner", ev->ok, "%d %s", ev->code, ev->text);
        break;
    case SMTP_EV_CAPS:
        run->r->caps = *smtp_caps(core);
        caps_summary(&run->r->caps, buf, sizeof buf);
        diag_step(&run->d, "ehlo", true, "%s", buf);
        break;
    case SMTP_EV_AUTH_OK:
        set_mech(run, smtp_auth_mech(core));
        diag_step(&run->d, "auth", true, "%s accepted: %d %s",
                  sasl_mech_name(run->r->mech), ev->code, ev->text);
        break;
    case SMTP_EV_RCPT:
        record_rcpt(run, ev);
        break;
    case SMTP_EV_MSG_DONE:
        if (ev->ok) {
            run->r->msgs_ok++;
            diag_step(&run->d, "send", true, "accepted for %zu recipient(s): %d %s%s%s",
                      ev->rcpt_ok, ev->code, ev->enhanced, ev->enhanced[0] ? " " : "",
                      ev->text);
        } else {
            run->r->msgs_failed++;
            diag_step_failed(&run->d, "send", &ev->err);
        }
        break;
    case SMTP_EV_CLOSED:
        diag_step(&run->d, "quit", true, "%d %s", ev->code, ev->text);
        break;
    case SMTP_EV_ERROR: {
        set_mech(run, smtp_auth_mech(core));
        diag_step_failed(&run->d, step_for_error(run, &ev->err), &ev->err);
        break;
    }
    case SMTP_EV_READY:
        /* everything asked for is queued; QUIT follows the last message */
        smtp_drive_quit(run->drive);
        break;
    default:
        break;
    }
}

static void on_done(void *ctx, const struct mf_err *err)
{
    struct run *run = ctx;
    if (err && run->r->base.ok) {
        const char *name = diag_transport_step(&run->d, err);
        diag_step_failed(&run->d, name ? name : step_for_error(run, err), err);
    }
    run->done = true;
    event_base_loopbreak(run->env.base);
}

static void default_helo(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0 || !buf[0] || strchr(buf, ' '))
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
}

static void run_session(struct run *run)
{
    const struct smtp_test_opts *o = run->o;
    struct mf_err err;
    mf_err_clear(&err);
    char helo[256];
    if (o->helo)
        snprintf(helo, sizeof helo, "%s", o->helo);
    else
        default_helo(helo, sizeof helo);
    struct sasl_creds creds = {.user = o->user, .secret = o->secret,
                               .host = o->host, .port = o->port};
    struct smtp_drive_cfg cfg = {
        .base = run->env.base, .dns = run->env.dns, .host = o->host, .port = o->port,
        .family = o->family, .command_timeout_ms = o->timeout_ms,
        .smtp = {.helo_name = helo, .security = o->security,
                 .allow_plaintext_auth = o->allow_plaintext_auth,
                 .creds = o->user ? &creds : NULL,
                 .secret_is_token = o->secret_is_token, .mech = o->mech,
                 .trace = diag_trace_cb, .ctx = run},
        .obs = {.on_resolved = diag_transport_observer.on_resolved,
                .on_connected = diag_transport_observer.on_connected,
                .on_connect_failed = diag_transport_observer.on_connect_failed,
                .on_tls = diag_transport_observer.on_tls,
                .on_event = on_event, .on_done = on_done},
        .ctx = run,
    };
    run->drive = smtp_drive_start(&cfg, &err);
    if (!run->drive) {
        diag_step_failed(&run->d, "resolve", &err);
        return;
    }
    /* the connect is under way: the TLS context is built meanwhile */
    if (diag_env_tls(&run->d, &run->env, o->security != SMTP_SEC_NONE, o->cafile,
                     o->insecure)) {
        smtp_drive_set_tls(run->drive, run->env.tls);
        for (size_t i = 0; i < o->nmsgs && !run->done; i++)
            smtp_drive_submit(run->drive, &o->msgs[i]);
        if (!run->done)
            event_base_dispatch(run->env.base);
    }
    smtp_drive_free(run->drive);
}

static const char *security_name(enum smtp_security s)
{
    return s == SMTP_SEC_TLS ? "tls" : s == SMTP_SEC_NONE ? "none" : "starttls";
}

enum mf_rc smtp_test_run(const struct smtp_test_opts *o, struct smtp_test_report *r)
{
    memset(r, 0, sizeof *r);
    diag_report_init(&r->base, "smtp", o->host, o->port, security_name(o->security),
                     o->insecure);
    diag_prepare(&r->base, o->secret);
    struct run run = {.o = o, .r = r};
    diag_run_start(&run.d, &r->base, o->live, o->live_ctx);
    diag_run_tls(&run.d, o->security == SMTP_SEC_TLS, "starttls");
    if (diag_env_open(&run.d, &run.env)) {
        run_session(&run);
        diag_env_close(&run.env);
    }
    diag_finish(&run.d);
    if (r->msgs_ok || r->msgs_failed)
        snprintf(r->base.summary, sizeof r->base.summary,
                 "%zu message(s) accepted, %zu failed", r->msgs_ok, r->msgs_failed);
    diag_report_explain(&r->base, EXPLAIN_SMTP);
    return r->base.ok ? MF_OK : r->base.err.rc;
}

void smtp_test_report_free(struct smtp_test_report *r)
{
    if (!r)
        return;
    diag_report_free(&r->base);
    free(r->rcpts);
    r->rcpts = NULL;
}

json_t *smtp_test_report_json(const struct smtp_test_report *r)
{
    json_t *o = diag_report_json(&r->base);
    json_t *rcpts = json_array();
    for (size_t i = 0; i < r->nrcpts; i++) {
        const struct smtp_test_rcpt *x = &r->rcpts[i];
        json_array_append_new(rcpts, json_pack(
            "{s:s, s:b, s:i, s:s, s:s}", "address", x->msg->rcpts[x->index],
            "ok", x->ok, "code", x->code, "enhanced", x->enhanced, "text", x->text));
    }
    json_object_set_new(o, "recipients", rcpts);
    json_object_set_new(o, "messages_accepted", json_integer((json_int_t)r->msgs_ok));
    json_object_set_new(o, "messages_failed", json_integer((json_int_t)r->msgs_failed));
    return o;
}
