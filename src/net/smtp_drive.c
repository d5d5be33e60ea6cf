#include "net/smtp_drive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct smtp_drive {
    struct smtp_drive_cfg cfg;
    char host[256];
    struct smtp *core;
    struct conn *conn;
    struct dns_result addrs;
    size_t next_addr;
    struct mf_err last_connect_err;
    struct mf_err session_err;    /* first error the core reported */
    bool have_session_err;
    bool finished;
    bool resolving;
    bool connected;               /* TCP is up */
    int busy;
    bool dead;
};

static int or_default(int v, int def) { return v > 0 ? v : def; }

static void destroy(struct smtp_drive *d)
{
    conn_free(d->conn);
    smtp_free(d->core);
    free(d);
}

void smtp_drive_free(struct smtp_drive *d)
{
    if (!d)
        return;
    if (d->busy || d->resolving) {
        d->dead = true; /* freed when the current callback unwinds */
        return;
    }
    destroy(d);
}

static void enter(struct smtp_drive *d) { d->busy++; }
static bool leave(struct smtp_drive *d)
{
    if (--d->busy == 0 && d->dead && !d->resolving) {
        destroy(d);
        return false;
    }
    return !d->dead;
}

static void finish(struct smtp_drive *d, const struct mf_err *err)
{
    if (d->finished)
        return;
    d->finished = true;
    if (d->conn)
        conn_set_deadline(d->conn, 0, NULL);
    if (d->cfg.obs.on_done)
        d->cfg.obs.on_done(d->cfg.ctx, err);
}

/* The deadline for whatever the core now waits for. */
static void arm_deadline(struct smtp_drive *d)
{
    enum smtp_state st = smtp_state(d->core);
    int ms = or_default(d->cfg.command_timeout_ms, 60000);
    if (st == SMTP_ST_GREETING)
        ms = ms < 300000 ? ms : 300000;
    else if (st == SMTP_ST_TLS)
        ms = or_default(d->cfg.tls_timeout_ms, 15000);
    else if (st == SMTP_ST_BODY)
        ms = or_default(d->cfg.data_timeout_ms, 600000);
    else if (st == SMTP_ST_READY && smtp_pending_messages(d->core) == 0)
        ms = 0; /* idle until the caller submits or quits */
    char what[128];
    snprintf(what, sizeof what, "while %s", smtp_state_describe(st));
    conn_set_deadline(d->conn, ms, what);
}

/* Moves events to the observer and output to the socket until quiet. */
static void pump(struct smtp_drive *d)
{
    for (;;) {
        struct smtp_event ev;
        bool any = false;
        while (!d->dead && smtp_next_event(d->core, &ev)) {
            any = true;
            if (ev.type == SMTP_EV_ERROR && !d->have_session_err) {
                d->session_err = ev.err;
                d->have_session_err = true;
            }
            if (d->cfg.obs.on_event)
                d->cfg.obs.on_event(d->cfg.ctx, &ev);
            if (ev.type == SMTP_EV_NEED_TLS) {
                struct mf_err e;
                mf_err_clear(&e);
                if (conn_start_tls(d->conn, d->cfg.tls, &e) != MF_OK)
                    smtp_transport_failed(d->core, &e);
            }
        }
        if (d->dead)
            return;
        size_t len;
        const char *out = smtp_output(d->core, &len);
        if (len) {
            any = true;
            if (conn_write(d->conn, out, len) != MF_OK) {
                struct mf_err e;
                mf_err_clear(&e);
                mf_err_set(&e, MF_ENOMEM, MF_LAYER_INTERNAL, "write buffer");
                smtp_transport_failed(d->core, &e);
                continue;
            }
            smtp_output_consume(d->core, len);
        }
        if (!any)
            break;
    }
    enum smtp_state st = smtp_state(d->core);
    if (st == SMTP_ST_CLOSED)
        finish(d, d->have_session_err ? &d->session_err : NULL);
    else if (st == SMTP_ST_FAILED)
        finish(d, &d->session_err);
    else
        arm_deadline(d);
}

static void on_data(void *ctx, const char *data, size_t len)
{
    struct smtp_drive *d = ctx;
    enter(d);
    smtp_feed(d->core, data, len);
    pump(d);
    leave(d);
}

static void on_eof(void *ctx)
{
    struct smtp_drive *d = ctx;
    enter(d);
    smtp_eof(d->core);
    pump(d);
    if (!d->dead)
        finish(d, d->have_session_err ? &d->session_err : NULL);
    leave(d);
}

static void try_next_address(struct smtp_drive *d);

static void on_conn_error(void *ctx, const struct mf_err *err)
{
    struct smtp_drive *d = ctx;
    enter(d);
    if (!d->connected) {
        /* not connected yet: the next address may work */
        d->last_connect_err = *err;
        if (d->cfg.obs.on_connect_failed)
            d->cfg.obs.on_connect_failed(d->cfg.ctx,
                                         &d->addrs.addrs[d->next_addr - 1], err);
        if (!d->dead)
            try_next_address(d);
        leave(d);
        return;
    }
    if (smtp_state(d->core) == SMTP_ST_QUIT) {
        /* the server did not answer QUIT: the work is done all the same */
        smtp_eof(d->core);
        pump(d);
        if (!d->dead)
            finish(d, d->have_session_err ? &d->session_err : NULL);
        leave(d);
        return;
    }
    smtp_transport_failed(d->core, err);
    pump(d);
    if (!d->dead)
        finish(d, d->have_session_err ? &d->session_err : err);
    leave(d);
}

