/*
 * proto/smtp — the SMTP submission client as a sans-I/O state machine.
 *
 * Bytes the server sent go in (smtp_feed); bytes to write come out
 * (smtp_output / smtp_output_consume); what happened comes out as events
 * (smtp_next_event). No sockets, no clock, no TLS: when the session must be
 * upgraded the core raises SMTP_EV_NEED_TLS and waits for smtp_tls_done().
 *
 * Covers greeting, EHLO with HELO fallback, capabilities, STARTTLS (with the
 * response-injection check), AUTH through proto/sasl, MAIL/RCPT/DATA with
 * RFC 2920 PIPELINING (the next message's commands ride with the end of
 * data), per-recipient results, dot-stuffing with line-ending normalisation,
 * RSET after a failed transaction, many messages per session, QUIT.
 *
 * Ownership: struct smtp owns everything it allocates; smtp_free() releases
 * it. Messages passed to smtp_submit() are borrowed until their
 * SMTP_EV_MSG_DONE event has been taken. Text in an event is borrowed until
 * the next smtp_next_event() or smtp_feed() call.
 */
#ifndef MF_PROTO_SMTP_H
#define MF_PROTO_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/sasl.h"
#include "proto/smtp_reply.h"
#include "util/err.h"

#define SMTP_STATE_LIST(X)                                                   \
    X(SMTP_ST_GREETING, "greeting", "waiting for the server's greeting")     \
    X(SMTP_ST_EHLO, "ehlo", "EHLO sent, waiting for the capabilities")       \
    X(SMTP_ST_HELO, "helo", "HELO sent after the server refused EHLO")       \
    X(SMTP_ST_STARTTLS, "starttls", "STARTTLS sent, waiting for the go-ahead") \
    X(SMTP_ST_TLS, "tls", "TLS handshake in progress")                       \
    X(SMTP_ST_AUTH, "auth", "AUTH sent, waiting for the server's verdict")   \
    X(SMTP_ST_READY, "ready", "signed in and idle, ready for a message")     \
    X(SMTP_ST_MAIL, "mail", "MAIL FROM sent, waiting for the sender to be accepted") \
    X(SMTP_ST_RCPT, "rcpt", "RCPT TO sent, waiting for the recipient to be accepted") \
    X(SMTP_ST_DATA, "data", "DATA sent, waiting for the go-ahead to send the message") \
    X(SMTP_ST_BODY, "body", "end of data sent - the message may already be accepted") \
    X(SMTP_ST_RSET, "rset", "RSET sent, resetting a failed transaction")     \
    X(SMTP_ST_QUIT, "quit", "QUIT sent, closing the session")                \
    X(SMTP_ST_CLOSED, "closed", "session closed")                            \
    X(SMTP_ST_FAILED, "failed", "session failed")

enum smtp_state {
#define SMTP_STATE_ENUM(id, name, desc) id,
    SMTP_STATE_LIST(SMTP_STATE_ENUM)
#undef SMTP_STATE_ENUM
    SMTP_ST_COUNT
};

/* Static strings. */
const char *smtp_state_name(enum smtp_state st);
const char *smtp_state_describe(enum smtp_state st);

enum smtp_security {
    SMTP_SEC_STARTTLS = 0,  /* plain connect, STARTTLS required (587) */
    SMTP_SEC_TLS,           /* implicit TLS from the first byte (465) */
    SMTP_SEC_NONE,          /* no TLS at all (local relays, tests) */
};

/* Transcript hook: dir is 'C' (client) or 'S' (server); the line has no
 * CRLF. Secrets never reach it: AUTH payloads come as MF_REDACTED. */
typedef void (*smtp_trace_fn)(void *ctx, char dir, const char *line,
                              size_t len);
typedef void (*smtp_state_fn)(void *ctx, enum smtp_state from,
                              enum smtp_state to);
struct smtp_msg;
/* Called once per message after its end-of-data line is queued and before
 * it can leave: from smtp_next_event(), in order with the events, so after
 * the outcome (SMTP_EV_MSG_DONE) of every earlier message has been handed
 * out. A driver writes smtp_output() only once it has taken the events
 * (net/session does). A sender that must never send twice records "the
 * message may now be delivered" here; at any moment at most one message of
 * a session is past its dot without an outcome handed out. */
typedef void (*smtp_msg_fn)(void *ctx, const struct smtp_msg *m);

