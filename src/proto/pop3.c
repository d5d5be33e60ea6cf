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
#define OUT_MAX (1u << 20)
#define MAX_QUEUE 100000
#define CMD_LINE_MAX 255          /* RFC 2449 4: a command line, with CRLF */
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

static void fail(struct pop3 *p, const struct mf_err *err,
                 const struct status *st, bool quit);
static void advance(struct pop3 *p);

/* ---- small helpers ------------------------------------------------------ */

static void set_state(struct pop3 *p, enum pop3_state to)
{
    enum pop3_state from = p->state;
    p->state = to;
    if (from != to && p->cfg.on_state)
        p->cfg.on_state(p->cfg.ctx, from, to);
}

static void trace(struct pop3 *p, char dir, const char *line, size_t len)
{
    if (p->cfg.trace)
        p->cfg.trace(p->cfg.ctx, dir, line, len);
}

static struct mf_err mkerr(enum mf_rc rc, enum mf_layer layer,
                           const struct status *st, const char *why)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", why);
    if (st)
        mf_err_set_reply(&e, 0, st->code, st->text, st->len);
    return e;
}

static void fail_with(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                      const struct status *st, bool quit, const char *why)
{
    struct mf_err e = mkerr(rc, layer, st, why);
    fail(p, &e, st, quit);
}

/* Writes a command line; `traced` replaces it in the transcript if set. */
static void send_line(struct pop3 *p, const char *line, const char *traced)
{
    enum mf_rc rc = mf_buf_add(&p->out, line, strlen(line));
    if (rc == MF_OK)
        rc = mf_buf_add(&p->out, "\r\n", 2);
    if (rc != MF_OK) {
        fail_with(p, rc, MF_LAYER_INTERNAL, NULL, false, "output buffer full");
        return;
    }
    traced = traced ? traced : line;
    trace(p, 'C', traced, strlen(traced));
}

static void slot_free(struct ev_slot *s)
{
    free(s->text);
    free(s->table);
    mf_buf_free(&s->body);
    memset(s, 0, sizeof *s);
}

/* Forgets the multi-line response being read. */
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

/* RFC 2449 8: "[" level *("/" level) "]", a level being printable ASCII
 * other than "/" and "]". Taken from the text when it fits 15 bytes. */
static void take_code(struct status *st)
{
    if (st->len < 3 || st->text[0] != '[')
        return;
    size_t i = 1;
    bool level = false;
    for (; i < st->len && st->text[i] != ']'; i++) {
        unsigned char c = (unsigned char)st->text[i];
        if ((c == '/' && !level) || c < 0x21 || c > 0x7e || i >= sizeof st->code)
            return;
        level = c != '/';
    }
    if (i >= st->len || !level)
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
    size_t skip = 0;
    if (len >= 3 && strncasecmp(line, "+OK", 3) == 0 && (len == 3 || line[3] == ' '))
        skip = 3;
    else if (len >= 4 && strncasecmp(line, "-ERR", 4) == 0 &&
             (len == 4 || line[4] == ' '))
        st->kind = ST_ERR, skip = 4;
    else if (len >= 1 && line[0] == '+' && (len == 1 || line[1] == ' '))
        st->kind = ST_CONT, skip = 1; /* "+ base64"; Microsoft sends "+" */
    else
        st->kind = ST_BAD;
    while (skip < len && line[skip] == ' ' && st->kind != ST_BAD)
        skip++;
    st->text = line + skip;
    st->len = len - skip;
    if (st->kind == ST_OK || st->kind == ST_ERR)
        take_code(st);
}

/* RFC 3206 / 2449: these codes say "try again later". */
static enum mf_rc rc_for(const struct status *st, enum mf_rc dflt)
{
    enum pop3_resp r = st->resp;
    return r == POP3_RESP_SYS_TEMP || r == POP3_RESP_IN_USE ||
                   r == POP3_RESP_LOGIN_DELAY ? MF_ETEMP : dflt;
}