static void on_connected(void *ctx, const struct dns_addr *addr)
{
    struct smtp_drive *d = ctx;
    enter(d);
    d->connected = true;
    if (d->cfg.obs.on_connected)
        d->cfg.obs.on_connected(d->cfg.ctx, addr);
    if (!d->dead && d->cfg.smtp.security == SMTP_SEC_TLS) {
        struct mf_err e;
        mf_err_clear(&e);
        if (conn_start_tls(d->conn, d->cfg.tls, &e) != MF_OK) {
            smtp_transport_failed(d->core, &e);
            pump(d);
            if (!d->dead)
                finish(d, &e);
        } else {
            conn_set_deadline(d->conn, or_default(d->cfg.tls_timeout_ms, 15000),
                              "during the TLS handshake");
        }
    } else if (!d->dead) {
        arm_deadline(d);
    }
    leave(d);
}

static void on_tls(void *ctx, const struct conn_tls_info *info)
{
    struct smtp_drive *d = ctx;
    enter(d);
    if (d->cfg.obs.on_tls)
        d->cfg.obs.on_tls(d->cfg.ctx, info);
    if (!d->dead) {
        if (smtp_state(d->core) == SMTP_ST_TLS)
            smtp_tls_done(d->core);
        pump(d);
    }
    leave(d);
}

static void try_next_address(struct smtp_drive *d)
{
    static const struct conn_callbacks cbs = {
        .on_connected = on_connected, .on_tls = on_tls, .on_data = on_data,
        .on_eof = on_eof, .on_error = on_conn_error,
    };
    conn_free(d->conn);
    d->conn = NULL;
    while (d->next_addr < d->addrs.n) {
        const struct dns_addr *a = &d->addrs.addrs[d->next_addr++];
        struct mf_err e;
        mf_err_clear(&e);
        d->conn = conn_open(d->cfg.base, a, d->host, &cbs, d, &e);
        if (d->conn) {
            conn_set_deadline(d->conn, or_default(d->cfg.connect_timeout_ms, 15000),
                              "connecting");
            return;
        }
        d->last_connect_err = e;
        if (d->cfg.obs.on_connect_failed)
            d->cfg.obs.on_connect_failed(d->cfg.ctx, a, &e);
        if (d->dead)
            return;
    }
    finish(d, &d->last_connect_err);
}

static void on_resolved(void *ctx, enum mf_rc rc, const struct dns_result *res,
                        const struct mf_err *err)
{
    struct smtp_drive *d = ctx;
    d->resolving = false;
    enter(d);
    if (rc != MF_OK) {
        if (!d->dead)
            finish(d, err);
    } else {
        d->addrs = *res;
        if (d->cfg.obs.on_resolved)
            d->cfg.obs.on_resolved(d->cfg.ctx, res);
        if (!d->dead)
            try_next_address(d);
    }
    leave(d);
}

struct smtp_drive *smtp_drive_start(const struct smtp_drive_cfg *cfg,
                                    struct mf_err *err)
{
    if (!cfg->host || !cfg->base || !cfg->dns) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "incomplete drive config");
        return NULL;
    }
    struct smtp_drive *d = calloc(1, sizeof *d);
    if (!d) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    snprintf(d->host, sizeof d->host, "%s", cfg->host);
    d->cfg.host = d->host;
    mf_err_set(&d->last_connect_err, MF_ECONNECT, MF_LAYER_TCP,
               "no address to connect to");
    d->core = smtp_new(&cfg->smtp, err);
    if (!d->core) {
        free(d);
        return NULL;
    }
    d->resolving = true;
    enum mf_rc rc = dns_resolve(cfg->dns, d->host, cfg->port, cfg->family,
                                on_resolved, d);
    if (rc != MF_OK) {
        d->resolving = false;
        mf_err_set(err, rc, MF_LAYER_DNS, "cannot resolve \"%s\"", d->host);
        destroy(d);
        return NULL;
    }
    return d;
}

enum mf_rc smtp_drive_submit(struct smtp_drive *d, const struct smtp_msg *m)
{
    enum mf_rc rc = smtp_submit(d->core, m);
    if (d->connected && !d->busy) {
        enter(d);
        pump(d);
        leave(d);
    }
    return rc;
}

void smtp_drive_quit(struct smtp_drive *d)
{
    smtp_quit(d->core);
    if (d->connected && !d->busy) {
        enter(d);
        pump(d);
        leave(d);
    }
}

void smtp_drive_set_tls(struct smtp_drive *d, SSL_CTX *tls)
{
    d->cfg.tls = tls;
}

struct smtp *smtp_drive_core(struct smtp_drive *d)
{
    return d->core;
}
