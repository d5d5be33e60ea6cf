/*
 * proto/pop3_int — private to proto/pop3.c (the session) and
 * proto/pop3_req.c (requests and their multi-line responses): the state of
 * a session and the calls between the two halves. Nothing outside proto/
 * includes it.
 */
#ifndef MF_PROTO_POP3_INT_H
#define MF_PROTO_POP3_INT_H

#include "proto/pop3.h"
#include "util/buf.h"

struct req {
    enum pop3_request kind;
    unsigned long msgno, lines;
};

struct ev_slot {
    struct pop3_event ev;
    char *text;              /* owned: text, NUL, code, NUL */
    void *table;             /* owned: LIST or UIDL entries */
    struct mf_buf body;      /* owned: message bytes or UIDL strings */
};

struct pop3 {
    struct pop3_cfg cfg;
    char *user, *secret, *host;   /* credential copies, wiped at free */
    int port;
    struct sasl *sasl;
    enum sasl_mech auth_mech;
    bool user_pass_used;

    enum pop3_state state;
    bool tls_active, failed, signed_in, ready_announced;
    bool quit_requested, quit_sent;
    unsigned skip_replies;        /* replies owed before QUIT's (SASL "*") */
    enum mf_rc fail_rc;
    struct pop3_caps caps;
    struct mf_buf in, out;

    /* the multi-line response being read */
    bool in_multi, mid_line, discard;
    size_t used;                  /* bytes it occupies once parsed */
    uint64_t seen;                /* message bytes seen (for the trace) */
    struct mf_err req_err;        /* why the request in flight failed */
    struct mf_buf body;           /* TOP/RETR bytes, or UIDL strings */
    struct pop3_list_entry *tab;  /* LIST; for UIDL size = offset in body */
    size_t ntab, tabcap;

    struct req *reqs;             /* ring; the head is in flight when busy */
    size_t req_head, req_len, req_cap;
    bool busy;

    struct ev_slot *evs;          /* ring */
    size_t ev_head, ev_len, ev_cap;
    struct ev_slot taken;         /* the event last handed out */
};

/* A status line: "+OK text", "-ERR [CODE] text" or "+ challenge". */
enum st_kind { ST_OK, ST_ERR, ST_CONT, ST_BAD };
struct status {
    enum st_kind kind;
    const char *text;             /* after the indicator and the code */
    size_t len;
    char code[16];
    enum pop3_resp resp;
};


/* pop3.c */
/* Moves to state `to`, telling cfg.on_state when it changes. */
void pop3_core_set_state(struct pop3 *p, enum pop3_state to);
/* Passes one transcript line ('C' or 'S') to cfg.trace. */
void pop3_core_trace(struct pop3 *p, char dir, const char *line, size_t len);
/* An error saying why, with st's code and text (st may be NULL). */
struct mf_err pop3_core_mkerr(enum mf_rc rc, enum mf_layer layer,
                              const struct status *st, const char *why);
/* Fails the session with pop3_core_mkerr()'s error; with quit, QUIT follows. */
void pop3_core_fail_with(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                         const struct status *st, bool quit, const char *why);
/* Writes a command line; `traced` replaces it in the transcript if set. */
void pop3_core_send_line(struct pop3 *p, const char *line, const char *traced);
/* MF_ETEMP for the "try again later" codes (RFC 3206 / 2449), else dflt. */
enum mf_rc pop3_core_rc_for(const struct status *st, enum mf_rc dflt);
/* Queues an event with st's text copied; NULL on ENOMEM (st may be NULL). */
struct ev_slot *pop3_core_push_event(struct pop3 *p, const struct pop3_event *ev,
                                     const struct status *st);
/* Queues an event without payload; fails the session on ENOMEM. */
void pop3_core_push_simple(struct pop3 *p, enum pop3_event_type type, bool ok,
                           const struct status *st);
/* Takes one line of the CAPA response into c. */
void pop3_core_caps_line(struct pop3_caps *c, const char *s, size_t len);
/* After CAPA: STLS, sign-in or READY, as the configuration asks. */
void pop3_core_after_caps(struct pop3 *p);

/* pop3_req.c */
/* Forgets the multi-line response being read. */
void pop3_req_reset(struct pop3 *p);
/* Ends the request at the head of the queue with a failed DONE event. */
void pop3_req_fail(struct pop3 *p, const struct mf_err *err,
                   const struct status *st);
/* Queues a request (or reports it DONE at once when it cannot be sent). */
enum mf_rc pop3_req_queue(struct pop3 *p, enum pop3_request kind,
                          unsigned long msgno, unsigned long lines);
/* When READY: sends the next request, or QUIT once none is left. */
void pop3_req_advance(struct pop3 *p);
/* The status line answering the request in flight. */
void pop3_req_on_reply(struct pop3 *p, const struct status *st);
/* One line of a multi-line response, CRLF removed. */
void pop3_req_multi_line(struct pop3 *p, const char *line, size_t len);
/* Takes a message line longer than the input buffer, as far as it goes. */
void pop3_req_flush_partial(struct pop3 *p, const char *data, size_t avail);

#endif
