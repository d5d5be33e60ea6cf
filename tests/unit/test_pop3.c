/* proto/pop3: recorded transcripts (tests/transcripts/pop3, one per file)
 * and what a transcript cannot show well: any fragmentation of the input,
 * multi-megabyte messages, thousands of requests and listing entries,
 * configuration checks, the response-code parser and the state hook. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_runner.h"
#include "proto/pop3.h"
#include "util/buf.h"

static void run_transcript(void **state)
{
    pop3_script_run_file(*state);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void drain(struct pop3 *p, struct mf_buf *into)
{
    size_t len;
    const char *d;
    while ((d = pop3_output(p, &len)) && len) {
        if (into)
            mf_buf_add(into, d, len);
        pop3_output_consume(p, len);
    }
}

static void feed_str(struct pop3 *p, const char *s)
{
    assert_int_equal(pop3_feed(p, s, strlen(s)), MF_OK);
}

/* A session signed in with USER/PASS over implicit TLS, events drained. */
static struct pop3 *ready_session(size_t max_line, size_t max_response)
{
    struct sasl_creds c = {.user = "u@example.com", .secret = "pw-secret"};
    struct pop3_cfg cfg = {.security = POP3_SEC_TLS, .creds = &c,
                           .max_line = max_line, .max_response = max_response};
    struct pop3 *p = pop3_new(&cfg, NULL);
    assert_non_null(p);
    feed_str(p, "+OK hi\r\n");
    feed_str(p, "+OK\r\nUSER\r\n.\r\n");
    feed_str(p, "+OK\r\n");
    feed_str(p, "+OK in\r\n");
    assert_int_equal(pop3_state(p), POP3_ST_READY);
    assert_true(pop3_signed_in(p));
    assert_true(pop3_used_user_pass(p));
    drain(p, NULL);
    struct pop3_event ev;
    while (pop3_next_event(p, &ev))
        ;
    return p;
}

/* Builds a message of n lines (some start with dots) and its stuffed wire
 * form with the status line and the terminator. */
static void make_message(size_t nlines, struct mf_buf *plain, struct mf_buf *wire)
{
    mf_buf_init(plain, 1 << 26);
    mf_buf_init(wire, 1 << 26);
    mf_buf_adds(wire, "+OK message follows\r\n");
    for (size_t i = 0; i < nlines; i++) {
        char line[128];
        int n = snprintf(line, sizeof line, "%s line %zu of the message %s",
                         i % 7 == 0 ? "." : "", i, i % 5 == 0 ? "." : "x");
        mf_buf_add(plain, line, (size_t)n);
        mf_buf_adds(plain, "\r\n");
        if (line[0] == '.')
            mf_buf_adds(wire, ".");
        mf_buf_add(wire, line, (size_t)n);
        mf_buf_adds(wire, "\r\n");
    }
    mf_buf_adds(wire, ".\r\n");
}

static void expect_retr(struct pop3 *p, const struct mf_buf *plain)
{
    struct pop3_event ev;
    assert_true(pop3_next_event(p, &ev));
    assert_int_equal(ev.type, POP3_EV_DONE);
    assert_int_equal(ev.request, POP3_REQ_RETR);
    assert_true(ev.ok);
    assert_int_equal(ev.len, mf_buf_len(plain));
    assert_memory_equal(ev.data, mf_buf_data(plain), ev.len);
}

/* The same RETR fed one byte at a time and in odd chunks gives the same
 * bytes, with the smallest line limit (long lines are taken in pieces). */
static void test_fragmentation(void **state)
{
    (void)state;
    struct mf_buf plain, wire;
    make_message(300, &plain, &wire);
    static const size_t chunks[] = {1, 2, 3, 7, 64, 65, 1000, 1 << 20};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        struct pop3 *p = ready_session(64, 0);
        assert_int_equal(pop3_request_retr(p, 1), MF_OK);
        const char *d = mf_buf_data(&wire);
        size_t left = mf_buf_len(&wire);
        while (left) {
            size_t n = left < chunks[c] ? left : chunks[c];
            assert_int_equal(pop3_feed(p, d, n), MF_OK);
            d += n;
            left -= n;
        }
        expect_retr(p, &plain);
        assert_int_equal(pop3_state(p), POP3_ST_READY);
        pop3_free(p);
    }
    mf_buf_free(&plain);
    mf_buf_free(&wire);
}

