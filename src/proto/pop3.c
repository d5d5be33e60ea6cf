#include "proto/pop3.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

#define DEFAULT_MAX_LINE 4096
#define MIN_MAX_LINE 64
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define MAX_TEXT 1024             /* status text kept in an event */
#define OUT_MAX (1u * 1024 * 1024)
#define MAX_QUEUE 100000
#define CMD_LINE_MAX 255          /* RFC 2449 section 4, with CRLF */
#define UID_MAX 255
#define USER_MAX 512
#define SECRET_MAX 16384

static const char *const state_names[] = {
#define POP3_STATE_NAME(id, name, desc) name,
    POP3_STATE_LIST(POP3_STATE_NAME)
#undef POP3_STATE_NAME
};
static const char *const state_descs[] = {
#define POP3_STATE_DESC(id, name, desc) desc,
    POP3_STATE_LIST(POP3_STATE_DESC)
#undef POP3_STATE_DESC
};

const char *pop3_state_name(enum pop3_state st)
{
    return (unsigned)st < POP3_ST_COUNT ? state_names[st] : "unknown";
}

const char *pop3_state_describe(enum pop3_state st)
{
    return (unsigned)st < POP3_ST_COUNT ? state_descs[st] : "unknown state";
}

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
    uint64_t seen;                /* message bytes seen (trace) */
    struct mf_err req_err;        /* why the request in flight failed */
    struct mf_buf body;           /* TOP/RETR bytes, or UIDL strings */
    struct pop3_list_entry *tab;  /* LIST; UIDL: size = offset in body */
    size_t ntab, tabcap;

    struct req *reqs;             /* ring; the head is in flight if busy */
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
    const char *text;
    size_t len;
    char code[16];
    enum pop3_resp resp;
};

static void fail(struct pop3 *p, const struct mf_err *err,
                 const struct status *st, bool quit);
static void advance(struct pop3 *p);

/* ---- small helpers ------------------------------------------------------ */

static void set_state(struct pop3 *p, enum pop3_state to)
{
    if (p->state == to)
        return;
    enum pop3_state from = p->state;
    p->state = to;
    if (p->cfg.on_state)
        p->cfg.on_state(p->cfg.ctx, from, to);
}

static void trace(struct pop3 *p, char dir, const char *line, size_t len)
{
    if (p->cfg.trace)
        p->cfg.trace(p->cfg.ctx, dir, line, len);
}

static void trace_str(struct pop3 *p, char dir, const char *line)
{
    trace(p, dir, line, strlen(line));
}

static void fail_local(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                       const char *why)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", why);
    fail(p, &e, NULL, false);
}

/* Writes a command line; `traced` replaces it in the transcript if set. */
static void send_line(struct pop3 *p, const char *line, const char *traced)
{
    enum mf_rc rc = mf_buf_add(&p->out, line, strlen(line));
    if (rc == MF_OK)
        rc = mf_buf_add(&p->out, "\r\n", 2);
    if (rc != MF_OK) {
        fail_local(p, rc, MF_LAYER_INTERNAL, "output buffer full");
        return;
    }
    trace_str(p, 'C', traced ? traced : line);
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static void slot_free(struct ev_slot *s)
{
    free(s->text);
    free(s->table);
    mf_buf_free(&s->body);
    memset(s, 0, sizeof *s);
}

/* Drops whatever a multi-line response collected. */
static void multi_reset(struct pop3 *p)
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

/* ---- status lines and response codes ------------------------------------ */

enum pop3_resp pop3_resp_parse(const char *code)
{
    static const struct { const char *name; enum pop3_resp r; } known[] = {
        {"AUTH", POP3_RESP_AUTH}, {"SYS/TEMP", POP3_RESP_SYS_TEMP},
        {"SYS/PERM", POP3_RESP_SYS_PERM}, {"IN-USE", POP3_RESP_IN_USE},
        {"LOGIN-DELAY", POP3_RESP_LOGIN_DELAY},
    };
    if (!code || !code[0])
        return POP3_RESP_NONE;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i].name);
        /* codes are hierarchical: "SYS/TEMP/x" is a SYS/TEMP */
        if (strncasecmp(code, known[i].name, n) == 0 &&
            (code[n] == '\0' || code[n] == '/'))
            return known[i].r;
    }
    return POP3_RESP_OTHER;
}

/* RFC 2449 section 8: "[" level *("/" level) "]", a level being printable
 * ASCII other than "/" and "]". Kept when it fits 15 bytes. */
static void take_code(struct status *st)
{
    if (st->len < 3 || st->text[0] != '[')
        return;
    size_t i = 1;
    bool level = false;
    for (; i < st->len && i < 64 && st->text[i] != ']'; i++) {
        unsigned char c = (unsigned char)st->text[i];
        if (c == '/' && !level)
            return;
        if (c != '/' && (c < 0x21 || c > 0x7e))
            return;
        level = c != '/';
    }
    if (i >= st->len || st->text[i] != ']' || !level || i - 1 >= sizeof st->code)
        return;
    memcpy(st->code, st->text + 1, i - 1);
    st->code[i - 1] = '\0';
    st->resp = pop3_resp_parse(st->code);
    for (i++; i < st->len && st->text[i] == ' '; i++)
        ;
    st->text += i;
    st->len -= i;
}

