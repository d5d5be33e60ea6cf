/*
 * proto/imap — the IMAP4rev1 client as a sans-I/O state machine, read-only
 * by default: it never deletes, moves or flags mail (EXAMINE, BODY.PEEK).
 *
 * Like proto/smtp: server bytes in (imap_feed), bytes to write out
 * (imap_output / imap_output_consume), events out (imap_next_event). When
 * TLS must start the state becomes IMAP_ST_TLS and the core waits for
 * imap_tls_done(). The session does greeting (OK/PREAUTH/BYE), CAPABILITY
 * (from the greeting's code when given), STARTTLS with the same safety
 * rules as SMTP (no plaintext fallback, no bytes accepted between the
 * go-ahead and the handshake, capabilities asked again after TLS, PREAUTH
 * on a connection that must be upgraded is a failure), AUTHENTICATE through
 * proto/sasl (SASL-IR when offered) or LOGIN with proper quoting, then
 * requests one at a time: ID, LIST (with SPECIAL-USE attributes), EXAMINE
 * or SELECT, UID SEARCH, UID FETCH of header fields, LOGOUT.
 *
 * Ownership: struct imap owns everything; results in an event are borrowed
 * until the next imap_next_event() or imap_feed() call.
 */
#ifndef MF_PROTO_IMAP_H
#define MF_PROTO_IMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/imap_parse.h"
#include "proto/sasl.h"
#include "util/err.h"

#define IMAP_STATE_LIST(X)                                                   \
    X(IMAP_ST_GREETING, "greeting", "waiting for the server's greeting")     \
    X(IMAP_ST_CAPABILITY, "capability", "CAPABILITY sent, waiting for the list") \
    X(IMAP_ST_STARTTLS, "starttls", "STARTTLS sent, waiting for the go-ahead") \
    X(IMAP_ST_TLS, "tls", "TLS handshake in progress")                       \
    X(IMAP_ST_AUTH, "auth", "signing in, waiting for the server's verdict")  \
    X(IMAP_ST_READY, "ready", "signed in and idle")                          \
    X(IMAP_ST_BUSY, "busy", "a command was sent, waiting for its completion") \
    X(IMAP_ST_LOGOUT, "logout", "LOGOUT sent, closing the session")          \
    X(IMAP_ST_CLOSED, "closed", "session closed")                            \
    X(IMAP_ST_FAILED, "failed", "session failed")

enum imap_state {
#define IMAP_STATE_ENUM(id, name, desc) id,
    IMAP_STATE_LIST(IMAP_STATE_ENUM)
#undef IMAP_STATE_ENUM
    IMAP_ST_COUNT
};

const char *imap_state_name(enum imap_state st);
const char *imap_state_describe(enum imap_state st);

enum imap_security { IMAP_SEC_STARTTLS = 0, IMAP_SEC_TLS, IMAP_SEC_NONE };

typedef void (*imap_trace_fn)(void *ctx, char dir, const char *line, size_t len);

struct imap_cfg {
    enum imap_security security;
    bool allow_plaintext_auth;
    const struct sasl_creds *creds;  /* NULL: no sign-in; copied */
    bool secret_is_token;
    enum sasl_mech mech;             /* NONE: best offered, else LOGIN */
    bool send_id;                    /* RFC 2971 ID after sign-in when offered */
    struct imap_parse_limits limits; /* zeros: defaults */
    imap_trace_fn trace;
    void *ctx;
};

/* Special-use and selectability flags of a mailbox (RFC 6154, 3501). */
enum {
    IMAP_MB_NOSELECT = 1 << 0, IMAP_MB_INBOX = 1 << 1, IMAP_MB_SENT = 1 << 2,
    IMAP_MB_JUNK = 1 << 3, IMAP_MB_DRAFTS = 1 << 4, IMAP_MB_TRASH = 1 << 5,
    IMAP_MB_ARCHIVE = 1 << 6, IMAP_MB_ALL = 1 << 7, IMAP_MB_FLAGGED = 1 << 8,
};

struct imap_mailbox {
    const char *name;        /* as the server names it (modified UTF-7) */
    char delimiter;          /* 0 when NIL */
    unsigned flags;          /* IMAP_MB_* */
};

struct imap_select {
    uint32_t exists, recent, uidvalidity, uidnext;
    uint64_t highestmodseq;  /* 0 when CONDSTORE is not offered */
    bool read_only;
};

