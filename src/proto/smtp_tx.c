/*
 * proto/smtp_tx — the transaction half of the SMTP core: the queue of
 * messages, the send cursor (MAIL/RCPT/DATA, PIPELINING groups, the body
 * with dot-stuffing) and the receive cursor (the replies still owed).
 * Private to proto/smtp; the API is proto/smtp.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_int.h"

#define OUT_HIGH_WATER SMTP_OUT_HIGH_WATER
#define MAX_PENDING 100000

static bool is_positive(int code) { return code >= 200 && code < 300; }

/* ---- output and the receive cursor -------------------------------------- */



enum mf_rc smtp_tx_push_pend(struct smtp *s, enum pend_kind kind, size_t seq)
{
    if (s->pend_len == s->pend_cap) {
        if (s->pend_cap >= MAX_PENDING)
            return MF_ELIMIT;
        size_t ncap = s->pend_cap ? s->pend_cap * 2 : 32;
        struct pend *n = malloc(ncap * sizeof *n);
        if (!n)
            return MF_ENOMEM;
        for (size_t i = 0; i < s->pend_len; i++)
            n[i] = s->pend[(s->pend_head + i) % s->pend_cap];
        free(s->pend);
        s->pend = n;
        s->pend_cap = ncap;
        s->pend_head = 0;
    }
    s->pend[(s->pend_head + s->pend_len) % s->pend_cap] =
        (struct pend){.kind = kind, .seq = seq};
    s->pend_len++;
    return MF_OK;
}

static struct pend pop_pend(struct smtp *s)
{
    struct pend p = s->pend[s->pend_head];
    s->pend_head = (s->pend_head + 1) % s->pend_cap;
    s->pend_len--;
    return p;
}

/* In a transaction the state is the reply the receive cursor waits for. */
static void sync_state(struct smtp *s)
{
    static const enum smtp_state by_kind[] = {
        [P_MAIL] = SMTP_ST_MAIL, [P_RCPT] = SMTP_ST_RCPT,
        [P_DATA] = SMTP_ST_DATA, [P_BODY] = SMTP_ST_BODY,
        [P_RSET] = SMTP_ST_RSET, [P_QUIT] = SMTP_ST_QUIT,
    };
    if (s->failed && !s->quit_sent)
        return;
    if (!smtp_tx_in_phase(s) && s->state != SMTP_ST_QUIT)
        return; /* before READY the session states are explicit */
    if (s->pend_len)
        smtp_core_set_state(s, by_kind[s->pend[s->pend_head].kind]);
    else if (!s->failed)
        smtp_core_set_state(s, SMTP_ST_READY);
}

void smtp_tx_send_command(struct smtp *s, enum pend_kind kind, size_t seq,
                         const char *line)
{
    enum mf_rc rc = smtp_tx_push_pend(s, kind, seq);
    if (rc != MF_OK) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, rc, MF_LAYER_INTERNAL, "too many commands in flight");
        smtp_core_fail(s, &e, false);
        return;
    }
    smtp_core_send_line(s, line, NULL);
}

/* ---- messages ----------------------------------------------------------- */

static struct msg_slot *slot_by_seq(struct smtp *s, size_t seq)
{
    if (seq < s->msg_base || seq - s->msg_base >= s->nmsgs)
        return NULL;
    return &s->msgs[seq - s->msg_base];
}

static size_t slot_seq(const struct smtp *s, const struct msg_slot *slot)
{
    return s->msg_base + (size_t)(slot - s->msgs);
}

/* Records the first failure of a message from a reply. */
static void slot_fail_reply(struct msg_slot *slot, const struct smtp_reply *r,
                            const char *what)
{
    if (slot->failed)
        return;
    slot->failed = true;
    enum mf_rc rc = r->code >= 400 && r->code < 500 ? MF_ETEMP : MF_EREJECT;
    mf_err_set(&slot->err, rc, MF_LAYER_REJECT, "the server refused %s", what);
    mf_err_set_reply(&slot->err, r->code, r->enhanced, r->text, r->len);
}

