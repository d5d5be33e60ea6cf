/*
 * proto/pop3_req — the requests half of the POP3 core: the queue of
 * STAT/LIST/UIDL/TOP/RETR, the commands they become, and the multi-line
 * responses they bring back (dot-unstuffing, message bodies, the LIST and
 * UIDL listings). Private to proto/pop3; the API is proto/pop3.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pop3_int.h"

#define MAX_QUEUE 100000
#define UID_MAX 255

/* ---- the request queue -------------------------------------------------- */

static const char *req_name(enum pop3_request k)
{
    static const char *const names[] = {"STAT", "LIST", "UIDL", "TOP", "RETR"};
    return (unsigned)k <= POP3_REQ_RETR ? names[k] : "?";
}

/* Forgets the multi-line response being read. */
void pop3_req_reset(struct pop3 *p)
{
    p->in_multi = p->mid_line = p->discard = false;
    p->used = 0;
    p->seen = 0;
    mf_buf_free(&p->body);
    free(p->tab);
    p->tab = NULL;
    p->ntab = p->tabcap = 0;
    mf_err_clear(&p->req_err);
}

/* Moves what the response collected into the DONE event's slot. */
static void attach_results(struct pop3 *p, struct ev_slot *slot)
{
    enum pop3_request k = slot->ev.request;
    if (k == POP3_REQ_TOP || k == POP3_REQ_RETR) {
        slot->body = p->body; /* moved, not copied */
        mf_buf_init(&p->body, p->cfg.max_response);
    } else if (k == POP3_REQ_LIST) {
        slot->table = p->tab;
        slot->ev.list = p->tab;
        slot->ev.n = p->ntab;
        p->tab = NULL;
    } else if (k == POP3_REQ_UIDL && p->ntab) {
        struct pop3_uidl_entry *u = malloc(p->ntab * sizeof *u);
        if (!u) {
            slot->ev.ok = false;
            slot->ev.err = pop3_core_mkerr(MF_ENOMEM, MF_LAYER_INTERNAL, NULL,
                                           "out of memory");
            return;
        }
        slot->body = p->body;
        mf_buf_init(&p->body, p->cfg.max_response);
        for (size_t i = 0; i < p->ntab; i++)
            u[i] = (struct pop3_uidl_entry){
                p->tab[i].msgno, mf_buf_data(&slot->body) + p->tab[i].size};
        slot->table = u;
        slot->ev.uidl = u;
        slot->ev.n = p->ntab;
    }
}

/* Ends the request at the head of the queue with its DONE event; on
 * failure ev->err says why. The caller calls pop3_req_advance() when it may. */
static void finish_req(struct pop3 *p, struct pop3_event *ev,
                       const struct status *st)
{
    const struct req *r = &p->reqs[p->req_head];
    ev->type = POP3_EV_DONE;
    ev->request = r->kind;
    ev->msgno = r->msgno;
    p->req_head = (p->req_head + 1) % p->req_cap;
    p->req_len--;
    p->busy = false;
    struct ev_slot *slot = pop3_core_push_event(p, ev, st);
    if (slot && ev->ok)
        attach_results(p, slot);
    pop3_req_reset(p);
    if (!slot)
        pop3_core_fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false,
                            "out of memory");
    else if (!p->failed)
        pop3_core_set_state(p, POP3_ST_READY);
}

void pop3_req_fail(struct pop3 *p, const struct mf_err *err,
                   const struct status *st)
{
    struct pop3_event ev = {.ok = false, .err = *err};
    finish_req(p, &ev, st);
}

enum mf_rc pop3_req_queue(struct pop3 *p, enum pop3_request kind,
                          unsigned long msgno, unsigned long lines)
{
    const char *why = NULL;
    if (msgno == 0 && (kind == POP3_REQ_TOP || kind == POP3_REQ_RETR))
        why = "message numbers start at 1";
    else if (p->failed || p->quit_requested)
        why = "the session is closing";
    if (why) { /* never queued: its DONE comes right away */
        struct pop3_event ev = {.type = POP3_EV_DONE, .request = kind,
                                .msgno = msgno};
        ev.err = pop3_core_mkerr(MF_EINVAL, MF_LAYER_LOCAL, NULL, why);
        return pop3_core_push_event(p, &ev, NULL) ? MF_EINVAL : MF_ENOMEM;
    }
    if (p->req_len == p->req_cap) {
        if (p->req_cap >= MAX_QUEUE)
            return MF_ELIMIT;
        size_t ncap = p->req_cap ? p->req_cap * 2 : 16;
        struct req *n = malloc(ncap * sizeof *n);
        if (!n)
            return MF_ENOMEM;
        for (size_t i = 0; i < p->req_len; i++)
            n[i] = p->reqs[(p->req_head + i) % p->req_cap];
        free(p->reqs);
        p->reqs = n;
        p->req_cap = ncap;
        p->req_head = 0;
    }
    p->reqs[(p->req_head + p->req_len++) % p->req_cap] =
        (struct req){.kind = kind, .msgno = msgno, .lines = lines};
    pop3_req_advance(p);
    return MF_OK;
}

