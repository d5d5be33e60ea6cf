#include "pop3_runner.h"
#include "script_runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/pop3.h"
#include "util/base64.h"
#include "util/buf.h"

struct run {
    const char *name;
    int lineno;
    struct pop3_cfg cfg;
    struct sasl_creds creds;
    struct script_login login;
    char host[256];
    struct pop3 *p;
    struct mf_buf out;          /* client bytes not yet matched */
    struct mf_buf transcript;
    /* the last event taken, copied (its pointers die at the next one) */
    struct mf_err last_err;
    char last_text[2048], last_code[32];
    struct mf_buf last_data;
};

static void on_trace(void *ctx, char dir, const char *line, size_t len)
{
    struct run *r = ctx;
    mf_buf_printf(&r->transcript, "%c: %.*s\n", dir, (int)len, line);
}

/* "\r", "\n", "\t", "\\", "\xHH" escapes. Returns malloc'd, sets *len. */

static void die(struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void die(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    script_vfail(r->name, r->lineno, &r->transcript, fmt, ap);
    va_end(ap);
}

static void collect_output(struct run *r)
{
    size_t len;
    const char *d;
    while ((d = pop3_output(r->p, &len)) && len) {
        mf_buf_add(&r->out, d, len);
        pop3_output_consume(r->p, len);
    }
}

static void expect_client(struct run *r, const char *want)
{
    char why[600];
    collect_output(r);
    if (!script_take_line(&r->out, want, strlen(want), why, sizeof why))
        die(r, "%s", why);
}

static int put(char *buf, size_t size, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t size, size_t at, const char *fmt, ...)
{
    if (at >= size)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, size - at, fmt, ap);
    va_end(ap);
    return n < 0 ? 0 : n;
}

static void render_err(const struct mf_err *e, char *buf, size_t size, size_t at)
{
    put(buf, size, at, " fail %s %s %s", mf_rc_name(e->rc),
        mf_layer_name(e->layer), e->enhanced[0] ? e->enhanced : "-");
}

/* GREETING ok | CAPS none | DONE LIST ok 2 1=120 2=99 | DONE RETR 1 ok 42 |
 * DONE RETR 9 fail reject reject - | ERROR auth auth AUTH | CLOSED ok */
static void render_event(const struct pop3_event *ev, char *buf, size_t size)
{
    static const char *const names[] = {
        "GREETING", "CAPS", "NEED_TLS", "AUTH_OK", "READY", "DONE",
        "CLOSED", "ERROR",
    };
    static const char *const reqs[] = {"STAT", "LIST", "UIDL", "TOP", "RETR"};
    size_t n = (size_t)put(buf, size, 0, "%s", names[ev->type]);
    switch (ev->type) {
    case POP3_EV_GREETING: case POP3_EV_CLOSED:
        put(buf, size, n, " %s", ev->ok ? "ok" : "fail");
        break;
    case POP3_EV_CAPS:
        put(buf, size, n, " %s", ev->ok ? "ok" : "none");
        break;
    case POP3_EV_ERROR:
        put(buf, size, n, " %s %s %s", mf_rc_name(ev->err.rc),
            mf_layer_name(ev->err.layer),
            ev->err.enhanced[0] ? ev->err.enhanced : "-");
        break;
    case POP3_EV_DONE:
        n += (size_t)put(buf, size, n, " %s", reqs[ev->request]);
        if (ev->request == POP3_REQ_TOP || ev->request == POP3_REQ_RETR)
            n += (size_t)put(buf, size, n, " %lu", ev->msgno);
        if (!ev->ok) {
            render_err(&ev->err, buf, size, n);
            break;
        }
        n += (size_t)put(buf, size, n, " ok");
        if (ev->request == POP3_REQ_STAT)
            put(buf, size, n, " %llu %llu", (unsigned long long)ev->count,
                (unsigned long long)ev->size);
        else if (ev->request == POP3_REQ_TOP || ev->request == POP3_REQ_RETR)
            put(buf, size, n, " %zu", ev->len);
        else
            n += (size_t)put(buf, size, n, " %zu", ev->n);
        for (size_t i = 0; i < ev->n && i < 8; i++) {
            if (ev->request == POP3_REQ_LIST)
                n += (size_t)put(buf, size, n, " %lu=%llu", ev->list[i].msgno,
                                 (unsigned long long)ev->list[i].size);
            else if (ev->request == POP3_REQ_UIDL)
                n += (size_t)put(buf, size, n, " %lu=%s", ev->uidl[i].msgno,
                                 ev->uidl[i].uid);
        }
        break;
    default:
        break;
    }
}

