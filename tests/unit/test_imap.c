/* proto/imap and proto/imap_parse: recorded transcripts
 * (tests/transcripts/imap, same format as the SMTP ones, with request
 * lines !list, !examine NAME, !search CRITERIA, !fetch UIDS FIELDS,
 * !logout) and parser properties. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/imap.h"
#include "script_runner.h"
#include "util/base64.h"

struct run {
    const char *name;
    int lineno;
    struct imap_cfg cfg;
    struct sasl_creds creds;
    struct script_login login;
    struct imap *s;
    struct mf_buf out, transcript;
};

static void on_trace(void *ctx, char dir, const char *line, size_t len)
{
    struct run *r = ctx;
    mf_buf_printf(&r->transcript, "%c: %.*s\n", dir, (int)len, line);
}

static void die(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    script_vfail(r->name, r->lineno, &r->transcript, fmt, ap);
    va_end(ap);
}

static void collect(struct run *r)
{
    size_t len;
    const char *p = imap_output(r->s, &len);
    mf_buf_add(&r->out, p, len);
    imap_output_consume(r->s, len);
}

static void render(const struct imap_event *ev, char *buf, size_t size)
{
    static const char *const names[] = {"GREETING", "CAPS", "AUTH_OK", "READY",
                                        "DONE", "ALERT", "IDLING", "EXISTS",
                                        "CLOSED", "ERROR"};
    static const char *const reqs[] = {"id", "list", "examine", "select",
                                       "search", "fetch", "idle", "logout"};
    int n = snprintf(buf, size, "%s", names[ev->type]);
    size_t left = size - (size_t)n;
    char *p = buf + n;
    switch (ev->type) {
    case IMAP_EV_GREETING:
        snprintf(p, left, " %s", ev->status);
        break;
    case IMAP_EV_ALERT:
        snprintf(p, left, " %s", ev->text);
        break;
    case IMAP_EV_EXISTS:
        snprintf(p, left, " %u", ev->select.exists);
        break;
    case IMAP_EV_ERROR:
        snprintf(p, left, " %s %s", mf_rc_name(ev->err.rc), mf_layer_name(ev->err.layer));
        break;
    case IMAP_EV_DONE:
        n = snprintf(p, left, " %s %s", reqs[ev->request], ev->ok ? "ok" : "fail");
        p += n;
        left -= (size_t)n;
        if (ev->request == IMAP_REQ_LIST)
            for (size_t i = 0; i < ev->nmailboxes && left > 40; i++) {
                n = snprintf(p, left, " %s:%x", ev->mailboxes[i].name,
                             ev->mailboxes[i].flags);
                p += n;
                left -= (size_t)n;
            }
        else if (ev->request == IMAP_REQ_EXAMINE || ev->request == IMAP_REQ_SELECT)
            snprintf(p, left, " exists=%u uidvalidity=%u uidnext=%u modseq=%llu ro=%d",
                     ev->select.exists, ev->select.uidvalidity, ev->select.uidnext,
                     (unsigned long long)ev->select.highestmodseq, ev->select.read_only);
        else if (ev->request == IMAP_REQ_UID_SEARCH)
            for (size_t i = 0; i < ev->nuids && left > 12; i++) {
                n = snprintf(p, left, " %u", ev->uids[i]);
                p += n;
                left -= (size_t)n;
            }
        else if (ev->request == IMAP_REQ_UID_FETCH)
            for (size_t i = 0; i < ev->nfetched && left > 40; i++) {
                n = snprintf(p, left, " uid=%u bytes=%zu", ev->fetched[i].uid,
                             ev->fetched[i].headers_len);
                p += n;
                left -= (size_t)n;
            }
        else if (ev->request == IMAP_REQ_ID)
            snprintf(p, left, " %s", ev->server_id);
        break;
    default:
        break;
    }
}

static void ensure(struct run *r)
{
    if (r->s)
        return;
    r->cfg.trace = on_trace;
    r->cfg.ctx = r;
    _Static_assert(IMAP_SEC_STARTTLS == 0 && IMAP_SEC_TLS == 1 && IMAP_SEC_NONE == 2,
                   "struct script_login.security follows the core's enum");
    r->cfg.security = (enum imap_security)r->login.security;
    r->cfg.secret_is_token = r->login.token;
    r->cfg.mech = r->login.mech;
    r->cfg.allow_plaintext_auth = r->login.allow_plaintext;
    if (r->login.user[0]) {
        r->creds.user = r->login.user;
        r->creds.secret = r->login.secret;
        r->cfg.creds = &r->creds;
    }
    struct mf_err e;
    r->s = imap_new(&r->cfg, &e);
    if (!r->s)
        die(r, "imap_new: %s", e.detail);
}

static void directive(struct run *r, const char *line)
{
    char key[64], val[4096] = "";
    sscanf(line, "@%63s %4095[^\n]", key, val);
    if (script_login_directive(&r->login, key, val))
        return;
    if (!strcmp(key, "send-id"))
        r->cfg.send_id = true;
    else if (!strcmp(key, "max-line"))
        r->cfg.limits.max_line = strtoul(val, NULL, 10);
    else if (!strcmp(key, "max-literal"))
        r->cfg.limits.max_literal = strtoul(val, NULL, 10);
    else
        die(r, "unknown directive @%s", key);
}

static void run_line(struct run *r, const char *line)
{
    size_t len;
    if (line[0] == '#' || !line[0])
        return;
    if (line[0] == '@') {
        directive(r, line);
        return;
    }
    ensure(r);
    if (!strncmp(line, "S: ", 3) || !strncmp(line, "S+ ", 3) || !strcmp(line, "S:")) {
        char *d = script_unescape(line[2] ? line + 3 : "", &len);
        char *full = malloc(len + 3);
        memcpy(full, d, len);
        if (line[1] == ':')
            memcpy(full + len, "\r\n", 2), len += 2;
        imap_feed(r->s, full, len);
        free(full);
        free(d);
    } else if (!strncmp(line, "C: ", 3) || !strcmp(line, "C:")) {
        char *want = script_unescape(line + (line[2] ? 3 : 2), &len);
        char why[600];
        collect(r);
        bool ok = script_take_line(&r->out, want, len, why, sizeof why);
        free(want);
        if (!ok)
            die(r, "%s", why);
    } else if (!strncmp(line, "E: ", 3)) {
        struct imap_event ev;
        if (!imap_next_event(r->s, &ev))
            die(r, "expected event \"%s\", there is none", line + 3);
        char got[2048];
        render(&ev, got, sizeof got);
        if (strcmp(got, line + 3))
            die(r, "expected event \"%s\", got \"%s\" (%s)", line + 3, got, ev.err.detail);
    } else if (!strcmp(line, "!tls")) {
        if (imap_tls_done(r->s) != MF_OK)
            die(r, "not waiting for TLS");
    } else if (!strcmp(line, "!eof")) {
        imap_eof(r->s);
    } else if (!strcmp(line, "!list")) {
        imap_request_list(r->s);
    } else if (!strncmp(line, "!examine ", 9)) {
        imap_request_examine(r->s, line + 9, false);
    } else if (!strncmp(line, "!search ", 8)) {
        imap_request_uid_search(r->s, line + 8);
    } else if (!strncmp(line, "!fetch ", 7)) {
        char uids[64];
        int off = 0;
        sscanf(line + 7, "%63s %n", uids, &off);
        if (imap_request_uid_fetch_headers(r->s, uids, line + 7 + off) != MF_OK)
            die(r, "fetch request refused");
    } else if (!strcmp(line, "!idle")) {
        imap_request_idle(r->s);
    } else if (!strcmp(line, "!done")) {
        imap_idle_done(r->s);
    } else if (!strcmp(line, "!logout")) {
        imap_logout(r->s);
    } else if (!strncmp(line, "!state ", 7)) {
        if (strcmp(imap_state_name(imap_state(r->s)), line + 7))
            die(r, "state is %s", imap_state_name(imap_state(r->s)));
    } else {
        die(r, "unknown script line");
    }
}

static void run_file(void **state)
{
    const char *path = *state;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct run r;
    memset(&r, 0, sizeof r);
    r.name = strrchr(path, '/') + 1;
    mf_buf_init(&r.out, 1 << 24);
    mf_buf_init(&r.transcript, 1 << 24);
    char line[70000];
    while (fgets(line, sizeof line, f)) {
        r.lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        run_line(&r, line);
    }
    fclose(f);
    r.lineno++;
    ensure(&r);
    collect(&r);
    if (mf_buf_len(&r.out))
        die(&r, "client wrote more than expected: \"%s\"", mf_buf_data(&r.out));
    struct imap_event ev;
    if (imap_next_event(r.s, &ev)) {
        char got[2048];
        render(&ev, got, sizeof got);
        die(&r, "unexpected event at the end: %s", got);
    }
    const char *leak = script_secret_leak(mf_buf_data(&r.transcript), r.login.secret);
    if (leak)
        die(&r, "%s", leak);
    imap_free(r.s);
    mf_buf_free(&r.out);
    mf_buf_free(&r.transcript);
}

/* The reader takes bytes in any fragmentation and literals whole. */
static void test_parser_fragments_and_literals(void **state)
{
    (void)state;
    const char *text = "* 1 FETCH (UID 7 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\n"
                       "Message-ID: <a@b>\r\n\r\n)\r\n"
                       "* LIST (\\HasNoChildren \\Junk) \"/\" \"Junk \\\"x\\\"\"\r\n"
                       "A1 OK [READ-ONLY] done\r\n";
    for (size_t step = 1; step <= strlen(text); step += 7) {
        struct imap_parser *p = imap_parse_new(NULL);
        struct imap_resp r;
        int got = 0;
        for (size_t i = 0; i < strlen(text); i += step) {
            size_t n = strlen(text) - i < step ? strlen(text) - i : step;
            assert_int_equal(imap_parse_feed(p, text + i, n, NULL), MF_OK);
            while (imap_parse_next(p, &r, NULL) == MF_OK) {
                got++;
                if (got == 1) {
                    assert_int_equal(r.nvals, 3);
                    assert_int_equal(r.vals[2].type, IMAP_LIST);
                    assert_int_equal(r.vals[2].n, 4);
                    assert_string_equal(r.vals[2].items[2].s,
                                        "BODY[HEADER.FIELDS (MESSAGE-ID)]");
                    assert_int_equal(r.vals[2].items[3].len, 21);
                } else if (got == 2) {
                    assert_string_equal(r.vals[3].s, "Junk \"x\"");
                } else {
                    assert_string_equal(r.tag, "A1");
                    assert_string_equal(r.status, "OK");
                    assert_string_equal(r.code, "READ-ONLY");
                    assert_string_equal(r.text, "done");
                }
            }
        }
        assert_int_equal(got, 3);
        imap_parse_free(p);
    }
}