/* A 5 MB message arrives whole; one byte over the bound fails it alone. */
static void test_large_message_and_bound(void **state)
{
    (void)state;
    struct mf_buf plain, wire;
    make_message(120000, &plain, &wire);
    struct pop3 *p = ready_session(0, mf_buf_len(&plain));
    pop3_request_retr(p, 1);
    pop3_request_retr(p, 2);
    feed_str(p, mf_buf_data(&wire));
    expect_retr(p, &plain);
    feed_str(p, mf_buf_data(&wire));
    expect_retr(p, &plain);
    pop3_free(p);

    p = ready_session(0, mf_buf_len(&plain) - 1);
    pop3_request_retr(p, 1);
    pop3_request_stat(p);
    feed_str(p, mf_buf_data(&wire));
    struct pop3_event ev;
    assert_true(pop3_next_event(p, &ev));
    assert_false(ev.ok);
    assert_int_equal(ev.err.rc, MF_ELIMIT);
    struct mf_buf out;
    mf_buf_init(&out, 4096);
    drain(p, &out);
    assert_string_equal(mf_buf_data(&out), "RETR 1\r\nSTAT\r\n");
    mf_buf_free(&out);
    pop3_free(p);
    mf_buf_free(&plain);
    mf_buf_free(&wire);
}

/* 2,000 requests: one command in flight at a time, DONE in order. */
static void test_many_requests(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct pop3 *p = ready_session(0, 0);
    for (unsigned long i = 1; i <= N; i++)
        assert_int_equal(pop3_request_top(p, i, 0), MF_OK);
    pop3_quit(p);
    assert_int_equal(pop3_pending_requests(p), N);
    struct mf_buf out;
    mf_buf_init(&out, 1 << 16);
    for (unsigned long i = 1; i <= N; i++) {
        mf_buf_reset(&out);
        drain(p, &out);
        char want[64];
        snprintf(want, sizeof want, "TOP %lu 0\r\n", i);
        assert_string_equal(mf_buf_data(&out), want);
        char resp[64];
        snprintf(resp, sizeof resp, "+OK\r\nX-N: %lu\r\n\r\n.\r\n", i);
        feed_str(p, resp);
        struct pop3_event ev;
        assert_true(pop3_next_event(p, &ev));
        assert_int_equal(ev.msgno, i);
        assert_true(ev.ok);
        assert_false(pop3_next_event(p, &ev));
    }
    mf_buf_reset(&out);
    drain(p, &out);
    assert_string_equal(mf_buf_data(&out), "QUIT\r\n");
    assert_int_equal(pop3_state(p), POP3_ST_QUIT);
    mf_buf_free(&out);
    pop3_free(p);
}

/* 20,000 UIDL entries: every uid pointer is valid after the table grew. */
static void test_big_uidl(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct pop3 *p = ready_session(0, 0);
    pop3_request_uidl(p);
    struct mf_buf wire;
    mf_buf_init(&wire, 1 << 24);
    mf_buf_adds(&wire, "+OK\r\n");
    for (int i = 1; i <= N; i++)
        mf_buf_printf(&wire, "%d uid-%08d\r\n", i, i * 7);
    mf_buf_adds(&wire, ".\r\n");
    feed_str(p, mf_buf_data(&wire));
    struct pop3_event ev;
    assert_true(pop3_next_event(p, &ev));
    assert_true(ev.ok);
    assert_int_equal(ev.n, N);
    for (size_t i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "uid-%08zu", (i + 1) * 7);
        assert_int_equal(ev.uidl[i].msgno, i + 1);
        assert_string_equal(ev.uidl[i].uid, want);
    }
    mf_buf_free(&wire);
    pop3_free(p);
}

