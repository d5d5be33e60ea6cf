#include "net/smtp_drive.h"

#include <stdlib.h>
#include <string.h>

#include "net/session.h"

struct smtp_drive {
    struct smtp_drive_cfg cfg;
    struct smtp *core;
    struct session *session;
};

/* ---- the SMTP core as a session_ops table ----------------------------------- */

static enum mf_rc op_feed(void *core, const char *data, size_t len)
{
    return smtp_feed(core, data, len);
}

static const char *op_output(void *core, size_t *len)
{
    return smtp_output(core, len);
}

static void op_consume(void *core, size_t n) { smtp_output_consume(core, n); }
static enum mf_rc op_tls_done(void *core) { return smtp_tls_done(core); }
static void op_eof(void *core) { smtp_eof(core); }

static void op_transport_failed(void *core, const struct mf_err *err)
{
    smtp_transport_failed(core, err);
}

static enum session_phase op_phase(void *core)
{
    switch (smtp_state(core)) {
    case SMTP_ST_GREETING: return SESSION_GREETING;
    case SMTP_ST_TLS: return SESSION_TLS;
    case SMTP_ST_BODY: return SESSION_DATA;
    case SMTP_ST_QUIT: return SESSION_QUITTING;
    case SMTP_ST_CLOSED: return SESSION_CLOSED;
    case SMTP_ST_FAILED: return SESSION_FAILED;
    case SMTP_ST_READY:
        return smtp_pending_messages(core) ? SESSION_COMMAND : SESSION_IDLE;
    default: return SESSION_COMMAND;
    }
}

static const char *op_describe(void *core)
{
    return smtp_state_describe(smtp_state(core));
}

static bool op_drain(void *adapter)
{
    struct smtp_drive *d = adapter;
    struct smtp_event ev;
    bool any = false;
    while (smtp_next_event(d->core, &ev)) {
        any = true;
        if (ev.type == SMTP_EV_ERROR)
            session_note_error(d->session, &ev.err);
        if (d->cfg.obs.on_event)
            d->cfg.obs.on_event(d->cfg.ctx, &ev);
    }
    return any;
}


static const struct session_ops smtp_ops = {
    .feed = op_feed, .output = op_output, .output_consume = op_consume,
    .tls_done = op_tls_done, .eof = op_eof, .transport_failed = op_transport_failed,
    .phase = op_phase, .describe = op_describe, .drain_events = op_drain,
};

/* ---- API ---------------------------------------------------------------------- */

struct smtp_drive *smtp_drive_start(const struct smtp_drive_cfg *cfg,
                                    struct mf_err *err)
{
    struct smtp_drive *d = calloc(1, sizeof *d);
    if (!d) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->core = smtp_new(&cfg->smtp, err);
    if (!d->core) {
        free(d);
        return NULL;
    }
    struct session_cfg sc = {
        .base = cfg->base, .dns = cfg->dns, .tls = cfg->tls, .host = cfg->host,
        .port = cfg->port, .family = cfg->family,
        .implicit_tls = cfg->smtp.security == SMTP_SEC_TLS,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .tls_timeout_ms = cfg->tls_timeout_ms,
        .command_timeout_ms = cfg->command_timeout_ms,
        .data_timeout_ms = cfg->data_timeout_ms,
        .obs = {.on_resolved = cfg->obs.on_resolved,
                .on_connected = cfg->obs.on_connected,
                .on_connect_failed = cfg->obs.on_connect_failed,
                .on_tls = cfg->obs.on_tls, .on_done = cfg->obs.on_done},
        .obs_ctx = cfg->ctx,
    };
    d->session = session_start(&sc, &smtp_ops, d->core, d, err);
    if (!d->session) {
        smtp_free(d->core);
        free(d);
        return NULL;
    }
    return d;
}

void smtp_drive_free(struct smtp_drive *d)
{
    if (!d)
        return;
    /* the session may still be unwinding a callback: it frees itself then,
     * and touches neither the core nor the adapter after on_done */
    session_free(d->session);
    smtp_free(d->core);
    free(d);
}

enum mf_rc smtp_drive_submit(struct smtp_drive *d, const struct smtp_msg *m)
{
    enum mf_rc rc = smtp_submit(d->core, m);
    session_kick(d->session);
    return rc;
}

void smtp_drive_quit(struct smtp_drive *d)
{
    smtp_quit(d->core);
    session_kick(d->session);
}

void smtp_drive_hold(struct smtp_drive *d)
{
    session_hold(d->session);
}

void smtp_drive_release(struct smtp_drive *d)
{
    session_release(d->session);
}

void smtp_drive_abort(struct smtp_drive *d, const struct mf_err *err)
{
    session_abort(d->session, err);
}

void smtp_drive_set_tls(struct smtp_drive *d, SSL_CTX *tls)
{
    session_set_tls(d->session, tls);
}

struct smtp *smtp_drive_core(struct smtp_drive *d)
{
    return d->core;
}
