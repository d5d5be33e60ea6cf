/*
 * util/err — errors as values.
 *
 * Every fallible function returns an `enum mf_rc` and, where the caller
 * passes one, fills a caller-owned `struct mf_err` that names the layer that
 * failed, the server's reply (sanitised) and its RFC 3463 enhanced status
 * code. The codes, their names and their messages come from one X-macro list.
 * `struct mf_err` is fixed-size: filling it never allocates, so it can be
 * used on out-of-memory paths.
 */
#ifndef MF_UTIL_ERR_H
#define MF_UTIL_ERR_H

#include <stddef.h>

/* X(code, name, message) */
#define MF_RC_LIST(X)                                                        \
    X(MF_OK, "ok", "success")                                                \
    X(MF_ENOMEM, "nomem", "out of memory")                                   \
    X(MF_EINVAL, "invalid", "invalid argument")                              \
    X(MF_ELIMIT, "limit", "a size limit was exceeded")                       \
    X(MF_EPROTO, "protocol", "the server broke the protocol")                \
    X(MF_EDNS, "dns", "the host name could not be resolved")                 \
    X(MF_ECONNECT, "connect", "the connection could not be made")            \
    X(MF_ETIMEOUT, "timeout", "the server did not answer in time")           \
    X(MF_ECLOSED, "closed", "the server closed the connection")              \
    X(MF_ETLS, "tls", "the TLS handshake or session failed")                 \
    X(MF_ENOTLS, "notls", "the server does not offer TLS")                   \
    X(MF_EAUTH, "auth", "authentication failed")                             \
    X(MF_EREJECT, "reject", "the server rejected the request")               \
    X(MF_ETEMP, "tempfail", "the server asked to try again later")           \
    X(MF_EFEATURE, "feature", "the server lacks a required feature")         \
    X(MF_EIO, "io", "a local file or device failed")                         \
    X(MF_ECONFIG, "config", "the configuration is incomplete or wrong")      \
    X(MF_ESTORE, "store", "the local store failed")                          \
    X(MF_ENOTFOUND, "notfound", "no such item")                              \
    X(MF_EINTERNAL, "internal", "internal error")

enum mf_rc {
#define MF_RC_ENUM(code, name, msg) code,
    MF_RC_LIST(MF_RC_ENUM)
#undef MF_RC_ENUM
    MF_RC_COUNT
};

/* X(code, name) — where in the stack a failure happened. */
#define MF_LAYER_LIST(X)                                                     \
    X(MF_LAYER_NONE, "none")                                                 \
    X(MF_LAYER_DNS, "dns")                                                   \
    X(MF_LAYER_TCP, "tcp")                                                   \
    X(MF_LAYER_TLS, "tls")                                                   \
    X(MF_LAYER_PROTO, "protocol")                                            \
    X(MF_LAYER_AUTH, "auth")                                                 \
    X(MF_LAYER_REJECT, "reject")                                             \
    X(MF_LAYER_FEATURE, "feature")                                           \
    X(MF_LAYER_LOCAL, "local")                                               \
    X(MF_LAYER_INTERNAL, "internal")

enum mf_layer {
#define MF_LAYER_ENUM(code, name) code,
    MF_LAYER_LIST(MF_LAYER_ENUM)
#undef MF_LAYER_ENUM
    MF_LAYER_COUNT
};

#define MF_ERR_REPLY_MAX 512
#define MF_ERR_DETAIL_MAX 256

struct mf_err {
    enum mf_rc rc;
    enum mf_layer layer;
    int reply_code;                  /* server reply code, 0 if none */
    char enhanced[16];               /* "5.7.139", "" if none */
    char reply[MF_ERR_REPLY_MAX];    /* server's words, sanitised, "" if none */
    char detail[MF_ERR_DETAIL_MAX];  /* our words: what we were doing */
};

/* Static strings; never NULL (out-of-range values give "unknown"). */
const char *mf_rc_name(enum mf_rc rc);
const char *mf_rc_message(enum mf_rc rc);
const char *mf_layer_name(enum mf_layer layer);

/* Resets *err to "no error". err may be NULL. */
void mf_err_clear(struct mf_err *err);

/*
 * Records a failure: rc, layer and a printf-style detail. Returns rc so a
 * caller can write `return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO, ...)`.
 * err may be NULL. The detail is truncated to fit, never overflows.
 */
enum mf_rc mf_err_set(struct mf_err *err, enum mf_rc rc, enum mf_layer layer,
                      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Attaches a server reply (code, enhanced code, text) to *err. The text is
 * sanitised: control characters become spaces, the length is bounded.
 */
void mf_err_set_reply(struct mf_err *err, int code, const char *enhanced,
                      const char *text, size_t len);

/* Copies src into a bounded dst (always NUL-terminated): CR, LF and TAB
 * become spaces (LF is kept when keep_newlines), other control characters
 * and DEL become '?', bytes >= 0x80 pass (servers localise their replies).
 * Returns the number of bytes written (excluding NUL). */
size_t mf_sanitize(char *dst, size_t dstsize, const char *src, size_t len,
                   int keep_newlines);

#endif