/* Events pile up untaken while the ring has wrapped: it grows in order. */
static void test_event_ring_wraps(void **state)
{
    (void)state;
    struct pop3 *p = ready_session(0, 0);
    for (unsigned long i = 1; i <= 10; i++)
        pop3_request_retr(p, i);
    for (unsigned long i = 1; i <= 10; i++) /* 10 taken: the head moved */
        feed_str(p, "+OK\r\nx\r\n.\r\n");
    struct pop3_event ev;
    for (unsigned long i = 1; i <= 10; i++)
        assert_true(pop3_next_event(p, &ev) && ev.msgno == i);
    for (unsigned long i = 11; i <= 60; i++)
        pop3_request_retr(p, i);
    for (unsigned long i = 11; i <= 30; i++)
        feed_str(p, "+OK\r\nx\r\n.\r\n");
    assert_int_equal(pop3_pending_requests(p), 30);
    pop3_transport_failed(p, &(struct mf_err){.rc = MF_ETIMEOUT});
    for (unsigned long i = 11; i <= 60; i++) {
        assert_true(pop3_next_event(p, &ev));
        assert_int_equal(ev.type, POP3_EV_DONE);
        assert_int_equal(ev.msgno, i);
        assert_int_equal(ev.ok, i <= 30);
        if (ev.ok)
            assert_memory_equal(ev.data, "x\r\n", 3);
    }
    assert_true(pop3_next_event(p, &ev));
    assert_int_equal(ev.type, POP3_EV_ERROR);
    assert_false(pop3_next_event(p, &ev));
    assert_int_equal(pop3_state(p), POP3_ST_FAILED);
    pop3_free(p);
}

static void test_config_checks(void **state)
{
    (void)state;
    struct mf_err e;
    struct sasl_creds c = {.user = "me\r\nDELE 1", .secret = "pw"};
    struct pop3_cfg cfg = {.creds = &c};
    mf_err_clear(&e);
    assert_null(pop3_new(&cfg, &e));
    assert_int_equal(e.rc, MF_EINVAL);
    c.user = "me";
    c.secret = "";
    assert_null(pop3_new(&cfg, &e));
    c.secret = "pw\n";
    assert_null(pop3_new(&cfg, &e));
    c.secret = "pw";
    cfg.user_pass = true;
    cfg.secret_is_token = true;
    assert_null(pop3_new(&cfg, &e));
    cfg.secret_is_token = false;
    cfg.mech = SASL_MECH_PLAIN;
    assert_null(pop3_new(&cfg, NULL)); /* err may be NULL */
    cfg.mech = SASL_MECH_NONE;
    struct pop3 *p = pop3_new(&cfg, &e);
    assert_non_null(p);
    assert_int_equal(pop3_tls_done(p), MF_EINVAL); /* not waiting for TLS */
    pop3_free(p);
    pop3_free(NULL);
}