struct smtp_cfg {
    const char *helo_name;        /* EHLO argument; "localhost" if NULL */
    enum smtp_security security;
    bool allow_plaintext_auth;    /* AUTH without TLS (explicit opt-in) */
    const struct sasl_creds *creds; /* NULL: no AUTH; copied at smtp_new */
    bool secret_is_token;         /* creds->secret is an OAuth token */
    enum sasl_mech mech;          /* SASL_MECH_NONE: pick the best offered */
    bool no_pipelining;           /* do not pipeline even when offered */
    size_t max_line;              /* reply line limit; 0 → 4096 */
    size_t max_reply_lines;       /* 0 → 128 */
    smtp_trace_fn trace;          /* optional */
    smtp_state_fn on_state;       /* optional */
    smtp_msg_fn on_data_end;      /* optional */
    void *ctx;                    /* passed to the hooks */
};

struct smtp_msg {
    const char *from;             /* envelope sender; "" = null sender <> */
    const char *const *rcpts;     /* envelope recipients */
    size_t nrcpt;
    const char *data;             /* RFC 5322 message, not dot-stuffed; LF or CRLF */
    size_t len;
    void *user;                   /* the caller's, untouched */
};

enum smtp_event_type {
    SMTP_EV_GREETING,   /* reply: the banner */
    SMTP_EV_CAPS,       /* reply: EHLO answer; smtp_caps() is current */
    SMTP_EV_NEED_TLS,   /* start the TLS handshake, then smtp_tls_done() */
    SMTP_EV_AUTH_OK,    /* reply: 235 */
    SMTP_EV_READY,      /* the session can take messages */
    SMTP_EV_RCPT,       /* msg, rcpt index, ok, reply */
    SMTP_EV_MSG_DONE,   /* msg, ok, rcpt_ok; reply (final) and err when !ok */
    SMTP_EV_CLOSED,     /* the QUIT was answered */
    SMTP_EV_ERROR,      /* the session failed: err; a QUIT may be pending */
};

struct smtp_event {
    enum smtp_event_type type;
    int code;                   /* reply code, 0 when none */
    const char *enhanced;       /* "" when none */
    const char *text;           /* reply text, "" when none */
    const struct smtp_msg *msg; /* RCPT, MSG_DONE */
    size_t rcpt;                /* RCPT: index into msg->rcpts */
    size_t rcpt_ok;             /* MSG_DONE: recipients accepted */
    bool ok;
    struct mf_err err;          /* ERROR, failed MSG_DONE */
};

struct smtp;

/* NULL on ENOMEM or bad credentials (err says which). Free with smtp_free. */
struct smtp *smtp_new(const struct smtp_cfg *cfg, struct mf_err *err);
void smtp_free(struct smtp *s);

/* Server bytes in. MF_OK, or the error that failed the session (also
 * reported as SMTP_EV_ERROR). After a failure further input is ignored. */
enum mf_rc smtp_feed(struct smtp *s, const char *data, size_t len);

/* Bytes to write (borrowed until smtp_output_consume or the next call that
 * changes the core); *len is 0 when there is nothing to write. */
const char *smtp_output(struct smtp *s, size_t *len);
void smtp_output_consume(struct smtp *s, size_t n);

/* Takes the next event; false when there is none. */
bool smtp_next_event(struct smtp *s, struct smtp_event *ev);

/* The transport finished the TLS handshake the core asked for. */
enum mf_rc smtp_tls_done(struct smtp *s);

/* Queues a message (borrowed until its MSG_DONE is taken). MF_EINVAL for
 * an address with CR/LF/<>/control characters or no recipients; the
 * failure is reported as a MSG_DONE event too. */
enum mf_rc smtp_submit(struct smtp *s, const struct smtp_msg *m);

/* Sends QUIT once every queued message is done. */
void smtp_quit(struct smtp *s);

/* The transport saw EOF. Returns MF_OK when that is the clean end after
 * QUIT, MF_ECLOSED otherwise (and fails the session with an error event). */
enum mf_rc smtp_eof(struct smtp *s);

/* The transport failed (timeout, reset, TLS error): the session fails with
 * err, every message in flight gets its MSG_DONE, then SMTP_EV_ERROR. */
void smtp_transport_failed(struct smtp *s, const struct mf_err *err);

enum smtp_state smtp_state(const struct smtp *s);
const struct smtp_caps *smtp_caps(const struct smtp *s);   /* borrowed */
bool smtp_tls_active(const struct smtp *s);
bool smtp_pipelining(const struct smtp *s);
enum sasl_mech smtp_auth_mech(const struct smtp *s);     /* NONE until AUTH */
/* Messages submitted and not yet done. */
size_t smtp_pending_messages(const struct smtp *s);

#endif