/* When READY: sends the next request, or QUIT once none is left. */
void pop3_req_advance(struct pop3 *p)
{
    static const enum pop3_state by_kind[] = {
        [POP3_REQ_STAT] = POP3_ST_STAT, [POP3_REQ_LIST] = POP3_ST_LIST,
        [POP3_REQ_UIDL] = POP3_ST_UIDL, [POP3_REQ_TOP] = POP3_ST_TOP,
        [POP3_REQ_RETR] = POP3_ST_RETR,
    };
    while (!p->failed && p->state == POP3_ST_READY && !p->busy) {
        if (p->req_len == 0) {
            if (p->quit_requested && !p->quit_sent) {
                p->quit_sent = true;
                pop3_core_send_line(p, "QUIT", NULL);
                pop3_core_set_state(p, POP3_ST_QUIT);
            }
            return;
        }
        const struct req *r = &p->reqs[p->req_head];
        if (!p->signed_in) {
            struct mf_err e = pop3_core_mkerr(MF_EINVAL, MF_LAYER_LOCAL, NULL,
                                              "not signed in: no credentials "
                                              "were given");
            pop3_req_fail(p, &e, NULL);
            continue;
        }
        char line[80];
        if (r->kind == POP3_REQ_TOP)
            snprintf(line, sizeof line, "TOP %lu %lu", r->msgno, r->lines);
        else if (r->kind == POP3_REQ_RETR)
            snprintf(line, sizeof line, "RETR %lu", r->msgno);
        else
            snprintf(line, sizeof line, "%s", req_name(r->kind));
        p->busy = true;
        pop3_req_reset(p);
        pop3_core_send_line(p, line, NULL);
        pop3_core_set_state(p, by_kind[r->kind]);
    }
}

/* ---- requests: replies and multi-line bodies ---------------------------- */

/* Decimal number at *s, advancing *s. */
static bool take_num(const char **s, const char *end, uint64_t *out)
{
    const char *q = *s;
    uint64_t v = 0;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*q - '0');
    }
    bool any = q > *s;
    *s = q;
    *out = v;
    return any;
}

static bool take_space(const char **s, const char *end)
{
    const char *q = *s;
    while (*s < end && **s == ' ')
        (*s)++;
    return *s > q;
}

/* The request in flight fails; the rest of its response is read and
 * dropped. `what` follows the command's name in the detail. */
static void req_failed(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                       const char *what)
{
    if (p->discard)
        return; /* keep the first reason */
    p->discard = true;
    mf_err_set(&p->req_err, rc, layer, "%s%s",
               req_name(p->reqs[p->req_head].kind), what);
    mf_buf_free(&p->body);
    free(p->tab);
    p->tab = NULL;
    p->ntab = p->tabcap = 0;
}

void pop3_req_on_reply(struct pop3 *p, const struct status *st)
{
    const struct req *r = &p->reqs[p->req_head];
    struct pop3_event ev = {.ok = st->kind == ST_OK};
    if (!ev.ok) {
        char why[80];
        snprintf(why, sizeof why, r->msgno ? "the server refused %s %lu"
                 : "the server refused %s", req_name(r->kind), r->msgno);
        ev.err = pop3_core_mkerr(pop3_core_rc_for(st, MF_EREJECT), MF_LAYER_REJECT,
                                 st, why);
    } else if (r->kind != POP3_REQ_STAT) {
        p->in_multi = true;
        return;
    } else {
        const char *s = st->text, *end = st->text + st->len;
        if (!take_num(&s, end, &ev.count) || !take_space(&s, end) ||
            !take_num(&s, end, &ev.size) || (s < end && *s != ' ')) {
            ev.ok = false;
            ev.err = pop3_core_mkerr(MF_EPROTO, MF_LAYER_PROTO, st, "malformed "
                                     "STAT reply (expected \"+OK count size\")");
        }
    }
    finish_req(p, &ev, st);
    pop3_req_advance(p);
}

