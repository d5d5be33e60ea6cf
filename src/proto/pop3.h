/*
 * proto/pop3 — the POP3 client as a sans-I/O state machine (RFC 1939, CAPA
 * RFC 2449, STLS RFC 2595, AUTH RFC 5034, response codes RFC 3206).
 *
 * Like proto/smtp: server bytes in (pop3_feed), bytes to write out
 * (pop3_output / pop3_output_consume), events out (pop3_next_event). No
 * sockets, no clock, no TLS: when the session must be upgraded the core
 * raises POP3_EV_NEED_TLS, enters POP3_ST_TLS and waits for pop3_tls_done().
 *
 * The session: greeting (+OK; -ERR fails), CAPA (-ERR: an old server, no
 * capabilities assumed), STLS when required (never a plaintext fallback; any
 * byte between the go-ahead and the handshake fails the session as possible
 * response injection; CAPA again after TLS), then sign-in through proto/sasl
 * (AUTH with the initial response on the command line when it fits the
 * 255-octet limit of RFC 2449/5034, else after the empty "+" challenge) or
 * USER/PASS, then requests one at a time: STAT, LIST, UIDL, TOP, RETR, QUIT.
 * PIPELINING is ignored: one command is in flight at a time. APOP, DELE,
 * RSET and the single-message LIST/UIDL forms are not implemented.
 *
 * Mechanism choice with mech == SASL_MECH_NONE: a token goes to XOAUTH2,
 * else OAUTHBEARER (never USER/PASS); a password to SASL PLAIN, else
 * USER/PASS (when CAPA lists USER, or CAPA failed), else SASL LOGIN. Every
 * one of them carries the secret, so without TLS it is refused unless
 * allow_plaintext_auth. USER/PASS counts as a cleartext password mechanism.
 *
 * Errors: a -ERR during sign-in fails the session with layer AUTH (rc
 * MF_EAUTH, or MF_ETEMP for [SYS/TEMP], [IN-USE], [LOGIN-DELAY]); a -ERR to
 * a request fails that request only, layer REJECT. The RFC 2449/3206
 * response code is kept without brackets in mf_err.enhanced and in the
 * event's code ("AUTH", "SYS/TEMP", "IN-USE", ...), and removed from the
 * text. Texts are sanitised and bounded. mf_err.reply_code is always 0.
 *
 * Multi-line responses (CAPA, LIST, UIDL, TOP, RETR) are dot-unstuffed and
 * bounded by cfg.max_response bytes once parsed; a TOP/RETR over the bound
 * is read to its end and dropped, and that request fails with MF_ELIMIT
 * (the session goes on). Message lines may be longer than max_line; status
 * and listing lines may not.
 *
 * Ownership: struct pop3 owns everything it allocates; pop3_free()
 * releases it and wipes the credential copies and the output buffer.
 * Everything an event points to (text, code, tables, message bytes) is
 * borrowed until the next pop3_next_event() or pop3_free() call.
 */
#ifndef MF_PROTO_POP3_H
#define MF_PROTO_POP3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/sasl.h"
#include "util/err.h"

#define POP3_STATE_LIST(X)                                                   \
    X(POP3_ST_GREETING, "greeting", "waiting for the server's greeting")     \
    X(POP3_ST_CAPA, "capa", "CAPA sent, waiting for the capability list")    \
    X(POP3_ST_STLS, "stls", "STLS sent, waiting for the go-ahead")           \
    X(POP3_ST_TLS, "tls", "TLS handshake in progress")                       \
    X(POP3_ST_AUTH, "auth", "AUTH sent, waiting for the server's verdict")   \
    X(POP3_ST_USER, "user", "USER sent, waiting for the name to be accepted") \
    X(POP3_ST_PASS, "pass", "PASS sent, waiting for the server's verdict (it locks the mailbox now)") \
    X(POP3_ST_READY, "ready", "idle, ready for a request")                   \
    X(POP3_ST_STAT, "stat", "STAT sent, waiting for the mailbox size")       \
    X(POP3_ST_LIST, "list", "LIST sent, reading the message sizes")          \
    X(POP3_ST_UIDL, "uidl", "UIDL sent, reading the unique ids")             \
    X(POP3_ST_TOP, "top", "TOP sent, reading a message's header")            \
    X(POP3_ST_RETR, "retr", "RETR sent, reading a message")                  \
    X(POP3_ST_QUIT, "quit", "QUIT sent, closing the session")                \
    X(POP3_ST_CLOSED, "closed", "session closed")                            \
    X(POP3_ST_FAILED, "failed", "session failed")