static void parse_status(const char *line, size_t len, struct status *st)
{
    memset(st, 0, sizeof *st);
    size_t skip;
    if (len >= 3 && strncasecmp(line, "+OK", 3) == 0 && (len == 3 || line[3] == ' ')) {
        st->kind = ST_OK;
        skip = 3;
    } else if (len >= 4 && strncasecmp(line, "-ERR", 4) == 0 &&
               (len == 4 || line[4] == ' ')) {
        st->kind = ST_ERR;
        skip = 4;
    } else if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' ')) {
        st->kind = ST_CONT; /* "+ base64"; Microsoft sends a bare "+" */
        skip = 1;
    } else {
        st->kind = ST_BAD;
        st->text = line;
        st->len = len;
        return;
    }
    while (skip < len && line[skip] == ' ')
        skip++;
    st->text = line + skip;
    st->len = len - skip;
    if (st->kind != ST_CONT)
        take_code(st);
}

static enum mf_rc rc_for(enum pop3_resp r, enum mf_rc dflt)
{
    return r == POP3_RESP_SYS_TEMP || r == POP3_RESP_IN_USE ||
                   r == POP3_RESP_LOGIN_DELAY ? MF_ETEMP : dflt;
}

static void err_from(struct mf_err *e, enum mf_rc rc, enum mf_layer layer,
                     const struct status *st, const char *why)
{
    mf_err_clear(e);
    mf_err_set(e, rc, layer, "%s", why);
    if (st)
        mf_err_set_reply(e, 0, st->code, st->text, st->len);
}

static void fail_reply(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                       const struct status *st, bool quit, const char *why)
{
    struct mf_err e;
    err_from(&e, rc, layer, st, why);
    fail(p, &e, st, quit);
}

/* ---- events ------------------------------------------------------------- */

/* Queues an event with a copy of the status text; NULL on ENOMEM (the
 * caller still owns any payload it meant to attach). */
static struct ev_slot *push_event(struct pop3 *p, const struct pop3_event *ev,
                                  const struct status *st)
{
    if (p->ev_len == p->ev_cap) {
        size_t ncap = p->ev_cap ? p->ev_cap * 2 : 16;
        struct ev_slot *n = malloc(ncap * sizeof *n);
        if (!n)
            return NULL;
        for (size_t i = 0; i < p->ev_len; i++)
            n[i] = p->evs[(p->ev_head + i) % p->ev_cap];
        free(p->evs);
        p->evs = n;
        p->ev_cap = ncap;
        p->ev_head = 0;
    }
    struct ev_slot *slot = &p->evs[(p->ev_head + p->ev_len) % p->ev_cap];
    memset(slot, 0, sizeof *slot);
    slot->ev = *ev;
    if (st) {
        size_t tl = st->len < MAX_TEXT ? st->len : MAX_TEXT;
        size_t cl = strlen(st->code);
        slot->text = malloc(tl + 1 + cl + 1);
        if (!slot->text)
            return NULL;
        size_t n = mf_sanitize(slot->text, tl + 1, st->text, tl, 0);
        memcpy(slot->text + n + 1, st->code, cl + 1);
        slot->ev.resp = st->resp;
    }
    p->ev_len++;
    return slot;
}

