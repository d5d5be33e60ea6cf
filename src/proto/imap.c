#include "proto/imap_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/log.h"

static const char *const state_names[] = {
#define IMAP_STATE_NAME(id, name, desc) name,
    IMAP_STATE_LIST(IMAP_STATE_NAME)
#undef IMAP_STATE_NAME
};
static const char *const state_descs[] = {
#define IMAP_STATE_DESC(id, name, desc) desc,
    IMAP_STATE_LIST(IMAP_STATE_DESC)
#undef IMAP_STATE_DESC
};

const char *imap_state_name(enum imap_state st)
{
    return (unsigned)st < IMAP_ST_COUNT ? state_names[st] : "unknown";
}

const char *imap_state_describe(enum imap_state st)
{
    return (unsigned)st < IMAP_ST_COUNT ? state_descs[st] : "unknown state";
}

/* ---- payloads and events ------------------------------------------------------ */

static void payload_free(struct payload *p)
{
    for (size_t i = 0; i < p->nmb; i++)
        free((char *)p->mb[i].name);
    free(p->mb);
    free(p->uids);
    for (size_t i = 0; i < p->nf; i++)
        free((char *)p->f[i].headers);
    free(p->f);
    free(p->status);
    free(p->code);
    free(p->text);
    free(p->server_id);
    memset(p, 0, sizeof *p);
}

static char *dup0(const char *s)
{
    return strdup(s ? s : "");
}

static void fail(struct imap *s, const struct mf_err *err, bool logout);

/* Queues an event; status/code/text are copied, pl (may be NULL) is moved. */
void imap_core_push_event(struct imap *s, struct imap_event ev, const struct imap_resp *r,
                       struct payload *pl)
{
    if (s->nevs == s->capevs) {
        size_t ncap = s->capevs ? s->capevs * 2 : 8;
        struct ev_slot *n = malloc(ncap * sizeof *n);
        if (!n)
            return; /* the event is lost, the session goes on: ENOMEM */
        for (size_t i = 0; i < s->nevs; i++)
            n[i] = s->evs[(s->ev_head + i) % s->capevs];
        free(s->evs);
        s->evs = n;
        s->capevs = ncap;
        s->ev_head = 0;
    }
    struct ev_slot *slot = &s->evs[(s->ev_head + s->nevs++) % s->capevs];
    slot->ev = ev;
    memset(&slot->pl, 0, sizeof slot->pl);
    if (pl) {
        slot->pl = *pl;
        memset(pl, 0, sizeof *pl);
    }
    if (r) {
        free(slot->pl.status);
        free(slot->pl.code);
        free(slot->pl.text);
        slot->pl.status = dup0(r->status);
        slot->pl.code = dup0(r->code);
        char clean[1024];
        mf_sanitize(clean, sizeof clean, r->text, strlen(r->text), 0);
        slot->pl.text = dup0(clean);
    }
}

bool imap_next_event(struct imap *s, struct imap_event *ev)
{
    payload_free(&s->taken);
    if (!s->nevs)
        return false;
    struct ev_slot *slot = &s->evs[s->ev_head];
    s->ev_head = (s->ev_head + 1) % s->capevs;
    s->nevs--;
    s->taken = slot->pl;
    *ev = slot->ev;
    struct payload *p = &s->taken;
    ev->status = p->status ? p->status : "";
    ev->code = p->code ? p->code : "";
    ev->text = p->text ? p->text : "";
    ev->mailboxes = p->mb;
    ev->nmailboxes = p->nmb;
    ev->uids = p->uids;
    ev->nuids = p->nuids;
    ev->fetched = p->f;
    ev->nfetched = p->nf;
    ev->server_id = p->server_id ? p->server_id : "";
    ev->select = p->sel;
    return true;
}

/* ---- output -------------------------------------------------------------------- */

static void trace(struct imap *s, char dir, const char *line, size_t len)
{
    if (s->cfg.trace)
        s->cfg.trace(s->cfg.ctx, dir, line, len);
}

