#include "proto/smtp.h"

#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LINE 4096
#define DEFAULT_MAX_REPLY_LINES 128
#define MAX_REPLY_TEXT 65536
#define OUT_MAX (64u * 1024 * 1024)
#define OUT_HIGH_WATER SMTP_OUT_HIGH_WATER
#define MAX_RCPT 1000

static const char *const state_names[] = {
#define SMTP_STATE_NAME(id, name, desc) name,
    SMTP_STATE_LIST(SMTP_STATE_NAME)
#undef SMTP_STATE_NAME
};
static const char *const state_descs[] = {
#define SMTP_STATE_DESC(id, name, desc) desc,
    SMTP_STATE_LIST(SMTP_STATE_DESC)
#undef SMTP_STATE_DESC
};

const char *smtp_state_name(enum smtp_state st)
{
    return (unsigned)st < SMTP_ST_COUNT ? state_names[st] : "unknown";
}

const char *smtp_state_describe(enum smtp_state st)
{
    return (unsigned)st < SMTP_ST_COUNT ? state_descs[st] : "unknown state";
}

#include "proto/smtp_int.h"

/* ---- small helpers ------------------------------------------------------ */

void smtp_core_set_state(struct smtp *s, enum smtp_state to)
{
    if (s->state == to)
        return;
    enum smtp_state from = s->state;
    s->state = to;
    if (s->cfg.on_state)
        s->cfg.on_state(s->cfg.ctx, from, to);
}

void smtp_core_trace(struct smtp *s, char dir, const char *line, size_t len)
{
    if (s->cfg.trace)
        s->cfg.trace(s->cfg.ctx, dir, line, len);
}

static char *dup_or_null(const char *p)
{
    return p ? strdup(p) : NULL;
}


/* ---- events ------------------------------------------------------------- */

/* An event's reply lives in one block: text, NUL, enhanced code, NUL. */
enum mf_rc smtp_core_push_event(struct smtp *s, const struct smtp_event *ev,
                             const struct smtp_reply *r)
{
    if (s->ev_len == s->ev_cap) {
        size_t ncap = s->ev_cap ? s->ev_cap * 2 : 16;
        struct ev_slot *n = malloc(ncap * sizeof *n);
        if (!n)
            return MF_ENOMEM;
        for (size_t i = 0; i < s->ev_len; i++)
            n[i] = s->evs[(s->ev_head + i) % s->ev_cap];
        free(s->evs);
        s->evs = n;
        s->ev_cap = ncap;
        s->ev_head = 0;
    }
    struct ev_slot *slot = &s->evs[(s->ev_head + s->ev_len) % s->ev_cap];
    slot->ev = *ev;
    slot->text = NULL;
    slot->data_end = NULL;
    if (r) {
        size_t el = strlen(r->enhanced);
        slot->text = malloc(r->len + 1 + el + 1);
        if (!slot->text)
            return MF_ENOMEM;
        memcpy(slot->text, r->text, r->len);
        slot->text[r->len] = '\0';
        memcpy(slot->text + r->len + 1, r->enhanced, el + 1);
        slot->ev.code = r->code;
    }
    s->ev_len++;
    return MF_OK;
}

enum mf_rc smtp_core_push_data_end(struct smtp *s, const struct smtp_msg *m)
{
    struct smtp_event none = {0};
    enum mf_rc rc = smtp_core_push_event(s, &none, NULL);
    if (rc == MF_OK)
        s->evs[(s->ev_head + s->ev_len - 1) % s->ev_cap].data_end = m;
    return rc;
}

bool smtp_next_event(struct smtp *s, struct smtp_event *ev)
{
    free(s->taken_text);
    s->taken_text = NULL;
    struct ev_slot *slot;
    for (;;) {
        if (s->ev_len == 0)
            return false;
        slot = &s->evs[s->ev_head];
        s->ev_head = (s->ev_head + 1) % s->ev_cap;
        s->ev_len--;
        if (!slot->data_end)
            break;
        /* in order: every earlier outcome has been handed out */
        if (s->cfg.on_data_end)
            s->cfg.on_data_end(s->cfg.ctx, slot->data_end);
    }
    s->taken_text = slot->text; /* freed at the next call */
    *ev = slot->ev;
    ev->text = "";
    ev->enhanced = "";
    if (slot->text) {
        ev->text = slot->text;
        ev->enhanced = slot->text + strlen(slot->text) + 1;
    }
    return true;
}

