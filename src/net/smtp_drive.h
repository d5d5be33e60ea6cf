/*
 * net/smtp_drive — runs the sans-I/O SMTP core over a real connection:
 * resolve (every address in turn), connect, implicit TLS or STARTTLS,
 * per-phase deadlines, and the byte pump between the socket and the core.
 * Many drives can share one event_base, one struct dns and one SSL_CTX.
 *
 * The observer sees each step as it happens (for the tester's timings) and
 * every core event; on_done is called exactly once, last, with NULL for a
 * clean end (QUIT answered) or the error that ended the session. The drive
 * may be freed from inside on_done.
 *
 * Ownership: the caller owns the drive (smtp_drive_free), and keeps base,
 * dns, the SSL_CTX and submitted messages alive while it runs.
 */
#ifndef MF_NET_SMTP_DRIVE_H
#define MF_NET_SMTP_DRIVE_H

#include "net/conn.h"
#include "net/dns.h"
#include "proto/smtp.h"

struct smtp_drive_observer {
    void (*on_resolved)(void *ctx, const struct dns_result *res);
    void (*on_connected)(void *ctx, const struct dns_addr *addr);
    void (*on_connect_failed)(void *ctx, const struct dns_addr *addr,
                              const struct mf_err *err);
    void (*on_tls)(void *ctx, const struct conn_tls_info *info);
    void (*on_event)(void *ctx, const struct smtp_event *ev);
    void (*on_done)(void *ctx, const struct mf_err *err);
};

struct smtp_drive_cfg {
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;                 /* required unless security is NONE; may
                                     come later through smtp_drive_set_tls */
    const char *host;
    int port;
    int family;                   /* AF_UNSPEC, AF_INET, AF_INET6 */
    int connect_timeout_ms;       /* 0 → 15 s per address */
    int tls_timeout_ms;           /* 0 → 15 s */
    int command_timeout_ms;       /* 0 → 60 s; greeting waits 5 min max */
    int data_timeout_ms;          /* 0 → 10 min for the end-of-data reply */
    struct smtp_cfg smtp;         /* security, credentials, hooks */
    struct smtp_drive_observer obs;
    void *ctx;
};

struct smtp_drive;

/* Starts resolving and connecting. NULL on immediate failure (err). */
struct smtp_drive *smtp_drive_start(const struct smtp_drive_cfg *cfg,
                                    struct mf_err *err);
void smtp_drive_free(struct smtp_drive *d);

/* Supplies the TLS context after the start: building one costs OpenSSL 3
 * milliseconds, which can overlap the TCP connect and the server's banner.
 * Must happen before the loop runs into the handshake. */
void smtp_drive_set_tls(struct smtp_drive *d, SSL_CTX *tls);

/* Queues a message (borrowed until its MSG_DONE event). */
enum mf_rc smtp_drive_submit(struct smtp_drive *d, const struct smtp_msg *m);
/* QUIT once every queued message is done. */
void smtp_drive_quit(struct smtp_drive *d);

/* Holds the output (a final dot the store must record first) until
 * release; abort ends the session with err instead, writing none of it
 * (on_done follows). Neither from inside the drive's callbacks, except
 * hold, which on_data_end may call. */
void smtp_drive_hold(struct smtp_drive *d);
void smtp_drive_release(struct smtp_drive *d);
void smtp_drive_abort(struct smtp_drive *d, const struct mf_err *err);

/* The core, for state and capabilities (borrowed). */
struct smtp *smtp_drive_core(struct smtp_drive *d);

#endif