/* Sends "TAG text" (traced as "TAG shown" when shown is given). */
void imap_core_send_tagged(struct imap *s, enum cmd cmd, const char *text, const char *shown)
{
    snprintf(s->tag, sizeof s->tag, "A%u", ++s->tagno);
    s->cmd = cmd;
    enum mf_rc rc = mf_buf_printf(&s->out, "%s %s\r\n", s->tag, text);
    if (rc != MF_OK) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, rc, MF_LAYER_INTERNAL, "output buffer");
        fail(s, &e, false);
        return;
    }
    char line[600];
    int n = snprintf(line, sizeof line, "%s %s", s->tag, shown ? shown : text);
    trace(s, 'C', line, n > 0 && (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void imap_core_send_raw(struct imap *s, const char *text, const char *shown)
{
    mf_buf_printf(&s->out, "%s\r\n", text);
    trace(s, 'C', shown, strlen(shown));
}

void imap_core_set_state(struct imap *s, enum imap_state st)
{
    s->state = st;
}

static void fail(struct imap *s, const struct mf_err *err, bool logout)
{
    if (s->failed)
        return;
    s->failed = true;
    s->fail_rc = err->rc;
    struct imap_event ev = {.type = IMAP_EV_ERROR, .err = *err};
    imap_core_push_event(s, ev, NULL, NULL);
    if (logout && !s->logout_sent) {
        s->logout_sent = true;
        imap_core_send_tagged(s, C_REQUEST, "LOGOUT", NULL);
        s->cur.kind = IMAP_REQ_LOGOUT;
        imap_core_set_state(s, IMAP_ST_LOGOUT);
    } else {
        imap_core_set_state(s, IMAP_ST_FAILED);
    }
}

static void fail_resp(struct imap *s, enum mf_rc rc, enum mf_layer layer,
                      const struct imap_resp *r, bool logout, const char *what)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", what);
    if (r) {
        char both[900];
        snprintf(both, sizeof both, "%s%s%s%s%s", r->status, r->code[0] ? " [" : "",
                 r->code, r->code[0] ? "] " : " ", r->text);
        mf_err_set_reply(&e, 0, NULL, both, strlen(both));
    }
    fail(s, &e, logout);
}

/* ---- capabilities ------------------------------------------------------------------ */

static int toupper_ascii(int c)
{
    return c >= 'a' && c <= 'z' ? c - 32 : c;
}

void imap_core_caps_from_vals(struct imap *s, const struct imap_val *v, size_t n)
{
    size_t o = 0;
    s->caps[o++] = ' ';
    for (size_t i = 0; i < n; i++) {
        if (v[i].type != IMAP_ATOM || o + v[i].len + 2 >= sizeof s->caps)
            continue;
        for (size_t k = 0; k < v[i].len; k++)
            s->caps[o++] = (char)toupper_ascii(v[i].s[k]);
        s->caps[o++] = ' ';
    }
    s->caps[o] = '\0';
    s->have_caps = true;
}

/* From a "CAPABILITY a b c" response code. */
void imap_core_caps_from_code(struct imap *s, const char *code)
{
    size_t o = 0;
    s->caps[o++] = ' ';
    const char *p = code + strlen("CAPABILITY");
    while (*p == ' ')
        p++;
    for (; *p && o + 2 < sizeof s->caps; p++)
        s->caps[o++] = (char)toupper_ascii((unsigned char)*p);
    if (s->caps[o - 1] != ' ')
        s->caps[o++] = ' ';
    s->caps[o] = '\0';
    s->have_caps = true;
}

bool imap_core_code_is(const char *code, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(code, word, n) == 0 && (code[n] == '\0' || code[n] == ' ');
}

bool imap_has_cap(const struct imap *s, const char *cap)
{
    char needle[128];
    size_t n = 0;
    needle[n++] = ' ';
    for (const char *p = cap; *p && n + 2 < sizeof needle; p++)
        needle[n++] = (char)toupper_ascii((unsigned char)*p);
    needle[n++] = ' ';
    needle[n] = '\0';
    return strstr(s->caps, needle) != NULL;
}

const char *imap_caps_text(const struct imap *s)
{
    return s->caps[0] ? s->caps + 1 : "";
}

static unsigned sasl_offered(const struct imap *s)
{
    unsigned mask = 0;
    for (int m = SASL_MECH_PLAIN; m < SASL_MECH_COUNT; m++) {
        char cap[64];
        snprintf(cap, sizeof cap, "AUTH=%s", sasl_mech_name((enum sasl_mech)m));
        if (imap_has_cap(s, cap))
            mask |= SASL_BIT(m);
    }
    return mask;
}

/* ---- the session before requests ------------------------------------------------- */

static void after_caps(struct imap *s);
void imap_req_advance(struct imap *s);

static void send_capability(struct imap *s)
{
    imap_core_send_tagged(s, C_CAPABILITY, "CAPABILITY", NULL);
    imap_core_set_state(s, IMAP_ST_CAPABILITY);
}

static void caps_known(struct imap *s)
{
    struct imap_event ev = {.type = IMAP_EV_CAPS, .ok = true};
    imap_core_push_event(s, ev, NULL, NULL);
    after_caps(s);
}

static void become_ready(struct imap *s)
{
    imap_core_set_state(s, IMAP_ST_READY);
    if (!s->ready_announced) {
        s->ready_announced = true;
        struct imap_event ev = {.type = IMAP_EV_READY, .ok = true};
        imap_core_push_event(s, ev, NULL, NULL);
        if (s->cfg.send_id && imap_has_cap(s, "ID")) {
            /* ahead of the caller's requests: servers log who connected */
            s->cur = (struct req){.kind = IMAP_REQ_ID};
            imap_core_send_tagged(s, C_REQUEST, "ID (\"name\" \"mailfleet\" \"version\" \"0.1\")", NULL);
            imap_core_set_state(s, IMAP_ST_BUSY);
            return;
        }
    }
    imap_req_advance(s);
}

/* LOGIN with quoted strings; NULL when a value cannot be quoted. */
bool imap_core_quote(struct mf_buf *b, const char *v)
{
    if (mf_buf_add(b, "\"", 1) != MF_OK)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '\r' || *p == '\n' || *p >= 0x80)
            return false;
        if ((*p == '"' || *p == '\\') && mf_buf_add(b, "\\", 1) != MF_OK)
            return false;
        if (mf_buf_add(b, p, 1) != MF_OK)
            return false;
    }
    return mf_buf_add(b, "\"", 1) == MF_OK;
}