static void test_parser_limits(void **state)
{
    (void)state;
    struct imap_parse_limits lim = {.max_line = 100, .max_literal = 50, .max_depth = 3};
    struct imap_parser *p = imap_parse_new(&lim);
    struct imap_resp r;
    struct mf_err e;
    imap_parse_feed(p, "* 1 FETCH (BODY[] {51}\r\n", 24, NULL);
    assert_int_equal(imap_parse_next(p, &r, &e), MF_ELIMIT);
    imap_parse_free(p);
    p = imap_parse_new(&lim);
    imap_parse_feed(p, "* X ((((a))))\r\n", 15, NULL);
    assert_int_equal(imap_parse_next(p, &r, &e), MF_EPROTO);
    imap_parse_free(p);
    p = imap_parse_new(&lim);
    char big[200];
    memset(big, 'a', sizeof big);
    imap_parse_feed(p, big, sizeof big, NULL);
    assert_int_equal(imap_parse_next(p, &r, &e), MF_ELIMIT);
    imap_parse_free(p);
    p = imap_parse_new(NULL);
    const char *bad[] = {"* X \"unterminated\r\n", "A1 MAYBE x\r\n", "* X )\r\n",
                         "* X {5}\r\nab", "* X (a\r\n", " \r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct imap_parser *q = imap_parse_new(NULL);
        imap_parse_feed(q, bad[i], strlen(bad[i]), NULL);
        enum mf_rc rc = imap_parse_next(q, &r, &e);
        assert_true(rc == MF_EPROTO || rc == MF_ENOTFOUND);
        imap_parse_free(q);
    }
    imap_parse_free(p);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
    const char *dir = getenv("MF_TRANSCRIPTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/imap", dir ? dir : "tests/transcripts");
    DIR *d = opendir(path);
    if (!d)
        return 1;
    char *files[256];
    size_t nf = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nf < 256)
        if (strstr(de->d_name, ".txt"))
            files[nf++] = strdup(de->d_name);
    closedir(d);
    qsort(files, nf, sizeof *files, by_name);
    struct CMUnitTest tests[260];
    size_t n = 0;
    for (size_t i = 0; i < nf; i++) {
        size_t l = strlen(path) + strlen(files[i]) + 2;
        char *full = malloc(l);
        snprintf(full, l, "%s/%s", path, files[i]);
        tests[n++] = (struct CMUnitTest){files[i], run_file, NULL, NULL, full};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_parser_fragments_and_literals);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_parser_limits);
    int rc = _cmocka_run_group_tests("imap", tests, n, NULL, NULL);
    for (size_t i = 0; i < nf; i++) {
        free(files[i]);
        free(tests[i].initial_state);
    }
    return rc;
}