/* Drops finished messages from the front of the FIFO. */
void smtp_tx_compact(struct smtp *s)
{
    size_t done = 0;
    while (done < s->nmsgs && s->msgs[done].next == NX_FINISHED)
        done++;
    if (!done)
        return;
    /* O(1): the live window moves; submit slides it down when it must */
    s->msgs += done;
    s->nmsgs -= done;
    s->msg_base += done;
}

void smtp_tx_finish(struct smtp *s, struct msg_slot *slot,
                       const struct smtp_reply *final)
{
    slot->next = NX_FINISHED;
    struct smtp_event ev = {
        .type = SMTP_EV_MSG_DONE,
        .msg = slot->m,
        .rcpt_ok = slot->rcpt_ok,
        .ok = !slot->failed,
    };
    if (slot->failed)
        ev.err = slot->err;
    if (smtp_core_push_event(s, &ev, final) != MF_OK) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        smtp_core_fail(s, &e, false);
    }
}

void smtp_tx_fail_local(struct smtp *s, struct msg_slot *slot,
                            enum mf_rc rc, enum mf_layer layer, const char *why)
{
    slot->failed = true;
    mf_err_set(&slot->err, rc, layer, "%s", why);
    smtp_tx_finish(s, slot, NULL);
}


/* ---- the send cursor ---------------------------------------------------- */

static bool emit_mail(struct smtp *s, struct msg_slot *slot)
{
    const struct smtp_msg *m = slot->m;
    if (slot->utf8 && !s->caps.smtputf8) {
        smtp_tx_fail_local(s, slot, MF_EFEATURE, MF_LAYER_FEATURE,
                        "an address is not ASCII and the server does not "
                        "offer SMTPUTF8");
        return false;
    }
    if (s->caps.size && s->caps.size_max && m->len > s->caps.size_max) {
        char why[160];
        snprintf(why, sizeof why,
                 "the message is %zu bytes and the server accepts at most %lu",
                 m->len, s->caps.size_max);
        smtp_tx_fail_local(s, slot, MF_EREJECT, MF_LAYER_REJECT, why);
        return false;
    }
    char line[1200];
    size_t n = (size_t)snprintf(line, sizeof line, "MAIL FROM:<%s>", m->from);
    if (s->caps.size && n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, " SIZE=%zu", m->len);
    if (slot->eightbit && s->caps.eightbitmime && n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, " BODY=8BITMIME");
    if (slot->utf8 && n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, " SMTPUTF8");
    smtp_tx_send_command(s, P_MAIL, slot_seq(s, slot), line);
    slot->next = NX_RCPT;
    return true;
}

static void emit_rcpt(struct smtp *s, struct msg_slot *slot)
{
    char line[1100];
    snprintf(line, sizeof line, "RCPT TO:<%s>", slot->m->rcpts[slot->rcpt_sent]);
    smtp_tx_send_command(s, P_RCPT, slot_seq(s, slot), line);
    if (++slot->rcpt_sent == slot->m->nrcpt)
        slot->next = NX_DATA;
}

static bool add_out(struct smtp *s, const char *p, size_t n)
{
    enum mf_rc rc = mf_buf_add(&s->out, p, n);
    if (rc == MF_OK)
        return true;
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, MF_LAYER_INTERNAL, "output buffer: %s", mf_rc_message(rc));
    smtp_core_fail(s, &e, false);
    return false;
}

/* Streams the message with dot-stuffing. Every bare CR or LF becomes CRLF:
 * a lone "\n.\n" must never end the data early (SMTP smuggling). Returns
 * true once the end-of-data line is out, false while output is full. */