/* ---- failures ---------------------------------------------------------- */

void smtp_core_send_line(struct smtp *s, const char *line, const char *traced)
{
    size_t len = strlen(line);
    enum mf_rc rc = mf_buf_add(&s->out, line, len);
    if (rc == MF_OK)
        rc = mf_buf_add(&s->out, "\r\n", 2);
    if (rc != MF_OK) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, rc, MF_LAYER_INTERNAL, "output buffer: %s",
                   mf_rc_message(rc));
        smtp_core_fail(s, &e, false);
        return;
    }
    const char *t = traced ? traced : line;
    smtp_core_trace(s, 'C', t, strlen(t));
}

void smtp_core_fail(struct smtp *s, const struct mf_err *err, bool quit)
{
    if (s->failed)
        return;
    s->failed = true;
    s->fail_rc = err->rc;
    for (size_t i = 0; i < s->nmsgs; i++) {
        struct msg_slot *slot = &s->msgs[i];
        if (slot->next == NX_FINISHED)
            continue;
        if (!slot->failed || slot->next == NX_AWAIT_FINAL) {
            slot->err = *err;
            slot->failed = true;
            if (slot->next == NX_AWAIT_FINAL && !slot->body_aborted)
                mf_err_set(&slot->err, err->rc, err->layer,
                           "%.150s (end of data was sent: the message may "
                           "already have been accepted)", err->detail);
        }
        smtp_tx_finish(s, slot, NULL);
    }
    struct smtp_event ev = {.type = SMTP_EV_ERROR, .err = *err};
    smtp_core_push_event(s, &ev, NULL); /* on ENOMEM the caller still sees the rc */
    if (quit && !s->quit_sent) {
        s->quit_sent = true;
        if (smtp_tx_push_pend(s, P_QUIT, 0) == MF_OK)
            smtp_core_send_line(s, "QUIT", NULL);
        smtp_core_set_state(s, SMTP_ST_QUIT);
    } else {
        smtp_core_set_state(s, SMTP_ST_FAILED);
    }
}

void smtp_core_fail_reply(struct smtp *s, enum mf_rc rc, enum mf_layer layer,
                       const struct smtp_reply *r, bool quit,
                       const char *detail)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", detail);
    if (r)
        mf_err_set_reply(&e, r->code, r->enhanced, r->text, r->len);
    smtp_core_fail(s, &e, quit);
}
/* ---- the session before the first message ------------------------------- */

static void send_ehlo(struct smtp *s)
{
    char line[300];
    snprintf(line, sizeof line, "EHLO %s", s->helo_name);
    smtp_core_send_line(s, line, NULL);
    smtp_core_set_state(s, SMTP_ST_EHLO);
}

static void become_ready(struct smtp *s)
{
    smtp_core_set_state(s, SMTP_ST_READY);
    if (!s->ready_announced) {
        s->ready_announced = true;
        struct smtp_event ev = {.type = SMTP_EV_READY, .ok = true};
        smtp_core_push_event(s, &ev, NULL);
    }
    smtp_tx_advance(s);
}