/* "msgno size" (LIST) or "msgno uid" (UIDL); more words may follow. */
static void table_line(struct pop3 *p, const char *line, size_t len)
{
    bool uidl = p->state == POP3_ST_UIDL;
    const char *s = line, *end = line + len, *uid = NULL;
    uint64_t no, size = 0;
    size_t ulen = 0;
    bool ok = take_num(&s, end, &no) && no > 0 && no <= ULONG_MAX &&
              take_space(&s, end);
    if (ok && uidl) {
        for (uid = s; s < end && *s > 0x20 && *s < 0x7f; s++)
            ;
        ulen = (size_t)(s - uid);
        ok = ulen > 0 && ulen <= UID_MAX;
    } else if (ok) {
        ok = take_num(&s, end, &size);
    }
    if (!ok || (s < end && *s != ' ')) {
        req_failed(p, MF_EPROTO, MF_LAYER_PROTO, ": a line of the listing is malformed");
        return;
    }
    p->used += uidl ? sizeof(struct pop3_uidl_entry) + ulen + 1
                    : sizeof(struct pop3_list_entry);
    if (p->used > p->cfg.max_response) {
        req_failed(p, MF_ELIMIT, MF_LAYER_LOCAL, ": the listing is over the size limit");
        return;
    }
    if (p->ntab == p->tabcap) {
        size_t ncap = p->tabcap ? p->tabcap * 2 : 64;
        struct pop3_list_entry *n = realloc(p->tab, ncap * sizeof *n);
        if (!n) {
            req_failed(p, MF_ENOMEM, MF_LAYER_INTERNAL, ": out of memory");
            return;
        }
        p->tab = n;
        p->tabcap = ncap;
    }
    if (uidl) {
        size = mf_buf_len(&p->body);
        if (mf_buf_add(&p->body, uid, ulen) != MF_OK ||
            mf_buf_add(&p->body, "", 1) != MF_OK) {
            req_failed(p, MF_ENOMEM, MF_LAYER_INTERNAL, ": out of memory");
            return;
        }
    }
    p->tab[p->ntab++] = (struct pop3_list_entry){(unsigned long)no, size};
}

/* Message bytes; eol ends the line with CRLF. */
static void body_add(struct pop3 *p, const char *s, size_t n, bool eol)
{
    p->seen += n + (eol ? 2 : 0);
    if (p->discard)
        return;
    enum mf_rc rc = mf_buf_add(&p->body, s, n);
    if (rc == MF_OK && eol)
        rc = mf_buf_add(&p->body, "\r\n", 2);
    if (rc != MF_OK) {
        char why[120];
        snprintf(why, sizeof why, " %lu: the message is over the size limit "
                 "of %zu bytes; it was read and dropped",
                 p->reqs[p->req_head].msgno, p->cfg.max_response);
        req_failed(p, rc, rc == MF_ELIMIT ? MF_LAYER_LOCAL : MF_LAYER_INTERNAL, why);
    }
}

static void end_multi(struct pop3 *p)
{
    p->in_multi = false;
    if (p->state == POP3_ST_CAPA) {
        p->caps.capa = true;
        pop3_core_push_simple(p, POP3_EV_CAPS, true, NULL);
        pop3_core_after_caps(p);
        return;
    }
    if (p->state == POP3_ST_TOP || p->state == POP3_ST_RETR) {
        char note[80];
        int n = snprintf(note, sizeof note, "<message: %llu bytes%s>",
                         (unsigned long long)p->seen, p->discard ? ", dropped" : "");
        pop3_core_trace(p, 'S', note, (size_t)n);
        pop3_core_trace(p, 'S', ".", 1);
    }
    struct pop3_event ev = {.ok = !p->discard, .err = p->req_err};
    finish_req(p, &ev, NULL);
    pop3_req_advance(p);
}

/* One line of a multi-line response, CRLF removed. */
void pop3_req_multi_line(struct pop3 *p, const char *line, size_t len)
{
    bool start = !p->mid_line;
    p->mid_line = false;
    if (start && len == 1 && line[0] == '.') {
        end_multi(p);
        return;
    }
    if (start && len > 0 && line[0] == '.') { /* RFC 1939 3: byte-stuffed */
        line++;
        len--;
    }
    if (p->state == POP3_ST_TOP || p->state == POP3_ST_RETR) {
        body_add(p, line, len, true);
    } else if (p->state == POP3_ST_CAPA) {
        p->used += len + 2;
        if (p->used > p->cfg.max_response)
            pop3_core_fail_with(p, MF_ELIMIT, MF_LAYER_PROTO, NULL, false,
                                "the CAPA list is too long");
        else
            pop3_core_caps_line(&p->caps, line, len);
    } else if (!p->discard) {
        table_line(p, line, len);
    }
}

/* A message line longer than the input buffer: take what is there, but
 * keep a final CR that may start the CRLF. */
void pop3_req_flush_partial(struct pop3 *p, const char *data, size_t avail)
{
    size_t skip = !p->mid_line && data[0] == '.'; /* stuffed, not the end */
    size_t keep = data[avail - 1] == '\r';
    body_add(p, data + skip, avail - skip - keep, false);
    mf_buf_consume(&p->in, avail - keep);
    p->mid_line = true;
}