static void push_simple(struct pop3 *p, enum pop3_event_type type, bool ok,
                        const struct status *st)
{
    struct pop3_event ev = {.type = type, .ok = ok};
    if (!push_event(p, &ev, st))
        fail_local(p, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
}

bool pop3_next_event(struct pop3 *p, struct pop3_event *ev)
{
    slot_free(&p->taken);
    if (p->ev_len == 0)
        return false;
    p->taken = p->evs[p->ev_head];
    p->ev_head = (p->ev_head + 1) % p->ev_cap;
    p->ev_len--;
    struct ev_slot *s = &p->taken;
    *ev = s->ev;
    ev->text = s->text ? s->text : "";
    ev->code = s->text ? s->text + strlen(s->text) + 1 : "";
    if (ev->type == POP3_EV_DONE && ev->ok &&
        (ev->request == POP3_REQ_TOP || ev->request == POP3_REQ_RETR)) {
        ev->data = mf_buf_data(&s->body);
        ev->len = mf_buf_len(&s->body);
    }
    return true;
}

/* ---- requests ----------------------------------------------------------- */

static const char *req_name(enum pop3_request k)
{
    static const char *const names[] = {"STAT", "LIST", "UIDL", "TOP", "RETR"};
    return (unsigned)k <= POP3_REQ_RETR ? names[k] : "?";
}

static struct req *head(struct pop3 *p)
{
    return &p->reqs[p->req_head];
}

/* Ends the request at the head of the queue with its DONE event. */
static void finish_req(struct pop3 *p, struct pop3_event *ev,
                       const struct status *st)
{
    const struct req r = *head(p);
    ev->type = POP3_EV_DONE;
    ev->request = r.kind;
    ev->msgno = r.msgno;
    p->req_head = (p->req_head + 1) % p->req_cap;
    p->req_len--;
    p->busy = false;
    struct ev_slot *slot = push_event(p, ev, st);
    if (slot && ev->ok && (r.kind == POP3_REQ_TOP || r.kind == POP3_REQ_RETR)) {
        slot->body = p->body; /* moved, not copied */
        mf_buf_init(&p->body, p->cfg.max_response);
    } else if (slot && ev->ok && r.kind == POP3_REQ_LIST) {
        slot->table = p->tab;
        slot->ev.list = p->tab;
        slot->ev.n = p->ntab;
        p->tab = NULL;
    } else if (slot && ev->ok && r.kind == POP3_REQ_UIDL && p->ntab) {
        struct pop3_uidl_entry *u = malloc(p->ntab * sizeof *u);
        if (u) {
            slot->body = p->body;
            mf_buf_init(&p->body, p->cfg.max_response);
            const char *base = mf_buf_data(&slot->body);
            for (size_t i = 0; i < p->ntab; i++)
                u[i] = (struct pop3_uidl_entry){p->tab[i].msgno,
                                                base + p->tab[i].size};
            slot->table = u;
            slot->ev.uidl = u;
            slot->ev.n = p->ntab;
        } else {
            slot->ev.ok = false;
            mf_err_set(&slot->ev.err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        }
    }
    multi_reset(p);
    if (!slot) {
        fail_local(p, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return;
    }
    if (!p->failed)
        set_state(p, POP3_ST_READY);
}

static void fail_req(struct pop3 *p, const struct mf_err *err,
                     const struct status *st)
{
    struct pop3_event ev = {.ok = false, .err = *err};
    finish_req(p, &ev, st);
}

static enum mf_rc queue_req(struct pop3 *p, enum pop3_request kind,
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
        mf_err_set(&ev.err, MF_EINVAL, MF_LAYER_LOCAL, "%s", why);
        return push_event(p, &ev, NULL) ? MF_EINVAL : MF_ENOMEM;
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
    p->reqs[(p->req_head + p->req_len) % p->req_cap] =
        (struct req){.kind = kind, .msgno = msgno, .lines = lines};
    p->req_len++;
    advance(p);
    return MF_OK;
}

/* Sends the next request, or QUIT once none is left. */
static void advance(struct pop3 *p)
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
                send_line(p, "QUIT", NULL);
                set_state(p, POP3_ST_QUIT);
            }
            return;
        }
        struct req *r = head(p);
        if (!p->signed_in) {
            struct mf_err e;
            mf_err_clear(&e);
            mf_err_set(&e, MF_EINVAL, MF_LAYER_LOCAL,
                       "not signed in: no credentials were given");
            fail_req(p, &e, NULL);
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
        multi_reset(p);
        send_line(p, line, NULL);
        set_state(p, by_kind[r->kind]);
    }
}

/* ---- failures ----------------------------------------------------------- */

static void fail(struct pop3 *p, const struct mf_err *err,
                 const struct status *st, bool quit)
{
    if (p->failed)
        return;
    p->failed = true;
    p->fail_rc = err->rc;
    while (p->req_len)
        fail_req(p, err, NULL);
    multi_reset(p);
    struct pop3_event ev = {.type = POP3_EV_ERROR, .err = *err};
    push_event(p, &ev, st); /* on ENOMEM the caller still sees the rc */
    if (quit && !p->quit_sent) {
        p->quit_sent = true;
        send_line(p, "QUIT", NULL);
        set_state(p, POP3_ST_QUIT);
    } else {
        set_state(p, POP3_ST_FAILED);
    }
}

/* ---- capabilities ------------------------------------------------------- */

static bool word_is(const char *w, size_t wlen, const char *kw)
{
    return strlen(kw) == wlen && strncasecmp(w, kw, wlen) == 0;
}

static void copy_bounded(char *dst, size_t size, const char *src, size_t len)
{
    mf_sanitize(dst, size, src, len, 0);
}