static void start_auth(struct smtp *s)
{
    bool token = s->cfg.secret_is_token;
    enum sasl_mech m = sasl_choose(s->caps.auth_mask, s->cfg.mech, token);
    char why[400];
    if (m == SASL_MECH_NONE) {
        if (!s->caps.auth_list[0])
            snprintf(why, sizeof why, "the server offers no AUTH%s",
                     s->tls_active ? "" : " without TLS");
        else
            snprintf(why, sizeof why, "the server offers AUTH %s, not %s",
                     s->caps.auth_list,
                     s->cfg.mech != SASL_MECH_NONE ? sasl_mech_name(s->cfg.mech)
                     : token ? "XOAUTH2 or OAUTHBEARER" : "PLAIN or LOGIN");
        smtp_core_fail_reply(s, MF_EFEATURE, MF_LAYER_FEATURE, NULL, true, why);
        return;
    }
    struct mf_err e;
    mf_err_clear(&e);
    if (sasl_check_transport(m, s->tls_active, s->cfg.allow_plaintext_auth,
                             &e) != MF_OK) {
        smtp_core_fail(s, &e, true);
        return;
    }
    struct sasl_creds c = {.user = s->user, .secret = s->secret,
                           .host = s->host, .port = s->port};
    s->sasl = sasl_new(m, &c, &e);
    if (!s->sasl) {
        smtp_core_fail(s, &e, true);
        return;
    }
    s->auth_mech = m;
    struct mf_buf line;
    mf_buf_init(&line, 65536);
    enum mf_rc rc = mf_buf_printf(&line, "AUTH %s", sasl_mech_name(m));
    snprintf(why, sizeof why, "AUTH %s", sasl_mech_name(m));
    if (rc == MF_OK && sasl_mech(s->sasl) != SASL_MECH_LOGIN) {
        rc = mf_buf_add(&line, " ", 1);
        if (rc == MF_OK && !sasl_initial(s->sasl, &line))
            rc = MF_ENOMEM;
        snprintf(why, sizeof why, "AUTH %s " MF_REDACTED, sasl_mech_name(m));
    }
    if (rc == MF_OK)
        smtp_core_send_line(s, mf_buf_data(&line), why);
    mf_buf_wipe_free(&line);
    if (rc != MF_OK) {
        mf_err_set(&e, rc, MF_LAYER_INTERNAL, "building AUTH: %s",
                   mf_rc_message(rc));
        smtp_core_fail(s, &e, false);
        return;
    }
    smtp_core_set_state(s, SMTP_ST_AUTH);
}

static void after_caps(struct smtp *s)
{
    if (s->cfg.security == SMTP_SEC_STARTTLS && !s->tls_active) {
        if (!s->caps.starttls) {
            smtp_core_fail_reply(s, MF_ENOTLS, MF_LAYER_TLS, NULL, true,
                       "the server did not offer STARTTLS; refusing to "
                       "continue without TLS");
            return;
        }
        smtp_core_send_line(s, "STARTTLS", NULL);
        smtp_core_set_state(s, SMTP_ST_STARTTLS);
        return;
    }
    if (s->user)
        start_auth(s);
    else
        become_ready(s);
}

static void on_greeting(struct smtp *s, const struct smtp_reply *r)
{
    struct smtp_event ev = {.type = SMTP_EV_GREETING, .ok = r->code == 220};
    smtp_core_push_event(s, &ev, r);
    if (r->code == 220)
        send_ehlo(s);
    else if (r->code < 400)
        smtp_core_fail_reply(s, MF_EPROTO, MF_LAYER_PROTO, r, true,
                             "the greeting is not 220");
    else
        smtp_core_fail_reply(s, r->code < 500 ? MF_ETEMP : MF_EREJECT, MF_LAYER_REJECT,
                   r, true, "the server refused the connection");
}

static void on_ehlo(struct smtp *s, const struct smtp_reply *r)
{
    if (r->code == 250) {
        smtp_caps_parse(&s->caps, r->text, r->len);
        struct smtp_event ev = {.type = SMTP_EV_CAPS, .ok = true};
        smtp_core_push_event(s, &ev, r);
        after_caps(s);
        return;
    }
    if (r->code >= 500) {
        if (s->cfg.security == SMTP_SEC_STARTTLS && !s->tls_active) {
            smtp_core_fail_reply(s, MF_ENOTLS, MF_LAYER_TLS, r, true,
                       "the server refused EHLO, so STARTTLS is impossible");
            return;
        }
        char line[300];
        snprintf(line, sizeof line, "HELO %s", s->helo_name);
        smtp_core_send_line(s, line, NULL);
        smtp_core_set_state(s, SMTP_ST_HELO);
        return;
    }
    smtp_core_fail_reply(s, MF_ETEMP, MF_LAYER_PROTO, r, true,
               "the server refused EHLO for now");
}

static void on_helo(struct smtp *s, const struct smtp_reply *r)
{
    if (r->code != 250) {
        smtp_core_fail_reply(s, r->code < 500 ? MF_ETEMP : MF_EREJECT, MF_LAYER_PROTO, r,
                   true, "the server refused both EHLO and HELO");
        return;
    }
    memset(&s->caps, 0, sizeof s->caps); /* plain SMTP: no extensions */
    struct smtp_event ev = {.type = SMTP_EV_CAPS, .ok = true};
    smtp_core_push_event(s, &ev, r);
    if (s->user)
        smtp_core_fail_reply(s, MF_EFEATURE, MF_LAYER_FEATURE, r, true,
                   "the server speaks only plain SMTP (no EHLO), so AUTH is "
                   "impossible");
    else
        become_ready(s);
}