static void start_login(struct imap *s)
{
    struct mf_err e;
    mf_err_clear(&e);
    if (imap_has_cap(s, "LOGINDISABLED")) {
        mf_err_set(&e, MF_EFEATURE, MF_LAYER_FEATURE,
                   "the server disables LOGIN here and offers no SASL mechanism "
                   "that fits (offered: %s)", imap_caps_text(s));
        fail(s, &e, true);
        return;
    }
    if (sasl_check_transport(SASL_MECH_PLAIN, s->tls_active, s->cfg.allow_plaintext_auth,
                             &e) != MF_OK) {
        fail(s, &e, true);
        return;
    }
    struct mf_buf line, shown;
    mf_buf_init(&line, 40000);
    mf_buf_init(&shown, 1024);
    bool ok = mf_buf_adds(&line, "LOGIN ") == MF_OK && imap_core_quote(&line, s->user) &&
              mf_buf_adds(&line, " ") == MF_OK && imap_core_quote(&line, s->secret);
    mf_buf_adds(&shown, "LOGIN ");
    imap_core_quote(&shown, s->user);
    mf_buf_adds(&shown, " " MF_REDACTED);
    if (ok) {
        s->used_login = true;
        imap_core_send_tagged(s, C_LOGIN, mf_buf_data(&line), mf_buf_data(&shown));
        imap_core_set_state(s, IMAP_ST_AUTH);
    } else {
        mf_err_set(&e, MF_EINVAL, MF_LAYER_AUTH,
                   "the user name or password cannot be sent with LOGIN "
                   "(line breaks or non-ASCII): use a SASL mechanism");
        fail(s, &e, true);
    }
    mf_buf_wipe_free(&line);
    mf_buf_free(&shown);
}

