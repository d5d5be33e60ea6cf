#include "script_runner.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp.h"
#include "util/base64.h"
#include "util/buf.h"

#define MAX_MSGS 16

struct run {
    const char *name;
    int lineno;
    struct smtp_cfg cfg;
    struct sasl_creds creds;
    struct script_login login;
    struct smtp *s;
    struct mf_buf out;          /* client bytes not yet matched */
    struct mf_buf transcript;
    struct smtp_msg msgs[MAX_MSGS];
    char *rcpt_store[MAX_MSGS][8];
    char *data_store[MAX_MSGS];
    char *from_store[MAX_MSGS];
    size_t nmsgs;
};

static void on_trace(void *ctx, char dir, const char *line, size_t len)
{
    struct run *r = ctx;
    mf_buf_printf(&r->transcript, "%c: %.*s\n", dir, (int)len, line);
}

/* "\r", "\n", "\t", "\\", "\xHH" escapes. Returns malloc'd, sets *len. */
char *script_unescape(const char *s, size_t *len)
{
    char *o = malloc(strlen(s) + 1);
    size_t n = 0;
    for (; *s; s++) {
        if (*s != '\\' || !s[1]) {
            o[n++] = *s;
            continue;
        }
        s++;
        switch (*s) {
        case 'r': o[n++] = '\r'; break;
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'x': {
            unsigned v = 0;
            sscanf(s + 1, "%2x", &v);
            o[n++] = (char)v;
            s += 2;
            break;
        }
        default: o[n++] = *s;
        }
    }
    o[n] = '\0';
    *len = n;
    return o;
}

bool script_login_directive(struct script_login *l, const char *key, const char *val)
{
    if (strcmp(key, "security") == 0)
        l->security = strcmp(val, "tls") == 0 ? 1 : strcmp(val, "none") == 0 ? 2 : 0;
    else if (strcmp(key, "user") == 0)
        snprintf(l->user, sizeof l->user, "%s", val);
    else if (strcmp(key, "secret") == 0 || strcmp(key, "token") == 0) {
        snprintf(l->secret, sizeof l->secret, "%s", val);
        l->token = strcmp(key, "token") == 0;
    } else if (strcmp(key, "mech") == 0)
        l->mech = sasl_mech_parse(val, strlen(val));
    else if (strcmp(key, "allow-plaintext-auth") == 0)
        l->allow_plaintext = true;
    else
        return false;
    return true;
}

void script_vfail(const char *name, int lineno, const struct mf_buf *transcript,
                  const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fail_msg("%s:%d: %s\n--- transcript ---\n%s", name, lineno, msg,
             mf_buf_data(transcript));
}

static void die(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    script_vfail(r->name, r->lineno, &r->transcript, fmt, ap);
    va_end(ap);
}

bool script_take_line(struct mf_buf *out, const char *want, size_t want_len, char *why,
                      size_t whysize)
{
    const char *d = mf_buf_data(out);
    const char *crlf = strstr(d, "\r\n");
    if (!crlf) {
        snprintf(why, whysize, "expected client line \"%.*s\", client wrote \"%.200s\"",
                 (int)want_len, want, d);
        return false;
    }
    size_t n = (size_t)(crlf - d);
    if (want_len != n || memcmp(d, want, n) != 0) {
        snprintf(why, whysize, "expected client line \"%.*s\", got \"%.*s\"", (int)want_len,
                 want, (int)(n > 200 ? 200 : n), d);
        return false;
    }
    mf_buf_consume(out, n + 2);
    return true;
}

static void collect_output(struct run *r)
{
    size_t len;
    const char *p;
    while ((p = smtp_output(r->s, &len)) && len) {
        mf_buf_add(&r->out, p, len);
        smtp_output_consume(r->s, len);
    }
}

static void expect_client(struct run *r, const char *want)
{
    char why[600];
    collect_output(r);
    if (!script_take_line(&r->out, want, strlen(want), why, sizeof why))
        die(r, "%s", why);
}