/* ---- events ------------------------------------------------------------- */

/* Queues an event with a sanitised copy of the status text; NULL on ENOMEM
 * (the caller still owns any payload it meant to attach). */
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
        if (!(slot->text = malloc(tl + 1 + cl + 1)))
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
        fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false, "out of memory");
}

bool pop3_next_event(struct pop3 *p, struct pop3_event *ev)
{
    slot_free(&p->taken);
    if (p->ev_len == 0)
        return false;
    p->taken = p->evs[p->ev_head];
    p->ev_head = (p->ev_head + 1) % p->ev_cap;
    p->ev_len--;
    const struct ev_slot *s = &p->taken;
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

/* ---- the request queue -------------------------------------------------- */

static const char *req_name(enum pop3_request k)
{
    static const char *const names[] = {"STAT", "LIST", "UIDL", "TOP", "RETR"};
    return (unsigned)k <= POP3_REQ_RETR ? names[k] : "?";
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
            slot->ev.err = mkerr(MF_ENOMEM, MF_LAYER_INTERNAL, NULL, "out of memory");
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
 * failure ev->err says why. The caller calls advance() when it may. */
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
    struct ev_slot *slot = push_event(p, ev, st);
    if (slot && ev->ok)
        attach_results(p, slot);
    multi_reset(p);
    if (!slot)
        fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false, "out of memory");
    else if (!p->failed)
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
        ev.err = mkerr(MF_EINVAL, MF_LAYER_LOCAL, NULL, why);
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
    p->reqs[(p->req_head + p->req_len++) % p->req_cap] =
        (struct req){.kind = kind, .msgno = msgno, .lines = lines};
    advance(p);
    return MF_OK;
}