static void parse_sasl(struct pop3_caps *c, const char *s, size_t len)
{
    copy_bounded(c->sasl_list, sizeof c->sasl_list, s, len);
    for (size_t i = 0; i < len;) {
        while (i < len && s[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        enum sasl_mech m = sasl_mech_parse(s + start, i - start);
        if (m != SASL_MECH_NONE)
            c->sasl_mask |= SASL_BIT(m);
    }
}

static void caps_line(struct pop3_caps *c, const char *s, size_t len)
{
    size_t k = 0;
    while (k < len && s[k] != ' ')
        k++;
    const char *arg = s + k;
    size_t alen = len - k;
    while (alen && *arg == ' ') {
        arg++;
        alen--;
    }
    if (word_is(s, k, "STLS")) c->stls = true;
    else if (word_is(s, k, "USER")) c->user = true;
    else if (word_is(s, k, "TOP")) c->top = true;
    else if (word_is(s, k, "UIDL")) c->uidl = true;
    else if (word_is(s, k, "PIPELINING")) c->pipelining = true;
    else if (word_is(s, k, "RESP-CODES")) c->resp_codes = true;
    else if (word_is(s, k, "AUTH-RESP-CODE")) c->auth_resp_code = true;
    else if (word_is(s, k, "UTF8")) c->utf8 = true;
    else if (word_is(s, k, "SASL")) parse_sasl(c, arg, alen);
    else if (word_is(s, k, "IMPLEMENTATION"))
        copy_bounded(c->implementation, sizeof c->implementation, arg, alen);
    else if (word_is(s, k, "EXPIRE"))
        copy_bounded(c->expire, sizeof c->expire, arg, alen);
    else if (word_is(s, k, "LOGIN-DELAY")) {
        long v = 0;
        size_t i = 0;
        for (; i < alen && i < 9 && arg[i] >= '0' && arg[i] <= '9'; i++)
            v = v * 10 + (arg[i] - '0');
        if (i > 0)
            c->login_delay = v;
    }
}

static void caps_clear(struct pop3_caps *c)
{
    memset(c, 0, sizeof *c);
    c->login_delay = -1;
}

/* ---- the session before the first request ------------------------------- */

static void become_ready(struct pop3 *p)
{
    set_state(p, POP3_ST_READY);
    if (!p->ready_announced) {
        p->ready_announced = true;
        push_simple(p, POP3_EV_READY, true, NULL);
    }
    advance(p);
}

static void send_capa(struct pop3 *p)
{
    send_line(p, "CAPA", NULL);
    set_state(p, POP3_ST_CAPA);
}

/* Picks USER/PASS or a SASL mechanism (see pop3.h); false after failing. */
static bool choose_auth(struct pop3 *p, enum sasl_mech *m, bool *use_user)
{
    const struct pop3_caps *c = &p->caps;
    bool user_ok = c->user || !c->capa;
    *m = SASL_MECH_NONE;
    *use_user = false;
    if (p->cfg.user_pass)
        *use_user = true;
    else if (p->cfg.mech != SASL_MECH_NONE || p->cfg.secret_is_token)
        *m = sasl_choose(c->sasl_mask, p->cfg.mech, p->cfg.secret_is_token);
    else if (c->sasl_mask & SASL_BIT(SASL_MECH_PLAIN))
        *m = SASL_MECH_PLAIN;
    else if (user_ok)
        *use_user = true;
    else if (c->sasl_mask & SASL_BIT(SASL_MECH_LOGIN))
        *m = SASL_MECH_LOGIN;
    if (*use_user || *m != SASL_MECH_NONE)
        return true;
    char why[400];
    const char *list = c->sasl_list[0] ? c->sasl_list : "none";
    if (p->cfg.mech != SASL_MECH_NONE)
        snprintf(why, sizeof why, "the server does not offer SASL %s (SASL: %s)",
                 sasl_mech_name(p->cfg.mech), list);
    else if (p->cfg.secret_is_token)
        snprintf(why, sizeof why, "the server offers no XOAUTH2 or OAUTHBEARER "
                 "for the token (SASL: %s)", list);
    else
        snprintf(why, sizeof why, "the server offers neither USER nor SASL "
                 "PLAIN or LOGIN (SASL: %s)", list);
    fail_reply(p, MF_EFEATURE, MF_LAYER_FEATURE, NULL, true, why);
    return false;
}

/* AUTH with the initial response when it fits 255 octets (RFC 5034 4);
 * else AUTH alone, and the response answers the empty "+" challenge. */
static void send_auth(struct pop3 *p, enum sasl_mech m)
{
    struct sasl_creds c = {.user = p->user, .secret = p->secret,
                           .host = p->host, .port = p->port};
    struct mf_err e;
    mf_err_clear(&e);
    struct mf_buf line;
    mf_buf_init(&line, 65536);
    char plain[64], traced[64];
    snprintf(plain, sizeof plain, "AUTH %s", sasl_mech_name(m));
    snprintf(traced, sizeof traced, "AUTH %s " MF_REDACTED, sasl_mech_name(m));
    p->sasl = sasl_new(m, &c, &e);
    bool ir = false;
    if (p->sasl && m != SASL_MECH_LOGIN && !p->cfg.no_initial_response) {
        if (mf_buf_printf(&line, "%s ", plain) == MF_OK &&
            sasl_initial(p->sasl, &line) && mf_buf_len(&line) + 2 <= CMD_LINE_MAX)
            ir = true;
        else { /* the engine thinks it sent it: start afresh */
            sasl_free(p->sasl);
            p->sasl = sasl_new(m, &c, &e);
        }
    }
    if (!p->sasl) {
        mf_buf_wipe_free(&line);
        fail(p, &e, NULL, true);
        return;
    }
    p->auth_mech = m;
    send_line(p, ir ? mf_buf_data(&line) : plain, ir ? traced : NULL);
    mf_buf_wipe_free(&line);
    set_state(p, POP3_ST_AUTH);
}

static void start_auth(struct pop3 *p)
{
    enum sasl_mech m;
    bool use_user;
    if (!choose_auth(p, &m, &use_user))
        return;
    struct mf_err e;
    mf_err_clear(&e);
    if (use_user && !p->tls_active && !p->cfg.allow_plaintext_auth) {
        mf_err_set(&e, MF_EAUTH, MF_LAYER_AUTH, "refusing USER/PASS without "
                   "TLS: it would send the password in clear (use STLS or "
                   "TLS, or --allow-plaintext-auth)");
        fail(p, &e, NULL, true);
        return;
    }
    if (!use_user && sasl_check_transport(m, p->tls_active,
                                          p->cfg.allow_plaintext_auth,
                                          &e) != MF_OK) {
        fail(p, &e, NULL, true);
        return;
    }
    if (!use_user) {
        send_auth(p, m);
        return;
    }
    p->user_pass_used = true;
    struct mf_buf line;
    mf_buf_init(&line, USER_MAX + 8);
    if (mf_buf_printf(&line, "USER %s", p->user) == MF_OK)
        send_line(p, mf_buf_data(&line), NULL);
    mf_buf_free(&line);
    set_state(p, POP3_ST_USER);
}

static void after_caps(struct pop3 *p)
{
    if (p->cfg.security == POP3_SEC_STLS && !p->tls_active) {
        if (!p->caps.stls) {
            fail_reply(p, MF_ENOTLS, MF_LAYER_TLS, NULL, true,
                       p->caps.capa ? "the server did not offer STLS; "
                       "refusing to continue without TLS"
                       : "the server did not offer STLS (it does not "
                         "answer CAPA); refusing to continue without TLS");
            return;
        }
        send_line(p, "STLS", NULL);
        set_state(p, POP3_ST_STLS);
        return;
    }
    if (p->user)
        start_auth(p);
    else
        become_ready(p);
}

static void on_greeting(struct pop3 *p, const struct status *st)
{
    push_simple(p, POP3_EV_GREETING, st->kind == ST_OK, st);
    if (st->kind == ST_OK)
        send_capa(p);
    else
        fail_reply(p, rc_for(st->resp, MF_EREJECT), MF_LAYER_REJECT, st, true,
                   "the server refused the connection");
}

static void on_capa(struct pop3 *p, const struct status *st)
{
    caps_clear(&p->caps);
    if (st->kind == ST_OK) {
        p->in_multi = true;
        return;
    }
    push_simple(p, POP3_EV_CAPS, false, st); /* RFC 1939 server: no CAPA */
    after_caps(p);
}

static void on_stls(struct pop3 *p, const struct status *st)
{
    if (st->kind != ST_OK) {
        fail_reply(p, MF_ETLS, MF_LAYER_TLS, st, true, "the server refused STLS");
        return;
    }
    set_state(p, POP3_ST_TLS);
    push_simple(p, POP3_EV_NEED_TLS, true, st);
}

static void signed_in(struct pop3 *p, const struct status *st)
{
    p->signed_in = true;
    push_simple(p, POP3_EV_AUTH_OK, true, st);
    become_ready(p);
}

static void on_auth(struct pop3 *p, const struct status *st)
{
    if (st->kind == ST_OK) {
        signed_in(p, st);
        return;
    }
    if (st->kind == ST_CONT) {
        struct mf_buf resp;
        struct mf_err e;
        mf_err_clear(&e);
        mf_buf_init(&resp, 65536);
        enum mf_rc rc = sasl_step(p->sasl, st->text, st->len, &resp, &e);
        if (rc == MF_OK)
            send_line(p, mf_buf_data(&resp), mf_buf_len(&resp) ? MF_REDACTED : "");
        mf_buf_wipe_free(&resp);
        if (rc != MF_OK) {
            send_line(p, "*", NULL); /* RFC 5034: cancel; its -ERR comes first */
            p->skip_replies = 1;
            mf_err_set_reply(&e, 0, NULL, st->text, st->len);
            fail(p, &e, NULL, true);
        }
        return;
    }
    char why[700];
    const char *jerr = sasl_server_error(p->sasl);
    snprintf(why, sizeof why, "the server refused AUTH %s%s%s",
             sasl_mech_name(p->auth_mech), jerr[0] ? ": " : "", jerr);
    fail_reply(p, rc_for(st->resp, MF_EAUTH), MF_LAYER_AUTH, st, true, why);
}

static void on_user(struct pop3 *p, const struct status *st)
{
    if (st->kind != ST_OK) {
        fail_reply(p, rc_for(st->resp, MF_EAUTH), MF_LAYER_AUTH, st, true,
                   "the server refused the user name (USER)");
        return;
    }
    struct mf_buf line;
    mf_buf_init(&line, SECRET_MAX + 8);
    if (mf_buf_printf(&line, "PASS %s", p->secret) == MF_OK)
        send_line(p, mf_buf_data(&line), "PASS " MF_REDACTED);
    mf_buf_wipe_free(&line);
    set_state(p, POP3_ST_PASS);
}

static void on_pass(struct pop3 *p, const struct status *st)
{
    if (st->kind == ST_OK)
        signed_in(p, st);
    else
        fail_reply(p, rc_for(st->resp, MF_EAUTH), MF_LAYER_AUTH, st, true,
                   "the server refused the password (PASS)");
}

/* ---- requests: replies and multi-line bodies ---------------------------- */

/* Decimal number at *s (no sign), advancing *s. */
static bool take_num(const char **s, const char *end, uint64_t *out)
{
    const char *q = *s;
    uint64_t v = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*q++ - '0');
    }
    if (q == *s)
        return false;
    *s = q;
    *out = v;
    return true;
}