static void start_authenticate(struct imap *s, enum sasl_mech m)
{
    struct mf_err e;
    mf_err_clear(&e);
    if (sasl_check_transport(m, s->tls_active, s->cfg.allow_plaintext_auth, &e) != MF_OK) {
        fail(s, &e, true);
        return;
    }
    struct sasl_creds c = {.user = s->user, .secret = s->secret, .host = s->host,
                           .port = s->port};
    s->sasl = sasl_new(m, &c, &e);
    if (!s->sasl) {
        fail(s, &e, true);
        return;
    }
    s->auth_mech = m;
    struct mf_buf line;
    mf_buf_init(&line, 65536);
    char shown[80];
    mf_buf_printf(&line, "AUTHENTICATE %s", sasl_mech_name(m));
    snprintf(shown, sizeof shown, "AUTHENTICATE %s", sasl_mech_name(m));
    if (imap_has_cap(s, "SASL-IR") && m != SASL_MECH_LOGIN) {
        mf_buf_adds(&line, " ");
        sasl_initial(s->sasl, &line);
        snprintf(shown, sizeof shown, "AUTHENTICATE %s " MF_REDACTED, sasl_mech_name(m));
    }
    imap_core_send_tagged(s, C_AUTHENTICATE, mf_buf_data(&line), shown);
    mf_buf_wipe_free(&line);
    imap_core_set_state(s, IMAP_ST_AUTH);
}

static void after_caps(struct imap *s)
{
    if (s->cfg.security == IMAP_SEC_STARTTLS && !s->tls_active) {
        if (!imap_has_cap(s, "STARTTLS")) {
            struct mf_err e;
            mf_err_clear(&e);
            mf_err_set(&e, MF_ENOTLS, MF_LAYER_TLS,
                       "the server did not offer STARTTLS; refusing to continue "
                       "without TLS");
            fail(s, &e, true);
            return;
        }
        imap_core_send_tagged(s, C_STARTTLS, "STARTTLS", NULL);
        imap_core_set_state(s, IMAP_ST_STARTTLS);
        return;
    }
    if (!s->user || s->auth_mech != SASL_MECH_NONE || s->used_login) {
        become_ready(s);
        return;
    }
    enum sasl_mech m = sasl_choose(sasl_offered(s), s->cfg.mech, s->cfg.secret_is_token);
    if (m != SASL_MECH_NONE)
        start_authenticate(s, m);
    else if (s->cfg.secret_is_token || s->cfg.mech != SASL_MECH_NONE) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, MF_EFEATURE, MF_LAYER_FEATURE,
                   "the server does not offer %s (capabilities: %s)",
                   s->cfg.mech != SASL_MECH_NONE ? sasl_mech_name(s->cfg.mech)
                                                 : "AUTH=XOAUTH2 or AUTH=OAUTHBEARER",
                   imap_caps_text(s));
        fail(s, &e, true);
    } else
        start_login(s);
}

/* ---- status responses ------------------------------------------------------------- */

