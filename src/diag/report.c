#include "diag/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "diag/providers.h"
#include "util/clock.h"
#include "util/log.h"

void diag_report_init(struct diag_report *r, const char *protocol, const char *host,
                      int port, const char *security, bool insecure)
{
    memset(r, 0, sizeof *r);
    mf_buf_init(&r->transcript, 4u << 20);
    snprintf(r->protocol, sizeof r->protocol, "%s", protocol);
    snprintf(r->host, sizeof r->host, "%s", host ? host : "");
    snprintf(r->security, sizeof r->security, "%s", security);
    r->port = port;
    r->ok = true;
    r->insecure = insecure;
}

void diag_report_free(struct diag_report *r)
{
    if (r)
        mf_buf_free(&r->transcript);
}

void diag_report_explain(struct diag_report *r, enum explain_proto proto)
{
    if (!r->ok)
        r->explain = explain_err(&r->err, proto, r->port, r->is_microsoft);
}

void diag_run_start(struct diag_run *run, struct diag_report *r, diag_live_fn live,
                    void *live_ctx)
{
    run->r = r;
    run->live = live;
    run->live_ctx = live_ctx;
    run->t0 = mf_now_ms();
    run->last = 0;
}

static double since_start(const struct diag_run *run)
{
    return mf_now_ms() - run->t0;
}

void diag_step(struct diag_run *run, const char *name, bool ok, const char *fmt, ...)
{
    struct diag_report *r = run->r;
    double now = since_start(run);
    if (r->nsteps == DIAG_MAX_STEPS)
        return;
    struct diag_step *s = &r->steps[r->nsteps++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ok = ok;
    s->start_ms = run->last;
    s->ms = now - run->last;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof s->detail, fmt, ap);
    va_end(ap);
    run->last = now;
    if (run->live)
        run->live(run->live_ctx, '*', now, s->name, s);
}

void diag_warn(struct diag_run *run, const char *text)
{
    if (run->live)
        run->live(run->live_ctx, '!', since_start(run), text, NULL);
}

void diag_trace(struct diag_run *run, char dir, const char *line, size_t len)
{
    struct mf_buf tmp;
    mf_buf_init(&tmp, 70000);
    char clean[2048];
    size_t n = mf_sanitize(clean, sizeof clean, line, len, 0);
    /* second line of defence: registered secrets never get through */
    if (mf_redact(&tmp, clean, n) == MF_OK) {
        mf_buf_printf(&run->r->transcript, "%c: %s\n", dir, mf_buf_data(&tmp));
        if (run->live)
            run->live(run->live_ctx, dir, since_start(run), mf_buf_data(&tmp), NULL);
    }
    mf_buf_free(&tmp);
}

void diag_fail(struct diag_run *run, const struct mf_err *err, const char *step)
{
    if (!run->r->ok || !err)
        return;
    run->r->ok = false;
    run->r->err = *err;
    snprintf(run->r->failed_step, sizeof run->r->failed_step, "%s", step);
}

void diag_run_tls(struct diag_run *run, bool implicit_tls, const char *upgrade)
{
    run->implicit_tls = implicit_tls;
    run->upgrade = upgrade;
}

const char *diag_tls_step(const struct diag_run *run)
{
    return run->implicit_tls && !run->tls_seen ? "tls" : run->upgrade;
}

void diag_trace_cb(void *ctx, char dir, const char *line, size_t len)
{
    diag_trace(ctx, dir, line, len);
}

static void on_resolved(void *ctx, const struct dns_result *res)
{
    struct diag_run *run = ctx;
    char list[400] = "";
    size_t used = 0;
    for (size_t i = 0; i < res->n && used + 70 < sizeof list; i++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                 i ? ", " : "", res->addrs[i].text);
    diag_step(run, "resolve", true, "%s: %s", run->r->host, list);
}

static void on_connect_failed(void *ctx, const struct dns_addr *addr,
                              const struct mf_err *err)
{
    struct diag_run *run = ctx;
    char msg[400];
    snprintf(msg, sizeof msg, "%s: %s (trying the next address)", addr->text, err->detail);
    diag_warn(run, msg);
}