static void on_starttls(struct smtp *s, const struct smtp_reply *r)
{
    if (r->code != 220) {
        smtp_core_fail_reply(s, MF_ETLS, MF_LAYER_TLS, r, true,
                   "the server refused STARTTLS");
        return;
    }
    smtp_core_set_state(s, SMTP_ST_TLS);
    struct smtp_event ev = {.type = SMTP_EV_NEED_TLS, .ok = true};
    smtp_core_push_event(s, &ev, r);
}

static void on_auth(struct smtp *s, const struct smtp_reply *r)
{
    if (r->code == 334) {
        struct mf_buf resp;
        struct mf_err e;
        mf_err_clear(&e);
        mf_buf_init(&resp, 65536);
        enum mf_rc rc = sasl_step(s->sasl, r->text, r->len, &resp, &e);
        if (rc == MF_OK)
            smtp_core_send_line(s, mf_buf_data(&resp), mf_buf_len(&resp) ? MF_REDACTED : "");
        mf_buf_wipe_free(&resp);
        if (rc != MF_OK) {
            mf_err_set_reply(&e, r->code, r->enhanced, r->text, r->len);
            smtp_core_fail(s, &e, true);
        }
        return;
    }
    if (r->code == 235) {
        struct smtp_event ev = {.type = SMTP_EV_AUTH_OK, .ok = true};
        smtp_core_push_event(s, &ev, r);
        become_ready(s);
        return;
    }
    char why[700];
    const char *jerr = sasl_server_error(s->sasl);
    snprintf(why, sizeof why, "the server refused AUTH %s%s%s",
             sasl_mech_name(s->auth_mech), jerr[0] ? ": " : "", jerr);
    smtp_core_fail_reply(s, r->code < 500 ? MF_ETEMP : MF_EAUTH, MF_LAYER_AUTH, r, true,
               why);
}

static void handle_reply(struct smtp *s, const struct smtp_reply *r)
{
    if (r->code == 421 && s->state != SMTP_ST_QUIT && !smtp_tx_in_phase(s)) {
        smtp_core_fail_reply(s, MF_ETEMP, MF_LAYER_PROTO, r, false,
                   "the server is closing the session (421)");
        return;
    }
    switch (s->state) {
    case SMTP_ST_GREETING: on_greeting(s, r); break;
    case SMTP_ST_EHLO: on_ehlo(s, r); break;
    case SMTP_ST_HELO: on_helo(s, r); break;
    case SMTP_ST_STARTTLS: on_starttls(s, r); break;
    case SMTP_ST_AUTH: on_auth(s, r); break;
    case SMTP_ST_FAILED:
    case SMTP_ST_CLOSED:
        break;
    default:
        smtp_tx_on_reply(s, r);
        smtp_tx_advance(s);
        break;
    }
}
/* ---- input -------------------------------------------------------------- */

static void injection(struct smtp *s)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ETLS, MF_LAYER_TLS,
               "data received before the TLS handshake (possible response "
               "injection); refusing to continue");
    smtp_core_fail(s, &e, false);
}

/* Handles every complete line in the input buffer. */
static void process_lines(struct smtp *s)
{
    while (!s->failed || s->state == SMTP_ST_QUIT) {
        if (s->state == SMTP_ST_TLS || s->state == SMTP_ST_CLOSED)
            return;
        const char *data = mf_buf_data(&s->in);
        const char *nl = memchr(data, '\n', mf_buf_len(&s->in));
        if (!nl)
            return;
        size_t len = (size_t)(nl - data);
        size_t used = len + 1;
        if (len && data[len - 1] == '\r')
            len--;
        smtp_core_trace(s, 'S', data, len);
        bool done = false;
        struct mf_err e;
        mf_err_clear(&e);
        if (smtp_reply_line(&s->rp, data, len, &done, &e) != MF_OK) {
            mf_buf_consume(&s->in, used);
            smtp_reply_reset(&s->rp);
            smtp_core_fail(s, &e, false);
            return;
        }
        mf_buf_consume(&s->in, used);
        if (!done)
            continue;
        struct smtp_reply r;
        smtp_reply_get(&s->rp, &r);
        handle_reply(s, &r);
        smtp_reply_reset(&s->rp);
    }
}