static void on_greeting(struct imap *s, const struct imap_resp *r)
{
    bool ok = strcmp(r->status, "OK") == 0, preauth = strcmp(r->status, "PREAUTH") == 0;
    struct imap_event ev = {.type = IMAP_EV_GREETING, .ok = ok || preauth};
    imap_core_push_event(s, ev, r, NULL);
    if (!ok && !preauth) {
        fail_resp(s, strcmp(r->status, "BYE") == 0 ? MF_ETEMP : MF_EPROTO,
                  MF_LAYER_REJECT, r, false, "the server refused the connection");
        return;
    }
    if (preauth && s->cfg.security == IMAP_SEC_STARTTLS && !s->tls_active) {
        /* STARTTLS is only allowed before authentication: a PREAUTH
         * greeting would silently keep the session in plaintext */
        fail_resp(s, MF_ENOTLS, MF_LAYER_TLS, r, true,
                  "PREAUTH greeting on a connection that must be upgraded to TLS");
        return;
    }
    if (preauth)
        s->used_login = true; /* signed in by the server: no AUTH */
    if (imap_core_code_is(r->code, "CAPABILITY")) {
        imap_core_caps_from_code(s, r->code);
        caps_known(s);
    } else {
        send_capability(s);
    }
}

static void finish_request(struct imap *s, const struct imap_resp *r)
{
    bool ok = strcmp(r->status, "OK") == 0;
    struct imap_event ev = {.type = IMAP_EV_DONE, .request = s->cur.kind, .ok = ok};
    if (!ok) {
        mf_err_set(&ev.err, imap_core_code_is(r->code, "UNAVAILABLE") ? MF_ETEMP : MF_EREJECT,
                   MF_LAYER_REJECT, "the server refused %s", s->tag);
        char both[900];
        snprintf(both, sizeof both, "%s%s%s%s%s", r->status, r->code[0] ? " [" : "",
                 r->code, r->code[0] ? "] " : " ", r->text);
        mf_err_set_reply(&ev.err, 0, NULL, both, strlen(both));
    }
    s->acc.sel.read_only = imap_core_code_is(r->code, "READ-ONLY");
    imap_core_push_event(s, ev, r, &s->acc);
    free(s->cur.a);
    free(s->cur.b);
    memset(&s->cur, 0, sizeof s->cur);
    s->idling = false;
    s->idle_done_sent = false;
    if (s->state == IMAP_ST_LOGOUT) {
        imap_core_set_state(s, IMAP_ST_CLOSED);
        struct imap_event c = {.type = IMAP_EV_CLOSED, .ok = true};
        imap_core_push_event(s, c, r, NULL);
        return;
    }
    imap_core_set_state(s, IMAP_ST_READY);
    imap_req_advance(s);
}

static void on_tagged(struct imap *s, const struct imap_resp *r)
{
    if (strcmp(r->tag, s->tag) != 0) {
        fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, false,
                  "the server completed a command that was not sent");
        return;
    }
    bool ok = strcmp(r->status, "OK") == 0;
    enum cmd cmd = s->cmd;
    s->cmd = C_NONE;
    switch (cmd) {
    case C_CAPABILITY:
        if (!ok || !s->have_caps)
            fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, true, "CAPABILITY failed");
        else
            caps_known(s);
        break;
    case C_STARTTLS:
        if (!ok) {
            fail_resp(s, MF_ETLS, MF_LAYER_TLS, r, true, "the server refused STARTTLS");
            break;
        }
        imap_core_set_state(s, IMAP_ST_TLS);
        break;
    case C_AUTHENTICATE:
    case C_LOGIN:
        if (!ok) {
            const char *jerr = s->sasl ? sasl_server_error(s->sasl) : "";
            char what[700];
            snprintf(what, sizeof what, "the server refused %s%s%s",
                     cmd == C_LOGIN ? "LOGIN" : sasl_mech_name(s->auth_mech),
                     jerr[0] ? ": " : "", jerr);
            fail_resp(s, imap_core_code_is(r->code, "UNAVAILABLE") ? MF_ETEMP : MF_EAUTH,
                      MF_LAYER_AUTH, r, strcmp(r->status, "NO") == 0, what);
            break;
        }
        {
            struct imap_event ev = {.type = IMAP_EV_AUTH_OK, .ok = true};
            imap_core_push_event(s, ev, r, NULL);
        }
        if (imap_core_code_is(r->code, "CAPABILITY")) {
            imap_core_caps_from_code(s, r->code);
            caps_known(s);
        } else {
            s->have_caps = false;
            send_capability(s); /* RFC 3501 6.2: capabilities may change */
        }
        break;
    case C_REQUEST:
        if (strcmp(r->status, "BAD") == 0 && s->cur.kind != IMAP_REQ_LOGOUT) {
            fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, true,
                      "the server called a command malformed (BAD)");
            break;
        }
        finish_request(s, r);
        break;
    default:
        fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, false, "unexpected completion");
    }
}