struct imap_fetched {
    uint32_t seq, uid;
    const char *headers;     /* the section asked for, raw: the header fields,
                              * or the message's first octets (FETCH_BODY) */
    size_t headers_len;
};

enum imap_request {
    IMAP_REQ_ID, IMAP_REQ_LIST, IMAP_REQ_EXAMINE, IMAP_REQ_SELECT,
    IMAP_REQ_UID_SEARCH, IMAP_REQ_UID_FETCH, IMAP_REQ_IDLE, IMAP_REQ_LOGOUT,
    IMAP_REQ_UID_FETCH_BODY,
};

enum imap_event_type {
    IMAP_EV_GREETING,   /* status/text of the greeting */
    IMAP_EV_CAPS,       /* imap_has_cap() is current */
    IMAP_EV_AUTH_OK,
    IMAP_EV_READY,      /* requests can go */
    IMAP_EV_DONE,       /* a request finished: request, ok, results or err */
    IMAP_EV_ALERT,      /* [ALERT] text the server wants shown to the user */
    IMAP_EV_IDLING,     /* IDLE accepted: the server now pushes changes */
    IMAP_EV_EXISTS,     /* while idling: select.exists is the new count */
    IMAP_EV_CLOSED,     /* LOGOUT answered */
    IMAP_EV_ERROR,      /* the session failed: err */
};

struct imap_event {
    enum imap_event_type type;
    enum imap_request request;      /* DONE */
    bool ok;
    const char *status;             /* "OK", "NO", "BAD", "PREAUTH", "BYE" */
    const char *code;               /* response code without brackets */
    const char *text;
    struct mf_err err;              /* ERROR, failed DONE */
    /* DONE results (borrowed) */
    const struct imap_mailbox *mailboxes;
    size_t nmailboxes;
    struct imap_select select;
    const uint32_t *uids;
    size_t nuids;
    const struct imap_fetched *fetched;
    size_t nfetched;
    const char *server_id;          /* ID: "name=Dovecot; ..." */
};

struct imap;

struct imap *imap_new(const struct imap_cfg *cfg, struct mf_err *err);
void imap_free(struct imap *s);

enum mf_rc imap_feed(struct imap *s, const char *data, size_t len);
const char *imap_output(struct imap *s, size_t *len);
void imap_output_consume(struct imap *s, size_t n);
bool imap_next_event(struct imap *s, struct imap_event *ev);
enum mf_rc imap_tls_done(struct imap *s);
void imap_eof(struct imap *s);
void imap_transport_failed(struct imap *s, const struct mf_err *err);

/* Requests, run in order once READY. The strings are copied. MF_EINVAL
 * for a mailbox name or criteria with CR/LF/NUL, MF_ENOMEM. */
enum mf_rc imap_request_list(struct imap *s);
enum mf_rc imap_request_examine(struct imap *s, const char *mailbox, bool select);
enum mf_rc imap_request_uid_search(struct imap *s, const char *criteria);
/* fields: e.g. "MESSAGE-ID IN-REPLY-TO REFERENCES FROM SUBJECT DATE" */
enum mf_rc imap_request_uid_fetch_headers(struct imap *s, const char *uidset,
                                          const char *fields);
/* The first max_octets of each message, read-only (BODY.PEEK[]<0.N>): the
 * message's octets arrive in `headers` of each fetched entry. */
enum mf_rc imap_request_uid_fetch_body(struct imap *s, const char *uidset, size_t max_octets);
/* RFC 2177 IDLE on the selected mailbox: IMAP_EV_IDLING when the server
 * accepts, IMAP_EV_EXISTS as mail arrives, DONE after imap_idle_done().
 * Fails (DONE !ok, layer FEATURE) when IDLE is not offered. Servers drop
 * an IDLE after ~30 minutes: end it and start again before that. */
enum mf_rc imap_request_idle(struct imap *s);
void imap_idle_done(struct imap *s);
bool imap_idling(const struct imap *s);
void imap_logout(struct imap *s);   /* LOGOUT after the queued requests */

enum imap_state imap_state(const struct imap *s);
bool imap_tls_active(const struct imap *s);
bool imap_has_cap(const struct imap *s, const char *cap);   /* "IDLE", "AUTH=PLAIN" */
const char *imap_caps_text(const struct imap *s);          /* borrowed */
enum sasl_mech imap_auth_mech(const struct imap *s);       /* NONE for LOGIN */
bool imap_used_login(const struct imap *s);
size_t imap_pending_requests(const struct imap *s);

#endif
