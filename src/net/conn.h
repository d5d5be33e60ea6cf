/*
 * net/conn — one client connection on the libevent loop: TCP connect with
 * a deadline, TCP_NODELAY, and TLS with OpenSSL, either from the first byte
 * (implicit TLS) or as an in-place upgrade (STARTTLS/STLS), both done by
 * conn_start_tls() on the open connection.
 *
 * TLS defaults: TLS 1.2 minimum, certificate chain and host name verified
 * against the system store (or a CA file). conn_tls_ctx_new(insecure=true)
 * turns verification off; the caller must say so loudly.
 *
 * Ownership: the caller owns struct conn (conn_free) and the SSL_CTX
 * (conn_tls_ctx_free), which may be shared by many connections and must
 * outlive them. Data passed to the on_data callback is borrowed for the call.
 * Callbacks may call conn_free() only through conn_close_later().
 */
#ifndef MF_NET_CONN_H
#define MF_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>

#include "net/dns.h"
#include "util/err.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

struct conn_tls_info {
    char version[32];        /* "TLSv1.3" */
    char cipher[96];
    char subject[256];
    char issuer[256];
    char sans[512];          /* "DNS:a, DNS:b, IP:127.0.0.1" */
    char not_after[64];      /* "Jan  1 00:00:00 2027 GMT" */
    long days_left;          /* until not_after; negative when expired */
    bool verified;           /* chain and host name checked and good */
    char verify_result[128]; /* "ok" or OpenSSL's reason */
};

struct conn_callbacks {
    void (*on_connected)(void *ctx, const struct dns_addr *addr);
    void (*on_tls)(void *ctx, const struct conn_tls_info *info);
    void (*on_data)(void *ctx, const char *data, size_t len);
    void (*on_eof)(void *ctx);
    void (*on_error)(void *ctx, const struct mf_err *err);
};

/* min_tls: 0 → TLS 1.2 (e.g. TLS1_3_VERSION to be stricter).
 * NULL on failure (err says why, e.g. an unreadable CA file). */
SSL_CTX *conn_tls_ctx_new(const char *cafile, bool insecure, int min_tls,
                          struct mf_err *err);
void conn_tls_ctx_free(SSL_CTX *ctx);

struct conn;

/* Connects to addr (borrowed); host is used for SNI and verification.
 * on_connected or on_error follows. NULL on immediate failure. */
struct conn *conn_open(struct event_base *base, const struct dns_addr *addr,
                       const char *host, const struct conn_callbacks *cb,
                       void *ctx, struct mf_err *err);
void conn_free(struct conn *c);

/* Writes all of data (copied into the output buffer). */
enum mf_rc conn_write(struct conn *c, const void *data, size_t len);

/* Starts the TLS handshake on the open connection; on_tls or on_error
 * follows. MF_ETLS when unread plaintext is pending (response injection). */
enum mf_rc conn_start_tls(struct conn *c, SSL_CTX *tls, struct mf_err *err);

/* (Re)arms the deadline: on expiry on_error gets MF_ETIMEOUT with `what`
 * ("waiting for the greeting") in the detail. ms <= 0 disarms it. */
void conn_set_deadline(struct conn *c, int ms, const char *what);

/* Bytes written but not yet handed to the kernel. */
size_t conn_pending_output(const struct conn *c);

#endif
