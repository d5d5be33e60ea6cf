#include "proto/pop3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

#include "proto/pop3_int.h"

#define DEFAULT_MAX_LINE 4096
#define MIN_MAX_LINE 64
#define DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define MAX_TEXT 1024             /* status text kept in an event */
#define OUT_MAX (1u << 20)
#define CMD_LINE_MAX 255          /* RFC 2449 4: a command line, with CRLF */
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

static void fail(struct pop3 *p, const struct mf_err *err,
                 const struct status *st, bool quit);

/* ---- small helpers ------------------------------------------------------ */

void pop3_core_set_state(struct pop3 *p, enum pop3_state to)
{
    enum pop3_state from = p->state;
    p->state = to;
    if (from != to && p->cfg.on_state)
        p->cfg.on_state(p->cfg.ctx, from, to);
}

void pop3_core_trace(struct pop3 *p, char dir, const char *line, size_t len)
{
    if (p->cfg.trace)
        p->cfg.trace(p->cfg.ctx, dir, line, len);
}

struct mf_err pop3_core_mkerr(enum mf_rc rc, enum mf_layer layer,
                              const struct status *st, const char *why)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", why);
    if (st)
        mf_err_set_reply(&e, 0, st->code, st->text, st->len);
    return e;
}

void pop3_core_fail_with(struct pop3 *p, enum mf_rc rc, enum mf_layer layer,
                         const struct status *st, bool quit, const char *why)
{
    struct mf_err e = pop3_core_mkerr(rc, layer, st, why);
    fail(p, &e, st, quit);
}

/* Writes a command line; `traced` replaces it in the transcript if set. */
void pop3_core_send_line(struct pop3 *p, const char *line, const char *traced)
{
    enum mf_rc rc = mf_buf_add(&p->out, line, strlen(line));
    if (rc == MF_OK)
        rc = mf_buf_add(&p->out, "\r\n", 2);
    if (rc != MF_OK) {
        pop3_core_fail_with(p, rc, MF_LAYER_INTERNAL, NULL, false,
                            "output buffer full");
        return;
    }
    traced = traced ? traced : line;
    pop3_core_trace(p, 'C', traced, strlen(traced));
}