static bool take_space(const char **s, const char *end)
{
    const char *q = *s;
    while (q < end && *q == ' ')
        q++;
    bool any = q > *s;
    *s = q;
    return any;
}

/* The request in flight fails; the rest of its response is read and
 * dropped. `what` follows the command's name in the detail. */
static void req_failed(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                       const char *what)
{
    if (p->discard)
        return; /* keep the first reason */
    p->discard = true;
    mf_err_set(&p->req_err, rc, layer, "%s%s", req_name(head(p)->kind), what);
    mf_buf_free(&p->body);
    free(p->tab);
    p->tab = NULL;
    p->ntab = p->tabcap = 0;
}

static void on_req_status(struct pop3 *p, const struct status *st)
{
    struct req *r = head(p);
    if (st->kind != ST_OK) {
        char why[80];
        if (r->kind == POP3_REQ_TOP || r->kind == POP3_REQ_RETR)
            snprintf(why, sizeof why, "the server refused %s %lu",
                     req_name(r->kind), r->msgno);
        else
            snprintf(why, sizeof why, "the server refused %s", req_name(r->kind));
        struct mf_err e;
        err_from(&e, rc_for(st->resp, MF_EREJECT), MF_LAYER_REJECT, st, why);
        fail_req(p, &e, st);
        advance(p);
        return;
    }
    if (r->kind != POP3_REQ_STAT) {
        p->in_multi = true;
        return;
    }
    struct pop3_event ev = {.ok = true};
    const char *s = st->text, *end = st->text + st->len;
    if (!take_num(&s, end, &ev.count) || !take_space(&s, end) ||
        !take_num(&s, end, &ev.size) || (s < end && *s != ' ')) {
        ev.ok = false;
        err_from(&ev.err, MF_EPROTO, MF_LAYER_PROTO, st,
                 "malformed STAT reply (want \"+OK count size\")");
    }
    finish_req(p, &ev, st);
    advance(p);
}