static void on_continue(struct imap *s, const struct imap_resp *r)
{
    if (s->cmd == C_REQUEST && s->cur.kind == IMAP_REQ_IDLE && !s->idling) {
        s->idling = true;
        struct imap_event ev = {.type = IMAP_EV_IDLING, .ok = true};
        imap_core_push_event(s, ev, r, NULL);
        return;
    }
    if (s->cmd != C_AUTHENTICATE || !s->sasl) {
        fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, false,
                  "continuation request nobody asked for");
        return;
    }
    struct mf_buf resp;
    struct mf_err e;
    mf_err_clear(&e);
    mf_buf_init(&resp, 65536);
    if (sasl_step(s->sasl, r->text, strlen(r->text), &resp, &e) == MF_OK)
        imap_core_send_raw(s, mf_buf_data(&resp), mf_buf_len(&resp) ? MF_REDACTED : "");
    else
        fail(s, &e, false);
    mf_buf_wipe_free(&resp);
}

static void handle(struct imap *s, const struct imap_resp *r)
{
    if (r->kind == IMAP_RESP_UNTAGGED && strcmp(r->status, "BYE") == 0 &&
        s->state != IMAP_ST_GREETING) {
        if (s->state == IMAP_ST_LOGOUT)
            return; /* the expected goodbye */
        fail_resp(s, MF_ETEMP, MF_LAYER_PROTO, r, false, "the server closed the session (BYE)");
        return;
    }
    if (s->state == IMAP_ST_GREETING) {
        if (r->kind != IMAP_RESP_UNTAGGED || !r->status[0])
            fail_resp(s, MF_EPROTO, MF_LAYER_PROTO, r, false, "no greeting");
        else
            on_greeting(s, r);
    } else if (r->kind == IMAP_RESP_UNTAGGED) {
        imap_req_on_untagged(s, r);
    } else if (r->kind == IMAP_RESP_CONTINUE) {
        on_continue(s, r);
    } else {
        on_tagged(s, r);
    }
}

/* ---- input and API ----------------------------------------------------------------- */

static void injection(struct imap *s)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ETLS, MF_LAYER_TLS,
               "data received before the TLS handshake (possible response "
               "injection); refusing to continue");
    fail(s, &e, false);
}

static bool listening(const struct imap *s)
{
    return !s->failed || s->state == IMAP_ST_LOGOUT;
}

enum mf_rc imap_feed(struct imap *s, const char *data, size_t len)
{
    if (!listening(s) || s->state == IMAP_ST_CLOSED)
        return MF_OK;
    if (s->state == IMAP_ST_TLS) {
        injection(s);
        return MF_ETLS;
    }
    struct mf_err e;
    mf_err_clear(&e);
    if (imap_parse_feed(s->parser, data, len, &e) != MF_OK) {
        fail(s, &e, false);
        return e.rc;
    }
    for (;;) {
        struct imap_resp r;
        mf_err_clear(&e);
        enum mf_rc rc = imap_parse_next(s->parser, &r, &e);
        if (rc == MF_ENOTFOUND)
            break;
        if (rc != MF_OK) {
            fail(s, &e, false);
            return rc;
        }
        /* the raw line, sanitised, goes to the transcript; literals inside
         * can be whole messages, so only their first line is shown */
        size_t show = r.raw_len;
        const char *nl = memchr(r.raw, '\n', r.raw_len);
        if (nl)
            show = (size_t)(nl - r.raw);
        if (show && r.raw[show - 1] == '\r')
            show--;
        trace(s, 'S', r.raw, show);
        handle(s, &r);
        if (!listening(s) || s->state == IMAP_ST_CLOSED)
            break;
        if (s->state == IMAP_ST_TLS) {
            if (imap_parse_pending(s->parser)) {
                imap_parse_next(s->parser, &r, &e); /* drop the handed-out response */
                injection(s);
                return MF_ETLS;
            }
            break;
        }
    }
    return s->failed ? s->fail_rc : MF_OK;
}