static void on_connected(void *ctx, const struct dns_addr *addr)
{
    struct diag_run *run = ctx;
    run->tls_pending = run->implicit_tls;
    snprintf(run->r->connected_to, sizeof run->r->connected_to,
             addr->family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr->text, run->r->port);
    diag_step(run, "connect", true, "%s", run->r->connected_to);
}

static void on_tls(void *ctx, const struct conn_tls_info *t)
{
    struct diag_run *run = ctx;
    const char *name = run->tls_pending ? "tls" : run->upgrade;
    run->tls_pending = false;
    run->tls_seen = true;
    run->r->have_tls = true;
    run->r->tls = *t;
    diag_step(run, name, true,
              "%s, %s; certificate %s, issuer %s, SANs %s, expires %s (%ld days)%s%s",
              t->version, t->cipher, t->subject, t->issuer, t->sans[0] ? t->sans : "-",
              t->not_after, t->days_left, t->verified ? ", verified" : ", NOT VERIFIED: ",
              t->verified ? "" : t->verify_result);
    if (!t->verified)
        diag_warn(run, "the server's certificate was not verified (--insecure)");
    else if (t->days_left < 14)
        diag_warn(run, "the server's certificate expires within 14 days");
}

void diag_step_failed(struct diag_run *run, const char *step, const struct mf_err *err)
{
    diag_step(run, step, false, "%s%s%s", err->detail, err->reply[0] ? ": " : "",
              err->reply);
    diag_fail(run, err, step);
}

const char *diag_transport_step(const struct diag_run *run, const struct mf_err *err)
{
    if (run->r->connected_to[0])
        return NULL;
    return err->layer == MF_LAYER_DNS ? "resolve" : "connect";
}

bool diag_env_open(struct diag_run *run, struct diag_env *env)
{
    struct mf_err err;
    mf_err_clear(&err);
    memset(env, 0, sizeof *env);
    env->base = event_base_new();
    if (env->base)
        env->dns = dns_new(env->base, &err);
    else
        mf_err_set(&err, MF_ENOMEM, MF_LAYER_INTERNAL, "cannot create an event loop");
    if (env->dns)
        return true;
    diag_step_failed(run, "setup", &err);
    diag_env_close(env);
    return false;
}

bool diag_env_tls(struct diag_run *run, struct diag_env *env, bool need,
                  const char *cafile, bool insecure)
{
    if (!need)
        return true;
    struct mf_err err;
    mf_err_clear(&err);
    env->tls = conn_tls_ctx_new(cafile, insecure, 0, &err);
    if (!env->tls)
        diag_step_failed(run, "setup", &err);
    return env->tls != NULL;
}

void diag_env_close(struct diag_env *env)
{
    dns_free(env->dns);
    conn_tls_ctx_free(env->tls);
    if (env->base)
        event_base_free(env->base);
    memset(env, 0, sizeof *env);
}

void diag_prepare(struct diag_report *r, const char *secret)
{
    const struct provider *p = providers_by_host(r->host);
    r->is_microsoft = p && (!strcmp(p->id, "m365") || !strcmp(p->id, "outlook"));
    if (secret)
        mf_secret_register(secret);
}

const struct session_observer diag_transport_observer = {
    .on_resolved = on_resolved, .on_connected = on_connected,
    .on_connect_failed = on_connect_failed, .on_tls = on_tls,
};

void diag_finish(struct diag_run *run)
{
    run->r->total_ms = since_start(run);
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *tls_json(const struct conn_tls_info *t)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:b, s:s}",
                     "version", t->version, "cipher", t->cipher,
                     "subject", t->subject, "issuer", t->issuer,
                     "sans", t->sans, "not_after", t->not_after,
                     "days_left", (json_int_t)t->days_left,
                     "verified", t->verified, "verify_result", t->verify_result);
}

json_t *diag_report_json(const struct diag_report *r)
{
    json_t *steps = json_array();
    for (size_t i = 0; i < r->nsteps; i++) {
        const struct diag_step *s = &r->steps[i];
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
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:b, s:f, s:o, s:o, s:s, s:s}",
                          "protocol", r->protocol, "host", r->host, "port", r->port,
                          "security", r->security, "connected_to", r->connected_to,
                          "ok", r->ok, "total_ms", r->total_ms, "steps", steps,
                          "transcript", lines, "auth_mechanism", r->auth,
                          "summary", r->summary);
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