static void expect_event(struct run *r, const char *want)
{
    struct pop3_event ev;
    if (!pop3_next_event(r->p, &ev))
        die(r, "expected event \"%s\", there is none", want);
    char got[1024];
    render_event(&ev, got, sizeof got);
    r->last_err = ev.err;
    snprintf(r->last_text, sizeof r->last_text, "%s", ev.text);
    snprintf(r->last_code, sizeof r->last_code, "%s", ev.code);
    mf_buf_reset(&r->last_data);
    if (ev.data)
        mf_buf_add(&r->last_data, ev.data, ev.len);
    if (strcmp(got, want) != 0)
        die(r, "expected event \"%s\", got \"%s\" (%s)", want, got,
            ev.err.detail);
}

static void render_caps(const struct pop3_caps *c, char *buf, size_t size)
{
    const struct { bool on; const char *name; } flags[] = {
        {c->capa, "capa"}, {c->stls, "stls"}, {c->user, "user"},
        {c->top, "top"}, {c->uidl, "uidl"}, {c->pipelining, "pipelining"},
        {c->resp_codes, "resp-codes"}, {c->auth_resp_code, "auth-resp-code"},
        {c->utf8, "utf8"},
    };
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].on)
            n += (size_t)put(buf, size, n, "%s%s", n ? " " : "", flags[i].name);
    if (c->sasl_mask) {
        n += (size_t)put(buf, size, n, "%ssasl=", n ? " " : "");
        const char *sep = "";
        for (int m = SASL_MECH_PLAIN; m < SASL_MECH_COUNT; m++)
            if (c->sasl_mask & SASL_BIT(m)) {
                n += (size_t)put(buf, size, n, "%s%s", sep,
                                 sasl_mech_name((enum sasl_mech)m));
                sep = ",";
            }
    }
    if (c->login_delay >= 0)
        n += (size_t)put(buf, size, n, "%slogin-delay=%ld", n ? " " : "",
                         c->login_delay);
    if (c->expire[0])
        n += (size_t)put(buf, size, n, "%sexpire=%s", n ? " " : "", c->expire);
    if (c->implementation[0])
        put(buf, size, n, "%simpl=%s", n ? " " : "", c->implementation);
}

static void queue(struct run *r, const char *key, const char *val)
{
    unsigned long a = 0, b = 0;
    enum mf_rc rc;
    if (strcmp(key, "stat") == 0)
        rc = pop3_request_stat(r->p);
    else if (strcmp(key, "list") == 0)
        rc = pop3_request_list(r->p);
    else if (strcmp(key, "uidl") == 0)
        rc = pop3_request_uidl(r->p);
    else if (strcmp(key, "top") == 0 && sscanf(val, "%lu %lu", &a, &b) == 2)
        rc = pop3_request_top(r->p, a, b);
    else if (strcmp(key, "retr") == 0 && sscanf(val, "%lu", &a) == 1)
        rc = pop3_request_retr(r->p, a);
    else
        die(r, "bad request @%s %s", key, val);
    (void)rc; /* a refusal shows as a DONE event */
}

