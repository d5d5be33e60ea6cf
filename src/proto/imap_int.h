/*
 * proto/imap_int — private to proto/imap.c (the session) and
 * proto/imap_req.c (requests and the untagged data they return).
 */
#ifndef MF_PROTO_IMAP_INT_H
#define MF_PROTO_IMAP_INT_H

#include "proto/imap.h"
#include "util/buf.h"

/* What the command in flight is. */
enum cmd { C_NONE, C_CAPABILITY, C_STARTTLS, C_AUTHENTICATE, C_LOGIN, C_REQUEST };

struct req {
    enum imap_request kind;
    char *a, *b;            /* owned arguments */
};

/* Results of one command and the strings of one event, owned together. */
struct payload {
    struct imap_mailbox *mb;
    size_t nmb, capmb;
    uint32_t *uids;
    size_t nuids, capuids;
    struct imap_fetched *f;
    size_t nf, capf;
    char *status, *code, *text, *server_id;
    struct imap_select sel;
};

struct ev_slot {
    struct imap_event ev;
    struct payload pl;
};

struct imap {
    struct imap_cfg cfg;
    char *user, *secret, *host;
    int port;
    struct sasl *sasl;
    enum sasl_mech auth_mech;
    bool used_login;

    enum imap_state state;
    bool tls_active, failed, ready_announced, logout_requested, logout_sent;
    enum mf_rc fail_rc;
    char caps[4096];          /* " IMAP4REV1 STARTTLS AUTH=PLAIN " upper-cased */
    bool have_caps;

    struct imap_parser *parser;
    struct mf_buf out;
    unsigned tagno;
    char tag[16];
    enum cmd cmd;
    bool idling;              /* IDLE accepted, DONE not yet sent */
    bool idle_done_sent;

    struct req *reqs;         /* FIFO */
    size_t nreqs, capreqs, req_head;
    struct req cur;           /* the request in flight (C_REQUEST) */
    struct payload acc;       /* results gathered for it */

    struct ev_slot *evs;      /* FIFO */
    size_t nevs, capevs, ev_head;
    struct payload taken;     /* storage of the event last handed out */
};


/* imap.c */
void imap_core_send_tagged(struct imap *s, enum cmd cmd, const char *text,
                           const char *shown);
void imap_core_set_state(struct imap *s, enum imap_state st);
/* Queues an event; r's status/code/text are copied, pl (may be NULL) moved. */
void imap_core_push_event(struct imap *s, struct imap_event ev,
                          const struct imap_resp *r, struct payload *pl);
/* Appends v as an IMAP quoted string; false if it cannot be quoted. */
bool imap_core_quote(struct mf_buf *b, const char *v);
bool imap_core_code_is(const char *code, const char *word);
void imap_core_caps_from_vals(struct imap *s, const struct imap_val *v, size_t n);
void imap_core_caps_from_code(struct imap *s, const char *code);
void imap_core_send_raw(struct imap *s, const char *text, const char *shown);

/* imap_req.c */
void imap_req_advance(struct imap *s);
void imap_req_on_untagged(struct imap *s, const struct imap_resp *r);

#endif