static void table_line(struct pop3 *p, const char *line, size_t len)
{
    bool uidl = p->state == POP3_ST_UIDL;
    const char *s = line, *end = line + len;
    uint64_t no, size = 0;
    const char *uid = NULL;
    size_t ulen = 0;
    bool ok = take_num(&s, end, &no) && no > 0 && no <= ULONG_MAX &&
              take_space(&s, end);
    if (ok && uidl) {
        uid = s;
        while (s < end && *s > 0x20 && *s < 0x7f)
            s++;
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
    if (p->ntab == p->tabcap && p->used <= p->cfg.max_response) {
        size_t ncap = p->tabcap ? p->tabcap * 2 : 64;
        struct pop3_list_entry *n = realloc(p->tab, ncap * sizeof *n);
        if (!n) {
            req_failed(p, MF_ENOMEM, MF_LAYER_INTERNAL, ": out of memory");
            return;
        }
        p->tab = n;
        p->tabcap = ncap;
    }
    if (p->used > p->cfg.max_response) {
        req_failed(p, MF_ELIMIT, MF_LAYER_LOCAL, ": the listing is over the size limit");
        return;
    }
    if (uidl) {
        size = mf_buf_len(&p->body);
        if (mf_buf_add(&p->body, uid, ulen) != MF_OK ||
            mf_buf_add(&p->body, "", 1) != MF_OK) {
            req_failed(p, MF_ELIMIT, MF_LAYER_LOCAL, ": the listing is over the size limit");
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
                 "of %zu bytes; it was read and dropped", head(p)->msgno,
                 p->cfg.max_response);
        req_failed(p, rc, rc == MF_ELIMIT ? MF_LAYER_LOCAL : MF_LAYER_INTERNAL, why);
    }
}

static void end_multi(struct pop3 *p)
{
    p->in_multi = false;
    if (p->state == POP3_ST_CAPA) {
        p->caps.capa = true;
        push_simple(p, POP3_EV_CAPS, true, NULL);
        after_caps(p);
        return;
    }
    if (p->state == POP3_ST_TOP || p->state == POP3_ST_RETR) {
        char note[80];
        snprintf(note, sizeof note, "<message: %llu bytes%s>",
                 (unsigned long long)p->seen, p->discard ? ", dropped" : "");
        trace_str(p, 'S', note);
        trace_str(p, 'S', ".");
    }
    struct pop3_event ev = {.ok = !p->discard};
    if (p->discard)
        ev.err = p->req_err;
    finish_req(p, &ev, NULL);
    advance(p);
}

/* One line of a multi-line response, CRLF removed. */
static void multi_line(struct pop3 *p, const char *line, size_t len)
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
        return;
    }
    p->used += len + 2;
    if (p->state == POP3_ST_CAPA && p->used > p->cfg.max_response)
        fail_local(p, MF_ELIMIT, MF_LAYER_PROTO, "the CAPA list is too long");
    else if (p->state == POP3_ST_CAPA)
        caps_line(&p->caps, line, len);
    else if (!p->discard)
        table_line(p, line, len);
}