static void directive(struct run *r, const char *line)
{
    char key[64], val[4096] = "";
    if (sscanf(line, "@%63s %4095[^\n]", key, val) < 1)
        die(r, "bad directive");
    if (script_login_directive(&r->login, key, val))
        return;
    if (strcmp(key, "user-pass") == 0)
        r->cfg.user_pass = true;
    else if (strcmp(key, "no-ir") == 0)
        r->cfg.no_initial_response = true;
    else if (strcmp(key, "max-line") == 0)
        r->cfg.max_line = (size_t)strtoul(val, NULL, 10);
    else if (strcmp(key, "max-response") == 0)
        r->cfg.max_response = (size_t)strtoul(val, NULL, 10);
    else if (strcmp(key, "host") == 0)
        snprintf(r->host, sizeof r->host, "%.255s", val);
    else if (strcmp(key, "port") == 0)
        r->creds.port = (int)strtol(val, NULL, 10);
    else if (!r->p)
        die(r, "unknown directive @%s", key);
    else
        queue(r, key, val);
}

static void ensure_session(struct run *r)
{
    if (r->p)
        return;
    r->cfg.trace = on_trace;
    r->cfg.ctx = r;
    _Static_assert(POP3_SEC_STLS == 0 && POP3_SEC_TLS == 1 && POP3_SEC_NONE == 2,
                   "struct script_login.security follows the core's enum");
    r->cfg.security = (enum pop3_security)r->login.security;
    r->cfg.secret_is_token = r->login.token;
    r->cfg.mech = r->login.mech;
    r->cfg.allow_plaintext_auth = r->login.allow_plaintext;
    if (r->login.user[0]) {
        r->creds.user = r->login.user;
        r->creds.secret = r->login.secret;
        r->creds.host = r->host[0] ? r->host : NULL;
        r->cfg.creds = &r->creds;
    }
    struct mf_err e;
    mf_err_clear(&e);
    r->p = pop3_new(&r->cfg, &e);
    if (!r->p)
        die(r, "pop3_new failed: %s", e.detail);
}

/* The trace must never hold the secret, in clear or in base64 at any of
 * the three alignments it can take inside a SASL payload. */
static void check_redaction(struct run *r)
{
    const char *leak = script_secret_leak(mf_buf_data(&r->transcript), r->login.secret);
    if (leak)
        die(r, "%s", leak);
}

static void check(struct run *r, const char *line)
{
    const char *arg = strchr(line, ' ');
    arg = arg ? arg + 1 : "";
    char got[1024];
    if (strncmp(line, "!state ", 7) == 0) {
        if (strcmp(pop3_state_name(pop3_state(r->p)), arg) != 0)
            die(r, "expected state %s, is %s", arg,
                pop3_state_name(pop3_state(r->p)));
    } else if (strncmp(line, "!caps", 5) == 0) {
        render_caps(pop3_caps(r->p), got, sizeof got);
        if (strcmp(got, arg) != 0)
            die(r, "expected caps \"%s\", got \"%s\"", arg, got);
    } else if (strncmp(line, "!mech ", 6) == 0) {
        const char *m = pop3_used_user_pass(r->p) ? "USER/PASS"
                        : sasl_mech_name(pop3_auth_mech(r->p));
        if (strcmp(m, arg) != 0)
            die(r, "expected mechanism %s, used %s", arg, m);
    } else if (strncmp(line, "!data", 5) == 0) {
        size_t n;
        char *want = script_unescape(arg, &n);
        bool same = n == mf_buf_len(&r->last_data) &&
                    memcmp(want, mf_buf_data(&r->last_data), n) == 0;
        free(want);
        if (!same)
            die(r, "expected data \"%s\", got \"%s\"", arg,
                mf_buf_data(&r->last_data));
    } else if (strncmp(line, "!text", 5) == 0 && strcmp(r->last_text, arg)) {
        die(r, "expected text \"%s\", got \"%s\"", arg, r->last_text);
    } else if (strncmp(line, "!code", 5) == 0 && strcmp(r->last_code, arg)) {
        die(r, "expected code \"%s\", got \"%s\"", arg, r->last_code);
    } else if (strncmp(line, "!detail ", 8) == 0 && !strstr(r->last_err.detail, arg)) {
        die(r, "expected detail containing \"%s\", got \"%s\"", arg,
            r->last_err.detail);
    } else if (strncmp(line, "!reply", 6) == 0 && strcmp(r->last_err.reply, arg)) {
        die(r, "expected reply \"%s\", got \"%s\"", arg, r->last_err.reply);
    }
}