static void test_resp_codes(void **state)
{
    (void)state;
    assert_int_equal(pop3_resp_parse("AUTH"), POP3_RESP_AUTH);
    assert_int_equal(pop3_resp_parse("auth"), POP3_RESP_AUTH);
    assert_int_equal(pop3_resp_parse("SYS/TEMP"), POP3_RESP_SYS_TEMP);
    assert_int_equal(pop3_resp_parse("SYS/TEMP/QUOTA"), POP3_RESP_SYS_TEMP);
    assert_int_equal(pop3_resp_parse("SYS/PERM"), POP3_RESP_SYS_PERM);
    assert_int_equal(pop3_resp_parse("SYS"), POP3_RESP_OTHER);
    assert_int_equal(pop3_resp_parse("AUTHX"), POP3_RESP_OTHER);
    assert_int_equal(pop3_resp_parse("IN-USE"), POP3_RESP_IN_USE);
    assert_int_equal(pop3_resp_parse("LOGIN-DELAY"), POP3_RESP_LOGIN_DELAY);
    assert_int_equal(pop3_resp_parse(""), POP3_RESP_NONE);
    assert_int_equal(pop3_resp_parse(NULL), POP3_RESP_NONE);
    /* in replies: malformed or oversize codes stay in the text */
    static const struct { const char *line, *code, *text; } cases[] = {
        {"-ERR [SYS/TEMP/QUOTA] later", "SYS/TEMP/QUOTA", "later"},
        {"-ERR [] empty", "", "[] empty"},
        {"-ERR [A//B] bad", "", "[A//B] bad"},
        {"-ERR [A B] space", "", "[A B] space"},
        {"-ERR [ABCDEFGHIJKLMNOP] long", "", "[ABCDEFGHIJKLMNOP] long"},
        {"-ERR [ABCDEFGHIJKLMNO] fits", "ABCDEFGHIJKLMNO", "fits"},
        {"-ERR [AUTH]", "AUTH", ""},
        {"-ERR [AUTH", "", "[AUTH"},
        {"-err lower case", "", "lower case"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pop3_cfg cfg = {.security = POP3_SEC_TLS};
        struct pop3 *p = pop3_new(&cfg, NULL);
        char line[128];
        snprintf(line, sizeof line, "%s\r\n", cases[i].line);
        pop3_feed(p, line, strlen(line));
        struct pop3_event ev;
        assert_true(pop3_next_event(p, &ev));
        assert_int_equal(ev.type, POP3_EV_GREETING);
        assert_false(ev.ok);
        assert_string_equal(ev.code, cases[i].code);
        assert_string_equal(ev.text, cases[i].text);
        pop3_free(p);
    }
}

struct hook_log {
    char seen[512];
};

static void on_state(void *ctx, enum pop3_state from, enum pop3_state to)
{
    struct hook_log *h = ctx;
    size_t n = strlen(h->seen);
    snprintf(h->seen + n, sizeof h->seen - n, "%s>%s ", pop3_state_name(from),
             pop3_state_name(to));
}

static void test_state_hook_and_table(void **state)
{
    (void)state;
    for (int st = 0; st < POP3_ST_COUNT; st++) {
        assert_true(strlen(pop3_state_name((enum pop3_state)st)) > 0);
        assert_true(strlen(pop3_state_describe((enum pop3_state)st)) > 10);
    }
    assert_string_equal(pop3_state_name(POP3_ST_COUNT), "unknown");
    struct hook_log h = {.seen = ""};
    struct pop3_cfg cfg = {.security = POP3_SEC_STLS, .on_state = on_state,
                           .ctx = &h};
    struct pop3 *p = pop3_new(&cfg, NULL);
    feed_str(p, "+OK\r\n+OK\r\nSTLS\r\n.\r\n+OK go\r\n");
    assert_int_equal(pop3_tls_done(p), MF_OK);
    assert_true(pop3_tls_active(p));
    feed_str(p, "+OK\r\nUSER\r\n.\r\n");
    pop3_quit(p);
    feed_str(p, "+OK bye\r\n");
    assert_int_equal(pop3_eof(p), MF_OK);
    assert_string_equal(h.seen, "greeting>capa capa>stls stls>tls tls>capa "
                                "capa>ready ready>quit quit>closed ");
    pop3_free(p);
}

int main(void)
{
    const char *dir = getenv("MF_TRANSCRIPTS");
    if (!dir)
        dir = "tests/transcripts";
    char path[4096];
    snprintf(path, sizeof path, "%s/pop3", dir);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    char *files[512];
    size_t nfiles = 0;
    struct dirent *de;
    while ((de = readdir(d)) && nfiles < 512) {
        size_t l = strlen(de->d_name);
        if (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0)
            files[nfiles++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(files, nfiles, sizeof *files, by_name);
    struct CMUnitTest tests[520];
    size_t n = 0;
    for (size_t i = 0; i < nfiles; i++) {
        size_t sz = strlen(path) + strlen(files[i]) + 2;
        char *full = malloc(sz);
        snprintf(full, sz, "%s/%s", path, files[i]);
        tests[n++] = (struct CMUnitTest){files[i], run_transcript, NULL, NULL, full};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_fragmentation);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_large_message_and_bound);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_many_requests);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_big_uidl);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_event_ring_wraps);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_config_checks);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_resp_codes);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_state_hook_and_table);
    int rc = _cmocka_run_group_tests("pop3", tests, n, NULL, NULL);
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i]);
        free(tests[i].initial_state);
    }
    return rc;
}