/* A message line longer than the input buffer: take what is there. */
static void flush_partial(struct pop3 *p, const char *data, size_t avail)
{
    size_t skip = !p->mid_line && data[0] == '.'; /* stuffed: no terminator */
    size_t keep = data[avail - 1] == '\r'; /* may start the CRLF */
    body_add(p, data + skip, avail - skip - keep, false);
    mf_buf_consume(&p->in, avail - keep);
    p->mid_line = true;
}

/* ---- input -------------------------------------------------------------- */

static void on_status(struct pop3 *p, const char *line, size_t len)
{
    struct status st;
    parse_status(line, len, &st);
    if (p->state == POP3_ST_QUIT) {
        if (st.kind == ST_BAD || st.kind == ST_CONT)
            return; /* the EOF ends it */
        if (p->skip_replies) {
            p->skip_replies--;
            return;
        }
        set_state(p, POP3_ST_CLOSED);
        push_simple(p, POP3_EV_CLOSED, st.kind == ST_OK, &st);
        return;
    }
    if (st.kind == ST_BAD || (st.kind == ST_CONT && p->state != POP3_ST_AUTH)) {
        const char *why = "malformed response: expected +OK or -ERR";
        if (len >= 3 && line[0] >= '1' && line[0] <= '5' && line[1] >= '0' &&
            line[1] <= '9' && line[2] >= '0' && line[2] <= '9')
            why = "the server speaks SMTP, not POP3 (wrong port?)";
        else if (len >= 4 && strncasecmp(line, "* OK", 4) == 0)
            why = "the server speaks IMAP, not POP3 (wrong port?)";
        struct status raw = {.text = line, .len = len > 200 ? 200 : len};
        fail_reply(p, MF_EPROTO, MF_LAYER_PROTO, &raw, false, why);
        return;
    }
    switch (p->state) {
    case POP3_ST_GREETING: on_greeting(p, &st); break;
    case POP3_ST_CAPA: on_capa(p, &st); break;
    case POP3_ST_STLS: on_stls(p, &st); break;
    case POP3_ST_AUTH: on_auth(p, &st); break;
    case POP3_ST_USER: on_user(p, &st); break;
    case POP3_ST_PASS: on_pass(p, &st); break;
    case POP3_ST_STAT: case POP3_ST_LIST: case POP3_ST_UIDL:
    case POP3_ST_TOP: case POP3_ST_RETR:
        on_req_status(p, &st);
        break;
    case POP3_ST_READY: /* e.g. "-ERR autologout" before the server hangs up */
        fail_reply(p, st.kind == ST_ERR ? MF_ETEMP : MF_EPROTO, MF_LAYER_PROTO,
                   &st, false, "the server sent a response nobody asked for");
        break;
    default:
        break;
    }
}

static void process_input(struct pop3 *p)
{
    while (!p->failed || p->state == POP3_ST_QUIT) {
        if (p->state == POP3_ST_TLS || p->state == POP3_ST_CLOSED)
            return;
        const char *data = mf_buf_data(&p->in);
        size_t avail = mf_buf_len(&p->in);
        bool body = p->in_multi &&
                    (p->state == POP3_ST_TOP || p->state == POP3_ST_RETR);
        const char *nl = memchr(data, '\n', avail);
        if (!nl) {
            if (body && avail == p->in.max)
                flush_partial(p, data, avail);
            return;
        }
        size_t len = (size_t)(nl - data);
        if (len && data[len - 1] == '\r')
            len--;
        if (!body)
            trace(p, 'S', data, len);
        if (p->in_multi)
            multi_line(p, data, len);
        else
            on_status(p, data, len);
        mf_buf_consume(&p->in, (size_t)(nl - data) + 1);
    }
}

static void injection(struct pop3 *p)
{
    fail_local(p, MF_ETLS, MF_LAYER_TLS, "data received before the TLS "
               "handshake (possible response injection); refusing to continue");
}

