/*
 * net/pop3_drive — runs the sans-I/O POP3 core (proto/pop3) over a real
 * connection through net/session. Same shape as net/smtp_drive: the
 * observer sees the transport steps and every core event; on_done comes
 * once, last, and the drive may be freed from inside it.
 *
 * Ownership: the caller owns the drive (pop3_drive_free) and keeps base,
 * dns and the SSL_CTX alive while it runs.
 */
#ifndef MF_NET_POP3_DRIVE_H
#define MF_NET_POP3_DRIVE_H

#include "net/session.h"
#include "proto/pop3.h"

struct pop3_drive_observer {
    struct session_observer transport;   /* resolve/connect/TLS/done */
    void (*on_event)(void *ctx, const struct pop3_event *ev);
};

struct pop3_drive_cfg {
    struct session_cfg session;          /* implicit_tls from pop3.security */
    struct pop3_cfg pop3;
    struct pop3_drive_observer obs;
    void *ctx;
};

struct pop3_drive;

struct pop3_drive *pop3_drive_start(const struct pop3_drive_cfg *cfg, struct mf_err *err);
void pop3_drive_free(struct pop3_drive *d);
void pop3_drive_set_tls(struct pop3_drive *d, SSL_CTX *tls);
/* The core, to queue requests (borrowed); call pop3_drive_kick after. */
struct pop3 *pop3_drive_core(struct pop3_drive *d);
void pop3_drive_kick(struct pop3_drive *d);

#endif