enum pop3_state {
#define POP3_STATE_ENUM(id, name, desc) id,
    POP3_STATE_LIST(POP3_STATE_ENUM)
#undef POP3_STATE_ENUM
    POP3_ST_COUNT
};

/* Static strings. */
const char *pop3_state_name(enum pop3_state st);
const char *pop3_state_describe(enum pop3_state st);

enum pop3_security {
    POP3_SEC_STLS = 0,  /* plain connect, STLS required (110) */
    POP3_SEC_TLS,       /* implicit TLS from the first byte (995) */
    POP3_SEC_NONE,      /* no TLS at all (local servers, tests) */
};

/* Transcript hook: dir 'C' (client) or 'S' (server), no CRLF. Secrets never
 * reach it: AUTH payloads and the PASS argument come as MF_REDACTED; message
 * bodies as "<message: N bytes>". */
typedef void (*pop3_trace_fn)(void *ctx, char dir, const char *line,
                              size_t len);
typedef void (*pop3_state_fn)(void *ctx, enum pop3_state from,
                              enum pop3_state to);

struct pop3_cfg {
    enum pop3_security security;
    bool allow_plaintext_auth;      /* sign in without TLS (explicit opt-in) */
    const struct sasl_creds *creds; /* NULL: no sign-in; copied at pop3_new */
    bool secret_is_token;           /* creds->secret is an OAuth token */
    enum sasl_mech mech;            /* SASL_MECH_NONE: pick (see above) */
    bool user_pass;                 /* USER/PASS even when SASL is offered
                                       (mech must be NONE, not a token) */
    bool no_initial_response;       /* AUTH alone, IR after the "+" */
    size_t max_line;                /* status/listing line limit; 0 → 4096 */
    size_t max_response;            /* multi-line limit, parsed; 0 → 64 MiB */
    pop3_trace_fn trace;            /* optional */
    pop3_state_fn on_state;         /* optional */
    void *ctx;                      /* passed to the hooks */
};

/* What CAPA said. All false/empty when the server does not support CAPA. */
struct pop3_caps {
    bool capa;                /* the server answered CAPA with +OK */
    bool stls, user, top, uidl, pipelining, resp_codes, auth_resp_code, utf8;
    unsigned sasl_mask;       /* SASL_BIT() of known mechanisms offered */
    char sasl_list[256];      /* the SASL line as the server listed it */
    char implementation[128];
    char expire[32];          /* EXPIRE argument ("NEVER", "0"), "" if none */
    long login_delay;         /* LOGIN-DELAY seconds, -1 if not announced */
};

/* RFC 2449 / RFC 3206 response codes that change what a failure means. */
enum pop3_resp {
    POP3_RESP_NONE = 0,
    POP3_RESP_AUTH,           /* [AUTH] the credentials are wrong */
    POP3_RESP_SYS_TEMP,       /* [SYS/TEMP] server problem, retry later */
    POP3_RESP_SYS_PERM,       /* [SYS/PERM] server problem, do not retry */
    POP3_RESP_IN_USE,         /* [IN-USE] another session holds the mailbox */
    POP3_RESP_LOGIN_DELAY,    /* [LOGIN-DELAY] signed in too soon */
    POP3_RESP_OTHER,          /* another well-formed code */
};

enum pop3_request {
    POP3_REQ_STAT, POP3_REQ_LIST, POP3_REQ_UIDL, POP3_REQ_TOP, POP3_REQ_RETR,
};

struct pop3_list_entry {
    unsigned long msgno;
    uint64_t size;            /* octets, as the server counts them */
};

struct pop3_uidl_entry {
    unsigned long msgno;
    const char *uid;          /* 1-255 printable ASCII bytes */
};