static void run_line(struct run *r, const char *line)
{
    size_t len;
    if (line[0] == '#' || line[0] == '\0')
        return;
    if (line[0] == '@') {
        directive(r, line);
        return;
    }
    ensure_session(r);
    if (strncmp(line, "S: ", 3) == 0 || strcmp(line, "S:") == 0) {
        char *d = script_unescape(line + (line[2] ? 3 : 2), &len);
        char *full = malloc(len + 3);
        memcpy(full, d, len);
        memcpy(full + len, "\r\n", 2);
        pop3_feed(r->p, full, len + 2);
        free(full);
        free(d);
    } else if (strncmp(line, "S+ ", 3) == 0) {
        char *d = script_unescape(line + 3, &len);
        pop3_feed(r->p, d, len);
        free(d);
    } else if (strncmp(line, "C: ", 3) == 0 || strcmp(line, "C:") == 0) {
        char *d = script_unescape(line + (line[2] ? 3 : 2), &len);
        expect_client(r, d);
        free(d);
    } else if (strncmp(line, "E: ", 3) == 0) {
        expect_event(r, line + 3);
    } else if (strcmp(line, "!tls") == 0) {
        if (pop3_tls_done(r->p) != MF_OK)
            die(r, "pop3_tls_done refused: not waiting for TLS");
    } else if (strcmp(line, "!quit") == 0) {
        pop3_quit(r->p);
    } else if (strcmp(line, "!eof") == 0) {
        pop3_eof(r->p);
    } else if (strcmp(line, "!transport-fail") == 0) {
        struct mf_err e;
        mf_err_clear(&e);
        mf_err_set(&e, MF_ETIMEOUT, MF_LAYER_TCP, "read timed out");
        pop3_transport_failed(r->p, &e);
    } else if (line[0] == '!') {
        check(r, line);
    } else {
        die(r, "unknown script line");
    }
}

/* Directives that queue requests need the session: they start it. */
static bool is_request(const char *line)
{
    static const char *const reqs[] = {"@stat", "@list", "@uidl", "@top", "@retr"};
    for (size_t i = 0; i < 5; i++) {
        size_t n = strlen(reqs[i]);
        if (strncmp(line, reqs[i], n) == 0 && (line[n] == ' ' || !line[n]))
            return true;
    }
    return false;
}

void pop3_script_run_text(const char *name, const char *text)
{
    struct run *r = calloc(1, sizeof *r);
    r->name = name;
    mf_buf_init(&r->out, 1 << 24);
    mf_buf_init(&r->transcript, 1 << 24);
    mf_buf_init(&r->last_data, 1 << 26);
    char *copy = strdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        r->lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        if (is_request(line))
            ensure_session(r);
        run_line(r, line);
    }
    r->lineno++;
    ensure_session(r);
    collect_output(r);
    if (mf_buf_len(&r->out))
        die(r, "client wrote more than the script expects: \"%s\"",
            mf_buf_data(&r->out));
    struct pop3_event ev;
    if (pop3_next_event(r->p, &ev)) {
        char got[1024];
        render_event(&ev, got, sizeof got);
        die(r, "unexpected event at the end: \"%s\"", got);
    }
    check_redaction(r);
    pop3_free(r->p);
    mf_buf_free(&r->out);
    mf_buf_free(&r->transcript);
    mf_buf_free(&r->last_data);
    free(copy);
    free(r);
}

void pop3_script_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    struct mf_buf b;
    mf_buf_init(&b, 1 << 24);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mf_buf_add(&b, chunk, n);
    fclose(f);
    const char *base = strrchr(path, '/');
    pop3_script_run_text(base ? base + 1 : path, mf_buf_data(&b));
    mf_buf_free(&b);
}