static void render_event(const struct smtp_event *ev, char *buf, size_t size)
{
    static const char *const names[] = {
        "GREETING", "CAPS", "NEED_TLS", "AUTH_OK", "READY", "RCPT",
        "MSG_DONE", "CLOSED", "ERROR",
    };
    int n = snprintf(buf, size, "%s", names[ev->type]);
    switch (ev->type) {
    case SMTP_EV_RCPT:
        snprintf(buf + n, size - (size_t)n, " %zu %s %d", ev->rcpt,
                 ev->ok ? "ok" : "fail", ev->code);
        break;
    case SMTP_EV_MSG_DONE:
        if (ev->ok)
            snprintf(buf + n, size - (size_t)n, " ok %zu %d", ev->rcpt_ok,
                     ev->code);
        else
            snprintf(buf + n, size - (size_t)n, " fail %s %s %d %s",
                     mf_rc_name(ev->err.rc), mf_layer_name(ev->err.layer),
                     ev->err.reply_code,
                     ev->err.enhanced[0] ? ev->err.enhanced : "-");
        break;
    case SMTP_EV_ERROR:
        snprintf(buf + n, size - (size_t)n, " %s %s %d %s",
                 mf_rc_name(ev->err.rc), mf_layer_name(ev->err.layer),
                 ev->err.reply_code,
                 ev->err.enhanced[0] ? ev->err.enhanced : "-");
        break;
    case SMTP_EV_GREETING: case SMTP_EV_AUTH_OK: case SMTP_EV_CLOSED:
        snprintf(buf + n, size - (size_t)n, " %d", ev->code);
        break;
    default:
        break;
    }
}

static void expect_event(struct run *r, const char *want)
{
    struct smtp_event ev;
    if (!smtp_next_event(r->s, &ev))
        die(r, "expected event \"%s\", there is none", want);
    char got[512];
    render_event(&ev, got, sizeof got);
    if (strcmp(got, want) != 0)
        die(r, "expected event \"%s\", got \"%s\" (%s)", want, got,
            ev.err.detail);
}

static void add_msg(struct run *r, const char *spec)
{
    /* "FROM TO[,TO...] DATA-with-escapes" */
    if (r->nmsgs == MAX_MSGS)
        die(r, "too many messages");
    char from[512], to[2048];
    int off = 0;
    if (sscanf(spec, "%511s %2047s %n", from, to, &off) < 2)
        die(r, "bad @msg line");
    size_t k = r->nmsgs++;
    struct smtp_msg *m = &r->msgs[k];
    r->from_store[k] = strdup(strcmp(from, "<>") == 0 ? "" : from);
    m->from = r->from_store[k];
    size_t nr = 0;
    for (char *save = NULL, *t = strtok_r(to, ",", &save); t && nr < 8;
         t = strtok_r(NULL, ",", &save))
        r->rcpt_store[k][nr++] = strdup(t);
    m->rcpts = (const char *const *)r->rcpt_store[k];
    m->nrcpt = nr;
    r->data_store[k] = script_unescape(spec + off, &m->len);
    m->data = r->data_store[k];
    smtp_submit(r->s, m);
}

static void directive(struct run *r, const char *line)
{
    char key[64], val[4096] = "";
    if (sscanf(line, "@%63s %4095[^\n]", key, val) < 1)
        die(r, "bad directive");
    if (script_login_directive(&r->login, key, val))
        return;
    if (strcmp(key, "no-pipelining") == 0)
        r->cfg.no_pipelining = true;
    else if (strcmp(key, "helo") == 0)
        r->cfg.helo_name = strdup(val);
    else if (strcmp(key, "max-line") == 0)
        r->cfg.max_line = (size_t)strtoul(val, NULL, 10);
    else if (strcmp(key, "msg") == 0)
        add_msg(r, val);
    else
        die(r, "unknown directive @%s", key);
}

static void ensure_session(struct run *r)
{
    if (r->s)
        return;
    r->cfg.trace = on_trace;
    r->cfg.ctx = r;
    if (!r->cfg.helo_name)
        r->cfg.helo_name = "client.test";
    _Static_assert(SMTP_SEC_STARTTLS == 0 && SMTP_SEC_TLS == 1 && SMTP_SEC_NONE == 2,
                   "struct script_login.security follows the core's enum");
    r->cfg.security = (enum smtp_security)r->login.security;
    r->cfg.secret_is_token = r->login.token;
    r->cfg.mech = r->login.mech;
    r->cfg.allow_plaintext_auth = r->login.allow_plaintext;
    if (r->login.user[0]) {
        r->creds.user = r->login.user;
        r->creds.secret = r->login.secret;
        r->cfg.creds = &r->creds;
    }
    struct mf_err e;
    r->s = smtp_new(&r->cfg, &e);
    if (!r->s)
        die(r, "smtp_new failed: %s", e.detail);
}

/* The transcript must never hold the secret, in clear or base64. */
static void check_redaction(struct run *r)
{
    const char *leak = script_secret_leak(mf_buf_data(&r->transcript), r->login.secret);
    if (leak)
        die(r, "%s", leak);
}

