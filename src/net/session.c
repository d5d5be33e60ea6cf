#include "net/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct session {
    struct session_cfg cfg;
    char host[256];
    const struct session_ops *ops;
    void *core;
    void *adapter;
    struct conn *conn;
    struct dns_result addrs;
    size_t next_addr;
    struct mf_err last_connect_err;
    struct mf_err core_err;       /* the first error the core reported */
    bool have_core_err;
    bool finished;
    bool resolving;
    bool connected;               /* TCP is up */
    bool tls_started;
    int busy;
    bool dead;
    bool held;                    /* output waits for session_release */
};

static int or_default(int v, int def) { return v > 0 ? v : def; }

static void destroy(struct session *s)
{
    conn_free(s->conn);
    free(s);
}

void session_free(struct session *s)
{
    if (!s)
        return;
    if (s->busy || s->resolving) {
        s->dead = true; /* freed when the current callback unwinds */
        return;
    }
    destroy(s);
}

static void enter(struct session *s) { s->busy++; }
static void leave(struct session *s)
{
    if (--s->busy == 0 && s->dead && !s->resolving)
        destroy(s);
}

static void finish(struct session *s, const struct mf_err *err)
{
    if (s->finished || s->dead)
        return;
    s->finished = true;
    if (s->conn)
        conn_set_deadline(s->conn, 0, NULL);
    if (s->cfg.obs.on_done)
        s->cfg.obs.on_done(s->cfg.obs_ctx, err);
}

/* Ends with the core's own error if it has one, else `fallback`. Safe to
 * call after on_done freed the adapter: then it does nothing. */
static void finish_core(struct session *s, const struct mf_err *fallback)
{
    if (s->finished || s->dead)
        return;
    finish(s, s->have_core_err ? &s->core_err : fallback);
}

static void arm_deadline(struct session *s, enum session_phase ph)
{
    int ms = or_default(s->cfg.command_timeout_ms, 60000);
    if (ph == SESSION_GREETING)
        ms = ms < 300000 ? ms : 300000;
    else if (ph == SESSION_TLS)
        ms = or_default(s->cfg.tls_timeout_ms, 15000);
    else if (ph == SESSION_DATA)
        ms = or_default(s->cfg.data_timeout_ms, 600000);
    else if (ph == SESSION_IDLE)
        ms = 0;
    char what[160];
    snprintf(what, sizeof what, "while %s", s->ops->describe(s->core));
    conn_set_deadline(s->conn, ms, what);
}

static void start_tls(struct session *s)
{
    struct mf_err e;
    mf_err_clear(&e);
    s->tls_started = true;
    if (conn_start_tls(s->conn, s->cfg.tls, &e) != MF_OK)
        s->ops->transport_failed(s->core, &e);
}

/* Moves events to the adapter and output to the socket until quiet. */
static void pump(struct session *s)
{
    for (;;) {
        bool any = s->ops->drain_events(s->adapter);
        if (s->dead)
            return;
        if (s->ops->phase(s->core) == SESSION_TLS && !s->tls_started) {
            start_tls(s);
            any = true;
            continue;
        }
        size_t len = 0;
        const char *out = s->held ? NULL : s->ops->output(s->core, &len);
        if (out && len) {
            any = true;
            if (conn_write(s->conn, out, len) != MF_OK) {
                struct mf_err e;
                mf_err_clear(&e);
                mf_err_set(&e, MF_ENOMEM, MF_LAYER_INTERNAL, "write buffer");
                s->ops->transport_failed(s->core, &e);
                continue;
            }
            s->ops->output_consume(s->core, len);
        }
        if (!any)
            break;
    }
    if (s->finished)
        return;
    enum session_phase ph = s->ops->phase(s->core);
    if (ph == SESSION_CLOSED || ph == SESSION_FAILED)
        finish_core(s, NULL);
    else
        arm_deadline(s, ph);
}

static void on_data(void *ctx, const char *data, size_t len)
{
    struct session *s = ctx;
    enter(s);
    if (!s->finished) {
        s->ops->feed(s->core, data, len);
        pump(s);
    }
    leave(s);
}

static void on_eof(void *ctx)
{
    struct session *s = ctx;
    enter(s);
    if (!s->finished) {
        s->ops->eof(s->core);
        pump(s);
        finish_core(s, NULL);
    }
    leave(s);
}

static void try_next_address(struct session *s);

static void on_conn_error(void *ctx, const struct mf_err *err)
{
    struct session *s = ctx;
    enter(s);
    if (!s->connected) {
        /* not connected yet: the next address may work */
        s->last_connect_err = *err;
        if (s->cfg.obs.on_connect_failed)
            s->cfg.obs.on_connect_failed(s->cfg.obs_ctx,
                                         &s->addrs.addrs[s->next_addr - 1], err);
        if (!s->dead)
            try_next_address(s);
    } else if (s->ops->phase(s->core) == SESSION_QUITTING) {
        /* no answer to the goodbye: the work is done all the same */
        s->ops->eof(s->core);
        pump(s);
        finish_core(s, NULL);
    } else if (!s->finished) {
        s->ops->transport_failed(s->core, err);
        pump(s);
        finish_core(s, err);
    }
    leave(s);
}