enum mf_rc pop3_feed(struct pop3 *p, const char *data, size_t len)
{
    while (len > 0) {
        if (p->state == POP3_ST_CLOSED || (p->failed && p->state != POP3_ST_QUIT))
            break; /* after the end nothing the server says matters */
        if (p->state == POP3_ST_TLS) {
            injection(p);
            break;
        }
        size_t room = p->in.max - mf_buf_len(&p->in);
        size_t take = len < room ? len : room;
        if (mf_buf_add(&p->in, data, take) != MF_OK) {
            fail_local(p, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
            break;
        }
        data += take;
        len -= take;
        process_input(p);
        if (p->state == POP3_ST_TLS && (mf_buf_len(&p->in) || len)) {
            injection(p);
            break;
        }
        if (mf_buf_len(&p->in) == p->in.max) {
            char why[96];
            snprintf(why, sizeof why, "the server sent a line longer than %zu "
                     "bytes", p->in.max - 1);
            fail_local(p, MF_ELIMIT, MF_LAYER_PROTO, why);
            break;
        }
    }
    return p->failed ? p->fail_rc : MF_OK;
}

/* ---- public API ---------------------------------------------------------- */

static bool cred_ok(const char *s, size_t max)
{
    return s && s[0] && strlen(s) <= max && !has_crlf(s);
}

struct pop3 *pop3_new(const struct pop3_cfg *cfg, struct mf_err *err)
{
    const struct sasl_creds *c = cfg->creds;
    const char *bad = NULL;
    if (c && (!cred_ok(c->user, USER_MAX) || !cred_ok(c->secret, SECRET_MAX)))
        bad = "credentials need a user and a secret, without CR/LF and not "
              "too long";
    else if (cfg->user_pass && (cfg->secret_is_token || cfg->mech != SASL_MECH_NONE))
        bad = "USER/PASS takes a password, not a token or a SASL mechanism";
    if (bad) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "%s", bad);
        return NULL;
    }
    struct pop3 *p = calloc(1, sizeof *p);
    if (!p) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->cfg.creds = NULL;
    bool nomem = false;
    if (c) {
        p->user = strdup(c->user);
        p->secret = strdup(c->secret);
        p->host = c->host ? strdup(c->host) : NULL;
        p->port = c->port;
        nomem = !p->user || !p->secret || (c->host && !p->host);
    }
    if (!p->cfg.max_line)
        p->cfg.max_line = DEFAULT_MAX_LINE;
    if (p->cfg.max_line < MIN_MAX_LINE)
        p->cfg.max_line = MIN_MAX_LINE;
    if (!p->cfg.max_response)
        p->cfg.max_response = DEFAULT_MAX_RESPONSE;
    mf_buf_init(&p->in, p->cfg.max_line + 1);
    mf_buf_init(&p->out, OUT_MAX);
    mf_buf_init(&p->body, p->cfg.max_response);
    caps_clear(&p->caps);
    p->tls_active = cfg->security == POP3_SEC_TLS;
    p->state = POP3_ST_GREETING;
    if (nomem) {
        pop3_free(p);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    return p;
}

void pop3_free(struct pop3 *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ev_len; i++)
        slot_free(&p->evs[(p->ev_head + i) % p->ev_cap]);
    free(p->evs);
    slot_free(&p->taken);
    free(p->reqs);
    multi_reset(p);
    mf_buf_free(&p->in);
    mf_buf_wipe_free(&p->out); /* it held PASS and AUTH lines */
    sasl_free(p->sasl);
    mf_wipe_free_str(p->user);
    mf_wipe_free_str(p->secret);
    free(p->host);
    free(p);
}

const char *pop3_output(struct pop3 *p, size_t *len)
{
    *len = mf_buf_len(&p->out);
    return mf_buf_data(&p->out);
}

void pop3_output_consume(struct pop3 *p, size_t n)
{
    size_t have = mf_buf_len(&p->out);
    if (p->out.mem)
        mf_wipe(p->out.mem + p->out.off, n < have ? n : have);
    mf_buf_consume(&p->out, n);
}

enum mf_rc pop3_tls_done(struct pop3 *p)
{
    if (p->state != POP3_ST_TLS)
        return MF_EINVAL;
    /* RFC 2595 4: forget what was learnt before TLS, ask again. */
    p->tls_active = true;
    caps_clear(&p->caps);
    send_capa(p);
    return MF_OK;
}

enum mf_rc pop3_request_stat(struct pop3 *p) { return queue_req(p, POP3_REQ_STAT, 0, 0); }
enum mf_rc pop3_request_list(struct pop3 *p) { return queue_req(p, POP3_REQ_LIST, 0, 0); }
enum mf_rc pop3_request_uidl(struct pop3 *p) { return queue_req(p, POP3_REQ_UIDL, 0, 0); }

enum mf_rc pop3_request_top(struct pop3 *p, unsigned long msgno,
                            unsigned long lines)
{
    return queue_req(p, POP3_REQ_TOP, msgno, lines);
}

enum mf_rc pop3_request_retr(struct pop3 *p, unsigned long msgno)
{
    return queue_req(p, POP3_REQ_RETR, msgno, 0);
}

void pop3_quit(struct pop3 *p)
{
    p->quit_requested = true;
    advance(p); /* only acts when READY; else at READY */
}

enum mf_rc pop3_eof(struct pop3 *p)
{
    if (p->state == POP3_ST_QUIT || p->state == POP3_ST_CLOSED) {
        set_state(p, POP3_ST_CLOSED);
        return MF_OK;
    }
    if (p->failed)
        return MF_OK;
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ECLOSED, MF_LAYER_TCP,
               "connection closed by the server while %s%s",
               pop3_state_describe(p->state),
               p->in_multi ? " (in the middle of the response)" : "");
    fail(p, &e, NULL, false);
    return MF_ECLOSED;
}

void pop3_transport_failed(struct pop3 *p, const struct mf_err *err)
{
    fail(p, err, NULL, false);
}

enum pop3_state pop3_state(const struct pop3 *p) { return p->state; }
const struct pop3_caps *pop3_caps(const struct pop3 *p) { return &p->caps; }
bool pop3_tls_active(const struct pop3 *p) { return p->tls_active; }
bool pop3_signed_in(const struct pop3 *p) { return p->signed_in; }
enum sasl_mech pop3_auth_mech(const struct pop3 *p) { return p->auth_mech; }
bool pop3_used_user_pass(const struct pop3 *p) { return p->user_pass_used; }
size_t pop3_pending_requests(const struct pop3 *p) { return p->req_len; }
