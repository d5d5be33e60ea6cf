/*
 * net/imap_drive — runs the sans-I/O IMAP core (proto/imap) over a real
 * connection through net/session. Same shape as net/smtp_drive: the
 * observer sees the transport steps and every core event; on_done comes
 * once, last, and the drive may be freed from inside it.
 *
 * Ownership: the caller owns the drive (imap_drive_free) and keeps base,
 * dns and the SSL_CTX alive while it runs.
 */
#ifndef MF_NET_IMAP_DRIVE_H
#define MF_NET_IMAP_DRIVE_H

#include "net/session.h"
#include "proto/imap.h"

struct imap_drive_observer {
    struct session_observer transport;   /* resolve/connect/TLS/done */
    void (*on_event)(void *ctx, const struct imap_event *ev);
};

struct imap_drive_cfg {
    struct session_cfg session;          /* implicit_tls from imap.security */
    struct imap_cfg imap;
    struct imap_drive_observer obs;
    void *ctx;
};

struct imap_drive;

struct imap_drive *imap_drive_start(const struct imap_drive_cfg *cfg, struct mf_err *err);
void imap_drive_free(struct imap_drive *d);
void imap_drive_set_tls(struct imap_drive *d, SSL_CTX *tls);
/* The core, to queue requests (borrowed); call imap_drive_kick after. */
struct imap *imap_drive_core(struct imap_drive *d);
void imap_drive_kick(struct imap_drive *d);

#endif