static void on_connected(void *ctx, const struct dns_addr *addr)
{
    struct session *s = ctx;
    enter(s);
    s->connected = true;
    if (s->cfg.obs.on_connected)
        s->cfg.obs.on_connected(s->cfg.obs_ctx, addr);
    if (!s->dead && s->cfg.implicit_tls) {
        struct mf_err e;
        mf_err_clear(&e);
        s->tls_started = true;
        if (conn_start_tls(s->conn, s->cfg.tls, &e) != MF_OK) {
            s->ops->transport_failed(s->core, &e);
            pump(s);
            finish_core(s, &e);
        } else {
            conn_set_deadline(s->conn, or_default(s->cfg.tls_timeout_ms, 15000),
                              "during the TLS handshake");
        }
    } else if (!s->dead) {
        pump(s); /* work queued before the connect may be ready to go */
    }
    leave(s);
}

static void on_tls(void *ctx, const struct conn_tls_info *info)
{
    struct session *s = ctx;
    enter(s);
    if (s->cfg.obs.on_tls)
        s->cfg.obs.on_tls(s->cfg.obs_ctx, info);
    if (!s->dead && !s->finished) {
        if (s->ops->phase(s->core) == SESSION_TLS)
            s->ops->tls_done(s->core);
        pump(s);
    }
    leave(s);
}

static void try_next_address(struct session *s)
{
    static const struct conn_callbacks cbs = {
        .on_connected = on_connected, .on_tls = on_tls, .on_data = on_data,
        .on_eof = on_eof, .on_error = on_conn_error,
    };
    conn_free(s->conn);
    s->conn = NULL;
    while (s->next_addr < s->addrs.n) {
        const struct dns_addr *a = &s->addrs.addrs[s->next_addr++];
        struct mf_err e;
        mf_err_clear(&e);
        s->conn = conn_open(s->cfg.base, a, s->host, &cbs, s, &e);
        if (s->conn) {
            conn_set_deadline(s->conn, or_default(s->cfg.connect_timeout_ms, 15000),
                              "connecting");
            return;
        }
        s->last_connect_err = e;
        if (s->cfg.obs.on_connect_failed)
            s->cfg.obs.on_connect_failed(s->cfg.obs_ctx, a, &e);
        if (s->dead)
            return;
    }
    finish(s, &s->last_connect_err);
}

static void on_resolved(void *ctx, enum mf_rc rc, const struct dns_result *res,
                        const struct mf_err *err)
{
    struct session *s = ctx;
    s->resolving = false;
    enter(s);
    if (rc != MF_OK) {
        finish(s, err);
    } else {
        s->addrs = *res;
        if (s->cfg.obs.on_resolved)
            s->cfg.obs.on_resolved(s->cfg.obs_ctx, res);
        if (!s->dead)
            try_next_address(s);
    }
    leave(s);
}

struct session *session_start(const struct session_cfg *cfg,
                              const struct session_ops *ops, void *core,
                              void *adapter, struct mf_err *err)
{
    if (!cfg->host || !cfg->base || !cfg->dns || !ops || !core) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "incomplete session config");
        return NULL;
    }
    struct session *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->ops = ops;
    s->core = core;
    s->adapter = adapter;
    snprintf(s->host, sizeof s->host, "%s", cfg->host);
    s->cfg.host = s->host;
    mf_err_set(&s->last_connect_err, MF_ECONNECT, MF_LAYER_TCP,
               "no address to connect to");
    s->resolving = true;
    enum mf_rc rc = dns_resolve(cfg->dns, s->host, cfg->port, cfg->family,
                                on_resolved, s);
    if (rc != MF_OK) {
        s->resolving = false;
        mf_err_set(err, rc, MF_LAYER_DNS, "cannot resolve \"%s\"", s->host);
        destroy(s);
        return NULL;
    }
    return s;
}

void session_set_tls(struct session *s, SSL_CTX *tls)
{
    s->cfg.tls = tls;
}

void session_note_error(struct session *s, const struct mf_err *err)
{
    if (!s->have_core_err) {
        s->core_err = *err;
        s->have_core_err = true;
    }
}

void session_hold(struct session *s)
{
    s->held = true;
}

void session_release(struct session *s)
{
    s->held = false;
    session_kick(s);
}

void session_abort(struct session *s, const struct mf_err *err)
{
    if (s->busy || s->finished || s->dead)
        return;
    enter(s);
    s->held = true; /* not a byte more: what waits must never leave */
    s->ops->transport_failed(s->core, err);
    pump(s);
    finish_core(s, err);
    leave(s);
}

void session_kick(struct session *s)
{
    if (!s->connected || s->busy || s->finished || s->dead)
        return;
    enter(s);
    pump(s);
    leave(s);
}