enum mf_rc smtp_feed(struct smtp *s, const char *data, size_t len)
{
    while (len > 0) {
        if (s->state == SMTP_ST_CLOSED || (s->failed && s->state != SMTP_ST_QUIT))
            return MF_OK; /* after the end nothing the server says matters */
        if (s->state == SMTP_ST_TLS) {
            injection(s);
            return MF_ETLS;
        }
        size_t room = s->in.max - mf_buf_len(&s->in);
        size_t take = len < room ? len : room;
        if (mf_buf_add(&s->in, data, take) != MF_OK) {
            struct mf_err e;
            mf_err_clear(&e);
            mf_err_set(&e, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory reading a reply");
            smtp_core_fail(s, &e, false);
            return MF_ENOMEM;
        }
        data += take;
        len -= take;
        process_lines(s);
        if (s->state == SMTP_ST_TLS && (mf_buf_len(&s->in) || len)) {
            injection(s);
            return MF_ETLS;
        }
        if (mf_buf_len(&s->in) == s->in.max) {
            struct mf_err e;
            mf_err_clear(&e);
            mf_err_set(&e, MF_ELIMIT, MF_LAYER_PROTO,
                       "the server sent a line longer than %zu bytes",
                       s->in.max - 1);
            smtp_core_fail(s, &e, false);
            return MF_ELIMIT;
        }
    }
    return s->failed ? s->fail_rc : MF_OK;
}
/* ---- public API ---------------------------------------------------------- */

struct smtp *smtp_new(const struct smtp_cfg *cfg, struct mf_err *err)
{
    struct smtp *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->cfg.creds = NULL;
    const char *helo = cfg->helo_name && cfg->helo_name[0] ? cfg->helo_name
                                                           : "localhost";
    bool bad = strlen(helo) > 255 || strpbrk(helo, " \r\n\t") != NULL;
    s->helo_name = strdup(helo);
    if (cfg->creds) {
        s->user = dup_or_null(cfg->creds->user);
        s->secret = dup_or_null(cfg->creds->secret);
        s->host = dup_or_null(cfg->creds->host);
        s->port = cfg->creds->port;
        if (!s->user || !s->secret) {
            smtp_free(s);
            mf_err_set(err, MF_EINVAL, MF_LAYER_AUTH,
                       "credentials need a user and a secret");
            return NULL;
        }
    }
    if (!s->cfg.max_line)
        s->cfg.max_line = DEFAULT_MAX_LINE;
    if (!s->cfg.max_reply_lines)
        s->cfg.max_reply_lines = DEFAULT_MAX_REPLY_LINES;
    mf_buf_init(&s->in, s->cfg.max_line + 1);
    mf_buf_init(&s->out, OUT_MAX);
    smtp_reply_init(&s->rp, s->cfg.max_reply_lines, MAX_REPLY_TEXT);
    s->tls_active = cfg->security == SMTP_SEC_TLS;
    s->state = SMTP_ST_GREETING;
    if (!s->helo_name || bad) {
        smtp_free(s);
        mf_err_set(err, bad ? MF_EINVAL : MF_ENOMEM, MF_LAYER_LOCAL,
                   bad ? "the EHLO name must be one word" : "out of memory");
        return NULL;
    }
    return s;
}

void smtp_free(struct smtp *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ev_len; i++)
        free(s->evs[(s->ev_head + i) % s->ev_cap].text);
    free(s->evs);
    free(s->taken_text);
    free(s->pend);
    free(s->msg_mem);
    smtp_reply_free(&s->rp);
    mf_buf_free(&s->in);
    mf_buf_wipe_free(&s->out); /* it held AUTH lines */
    sasl_free(s->sasl);
    free(s->helo_name);
    mf_wipe_free_str(s->user);
    mf_wipe_free_str(s->secret);
    free(s->host);
    free(s);
}

const char *smtp_output(struct smtp *s, size_t *len)
{
    if (mf_buf_len(&s->out) < OUT_HIGH_WATER)
        smtp_tx_advance(s);
    *len = mf_buf_len(&s->out);
    return mf_buf_data(&s->out);
}

void smtp_output_consume(struct smtp *s, size_t n)
{
    /* until signed in the output may hold an AUTH payload: wipe what left */
    if (!s->ready_announced && n)
        mf_wipe((char *)mf_buf_data(&s->out), n < mf_buf_len(&s->out) ? n : mf_buf_len(&s->out));
    mf_buf_consume(&s->out, n);
}