/* When READY: sends the next request, or QUIT once none is left. */
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
        const struct req *r = &p->reqs[p->req_head];
        if (!p->signed_in) {
            struct mf_err e = mkerr(MF_EINVAL, MF_LAYER_LOCAL, NULL,
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

/* Fails the session: every queued request gets its DONE, then ERROR; with
 * quit, a polite QUIT goes out. */
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

static void caps_clear(struct pop3_caps *c)
{
    memset(c, 0, sizeof *c);
    c->login_delay = -1;
}

static void caps_line(struct pop3_caps *c, const char *s, size_t len)
{
    size_t k = 0, a;
    while (k < len && s[k] != ' ')
        k++;
    for (a = k; a < len && s[a] == ' '; a++)
        ;
    const char *arg = s + a;
    size_t alen = len - a;
    if (word_is(s, k, "STLS")) c->stls = true;
    else if (word_is(s, k, "USER")) c->user = true;
    else if (word_is(s, k, "TOP")) c->top = true;
    else if (word_is(s, k, "UIDL")) c->uidl = true;
    else if (word_is(s, k, "PIPELINING")) c->pipelining = true;
    else if (word_is(s, k, "RESP-CODES")) c->resp_codes = true;
    else if (word_is(s, k, "AUTH-RESP-CODE")) c->auth_resp_code = true;
    else if (word_is(s, k, "UTF8")) c->utf8 = true;
    else if (word_is(s, k, "IMPLEMENTATION"))
        mf_sanitize(c->implementation, sizeof c->implementation, arg, alen, 0);
    else if (word_is(s, k, "EXPIRE"))
        mf_sanitize(c->expire, sizeof c->expire, arg, alen, 0);
    else if (word_is(s, k, "LOGIN-DELAY")) {
        long v = 0;
        size_t i = 0;
        for (; i < alen && i < 9 && arg[i] >= '0' && arg[i] <= '9'; i++)
            v = v * 10 + (arg[i] - '0');
        if (i > 0)
            c->login_delay = v;
    } else if (word_is(s, k, "SASL")) {
        mf_sanitize(c->sasl_list, sizeof c->sasl_list, arg, alen, 0);
        for (size_t i = 0; i < alen;) {
            size_t start = i;
            while (i < alen && arg[i] != ' ')
                i++;
            enum sasl_mech m = sasl_mech_parse(arg + start, i - start);
            c->sasl_mask |= m != SASL_MECH_NONE ? SASL_BIT(m) : 0;
            while (i < alen && arg[i] == ' ')
                i++;
        }
    }
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

/* Picks USER/PASS or a SASL mechanism (see pop3.h); false after failing. */
static bool choose_auth(struct pop3 *p, enum sasl_mech *m, bool *use_user)
{
    const struct pop3_caps *c = &p->caps;
    *m = SASL_MECH_NONE;
    *use_user = false;
    if (p->cfg.user_pass)
        *use_user = true;
    else if (p->cfg.mech != SASL_MECH_NONE || p->cfg.secret_is_token)
        *m = sasl_choose(c->sasl_mask, p->cfg.mech, p->cfg.secret_is_token);
    else if (c->sasl_mask & SASL_BIT(SASL_MECH_PLAIN))
        *m = SASL_MECH_PLAIN;
    else if (c->user || !c->capa)
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
    fail_with(p, MF_EFEATURE, MF_LAYER_FEATURE, NULL, true, why);
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
    bool ir = false;
    p->sasl = sasl_new(m, &c, &e);
    if (p->sasl && m != SASL_MECH_LOGIN && !p->cfg.no_initial_response) {
        ir = mf_buf_printf(&line, "%s ", plain) == MF_OK &&
             sasl_initial(p->sasl, &line) && mf_buf_len(&line) + 2 <= CMD_LINE_MAX;
        if (!ir) { /* the engine thinks it was sent: start afresh */
            sasl_free(p->sasl);
            p->sasl = sasl_new(m, &c, &e);
        }
    }
    if (p->sasl) {
        p->auth_mech = m;
        send_line(p, ir ? mf_buf_data(&line) : plain, ir ? traced : NULL);
        set_state(p, POP3_ST_AUTH);
    }
    mf_buf_wipe_free(&line);
    if (!p->sasl)
        fail(p, &e, NULL, true);
}

static void start_auth(struct pop3 *p)
{
    enum sasl_mech m;
    bool use_user;
    if (!choose_auth(p, &m, &use_user))
        return;
    struct mf_err e;
    mf_err_clear(&e);
    if (use_user && !p->tls_active && !p->cfg.allow_plaintext_auth)
        mf_err_set(&e, MF_EAUTH, MF_LAYER_AUTH, "refusing USER/PASS without "
                   "TLS: it would send the password in clear (use STLS or "
                   "TLS, or --allow-plaintext-auth)");
    else if (!use_user)
        sasl_check_transport(m, p->tls_active, p->cfg.allow_plaintext_auth, &e);
    if (e.rc != MF_OK) {
        fail(p, &e, NULL, true);
    } else if (!use_user) {
        send_auth(p, m);
    } else {
        char line[USER_MAX + 8];
        snprintf(line, sizeof line, "USER %s", p->user);
        p->user_pass_used = true;
        send_line(p, line, NULL);
        set_state(p, POP3_ST_USER);
    }
}

static void after_caps(struct pop3 *p)
{
    if (p->cfg.security == POP3_SEC_STLS && !p->tls_active) {
        if (!p->caps.stls) {
            fail_with(p, MF_ENOTLS, MF_LAYER_TLS, NULL, true, p->caps.capa
                      ? "the server did not offer STLS; refusing to continue "
                        "without TLS"
                      : "the server did not offer STLS (it does not answer "
                        "CAPA); refusing to continue without TLS");
            return;
        }
        send_line(p, "STLS", NULL);
        set_state(p, POP3_ST_STLS);
    } else if (p->user) {
        start_auth(p);
    } else {
        become_ready(p);
    }
}

static void on_auth(struct pop3 *p, const struct status *st)
{
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
    fail_with(p, rc_for(st, MF_EAUTH), MF_LAYER_AUTH, st, true, why);
}

static void on_user_ok(struct pop3 *p)
{
    struct mf_buf line;
    mf_buf_init(&line, SECRET_MAX + 8);
    if (mf_buf_printf(&line, "PASS %s", p->secret) == MF_OK)
        send_line(p, mf_buf_data(&line), "PASS " MF_REDACTED);
    mf_buf_wipe_free(&line);
    set_state(p, POP3_ST_PASS);
}

/* The answer to everything before the first request. */
static void on_session_reply(struct pop3 *p, const struct status *st)
{
    bool ok = st->kind == ST_OK;
    switch (p->state) {
    case POP3_ST_GREETING:
        push_simple(p, POP3_EV_GREETING, ok, st);
        if (!ok)
            fail_with(p, rc_for(st, MF_EREJECT), MF_LAYER_REJECT, st, true,
                      "the server refused the connection");
        else if (!p->failed) {
            send_line(p, "CAPA", NULL);
            set_state(p, POP3_ST_CAPA);
        }
        break;
    case POP3_ST_CAPA:
        caps_clear(&p->caps);
        p->in_multi = ok;
        if (!ok) { /* an RFC 1939 server: nothing known */
            push_simple(p, POP3_EV_CAPS, false, st);
            after_caps(p);
        }
        break;
    case POP3_ST_STLS:
        if (!ok) {
            fail_with(p, MF_ETLS, MF_LAYER_TLS, st, true, "the server refused STLS");
            break;
        }
        set_state(p, POP3_ST_TLS);
        push_simple(p, POP3_EV_NEED_TLS, true, st);
        break;
    case POP3_ST_USER:
        if (ok)
            on_user_ok(p);
        else
            fail_with(p, rc_for(st, MF_EAUTH), MF_LAYER_AUTH, st, true,
                      "the server refused the user name (USER)");
        break;
    case POP3_ST_AUTH:
    case POP3_ST_PASS:
        if (!ok && p->state == POP3_ST_AUTH) {
            on_auth(p, st);
        } else if (!ok) {
            fail_with(p, rc_for(st, MF_EAUTH), MF_LAYER_AUTH, st, true,
                      "the server refused the password (PASS)");
        } else {
            p->signed_in = true;
            push_simple(p, POP3_EV_AUTH_OK, true, st);
            become_ready(p);
        }
        break;
    default:
        break;
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

static void on_req_reply(struct pop3 *p, const struct status *st)
{
    const struct req *r = &p->reqs[p->req_head];
    struct pop3_event ev = {.ok = st->kind == ST_OK};
    if (!ev.ok) {
        char why[80];
        snprintf(why, sizeof why, r->msgno ? "the server refused %s %lu"
                 : "the server refused %s", req_name(r->kind), r->msgno);
        ev.err = mkerr(rc_for(st, MF_EREJECT), MF_LAYER_REJECT, st, why);
    } else if (r->kind != POP3_REQ_STAT) {
        p->in_multi = true;
        return;
    } else {
        const char *s = st->text, *end = st->text + st->len;
        if (!take_num(&s, end, &ev.count) || !take_space(&s, end) ||
            !take_num(&s, end, &ev.size) || (s < end && *s != ' ')) {
            ev.ok = false;
            ev.err = mkerr(MF_EPROTO, MF_LAYER_PROTO, st, "malformed STAT "
                           "reply (expected \"+OK count size\")");
        }
    }
    finish_req(p, &ev, st);
    advance(p);
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
        push_simple(p, POP3_EV_CAPS, true, NULL);
        after_caps(p);
        return;
    }
    if (p->state == POP3_ST_TOP || p->state == POP3_ST_RETR) {
        char note[80];
        int n = snprintf(note, sizeof note, "<message: %llu bytes%s>",
                         (unsigned long long)p->seen, p->discard ? ", dropped" : "");
        trace(p, 'S', note, (size_t)n);
        trace(p, 'S', ".", 1);
    }
    struct pop3_event ev = {.ok = !p->discard, .err = p->req_err};
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
    } else if (p->state == POP3_ST_CAPA) {
        p->used += len + 2;
        if (p->used > p->cfg.max_response)
            fail_with(p, MF_ELIMIT, MF_LAYER_PROTO, NULL, false,
                      "the CAPA list is too long");
        else
            caps_line(&p->caps, line, len);
    } else if (!p->discard) {
        table_line(p, line, len);
    }
}

/* A message line longer than the input buffer: take what is there, but
 * keep a final CR that may start the CRLF. */
static void flush_partial(struct pop3 *p, const char *data, size_t avail)
{
    size_t skip = !p->mid_line && data[0] == '.'; /* stuffed, not the end */
    size_t keep = data[avail - 1] == '\r';
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
    } else if (st.kind == ST_BAD || (st.kind == ST_CONT && p->state != POP3_ST_AUTH)) {
        const char *why = "malformed response: expected +OK or -ERR";
        if (len >= 4 && line[0] >= '1' && line[0] <= '5' && line[1] >= '0' &&
            line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
            (line[3] == ' ' || line[3] == '-'))
            why = "the server speaks SMTP, not POP3 (wrong port?)";
        else if (len >= 4 && strncasecmp(line, "* OK", 4) == 0)
            why = "the server speaks IMAP, not POP3 (wrong port?)";
        struct status raw = {.text = line, .len = len > 200 ? 200 : len};
        fail_with(p, MF_EPROTO, MF_LAYER_PROTO, &raw, false, why);
    } else if (p->state == POP3_ST_READY) { /* "-ERR autologout", then EOF */
        fail_with(p, st.kind == ST_ERR ? MF_ETEMP : MF_EPROTO, MF_LAYER_PROTO,
                  &st, false, "the server sent a response nobody asked for");
    } else if (p->busy) {
        on_req_reply(p, &st);
    } else if (st.kind == ST_CONT) {
        on_auth(p, &st);
    } else {
        on_session_reply(p, &st);
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
    fail_with(p, MF_ETLS, MF_LAYER_TLS, NULL, false, "data received before "
              "the TLS handshake (possible response injection); refusing to "
              "continue");
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
            fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false, "out of memory");
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
            fail_with(p, MF_ELIMIT, MF_LAYER_PROTO, NULL, false, why);
            break;
        }
    }
    return p->failed ? p->fail_rc : MF_OK;
}

/* ---- public API ---------------------------------------------------------- */

static bool cred_ok(const char *s, size_t max)
{
    return s && s[0] && strlen(s) <= max && !strpbrk(s, "\r\n");
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
    if (c) {
        p->user = strdup(c->user);
        p->secret = strdup(c->secret);
        p->host = c->host ? strdup(c->host) : NULL;
        p->port = c->port;
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
    if (c && (!p->user || !p->secret || (c->host && !p->host))) {
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
    send_line(p, "CAPA", NULL);
    set_state(p, POP3_ST_CAPA);
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
    advance(p); /* acts only when READY; else once READY */
}

enum mf_rc pop3_eof(struct pop3 *p)
{
    if (p->state == POP3_ST_QUIT || p->state == POP3_ST_CLOSED) {
        set_state(p, POP3_ST_CLOSED);
        return MF_OK;
    }
    if (p->failed)
        return MF_OK;
    char why[200];
    snprintf(why, sizeof why, "connection closed by the server while %s%s",
             pop3_state_describe(p->state),
             p->in_multi ? " (in the middle of the response)" : "");
    fail_with(p, MF_ECLOSED, MF_LAYER_TCP, NULL, false, why);
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
