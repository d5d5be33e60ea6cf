#include "net/pop3_drive.h"

#include <stdlib.h>

struct pop3_drive {
    struct pop3_drive_cfg cfg;
    struct pop3 *core;
    struct session *session;
};

static enum mf_rc op_feed(void *core, const char *d, size_t n) { return pop3_feed(core, d, n); }
static const char *op_output(void *core, size_t *len) { return pop3_output(core, len); }
static void op_consume(void *core, size_t n) { pop3_output_consume(core, n); }
static enum mf_rc op_tls_done(void *core) { return pop3_tls_done(core); }
static void op_eof(void *core) { pop3_eof(core); }

static void op_transport_failed(void *core, const struct mf_err *err)
{
    pop3_transport_failed(core, err);
}

static enum session_phase op_phase(void *core)
{
    switch (pop3_state(core)) {
    case POP3_ST_GREETING: return SESSION_GREETING;
    case POP3_ST_TLS: return SESSION_TLS;
    case POP3_ST_RETR: case POP3_ST_TOP: return SESSION_DATA;
    case POP3_ST_QUIT: return SESSION_QUITTING;
    case POP3_ST_CLOSED: return SESSION_CLOSED;
    case POP3_ST_FAILED: return SESSION_FAILED;
    case POP3_ST_READY:
        return pop3_pending_requests(core) ? SESSION_COMMAND : SESSION_IDLE;
    default: return SESSION_COMMAND;
    }
}

static const char *op_describe(void *core)
{
    return pop3_state_describe(pop3_state(core));
}

static bool op_drain(void *adapter)
{
    struct pop3_drive *d = adapter;
    struct pop3_event ev;
    bool any = false;
    while (pop3_next_event(d->core, &ev)) {
        any = true;
        if (ev.type == POP3_EV_ERROR)
            session_note_error(d->session, &ev.err);
        if (d->cfg.obs.on_event)
            d->cfg.obs.on_event(d->cfg.ctx, &ev);
    }
    return any;
}


static const struct session_ops pop3_ops = {
    .feed = op_feed, .output = op_output, .output_consume = op_consume,
    .tls_done = op_tls_done, .eof = op_eof, .transport_failed = op_transport_failed,
    .phase = op_phase, .describe = op_describe, .drain_events = op_drain,
};

struct pop3_drive *pop3_drive_start(const struct pop3_drive_cfg *cfg, struct mf_err *err)
{
    struct pop3_drive *d = calloc(1, sizeof *d);
    if (!d) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->core = pop3_new(&cfg->pop3, err);
    if (!d->core) {
        free(d);
        return NULL;
    }
    struct session_cfg sc = cfg->session;
    sc.implicit_tls = cfg->pop3.security == POP3_SEC_TLS;
    sc.obs = cfg->obs.transport;
    sc.obs_ctx = cfg->ctx;
    d->session = session_start(&sc, &pop3_ops, d->core, d, err);
    if (!d->session) {
        pop3_free(d->core);
        free(d);
        return NULL;
    }
    return d;
}

void pop3_drive_free(struct pop3_drive *d)
{
    if (!d)
        return;
    session_free(d->session);
    pop3_free(d->core);
    free(d);
}

void pop3_drive_set_tls(struct pop3_drive *d, SSL_CTX *tls) { session_set_tls(d->session, tls); }
struct pop3 *pop3_drive_core(struct pop3_drive *d) { return d->core; }
void pop3_drive_kick(struct pop3_drive *d) { session_kick(d->session); }