static void slot_free(struct ev_slot *s)
{
    free(s->text);
    free(s->table);
    mf_buf_free(&s->body);
    memset(s, 0, sizeof *s);
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
enum mf_rc pop3_core_rc_for(const struct status *st, enum mf_rc dflt)
{
    enum pop3_resp r = st->resp;
    return r == POP3_RESP_SYS_TEMP || r == POP3_RESP_IN_USE ||
                   r == POP3_RESP_LOGIN_DELAY ? MF_ETEMP : dflt;
}

/* ---- events ------------------------------------------------------------- */

/* Queues an event with a sanitised copy of the status text; NULL on ENOMEM
 * (the caller still owns any payload it meant to attach). */
struct ev_slot *pop3_core_push_event(struct pop3 *p, const struct pop3_event *ev,
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

void pop3_core_push_simple(struct pop3 *p, enum pop3_event_type type, bool ok,
                           const struct status *st)
{
    struct pop3_event ev = {.type = type, .ok = ok};
    if (!pop3_core_push_event(p, &ev, st))
        pop3_core_fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false,
                            "out of memory");
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
        pop3_req_fail(p, err, NULL);
    pop3_req_reset(p);
    struct pop3_event ev = {.type = POP3_EV_ERROR, .err = *err};
    pop3_core_push_event(p, &ev, st); /* on ENOMEM the caller still sees the rc */
    if (quit && !p->quit_sent) {
        p->quit_sent = true;
        pop3_core_send_line(p, "QUIT", NULL);
        pop3_core_set_state(p, POP3_ST_QUIT);
    } else {
        pop3_core_set_state(p, POP3_ST_FAILED);
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

void pop3_core_caps_line(struct pop3_caps *c, const char *s, size_t len)
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
    pop3_core_set_state(p, POP3_ST_READY);
    if (!p->ready_announced) {
        p->ready_announced = true;
        pop3_core_push_simple(p, POP3_EV_READY, true, NULL);
    }
    pop3_req_advance(p);
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
    pop3_core_fail_with(p, MF_EFEATURE, MF_LAYER_FEATURE, NULL, true, why);
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
        pop3_core_send_line(p, ir ? mf_buf_data(&line) : plain, ir ? traced : NULL);
        pop3_core_set_state(p, POP3_ST_AUTH);
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
        pop3_core_send_line(p, line, NULL);
        pop3_core_set_state(p, POP3_ST_USER);
    }
}

void pop3_core_after_caps(struct pop3 *p)
{
    if (p->cfg.security == POP3_SEC_STLS && !p->tls_active) {
        if (!p->caps.stls) {
            pop3_core_fail_with(p, MF_ENOTLS, MF_LAYER_TLS, NULL, true,
                                p->caps.capa
                                ? "the server did not offer STLS; refusing to "
                                  "continue without TLS"
                                : "the server did not offer STLS (it does not "
                                  "answer CAPA); refusing to continue without TLS");
            return;
        }
        pop3_core_send_line(p, "STLS", NULL);
        pop3_core_set_state(p, POP3_ST_STLS);
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
            pop3_core_send_line(p, mf_buf_data(&resp),
                                mf_buf_len(&resp) ? MF_REDACTED : "");
        mf_buf_wipe_free(&resp);
        if (rc != MF_OK) {
            /* RFC 5034: cancel; its -ERR comes first */
            pop3_core_send_line(p, "*", NULL);
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
    pop3_core_fail_with(p, pop3_core_rc_for(st, MF_EAUTH), MF_LAYER_AUTH, st,
                        true, why);
}

static void on_user_ok(struct pop3 *p)
{
    struct mf_buf line;
    mf_buf_init(&line, SECRET_MAX + 8);
    if (mf_buf_printf(&line, "PASS %s", p->secret) == MF_OK)
        pop3_core_send_line(p, mf_buf_data(&line), "PASS " MF_REDACTED);
    mf_buf_wipe_free(&line);
    pop3_core_set_state(p, POP3_ST_PASS);
}

/* The answer to everything before the first request. */
static void on_session_reply(struct pop3 *p, const struct status *st)
{
    bool ok = st->kind == ST_OK;
    switch (p->state) {
    case POP3_ST_GREETING:
        pop3_core_push_simple(p, POP3_EV_GREETING, ok, st);
        if (!ok)
            pop3_core_fail_with(p, pop3_core_rc_for(st, MF_EREJECT), MF_LAYER_REJECT,
                                st, true, "the server refused the connection");
        else if (!p->failed) {
            pop3_core_send_line(p, "CAPA", NULL);
            pop3_core_set_state(p, POP3_ST_CAPA);
        }
        break;
    case POP3_ST_CAPA:
        caps_clear(&p->caps);
        p->in_multi = ok;
        if (!ok) { /* an RFC 1939 server: nothing known */
            pop3_core_push_simple(p, POP3_EV_CAPS, false, st);
            pop3_core_after_caps(p);
        }
        break;
    case POP3_ST_STLS:
        if (!ok) {
            pop3_core_fail_with(p, MF_ETLS, MF_LAYER_TLS, st, true,
                                "the server refused STLS");
            break;
        }
        pop3_core_set_state(p, POP3_ST_TLS);
        pop3_core_push_simple(p, POP3_EV_NEED_TLS, true, st);
        break;
    case POP3_ST_USER:
        if (ok)
            on_user_ok(p);
        else
            pop3_core_fail_with(p, pop3_core_rc_for(st, MF_EAUTH), MF_LAYER_AUTH,
                                st, true, "the server refused the user name (USER)");
        break;
    case POP3_ST_AUTH:
    case POP3_ST_PASS:
        if (!ok && p->state == POP3_ST_AUTH) {
            on_auth(p, st);
        } else if (!ok) {
            pop3_core_fail_with(p, pop3_core_rc_for(st, MF_EAUTH), MF_LAYER_AUTH,
                                st, true, "the server refused the password (PASS)");
        } else {
            p->signed_in = true;
            pop3_core_push_simple(p, POP3_EV_AUTH_OK, true, st);
            become_ready(p);
        }
        break;
    default:
        break;
    }
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
        pop3_core_set_state(p, POP3_ST_CLOSED);
        pop3_core_push_simple(p, POP3_EV_CLOSED, st.kind == ST_OK, &st);
    } else if (st.kind == ST_BAD || (st.kind == ST_CONT && p->state != POP3_ST_AUTH)) {
        const char *why = "malformed response: expected +OK or -ERR";
        if (len >= 4 && line[0] >= '1' && line[0] <= '5' && line[1] >= '0' &&
            line[1] <= '9' && line[2] >= '0' && line[2] <= '9' &&
            (line[3] == ' ' || line[3] == '-'))
            why = "the server speaks SMTP, not POP3 (wrong port?)";
        else if (len >= 4 && strncasecmp(line, "* OK", 4) == 0)
            why = "the server speaks IMAP, not POP3 (wrong port?)";
        struct status raw = {.text = line, .len = len > 200 ? 200 : len};
        pop3_core_fail_with(p, MF_EPROTO, MF_LAYER_PROTO, &raw, false, why);
    } else if (p->state == POP3_ST_READY) { /* "-ERR autologout", then EOF */
        pop3_core_fail_with(p, st.kind == ST_ERR ? MF_ETEMP : MF_EPROTO,
                            MF_LAYER_PROTO, &st, false,
                            "the server sent a response nobody asked for");
    } else if (p->busy) {
        pop3_req_on_reply(p, &st);
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
                pop3_req_flush_partial(p, data, avail);
            return;
        }
        size_t len = (size_t)(nl - data);
        if (len && data[len - 1] == '\r')
            len--;
        if (!body)
            pop3_core_trace(p, 'S', data, len);
        if (p->in_multi)
            pop3_req_multi_line(p, data, len);
        else
            on_status(p, data, len);
        mf_buf_consume(&p->in, (size_t)(nl - data) + 1);
    }
}

static void injection(struct pop3 *p)
{
    pop3_core_fail_with(p, MF_ETLS, MF_LAYER_TLS, NULL, false, "data received "
                        "before the TLS handshake (possible response injection); "
                        "refusing to continue");
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
            pop3_core_fail_with(p, MF_ENOMEM, MF_LAYER_INTERNAL, NULL, false,
                                "out of memory");
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
            pop3_core_fail_with(p, MF_ELIMIT, MF_LAYER_PROTO, NULL, false, why);
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
    pop3_req_reset(p);
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
    pop3_core_send_line(p, "CAPA", NULL);
    pop3_core_set_state(p, POP3_ST_CAPA);
    return MF_OK;
}

enum mf_rc pop3_request_stat(struct pop3 *p) { return pop3_req_queue(p, POP3_REQ_STAT, 0, 0); }
enum mf_rc pop3_request_list(struct pop3 *p) { return pop3_req_queue(p, POP3_REQ_LIST, 0, 0); }
enum mf_rc pop3_request_uidl(struct pop3 *p) { return pop3_req_queue(p, POP3_REQ_UIDL, 0, 0); }

enum mf_rc pop3_request_top(struct pop3 *p, unsigned long msgno,
                            unsigned long lines)
{
    return pop3_req_queue(p, POP3_REQ_TOP, msgno, lines);
}

enum mf_rc pop3_request_retr(struct pop3 *p, unsigned long msgno)
{
    return pop3_req_queue(p, POP3_REQ_RETR, msgno, 0);
}

void pop3_quit(struct pop3 *p)
{
    p->quit_requested = true;
    pop3_req_advance(p); /* acts only when READY; else once READY */
}

enum mf_rc pop3_eof(struct pop3 *p)
{
    if (p->state == POP3_ST_QUIT || p->state == POP3_ST_CLOSED) {
        pop3_core_set_state(p, POP3_ST_CLOSED);
        return MF_OK;
    }
    if (p->failed)
        return MF_OK;
    char why[200];
    snprintf(why, sizeof why, "connection closed by the server while %s%s",
             pop3_state_describe(p->state),
             p->in_multi ? " (in the middle of the response)" : "");
    pop3_core_fail_with(p, MF_ECLOSED, MF_LAYER_TCP, NULL, false, why);
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