enum mf_rc smtp_tls_done(struct smtp *s)
{
    if (s->state != SMTP_ST_TLS)
        return MF_EINVAL;
    /* RFC 3207 4.2: forget everything learnt before TLS, ask again. */
    s->tls_active = true;
    memset(&s->caps, 0, sizeof s->caps);
    send_ehlo(s);
    return MF_OK;
}

static bool address_ok(const char *a, bool *utf8)
{
    if (!a || strlen(a) > 998)
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++) {
        if (*p < 0x21 || *p == 0x7f || *p == '<' || *p == '>')
            return false;
        if (*p >= 0x80)
            *utf8 = true;
    }
    return true;
}

enum mf_rc smtp_submit(struct smtp *s, const struct smtp_msg *m)
{
    size_t off = s->msg_mem ? (size_t)(s->msgs - s->msg_mem) : 0;
    if (off + s->nmsgs == s->msg_cap) {
        if (off) { /* room at the front: slide down instead of growing */
            memmove(s->msg_mem, s->msgs, s->nmsgs * sizeof *s->msgs);
            off = 0;
        }
        if (s->nmsgs == s->msg_cap) {
            size_t ncap = s->msg_cap ? s->msg_cap * 2 : 8;
            struct msg_slot *n = realloc(s->msg_mem, ncap * sizeof *n);
            if (!n) {
                s->msgs = s->msg_mem;
                return MF_ENOMEM;
            }
            s->msg_mem = n;
            s->msg_cap = ncap;
        }
        s->msgs = s->msg_mem;
    }
    struct msg_slot *slot = &s->msgs[s->nmsgs++];
    memset(slot, 0, sizeof *slot);
    slot->m = m;
    slot->at_line_start = true;
    bool ok = m->nrcpt > 0 && m->nrcpt <= MAX_RCPT && m->from &&
              (m->from[0] == '\0' || address_ok(m->from, &slot->utf8));
    for (size_t i = 0; ok && i < m->nrcpt; i++)
        ok = m->rcpts[i] && m->rcpts[i][0] && address_ok(m->rcpts[i], &slot->utf8);
    for (size_t i = 0; i < m->len && !slot->eightbit; i++)
        slot->eightbit = (unsigned char)m->data[i] >= 0x80;
    if (!ok || s->failed || s->quit_requested) {
        smtp_tx_fail_local(s, slot, MF_EINVAL, MF_LAYER_LOCAL,
                        !ok ? "bad envelope: no recipient, too many, or an "
                              "address with spaces, <>, or control characters"
                            : "the session is closing");
        smtp_tx_compact(s);
        return MF_EINVAL;
    }
    smtp_tx_advance(s);
    return MF_OK;
}

void smtp_quit(struct smtp *s)
{
    s->quit_requested = true;
    if (s->state == SMTP_ST_GREETING || s->state == SMTP_ST_EHLO ||
        s->state == SMTP_ST_HELO || s->state == SMTP_ST_AUTH ||
        s->state == SMTP_ST_STARTTLS) {
        return; /* smtp_tx_advance() sends it once the session is ready */
    }
    smtp_tx_advance(s);
}

enum mf_rc smtp_eof(struct smtp *s)
{
    if (s->state == SMTP_ST_QUIT || s->state == SMTP_ST_CLOSED) {
        smtp_core_set_state(s, SMTP_ST_CLOSED);
        return MF_OK;
    }
    if (s->failed)
        return MF_OK;
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ECLOSED, MF_LAYER_TCP,
               "connection closed by the server while %s",
               smtp_state_describe(s->state));
    smtp_core_fail(s, &e, false);
    return MF_ECLOSED;
}

void smtp_transport_failed(struct smtp *s, const struct mf_err *err)
{
    smtp_core_fail(s, err, false);
}

enum smtp_state smtp_state(const struct smtp *s) { return s->state; }
const struct smtp_caps *smtp_caps(const struct smtp *s) { return &s->caps; }
bool smtp_tls_active(const struct smtp *s) { return s->tls_active; }
enum sasl_mech smtp_auth_mech(const struct smtp *s) { return s->auth_mech; }

bool smtp_pipelining(const struct smtp *s)
{
    return s->caps.pipelining && !s->cfg.no_pipelining;
}

size_t smtp_pending_messages(const struct smtp *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nmsgs; i++)
        n += s->msgs[i].next != NX_FINISHED;
    return n;
}