const char *imap_output(struct imap *s, size_t *len)
{
    *len = mf_buf_len(&s->out);
    return mf_buf_data(&s->out);
}

void imap_output_consume(struct imap *s, size_t n)
{
    mf_buf_consume(&s->out, n);
}

enum mf_rc imap_tls_done(struct imap *s)
{
    if (s->state != IMAP_ST_TLS)
        return MF_EINVAL;
    s->tls_active = true;
    s->caps[0] = '\0';
    s->have_caps = false;
    send_capability(s);
    return MF_OK;
}

void imap_eof(struct imap *s)
{
    if (s->state == IMAP_ST_LOGOUT || s->state == IMAP_ST_CLOSED) {
        imap_core_set_state(s, IMAP_ST_CLOSED);
        return;
    }
    if (s->failed)
        return;
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, MF_ECLOSED, MF_LAYER_TCP, "connection closed by the server while %s",
               imap_state_describe(s->state));
    fail(s, &e, false);
}

void imap_transport_failed(struct imap *s, const struct mf_err *err)
{
    if (s->failed && s->state == IMAP_ST_LOGOUT) {
        imap_core_set_state(s, IMAP_ST_FAILED);
        return;
    }
    fail(s, err, false);
}

struct imap *imap_new(const struct imap_cfg *cfg, struct mf_err *err)
{
    struct imap *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->cfg.creds = NULL;
    if (cfg->creds) {
        s->user = cfg->creds->user ? strdup(cfg->creds->user) : NULL;
        s->secret = cfg->creds->secret ? strdup(cfg->creds->secret) : NULL;
        s->host = cfg->creds->host ? strdup(cfg->creds->host) : NULL;
        s->port = cfg->creds->port;
        if (!s->user || !s->secret) {
            imap_free(s);
            mf_err_set(err, MF_EINVAL, MF_LAYER_AUTH, "credentials need a user and a secret");
            return NULL;
        }
    }
    s->parser = imap_parse_new(&cfg->limits);
    mf_buf_init(&s->out, 1u << 20);
    s->tls_active = cfg->security == IMAP_SEC_TLS;
    s->state = IMAP_ST_GREETING;
    if (!s->parser) {
        imap_free(s);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    return s;
}

void imap_free(struct imap *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nevs; i++)
        payload_free(&s->evs[(s->ev_head + i) % s->capevs].pl);
    free(s->evs);
    payload_free(&s->taken);
    payload_free(&s->acc);
    for (size_t i = 0; i < s->nreqs; i++) {
        free(s->reqs[(s->req_head + i) % s->capreqs].a);
        free(s->reqs[(s->req_head + i) % s->capreqs].b);
    }
    free(s->reqs);
    free(s->cur.a);
    free(s->cur.b);
    imap_parse_free(s->parser);
    mf_buf_wipe_free(&s->out);
    sasl_free(s->sasl);
    mf_wipe_free_str(s->user);
    mf_wipe_free_str(s->secret);
    free(s->host);
    free(s);
}

enum imap_state imap_state(const struct imap *s) { return s->state; }
bool imap_tls_active(const struct imap *s) { return s->tls_active; }
enum sasl_mech imap_auth_mech(const struct imap *s) { return s->auth_mech; }
bool imap_used_login(const struct imap *s) { return s->used_login; }

size_t imap_pending_requests(const struct imap *s)
{
    return s->nreqs + (s->state == IMAP_ST_BUSY) +
           (s->logout_requested && !s->logout_sent);
}
