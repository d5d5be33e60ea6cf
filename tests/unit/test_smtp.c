/* proto/smtp: recorded transcripts (tests/transcripts/smtp, one per file) and the
 * properties a transcript cannot show well: long bodies that stream past
 * the output high-water mark, many messages in one session. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp.h"
#include "script_runner.h"

static void run_transcript(void **state)
{
    script_run_file(*state);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Drains output into a counter, returns bytes written. */
static size_t drain(struct smtp *s, size_t *dots)
{
    size_t total = 0, len;
    const char *p;
    while ((p = smtp_output(s, &len)) && len) {
        for (size_t i = 0; i + 2 < len; i++)
            if (p[i] == '\n' && p[i + 1] == '.' && p[i + 2] == '\r')
                (*dots)++;
        total += len;
        smtp_output_consume(s, len);
    }
    return total;
}

static struct smtp *ready_session(bool pipelining)
{
    struct smtp_cfg cfg = {.security = SMTP_SEC_NONE, .helo_name = "t"};
    struct smtp *s = smtp_new(&cfg, NULL);
    assert_non_null(s);
    const char *greet = "220 mx ESMTP\r\n";
    assert_int_equal(smtp_feed(s, greet, strlen(greet)), MF_OK);
    size_t dots = 0;
    drain(s, &dots);
    const char *ehlo = pipelining ? "250-mx\r\n250 PIPELINING\r\n" : "250 mx\r\n";
    assert_int_equal(smtp_feed(s, ehlo, strlen(ehlo)), MF_OK);
    assert_int_equal(smtp_state(s), SMTP_ST_READY);
    return s;
}

/* A 3 MB body leaves in bounded slices and arrives whole, stuffed. */
static void test_large_body_streams(void **state)
{
    (void)state;
    struct smtp *s = ready_session(true);
    size_t n = 3000000; /* whole lines of 100 bytes */
    char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (i % 100 == 99) ? '\n' : (i % 100 == 0 ? '.' : 'x');
    const char *rcpt[] = {"b@example.com"};
    struct smtp_msg m = {.from = "a@example.com", .rcpts = rcpt, .nrcpt = 1,
                         .data = data, .len = n};
    assert_int_equal(smtp_submit(s, &m), MF_OK);
    size_t dots = 0;
    drain(s, &dots);
    const char *r = "250 ok\r\n250 ok\r\n354 go\r\n";
    smtp_feed(s, r, strlen(r));
    size_t len;
    smtp_output(s, &len);
    assert_true(len <= 512 * 1024); /* bounded, not the whole body */
    size_t total = drain(s, &dots);
    /* every line gains CR and a stuffed dot: 100 -> 102 bytes per line */
    assert_int_equal(total, n / 100 * 102 + 3);
    assert_int_equal(smtp_state(s), SMTP_ST_BODY);
    smtp_feed(s, "250 ok\r\n", 8);
    struct smtp_event ev;
    bool done = false;
    while (smtp_next_event(s, &ev))
        if (ev.type == SMTP_EV_MSG_DONE)
            done = ev.ok;
    assert_true(done);
    smtp_free(s);
    free(data);
}

/* 2,000 messages in one pipelined session: every one gets its MSG_DONE in
 * order, and replies may arrive in any fragmentation. */
static void test_many_messages_pipelined(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct smtp *s = ready_session(true);
    const char *rcpt[] = {"b@example.com"};
    static struct smtp_msg msgs[N];
    for (size_t i = 0; i < N; i++) {
        msgs[i] = (struct smtp_msg){.from = "a@example.com", .rcpts = rcpt,
                                    .nrcpt = 1, .data = "hi\r\n", .len = 4,
                                    .user = (void *)(uintptr_t)i};
        assert_int_equal(smtp_submit(s, &msgs[i]), MF_OK);
    }
    smtp_quit(s);
    size_t next = 0, dots = 0;
    const char *first = "250 ok\r\n250 ok\r\n354 go\r\n";
    const char *cycle = "250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n";
    drain(s, &dots);
    for (size_t i = 0; i < N; i++) {
        const char *r = i == 0 ? first : cycle;
        /* feed one byte at a time for some, all at once for others */
        if (i % 7 == 0)
            for (const char *p = r; *p; p++)
                smtp_feed(s, p, 1);
        else
            smtp_feed(s, r, strlen(r));
        drain(s, &dots);
        struct smtp_event ev;
        while (smtp_next_event(s, &ev))
            if (ev.type == SMTP_EV_MSG_DONE) {
                assert_true(ev.ok);
                assert_ptr_equal(ev.msg, &msgs[next]);
                next++;
            }
    }
    smtp_feed(s, "250 ok\r\n", 8);
    drain(s, &dots);
    struct smtp_event ev;
    while (smtp_next_event(s, &ev))
        if (ev.type == SMTP_EV_MSG_DONE)
            next++;
    assert_int_equal(next, N);
    assert_int_equal(dots, N);
    assert_int_equal(smtp_state(s), SMTP_ST_QUIT);
    smtp_feed(s, "221 bye\r\n", 9);
    assert_int_equal(smtp_state(s), SMTP_ST_CLOSED);
    smtp_free(s);
}

static void test_state_table(void **state)
{
    (void)state;
    for (int st = 0; st < SMTP_ST_COUNT; st++) {
        assert_true(strlen(smtp_state_name((enum smtp_state)st)) > 0);
        assert_true(strlen(smtp_state_describe((enum smtp_state)st)) > 10);
    }
    assert_string_equal(smtp_state_describe(SMTP_ST_BODY),
                        "end of data sent - the message may already be accepted");
    assert_string_equal(smtp_state_name(SMTP_ST_COUNT), "unknown");
}

int main(void)
{
    const char *dir = getenv("MF_TRANSCRIPTS");
    if (!dir)
        dir = "tests/transcripts";
    char path[4096];
    snprintf(path, sizeof path, "%s/smtp", dir);
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
        char *full = malloc(strlen(path) + strlen(files[i]) + 2);
        snprintf(full, strlen(path) + strlen(files[i]) + 2, "%s/%s", path, files[i]);
        tests[n++] = (struct CMUnitTest){files[i], run_transcript, NULL, NULL, full};
    }
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_large_body_streams);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_many_messages_pipelined);
    tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_state_table);
    int rc = _cmocka_run_group_tests("smtp", tests, n, NULL, NULL);
    for (size_t i = 0; i < nfiles; i++) {
        free(files[i]);
        free(tests[i].initial_state);
    }
    return rc;
}
