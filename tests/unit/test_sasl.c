/* proto/sasl: mechanism choice, transport policy, each mechanism's bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/sasl.h"
#include "util/base64.h"

static void decode(const struct mf_buf *b64, struct mf_buf *out)
{
    mf_buf_init(out, 1 << 20);
    assert_int_equal(mf_base64_decode(out, mf_buf_data(b64), mf_buf_len(b64)),
                     MF_OK);
}

static void test_choose(void **state)
{
    (void)state;
    unsigned all = SASL_BIT(SASL_MECH_PLAIN) | SASL_BIT(SASL_MECH_LOGIN) |
                   SASL_BIT(SASL_MECH_XOAUTH2) | SASL_BIT(SASL_MECH_OAUTHBEARER);
    assert_int_equal(sasl_choose(all, SASL_MECH_NONE, false), SASL_MECH_PLAIN);
    assert_int_equal(sasl_choose(all, SASL_MECH_NONE, true), SASL_MECH_XOAUTH2);
    assert_int_equal(sasl_choose(SASL_BIT(SASL_MECH_LOGIN), SASL_MECH_NONE, false),
                     SASL_MECH_LOGIN);
    assert_int_equal(sasl_choose(SASL_BIT(SASL_MECH_OAUTHBEARER), SASL_MECH_NONE, true),
                     SASL_MECH_OAUTHBEARER);
    /* a token never goes to PLAIN, a password never to XOAUTH2 */
    assert_int_equal(sasl_choose(SASL_BIT(SASL_MECH_PLAIN), SASL_MECH_NONE, true),
                     SASL_MECH_NONE);
    assert_int_equal(sasl_choose(SASL_BIT(SASL_MECH_XOAUTH2), SASL_MECH_NONE, false),
                     SASL_MECH_NONE);
    assert_int_equal(sasl_choose(SASL_BIT(SASL_MECH_PLAIN), SASL_MECH_LOGIN, false),
                     SASL_MECH_NONE);
    assert_int_equal(sasl_mech_parse("xoauth2", 7), SASL_MECH_XOAUTH2);
    assert_int_equal(sasl_mech_parse("CRAM-MD5", 8), SASL_MECH_NONE);
}

static void test_transport_policy(void **state)
{
    (void)state;
    struct mf_err e;
    for (int m = SASL_MECH_PLAIN; m < SASL_MECH_COUNT; m++) {
        mf_err_clear(&e);
        assert_int_equal(sasl_check_transport((enum sasl_mech)m, false, false, &e),
                         MF_EAUTH);
        assert_int_equal(e.layer, MF_LAYER_AUTH);
        assert_non_null(strstr(e.detail, "--allow-plaintext-auth"));
        assert_int_equal(sasl_check_transport((enum sasl_mech)m, true, false, &e), MF_OK);
        assert_int_equal(sasl_check_transport((enum sasl_mech)m, false, true, &e), MF_OK);
    }
}

static void test_plain(void **state)
{
    (void)state;
    struct sasl_creds c = {.user = "me@example.com", .secret = "pw"};
    struct sasl *s = sasl_new(SASL_MECH_PLAIN, &c, NULL);
    struct mf_buf b, raw;
    mf_buf_init(&b, 4096);
    assert_true(sasl_initial(s, &b));
    decode(&b, &raw);
    assert_int_equal(mf_buf_len(&raw), 18);
    assert_memory_equal(mf_buf_data(&raw), "\0me@example.com\0pw", 18);
    /* a second challenge is a protocol error */
    mf_buf_reset(&b);
    assert_int_equal(sasl_step(s, "", 0, &b, NULL), MF_EPROTO);
    sasl_free(s);
    mf_buf_free(&b);
    mf_buf_free(&raw);
}

static void test_login(void **state)
{
    (void)state;
    struct sasl_creds c = {.user = "u", .secret = "p@ss"};
    struct sasl *s = sasl_new(SASL_MECH_LOGIN, &c, NULL);
    struct mf_buf b;
    mf_buf_init(&b, 4096);
    assert_false(sasl_initial(s, &b));
    assert_int_equal(sasl_step(s, "VXNlcm5hbWU6", 12, &b, NULL), MF_OK);
    assert_string_equal(mf_buf_data(&b), "dQ==");
    mf_buf_reset(&b);
    assert_int_equal(sasl_step(s, "UGFzc3dvcmQ6", 12, &b, NULL), MF_OK);
    assert_string_equal(mf_buf_data(&b), "cEBzcw==");
    mf_buf_reset(&b);
    assert_int_equal(sasl_step(s, "", 0, &b, NULL), MF_EPROTO);
    assert_int_equal(sasl_step(s, "!!!", 3, &b, NULL), MF_EPROTO);
    sasl_free(s);
    mf_buf_free(&b);
}

