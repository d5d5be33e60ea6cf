#include "diag/pop3_test.h"

#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "net/pop3_drive.h"
#include "util/log.h"

/* d comes first: the shared transport callbacks get the run as ctx */
struct run {
    struct diag_run d;
    const struct pop3_test_opts *o;
    struct pop3_test_report *r;
    struct pop3_drive *drive;
    struct diag_env env;
    bool greeting_seen;
};






static const char *step_for_error(struct run *run, const struct mf_err *err)
{
    if (!run->greeting_seen)
        return run->d.implicit_tls && !run->d.tls_seen ? "tls" : "greeting";
    switch (err->layer) {
    case MF_LAYER_AUTH: return "auth";
    case MF_LAYER_TLS: return diag_tls_step(&run->d);
    case MF_LAYER_FEATURE: return "capa";
    default: break;
    }
    switch (pop3_state(pop3_drive_core(run->drive))) {
    case POP3_ST_CAPA: return "capa";
    case POP3_ST_STLS: case POP3_ST_TLS: return "stls";
    case POP3_ST_AUTH: case POP3_ST_USER: case POP3_ST_PASS: return "auth";
    case POP3_ST_QUIT: case POP3_ST_CLOSED: return "quit";
    default: return "stat";
    }
}

static void on_event(void *ctx, const struct pop3_event *ev)
{
    struct run *run = ctx;
    struct pop3 *core = pop3_drive_core(run->drive);
    switch (ev->type) {
    case POP3_EV_GREETING:
        run->greeting_seen = true;
        diag_step(&run->d, "greeting", ev->ok, "%s%s", ev->ok ? "+OK " : "-ERR ", ev->text);
        break;
    case POP3_EV_CAPS: {
        const struct pop3_caps *c = pop3_caps(core);
        diag_step(&run->d, "capa", true, "%s%s%s%s%s SASL[%s]%s%s",
                  ev->ok ? "" : "(CAPA refused: an old server) ", c->stls ? " STLS" : "",
                  c->user ? " USER" : "", c->top ? " TOP" : "", c->uidl ? " UIDL" : "",
                  c->sasl_list, c->implementation[0] ? " IMPLEMENTATION " : "",
                  c->implementation);
        break;
    }
    case POP3_EV_AUTH_OK:
        snprintf(run->r->base.auth, sizeof run->r->base.auth, "%s",
                 pop3_used_user_pass(core) ? "USER/PASS" : sasl_mech_name(pop3_auth_mech(core)));
        diag_step(&run->d, "auth", true, "%s accepted: %s", run->r->base.auth, ev->text);
        break;
    case POP3_EV_READY:
        if (run->o->user) /* STAT needs a login */
            pop3_request_stat(core);
        else
            diag_warn(&run->d, "not signed in: no --user was given, so the login and STAT "
                               "were not tried");
        pop3_quit(core);
        break;
    case POP3_EV_DONE:
        if (ev->request != POP3_REQ_STAT)
            break;
        if (ev->ok) {
            run->r->have_stat = true;
            run->r->messages = ev->count;
            run->r->octets = ev->size;
            diag_step(&run->d, "stat", true, "%llu messages, %llu octets",
                      (unsigned long long)ev->count, (unsigned long long)ev->size);
        } else {
            diag_step(&run->d, "stat", false, "%s", ev->err.reply);
            diag_fail(&run->d, &ev->err, "stat");
        }
        break;
    case POP3_EV_CLOSED:
        diag_step(&run->d, "quit", ev->ok, "%s", ev->text);
        break;
    case POP3_EV_ERROR: {
        diag_step_failed(&run->d, step_for_error(run, &ev->err), &ev->err);
        break;
    }
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
    event_base_loopbreak(run->env.base);
}

static void run_session(struct run *run)
{
    const struct pop3_test_opts *o = run->o;
    struct mf_err err;
    mf_err_clear(&err);
    struct session_observer transport = diag_transport_observer;
    transport.on_done = on_done;
    struct sasl_creds creds = {.user = o->user, .secret = o->secret, .host = o->host,
                               .port = o->port};
    struct pop3_drive_cfg cfg = {
        .session = {.base = run->env.base, .dns = run->env.dns, .host = o->host,
                    .port = o->port, .family = o->family,
                    .command_timeout_ms = o->timeout_ms},
        .pop3 = {.security = o->security, .allow_plaintext_auth = o->allow_plaintext_auth,
                 .creds = o->user ? &creds : NULL, .secret_is_token = o->secret_is_token,
                 .mech = o->mech, .trace = diag_trace_cb, .ctx = run},
        .obs = {.transport = transport, .on_event = on_event},
        .ctx = run,
    };
    run->drive = pop3_drive_start(&cfg, &err);
    if (!run->drive) {
        diag_step_failed(&run->d, "resolve", &err);
        return;
    }
    if (diag_env_tls(&run->d, &run->env, o->security != POP3_SEC_NONE, o->cafile,
                     o->insecure)) {
        pop3_drive_set_tls(run->drive, run->env.tls);
        event_base_dispatch(run->env.base);
    }
    pop3_drive_free(run->drive);
}

enum mf_rc pop3_test_run(const struct pop3_test_opts *o, struct pop3_test_report *r)
{
    memset(r, 0, sizeof *r);
    diag_report_init(&r->base, "pop3", o->host, o->port,
                     o->security == POP3_SEC_TLS ? "tls"
                     : o->security == POP3_SEC_NONE ? "none" : "starttls",
                     o->insecure);
    diag_prepare(&r->base, o->secret);
    struct run run = {.o = o, .r = r};
    diag_run_start(&run.d, &r->base, o->live, o->live_ctx);
    diag_run_tls(&run.d, o->security == POP3_SEC_TLS, "stls");
    if (diag_env_open(&run.d, &run.env)) {
        run_session(&run);
        diag_env_close(&run.env);
    }
    diag_finish(&run.d);
    if (r->have_stat)
        snprintf(r->base.summary, sizeof r->base.summary, "maildrop holds %llu messages",
                 (unsigned long long)r->messages);
    diag_report_explain(&r->base, EXPLAIN_POP3);
    return r->base.ok ? MF_OK : r->base.err.rc;
}

void pop3_test_report_free(struct pop3_test_report *r)
{
    if (r)
        diag_report_free(&r->base);
}

json_t *pop3_test_report_json(const struct pop3_test_report *r)
{
    json_t *o = diag_report_json(&r->base);
    if (r->have_stat)
        json_object_set_new(o, "maildrop", json_pack("{s:I, s:I}",
                            "messages", (json_int_t)r->messages,
                            "octets", (json_int_t)r->octets));
    return o;
}