const char *script_secret_leak(const char *transcript, const char *secret)
{
    static char why[80];
    size_t len = strlen(secret);
    if (len < 4)
        return NULL;
    if (strstr(transcript, secret))
        return "the secret appears in the transcript";
    /* base64 of the secret at each of the three alignments it can have
     * inside a payload, minus the quads that depend on the neighbours */
    for (size_t shift = 0; shift < 3; shift++) {
        struct mf_buf raw, b;
        mf_buf_init(&raw, len + 3);
        mf_buf_init(&b, 4 * len + 16);
        mf_buf_add(&raw, "\0\0", shift);
        mf_buf_add(&raw, secret, len);
        mf_base64_encode(&b, mf_buf_data(&raw), mf_buf_len(&raw));
        size_t n = mf_buf_len(&b);
        bool found = false;
        if (n > 8 + 6) {
            char *core = strndup(mf_buf_data(&b) + 4, n - 8);
            found = core && strstr(transcript, core);
            free(core);
        }
        mf_buf_free(&raw);
        mf_buf_free(&b);
        if (found) {
            snprintf(why, sizeof why, "the base64 secret (shift %zu) appears in the transcript",
                     shift);
            return why;
        }
    }
    return NULL;
}

static void run_line(struct run *r, const char *line)
{
    size_t len;
    if (line[0] == '#' || line[0] == '\0')
        return;
    if (line[0] == '@') {
        if (strncmp(line, "@msg", 4) == 0)
            ensure_session(r);
        directive(r, line);
        return;
    }
    ensure_session(r);
    if (strncmp(line, "S: ", 3) == 0 || strcmp(line, "S:") == 0) {
        char *d = script_unescape(line + (line[2] ? 3 : 2), &len);
        char *full = malloc(len + 3);
        memcpy(full, d, len);
        memcpy(full + len, "\r\n", 2);
        smtp_feed(r->s, full, len + 2);
        free(full);
        free(d);
    } else if (strncmp(line, "S+ ", 3) == 0) { /* raw bytes, no CRLF added */
        char *d = script_unescape(line + 3, &len);
        smtp_feed(r->s, d, len);
        free(d);
    } else if (strncmp(line, "C: ", 3) == 0 || strcmp(line, "C:") == 0) {
        char *d = script_unescape(line + (line[2] ? 3 : 2), &len);
        expect_client(r, d);
        free(d);
    } else if (strncmp(line, "E: ", 3) == 0) {
        expect_event(r, line + 3);
    } else if (strcmp(line, "!tls") == 0) {
        if (smtp_tls_done(r->s) != MF_OK)
            die(r, "smtp_tls_done refused: not waiting for TLS");
    } else if (strcmp(line, "!quit") == 0) {
        smtp_quit(r->s);
    } else if (strcmp(line, "!eof") == 0) {
        smtp_eof(r->s);
    } else if (strncmp(line, "!state ", 7) == 0) {
        if (strcmp(smtp_state_name(smtp_state(r->s)), line + 7) != 0)
            die(r, "expected state %s, is %s", line + 7,
                smtp_state_name(smtp_state(r->s)));
    } else if (strncmp(line, "!pipelining ", 12) == 0) {
        if (smtp_pipelining(r->s) != (line[12] == '1'))
            die(r, "pipelining is %d", smtp_pipelining(r->s));
    } else {
        die(r, "unknown script line");
    }
}

void script_run_text(const char *name, const char *text)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.name = name;
    mf_buf_init(&r.out, 1 << 24);
    mf_buf_init(&r.transcript, 1 << 24);
    char *copy = strdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        r.lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        run_line(&r, line);
    }
    r.lineno++;
    ensure_session(&r);
    collect_output(&r);
    if (mf_buf_len(&r.out))
        die(&r, "client wrote more than the script expects: \"%s\"",
            mf_buf_data(&r.out));
    struct smtp_event ev;
    if (smtp_next_event(r.s, &ev)) {
        char got[512];
        render_event(&ev, got, sizeof got);
        die(&r, "unexpected event at the end: \"%s\"", got);
    }
    check_redaction(&r);
    smtp_free(r.s);
    for (size_t k = 0; k < r.nmsgs; k++) {
        for (size_t i = 0; i < 8; i++)
            free(r.rcpt_store[k][i]);
        free(r.data_store[k]);
        free(r.from_store[k]);
    }
    if (r.cfg.helo_name && strcmp(r.cfg.helo_name, "client.test") != 0)
        free((char *)r.cfg.helo_name);
    mf_buf_free(&r.out);
    mf_buf_free(&r.transcript);
    free(copy);
}

void script_run_file(const char *path)
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
    script_run_text(base ? base + 1 : path, mf_buf_data(&b));
    mf_buf_free(&b);
}