static void test_xoauth2_and_error(void **state)
{
    (void)state;
    struct sasl_creds c = {.user = "me@contoso.com", .secret = "tok123"};
    struct sasl *s = sasl_new(SASL_MECH_XOAUTH2, &c, NULL);
    struct mf_buf b, raw;
    mf_buf_init(&b, 4096);
    assert_true(sasl_initial(s, &b));
    decode(&b, &raw);
    assert_string_equal(mf_buf_data(&raw),
                        "user=me@contoso.com\001auth=Bearer tok123\001\001");
    mf_buf_reset(&b);
    /* {"status":"400"} */
    const char *ch = "eyJzdGF0dXMiOiI0MDAifQ==";
    assert_int_equal(sasl_step(s, ch, strlen(ch), &b, NULL), MF_OK);
    assert_int_equal(mf_buf_len(&b), 0); /* an empty line */
    assert_string_equal(sasl_server_error(s), "{\"status\":\"400\"}");
    sasl_free(s);
    mf_buf_free(&b);
    mf_buf_free(&raw);
}

static void test_oauthbearer(void **state)
{
    (void)state;
    struct sasl_creds c = {.user = "a,b=c@example.com", .secret = "tok",
                           .host = "mx.example.com", .port = 587};
    struct sasl *s = sasl_new(SASL_MECH_OAUTHBEARER, &c, NULL);
    struct mf_buf b, raw;
    mf_buf_init(&b, 4096);
    assert_true(sasl_initial(s, &b));
    decode(&b, &raw);
    assert_string_equal(mf_buf_data(&raw),
                        "n,a=a=2Cb=3Dc@example.com,\001host=mx.example.com\001"
                        "port=587\001auth=Bearer tok\001\001");
    mf_buf_reset(&b);
    const char *ch = "eyJzdGF0dXMiOiI0MDAifQ==";
    assert_int_equal(sasl_step(s, ch, strlen(ch), &b, NULL), MF_OK);
    assert_string_equal(mf_buf_data(&b), "AQ=="); /* RFC 7628: %x01 */
    sasl_free(s);
    mf_buf_free(&b);
    mf_buf_free(&raw);
}

/* A bearer mechanism answers an empty "+" with its initial response, but a
 * challenge with content before that is out of order. */
static void test_challenge_before_initial(void **state)
{
    (void)state;
    struct sasl_creds c = {.user = "me@example.com", .secret = "tok123"};
    struct sasl *s = sasl_new(SASL_MECH_XOAUTH2, &c, NULL);
    struct mf_buf b;
    mf_buf_init(&b, 4096);
    const char *ch = "eyJzdGF0dXMiOiI0MDAifQ==";
    assert_int_equal(sasl_step(s, ch, strlen(ch), &b, NULL), MF_EPROTO);
    assert_int_equal(sasl_step(s, "", 0, &b, NULL), MF_OK);
    assert_true(mf_buf_len(&b) > 20); /* the initial response, as a continuation */
    sasl_free(s);
    mf_buf_free(&b);
}

static void test_bad_credentials(void **state)
{
    (void)state;
    struct mf_err e;
    struct sasl_creds c = {.user = "me\001x", .secret = "pw"};
    assert_null(sasl_new(SASL_MECH_XOAUTH2, &c, &e));
    assert_int_equal(e.rc, MF_EINVAL);
    struct sasl_creds c2 = {.user = "me", .secret = "pw\r\nQUIT"};
    assert_null(sasl_new(SASL_MECH_PLAIN, &c2, &e));
    struct sasl_creds c3 = {.user = "me", .secret = NULL};
    assert_null(sasl_new(SASL_MECH_PLAIN, &c3, &e));
    assert_null(sasl_new(SASL_MECH_NONE, &c, &e));
    sasl_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_transport_policy),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_login),
        cmocka_unit_test(test_xoauth2_and_error),
        cmocka_unit_test(test_oauthbearer),
        cmocka_unit_test(test_challenge_before_initial),
        cmocka_unit_test(test_bad_credentials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
