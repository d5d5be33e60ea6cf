/* mail/msg: sendmail -t semantics, Bcc removal, added headers, building. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "mail/msg.h"

static void test_extract_recipients_and_drop_bcc(void **state)
{
    (void)state;
    const char *raw =
        "From: \"Me, Myself\" <me@example.com>\r\n"
        "To: a@example.com, \"B (comment)\" <b@example.com>,\r\n"
        "\tc@example.com\r\n"
        "Cc: friends: d@example.com, E <e@example.com>;\r\n"
        "Bcc: secret@example.com,\r\n"
        " hidden@example.com\r\n"
        "Subject: hi\r\n"
        "Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n"
        "Message-ID: <keep@example.com>\r\n"
        "\r\n"
        "Bcc: this is body text, not a header\r\n";
    const char *extra[] = {"A@example.com", "z@example.com"};
    struct msg_opts o = {.extract_recipients = true, .rcpts = extra, .nrcpts = 2};
    struct msg_prepared m;
    struct mf_err e;
    assert_int_equal(msg_prepare(raw, strlen(raw), &o, &m, &e), MF_OK);
    const char *want[] = {"a@example.com", "b@example.com", "c@example.com",
                          "d@example.com", "e@example.com", "secret@example.com",
                          "hidden@example.com", "z@example.com"};
    assert_int_equal(m.nrcpt, 8); /* A@example.com is a duplicate of a@ */
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(m.rcpts[i], want[i]);
    assert_string_equal(m.from, "me@example.com");
    assert_string_equal(m.message_id, "keep@example.com");
    const char *d = mf_buf_data(&m.data);
    assert_null(strstr(d, "secret@"));
    assert_null(strstr(d, "hidden@"));
    assert_non_null(strstr(d, "\r\nSubject: hi\r\n"));
    assert_non_null(strstr(d, "Bcc: this is body text")); /* body untouched */
    /* nothing added: Date, Message-ID and From were there */
    assert_int_equal(strncmp(d, "From: \"Me, Myself\"", 18), 0);
    assert_int_equal(mf_buf_len(&m.data),
                     strlen(raw) - strlen("Bcc: secret@example.com,\r\n hidden@example.com\r\n"));
    msg_prepared_free(&m);
}

static void test_adds_missing_headers(void **state)
{
    (void)state;
    const char *raw = "Subject: x\n\nbody\n";
    const char *rc[] = {"r@example.org"};
    struct msg_opts o = {.envelope_from = "bounce@example.com",
                         .default_from = "me@example.com", .from_name = "Jane Doe",
                         .rcpts = rc, .nrcpts = 1};
    struct msg_prepared m;
    struct mf_err e;
    assert_int_equal(msg_prepare(raw, strlen(raw), &o, &m, &e), MF_OK);
    const char *d = mf_buf_data(&m.data);
    assert_non_null(strstr(d, "From: Jane Doe <me@example.com>\n"));
    assert_non_null(strstr(d, "\nDate: "));
    assert_non_null(strstr(d, "\nMessage-ID: <"));
    assert_non_null(strstr(m.message_id, "@example.com"));
    assert_non_null(strstr(d, "Subject: x\n\nbody\n"));
    assert_null(strstr(d, "\r")); /* LF message stays LF */
    assert_string_equal(m.from, "bounce@example.com");
    msg_prepared_free(&m);
}

static void test_bare_body_gets_headers(void **state)
{
    (void)state;
    const char *raw = "just a line of text, no headers\n";
    const char *rc[] = {"r@example.org"};
    struct msg_opts o = {.default_from = "me@example.com", .rcpts = rc, .nrcpts = 1};
    struct msg_prepared m;
    assert_int_equal(msg_prepare(raw, strlen(raw), &o, &m, NULL), MF_OK);
    const char *d = mf_buf_data(&m.data);
    const char *body = strstr(d, "\n\njust a line");
    assert_non_null(body);
    msg_prepared_free(&m);
}

/* A line that is not a field ends the header block; what follows must be
 * body, set apart by a blank line, so a Bcc after it never looks like a
 * header (found by fuzzing). "Bcc :" (obsolete syntax) is a Bcc too. */