enum pop3_event_type {
    POP3_EV_GREETING,   /* ok, text: the banner */
    POP3_EV_CAPS,       /* ok (false: CAPA refused); pop3_caps() is current */
    POP3_EV_NEED_TLS,   /* start the TLS handshake, then pop3_tls_done() */
    POP3_EV_AUTH_OK,    /* text: the server's words */
    POP3_EV_READY,      /* requests can go (signed in, or no credentials) */
    POP3_EV_DONE,       /* a request finished: request, ok, results or err */
    POP3_EV_CLOSED,     /* QUIT answered (ok false for -ERR) */
    POP3_EV_ERROR,      /* the session failed: err; a QUIT may be pending */
};

struct pop3_event {
    enum pop3_event_type type;
    enum pop3_request request;      /* DONE */
    bool ok;
    const char *text;               /* status text without the code; "" */
    const char *code;               /* response code without brackets; "" */
    enum pop3_resp resp;
    struct mf_err err;              /* ERROR, failed DONE */
    /* DONE results (borrowed until the next pop3_next_event) */
    unsigned long msgno;            /* TOP, RETR */
    uint64_t count, size;           /* STAT: messages and octets */
    const struct pop3_list_entry *list;  /* LIST */
    const struct pop3_uidl_entry *uidl;  /* UIDL */
    size_t n;                       /* entries in list or uidl */
    const char *data;               /* TOP, RETR: dot-unstuffed, CRLF lines */
    size_t len;
};

struct pop3;

/* NULL on ENOMEM or bad configuration/credentials (err says which: user or
 * secret empty, with CR/LF, too long; user_pass with a token or a mech).
 * Free with pop3_free(). */
struct pop3 *pop3_new(const struct pop3_cfg *cfg, struct mf_err *err);
void pop3_free(struct pop3 *p);

/* Server bytes in. MF_OK, or the error that failed the session (also
 * reported as POP3_EV_ERROR). After a failure further input is ignored. */
enum mf_rc pop3_feed(struct pop3 *p, const char *data, size_t len);

/* Bytes to write (borrowed until pop3_output_consume or the next call that
 * changes the core); *len is 0 when there is nothing to write. Consumed
 * bytes are wiped (they may hold the password). */
const char *pop3_output(struct pop3 *p, size_t *len);
void pop3_output_consume(struct pop3 *p, size_t n);

/* Takes the next event; false when there is none. */
bool pop3_next_event(struct pop3 *p, struct pop3_event *ev);

/* The transport finished the TLS handshake the core asked for. MF_EINVAL
 * when the core was not waiting for it. */
enum mf_rc pop3_tls_done(struct pop3 *p);

/* Requests, run in order once READY; each ends with exactly one DONE event
 * (also when the session fails first). MF_EINVAL for message number 0 or
 * when the session is closing (reported as a failed DONE too), MF_ELIMIT
 * for too many queued, MF_ENOMEM. Without credentials they fail at READY. */
enum mf_rc pop3_request_stat(struct pop3 *p);
enum mf_rc pop3_request_list(struct pop3 *p);
enum mf_rc pop3_request_uidl(struct pop3 *p);
enum mf_rc pop3_request_top(struct pop3 *p, unsigned long msgno,
                            unsigned long lines);
enum mf_rc pop3_request_retr(struct pop3 *p, unsigned long msgno);

/* Sends QUIT once every queued request is done. */
void pop3_quit(struct pop3 *p);

/* The transport saw EOF. MF_OK when that is the clean end after QUIT (or
 * the session had already failed), MF_ECLOSED otherwise (the session fails:
 * requests in flight get their DONE, then POP3_EV_ERROR). */
enum mf_rc pop3_eof(struct pop3 *p);

/* The transport failed (timeout, reset, TLS error): the session fails with
 * err; every queued request gets its DONE, then POP3_EV_ERROR. */
void pop3_transport_failed(struct pop3 *p, const struct mf_err *err);

enum pop3_state pop3_state(const struct pop3 *p);
const struct pop3_caps *pop3_caps(const struct pop3 *p);  /* borrowed */
bool pop3_tls_active(const struct pop3 *p);
bool pop3_signed_in(const struct pop3 *p);
enum sasl_mech pop3_auth_mech(const struct pop3 *p);  /* NONE for USER/PASS */
bool pop3_used_user_pass(const struct pop3 *p);
size_t pop3_pending_requests(const struct pop3 *p);
/* "AUTH" → POP3_RESP_AUTH ...; NONE for "", OTHER for anything else. */
enum pop3_resp pop3_resp_parse(const char *code);

#endif
