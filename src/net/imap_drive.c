#include "net/imap_drive.h"

#include <stdlib.h>

struct imap_drive {
    struct imap_drive_cfg cfg;
    struct imap *core;
    struct session *session;
};

static enum mf_rc op_feed(void *core, const char *d, size_t n) { return imap_feed(core, d, n); }
static const char *op_output(void *core, size_t *len) { return imap_output(core, len); }
static void op_consume(void *core, size_t n) { imap_output_consume(core, n); }
static enum mf_rc op_tls_done(void *core) { return imap_tls_done(core); }
static void op_eof(void *core) { imap_eof(core); }

static void op_transport_failed(void *core, const struct mf_err *err)
{
    imap_transport_failed(core, err);
}

static enum session_phase op_phase(void *core)
{
    switch (imap_state(core)) {
    case IMAP_ST_GREETING: return SESSION_GREETING;
    case IMAP_ST_TLS: return SESSION_TLS;
    case IMAP_ST_LOGOUT: return SESSION_QUITTING;
    case IMAP_ST_CLOSED: return SESSION_CLOSED;
    case IMAP_ST_FAILED: return SESSION_FAILED;
    case IMAP_ST_READY:
        return imap_pending_requests(core) ? SESSION_COMMAND : SESSION_IDLE;
    case IMAP_ST_BUSY:
        /* an accepted IDLE waits for the server as long as it likes */
        return imap_idling(core) ? SESSION_IDLE : SESSION_COMMAND;
    default: return SESSION_COMMAND;
    }
}

static const char *op_describe(void *core)
{
    return imap_state_describe(imap_state(core));
}

static bool op_drain(void *adapter)
{
    struct imap_drive *d = adapter;
    struct imap_event ev;
    bool any = false;
    while (imap_next_event(d->core, &ev)) {
        any = true;
        if (ev.type == IMAP_EV_ERROR)
            session_note_error(d->session, &ev.err);
        if (d->cfg.obs.on_event)
            d->cfg.obs.on_event(d->cfg.ctx, &ev);
    }
    return any;
}


static const struct session_ops imap_ops = {
    .feed = op_feed, .output = op_output, .output_consume = op_consume,
    .tls_done = op_tls_done, .eof = op_eof, .transport_failed = op_transport_failed,
    .phase = op_phase, .describe = op_describe, .drain_events = op_drain,
};

struct imap_drive *imap_drive_start(const struct imap_drive_cfg *cfg, struct mf_err *err)
{
    struct imap_drive *d = calloc(1, sizeof *d);
    if (!d) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->core = imap_new(&cfg->imap, err);
    if (!d->core) {
        free(d);
        return NULL;
    }
    struct session_cfg sc = cfg->session;
    sc.implicit_tls = cfg->imap.security == IMAP_SEC_TLS;
    sc.obs = cfg->obs.transport;
    sc.obs_ctx = cfg->ctx;
    d->session = session_start(&sc, &imap_ops, d->core, d, err);
    if (!d->session) {
        imap_free(d->core);
        free(d);
        return NULL;
    }
    return d;
}

void imap_drive_free(struct imap_drive *d)
{
    if (!d)
        return;
    session_free(d->session);
    imap_free(d->core);
    free(d);
}

void imap_drive_set_tls(struct imap_drive *d, SSL_CTX *tls) { session_set_tls(d->session, tls); }
struct imap *imap_drive_core(struct imap_drive *d) { return d->core; }
void imap_drive_kick(struct imap_drive *d) { session_kick(d->session); }