static void test_bcc_never_survives(void **state)
{
    (void)state;
    const char *cases[] = {
        "To: a@b.c\nX\nBcc: d@e.f\n\nbody\n",
        "To: a@b.c\nBcc : d@e.f\n\nbody\n",
        "To: a@b.c\nBCC:\td@e.f\n\n",
    };
    for (size_t i = 0; i < 3; i++) {
        struct msg_opts o = {.extract_recipients = true, .default_from = "me@example.com"};
        struct msg_prepared m;
        assert_int_equal(msg_prepare(cases[i], strlen(cases[i]), &o, &m, NULL), MF_OK);
        const char *d = mf_buf_data(&m.data);
        const char *blank = strstr(d, "\n\n");
        assert_non_null(blank);
        for (const char *p = d; p < blank; p = strchr(p, '\n') + 1)
            assert_false(strncasecmp(p, "bcc", 3) == 0);
        msg_prepared_free(&m);
    }
    /* the obsolete form still counts as a recipient with -t */
    struct msg_opts o = {.extract_recipients = true, .default_from = "me@example.com"};
    struct msg_prepared m;
    assert_int_equal(msg_prepare(cases[1], strlen(cases[1]), &o, &m, NULL), MF_OK);
    assert_int_equal(m.nrcpt, 2);
    assert_string_equal(m.rcpts[1], "d@e.f");
    msg_prepared_free(&m);
}

static void test_errors(void **state)
{
    (void)state;
    struct msg_prepared m;
    struct mf_err e;
    const char *raw = "Subject: x\n\nbody\n";
    struct msg_opts none = {.extract_recipients = true, .default_from = "me@example.com"};
    assert_int_equal(msg_prepare(raw, strlen(raw), &none, &m, &e), MF_EINVAL);
    assert_non_null(strstr(e.detail, "no recipient"));
    msg_prepared_free(&m);
    const char *bad[] = {"not an address"};
    struct msg_opts o = {.default_from = "me@example.com", .rcpts = bad, .nrcpts = 1};
    assert_int_equal(msg_prepare(raw, strlen(raw), &o, &m, &e), MF_EINVAL);
    msg_prepared_free(&m);
    const char *rc[] = {"r@example.org"};
    struct msg_opts inj = {.default_from = "me@example.com", .from_name = "x\r\nBcc: y@z",
                           .rcpts = rc, .nrcpts = 1};
    assert_int_equal(msg_prepare(raw, strlen(raw), &inj, &m, &e), MF_EINVAL);
    msg_prepared_free(&m);
    struct msg_opts nofrom = {.rcpts = rc, .nrcpts = 1};
    assert_int_equal(msg_prepare(raw, strlen(raw), &nofrom, &m, &e), MF_EINVAL);
    assert_non_null(strstr(e.detail, "no sender"));
    msg_prepared_free(&m);
    assert_false(msg_address_ok("a@"));
    assert_false(msg_address_ok("@b"));
    assert_false(msg_address_ok("a b@c"));
    assert_false(msg_address_ok("<a@b>"));
    assert_true(msg_address_ok("first.last+tag@sub.example.co.uk"));
}

static void test_build_text(void **state)
{
    (void)state;
    struct mf_buf b;
    mf_buf_init(&b, 1 << 20);
    const char *to[] = {"lead@example.org"};
    assert_int_equal(msg_build_text("me@example.com", "Zoë", to, 1,
                                    "Café meeting", "Grüße\nsecond line\n", &b, NULL),
                     MF_OK);
    const char *d = mf_buf_data(&b);
    assert_non_null(strstr(d, "Subject: =?"));          /* RFC 2047 */
    assert_non_null(strstr(d, "To: lead@example.org"));
    assert_non_null(strstr(d, "Content-Transfer-Encoding: quoted-printable"));
    assert_non_null(strstr(d, "Message-Id: <")); /* GMime's spelling */
    assert_non_null(strstr(d, "Date: "));
    for (const char *p = d; *p; p++)
        assert_true((unsigned char)*p < 0x80); /* all 7-bit on the wire */
    mf_buf_free(&b);
    assert_int_equal(msg_build_text("bad", NULL, to, 1, "s", "b", &b, NULL), MF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extract_recipients_and_drop_bcc),
        cmocka_unit_test(test_adds_missing_headers),
        cmocka_unit_test(test_bare_body_gets_headers),
        cmocka_unit_test(test_bcc_never_survives),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_build_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
