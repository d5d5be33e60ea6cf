/*
 * net/session — runs any sans-I/O protocol core (SMTP, IMAP, POP3) over a
 * real connection: resolve (every address in turn), connect, implicit TLS
 * or an in-place upgrade when the core asks, per-phase deadlines, and the
 * byte pump between the socket and the core.
 *
 * The protocol side is a small table of functions (struct session_ops)
 * supplied by an adapter such as net/smtp_drive; the adapter turns its
 * core's events into its own observer calls and tells the session when
 * the core wants TLS. on_done is called exactly once, last.
 *
 * Ownership: the adapter owns the session (session_free) and its core; base,
 * dns and the SSL_CTX are borrowed and must outlive it. A session may be
 * freed from inside any callback: the free is deferred until it unwinds.
 */
#ifndef MF_NET_SESSION_H
#define MF_NET_SESSION_H

#include <stdbool.h>

#include "net/conn.h"
#include "net/dns.h"

/* What the core is waiting for, which picks the deadline. */
enum session_phase {
    SESSION_GREETING,   /* the server speaks first */
    SESSION_COMMAND,    /* a reply to a command */
    SESSION_DATA,       /* a reply that may take long (end of data, big fetch) */
    SESSION_IDLE,       /* nothing asked: no deadline (IDLE, waiting for work) */
    SESSION_TLS,        /* the core asked for TLS: start the handshake */
    SESSION_QUITTING,   /* goodbye sent: an EOF now is clean */
    SESSION_CLOSED,     /* over, cleanly */
    SESSION_FAILED,     /* over, with the error the adapter reports */
};

struct session_ops {
    enum mf_rc (*feed)(void *core, const char *data, size_t len);
    const char *(*output)(void *core, size_t *len);
    void (*output_consume)(void *core, size_t n);
    enum mf_rc (*tls_done)(void *core);
    /* EOF from the server: the core decides whether it was clean. */
    void (*eof)(void *core);
    void (*transport_failed)(void *core, const struct mf_err *err);
    enum session_phase (*phase)(void *core);
    const char *(*describe)(void *core);      /* "waiting for ..." */
    /* Takes the core's pending events (adapter's own observer calls, and
     * session_note_error for the core's error event); returns true if it
     * took any. */
    bool (*drain_events)(void *adapter);
};

struct session_observer {
    void (*on_resolved)(void *ctx, const struct dns_result *res);
    void (*on_connected)(void *ctx, const struct dns_addr *addr);
    void (*on_connect_failed)(void *ctx, const struct dns_addr *addr,
                              const struct mf_err *err);
    void (*on_tls)(void *ctx, const struct conn_tls_info *info);
    void (*on_done)(void *ctx, const struct mf_err *err);
};

struct session_cfg {
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;               /* may come later: session_set_tls() */
    const char *host;
    int port;
    int family;                 /* AF_UNSPEC, AF_INET, AF_INET6 */
    bool implicit_tls;          /* TLS from the first byte */
    int connect_timeout_ms;     /* 0 → 15 s per address */
    int tls_timeout_ms;         /* 0 → 15 s */
    int command_timeout_ms;     /* 0 → 60 s; the greeting waits 5 min max */
    int data_timeout_ms;        /* 0 → 10 min */
    struct session_observer obs;
    void *obs_ctx;
};

struct session;

/* Starts resolving and connecting. NULL on immediate failure (err). */
struct session *session_start(const struct session_cfg *cfg,
                              const struct session_ops *ops, void *core,
                              void *adapter, struct mf_err *err);
void session_free(struct session *s);
void session_set_tls(struct session *s, SSL_CTX *tls);
/* The adapter changed the core outside a callback (queued work): pump. */
void session_kick(struct session *s);
/* Holds the core's output back (it stays queued in the core) until
 * session_release, which writes it. The engine holds a final dot until the
 * store has committed the mark that says it may have been sent. */
void session_hold(struct session *s);
void session_release(struct session *s);
/* Ends the session as if the transport had failed with err, writing none
 * of the held output. Not from inside one of the session's callbacks. */
void session_abort(struct session *s, const struct mf_err *err);
/* The core reported the error that ends the session; the first one is
 * kept and handed to on_done. */
void session_note_error(struct session *s, const struct mf_err *err);

#endif