static bool stream_body(struct smtp *s, struct msg_slot *slot)
{
    const char *d = slot->m->data;
    size_t n = slot->m->len;
    while (slot->body_off < n) {
        if (mf_buf_len(&s->out) >= OUT_HIGH_WATER || s->failed)
            return false;
        size_t i = slot->body_off, end = i;
        size_t limit = n - i > 65536 ? i + 65536 : n;
        if (!(slot->at_line_start && d[i] == '.')) {
            /* the run up to the next CR or LF, found with memchr */
            const char *lf = memchr(d + i, '\n', limit - i);
            size_t stop = lf ? (size_t)(lf - d) : limit;
            const char *cr = memchr(d + i, '\r', stop - i);
            end = cr ? (size_t)(cr - d) : stop;
        }
        if (end > i) {
            if (!add_out(s, d + i, end - i))
                return false;
            slot->body_off = end;
            slot->at_line_start = false;
            continue;
        }
        if (d[i] == '.') {
            if (!add_out(s, "..", 2))
                return false;
            slot->body_off++;
            slot->at_line_start = false;
        } else {
            if (!add_out(s, "\r\n", 2))
                return false;
            slot->body_off += (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n') ? 2 : 1;
            slot->at_line_start = true;
        }
    }
    if (!slot->at_line_start && !add_out(s, "\r\n", 2))
        return false;
    char note[64];
    int nl = snprintf(note, sizeof note, "<message: %zu bytes>", n);
    smtp_core_trace(s, 'C', note, (size_t)nl);
    if (smtp_tx_push_pend(s, P_BODY, slot_seq(s, slot)) != MF_OK)
        return false;
    /* the record "may be delivered" is made before the dot can leave, and
     * after the outcome of the message before it (see smtp_msg_fn) */
    if (s->cfg.on_data_end && smtp_core_push_data_end(s, slot->m) != MF_OK)
        return false;
    smtp_core_send_line(s, ".", NULL);
    slot->next = NX_AWAIT_FINAL;
    return true;
}

bool smtp_tx_in_phase(const struct smtp *s)
{
    switch (s->state) {
    case SMTP_ST_READY: case SMTP_ST_MAIL: case SMTP_ST_RCPT:
    case SMTP_ST_DATA: case SMTP_ST_BODY: case SMTP_ST_RSET:
        return true;
    default:
        return false;
    }
}

/* Emits whatever may go now: with PIPELINING a message's MAIL, RCPTs and
 * DATA in one group, and the next group right behind an end of data;
 * without it, one command per reply. */
void smtp_tx_advance(struct smtp *s)
{
    bool pipe = smtp_pipelining(s);
    for (size_t i = 0; i < s->nmsgs && !s->failed && smtp_tx_in_phase(s);) {
        struct msg_slot *slot = &s->msgs[i];
        if (slot->next == NX_FINISHED || (slot->next == NX_AWAIT_FINAL && pipe)) {
            i++;
            continue;
        }
        if (slot->next == NX_AWAIT_FINAL || slot->next == NX_AWAIT_354)
            break;
        if (!pipe && s->pend_len)
            break;
        switch (slot->next) {
        case NX_MAIL:
            if (!emit_mail(s, slot))
                continue; /* failed locally: finished, look again */
            break;
        case NX_RCPT:
            emit_rcpt(s, slot);
            break;
        case NX_DATA:
            smtp_tx_send_command(s, P_DATA, slot_seq(s, slot), "DATA");
            slot->next = NX_AWAIT_354;
            break;
        case NX_BODY:
            if (!stream_body(s, slot))
                goto out;
            break;
        default:
            break;
        }
        if (!pipe)
            break;
    }
out:
    smtp_tx_compact(s);
    if (s->quit_requested && !s->quit_sent && !s->failed && s->nmsgs == 0 &&
        s->pend_len == 0 && smtp_tx_in_phase(s)) {
        s->quit_sent = true;
        smtp_tx_send_command(s, P_QUIT, 0, "QUIT");
    }
    sync_state(s);
}
/* ---- replies in a transaction ------------------------------------------- */

static void on_mail_reply(struct smtp *s, struct msg_slot *slot,
                          const struct smtp_reply *r)
{
    slot->mail_ok = is_positive(r->code);
    if (slot->mail_ok)
        return;
    slot_fail_reply(slot, r, "the sender (MAIL FROM)");
    if (!smtp_pipelining(s))
        smtp_tx_finish(s, slot, r); /* nothing else was sent for it */
}

static void on_rcpt_reply(struct smtp *s, struct msg_slot *slot,
                          const struct smtp_reply *r)
{
    size_t idx = slot->rcpt_replied++;
    bool ok = is_positive(r->code);
    if (ok)
        slot->rcpt_ok++;
    struct smtp_event ev = {.type = SMTP_EV_RCPT, .msg = slot->m, .rcpt = idx,
                            .ok = ok};
    if (!ok) {
        mf_err_set(&ev.err, r->code < 500 ? MF_ETEMP : MF_EREJECT,
                   MF_LAYER_REJECT, "the server refused recipient %zu", idx + 1);
        mf_err_set_reply(&ev.err, r->code, r->enhanced, r->text, r->len);
    }
    smtp_core_push_event(s, &ev, r);
    bool last = slot->rcpt_replied == slot->m->nrcpt;
    if (!ok && slot->rcpt_ok == 0 && last)
        slot_fail_reply(slot, r, "every recipient (RCPT TO)");
    if (last && slot->rcpt_ok == 0 && !smtp_pipelining(s)) {
        smtp_tx_send_command(s, P_RSET, slot_seq(s, slot), "RSET");
        smtp_tx_finish(s, slot, r);
    }
}

static void on_data_reply(struct smtp *s, struct msg_slot *slot,
                          const struct smtp_reply *r)
{
    if (r->code == 354) {
        if (slot->mail_ok && slot->rcpt_ok > 0) {
            slot->next = NX_BODY;
            return;
        }
        /* RFC 2920 3.1: DATA accepted with no valid recipient: end it. */
        slot->body_aborted = true;
        smtp_tx_send_command(s, P_BODY, slot_seq(s, slot), ".");
        slot->next = NX_AWAIT_FINAL;
        return;
    }
    slot_fail_reply(slot, r, "DATA");
    if (slot->mail_ok)
        smtp_tx_send_command(s, P_RSET, slot_seq(s, slot), "RSET");
    smtp_tx_finish(s, slot, r);
}

static void on_body_reply(struct smtp *s, struct msg_slot *slot,
                          const struct smtp_reply *r)
{
    if (!slot->body_aborted && !is_positive(r->code))
        slot_fail_reply(slot, r, "the message");
    smtp_tx_finish(s, slot, r);
}

void smtp_tx_on_reply(struct smtp *s, const struct smtp_reply *r)
{
    if (s->pend_len == 0) {
        if (r->code == 421) /* the server is going away (idle timeout) */
            smtp_core_fail_reply(s, MF_ETEMP, MF_LAYER_PROTO, r, false,
                       "the server closed the session (421)");
        else
            smtp_core_fail_reply(s, MF_EPROTO, MF_LAYER_PROTO, r, true,
                       "the server sent a reply nobody asked for");
        return;
    }
    struct pend p = pop_pend(s);
    if (p.kind == P_QUIT) {
        smtp_core_set_state(s, SMTP_ST_CLOSED);
        struct smtp_event ev = {.type = SMTP_EV_CLOSED};
        smtp_core_push_event(s, &ev, r);
        return;
    }
    if (s->failed)
        return; /* replies to what was in flight before the failure */
    if (r->code == 421) {
        smtp_core_fail_reply(s, MF_ETEMP, MF_LAYER_PROTO, r, false,
                   "the server is closing the session (421)");
        return;
    }
    if (p.kind == P_RSET)
        return;
    struct msg_slot *slot = slot_by_seq(s, p.seq);
    if (!slot || slot->next == NX_FINISHED) {
        smtp_core_fail_reply(s, MF_EINTERNAL, MF_LAYER_INTERNAL, r, true,
                   "reply for a message already finished");
        return;
    }
    switch (p.kind) {
    case P_MAIL: on_mail_reply(s, slot, r); break;
    case P_RCPT: on_rcpt_reply(s, slot, r); break;
    case P_DATA: on_data_reply(s, slot, r); break;
    case P_BODY: on_body_reply(s, slot, r); break;
    default: break;
    }
}
