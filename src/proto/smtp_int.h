/*
 * proto/smtp_int — private to proto/smtp.c and proto/smtp_tx.c: the state
 * of a session and the calls between the session half and the transaction
 * half. Nothing outside proto/ includes it.
 */
#ifndef MF_PROTO_SMTP_INT_H
#define MF_PROTO_SMTP_INT_H

#include "proto/smtp.h"
#include "util/buf.h"

/* Body bytes are produced lazily: filling stops past this much unsent
 * output, which still lets a ~4 KB message and the next message's commands
 * leave in one write. */
#define SMTP_OUT_HIGH_WATER (256u * 1024)

/* Where a message's commands stand on the sending side. */
enum next_step {
    NX_MAIL, NX_RCPT, NX_DATA, NX_AWAIT_354, NX_BODY, NX_AWAIT_FINAL, NX_FINISHED
};

struct msg_slot {
    const struct smtp_msg *m;
    enum next_step next;
    size_t rcpt_sent, rcpt_replied, rcpt_ok;
    bool mail_ok;
    bool failed;
    bool body_aborted;     /* 354 with nobody to deliver to: sent "." alone */
    bool eightbit, utf8;
    size_t body_off;
    bool at_line_start;
    struct mf_err err;     /* first failure */
};

/* Replies the server still owes, in order (the receive cursor). */
enum pend_kind { P_MAIL, P_RCPT, P_DATA, P_BODY, P_RSET, P_QUIT };
struct pend {
    enum pend_kind kind;
    size_t seq;            /* message sequence number */
};

struct ev_slot {
    struct smtp_event ev;
    char *text;            /* owned */
    const struct smtp_msg *data_end; /* not an event: call on_data_end here */
};

struct smtp {
    struct smtp_cfg cfg;
    char *helo_name;
    char *user, *secret, *host;   /* credential copies, secret wiped */
    int port;
    struct sasl *sasl;
    enum sasl_mech auth_mech;

    enum smtp_state state;
    bool tls_active;
    bool failed;
    enum mf_rc fail_rc;
    bool ready_announced;
    bool quit_requested, quit_sent;
    struct smtp_caps caps;

    struct mf_buf in, out;
    struct smtp_reply_parser rp;

    struct msg_slot *msg_mem;     /* owned allocation of msg_cap slots */
    struct msg_slot *msgs;        /* live FIFO inside msg_mem: msgs[0] has
                                     sequence msg_base, nmsgs slots */
    size_t nmsgs, msg_cap, msg_base;

    struct pend *pend;            /* ring */
    size_t pend_head, pend_len, pend_cap;

    struct ev_slot *evs;          /* ring */
    size_t ev_head, ev_len, ev_cap;
    char *taken_text;             /* text of the event last handed out */
};


/* smtp.c */
void smtp_core_set_state(struct smtp *s, enum smtp_state to);
void smtp_core_trace(struct smtp *s, char dir, const char *line, size_t len);
/* Queues an event with a copy of the reply (r may be NULL). */
/* Queues the on_data_end call for m behind the events already queued. */
enum mf_rc smtp_core_push_data_end(struct smtp *s, const struct smtp_msg *m);
enum mf_rc smtp_core_push_event(struct smtp *s, const struct smtp_event *ev,
                                const struct smtp_reply *r);
/* Writes a command line; `traced` replaces it in the transcript if set. */
void smtp_core_send_line(struct smtp *s, const char *line, const char *traced);
/* Fails the session: every unfinished message ends, SMTP_EV_ERROR follows;
 * with quit, a polite QUIT goes out. */
void smtp_core_fail(struct smtp *s, const struct mf_err *err, bool quit);
void smtp_core_fail_reply(struct smtp *s, enum mf_rc rc, enum mf_layer layer,
                          const struct smtp_reply *r, bool quit,
                          const char *detail);

/* smtp_tx.c */
enum mf_rc smtp_tx_push_pend(struct smtp *s, enum pend_kind kind, size_t seq);
void smtp_tx_send_command(struct smtp *s, enum pend_kind kind, size_t seq,
                          const char *line);
void smtp_tx_finish(struct smtp *s, struct msg_slot *slot,
                    const struct smtp_reply *final);
void smtp_tx_fail_local(struct smtp *s, struct msg_slot *slot, enum mf_rc rc,
                        enum mf_layer layer, const char *why);
void smtp_tx_compact(struct smtp *s);
bool smtp_tx_in_phase(const struct smtp *s);
void smtp_tx_advance(struct smtp *s);
void smtp_tx_on_reply(struct smtp *s, const struct smtp_reply *r);

#endif
