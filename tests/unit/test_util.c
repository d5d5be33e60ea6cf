/* util/: the bounded buffer, base64, errors and redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

static void test_buf_bounded(void **state)
{
    (void)state;
    struct mf_buf b;
    mf_buf_init(&b, 10);
    assert_string_equal(mf_buf_data(&b), "");
    assert_int_equal(mf_buf_adds(&b, "12345"), MF_OK);
    assert_int_equal(mf_buf_adds(&b, "67890"), MF_OK);
    assert_int_equal(mf_buf_adds(&b, "x"), MF_ELIMIT);
    assert_string_equal(mf_buf_data(&b), "1234567890"); /* unchanged */
    mf_buf_consume(&b, 4);
    assert_string_equal(mf_buf_data(&b), "567890");
    assert_int_equal(mf_buf_printf(&b, "%d", 1234), MF_OK);
    assert_string_equal(mf_buf_data(&b), "5678901234");
    assert_int_equal(mf_buf_printf(&b, "%s", "y"), MF_ELIMIT);
    mf_buf_consume(&b, 100);
    assert_int_equal(mf_buf_len(&b), 0);
    assert_int_equal(mf_buf_add(&b, "a\0b", 3), MF_OK);
    assert_int_equal(mf_buf_len(&b), 3);
    mf_buf_wipe_free(&b);
    mf_buf_free(NULL);
}

static void test_base64_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10 */
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                         "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        struct mf_buf b, d;
        mf_buf_init(&b, 100);
        mf_buf_init(&d, 100);
        assert_int_equal(mf_base64_encode(&b, in[i], strlen(in[i])), MF_OK);
        assert_string_equal(mf_buf_data(&b), out[i]);
        assert_int_equal(mf_base64_decode(&d, out[i], strlen(out[i])), MF_OK);
        assert_string_equal(mf_buf_data(&d), in[i]);
        mf_buf_free(&b);
        mf_buf_free(&d);
    }
}

static void test_base64_strict(void **state)
{
    (void)state;
    const char *bad[] = {"Zg=", "Z===", "Zg==Zg==", "Zm9v YmFy", "Zm9\n",
                         "Zm9*", "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct mf_buf d;
        mf_buf_init(&d, 100);
        assert_int_equal(mf_base64_decode(&d, bad[i], strlen(bad[i])), MF_EINVAL);
        mf_buf_free(&d);
    }
}

static void test_err_table(void **state)
{
    (void)state;
    for (int rc = 0; rc < MF_RC_COUNT; rc++) {
        assert_true(strlen(mf_rc_name((enum mf_rc)rc)) > 0);
        assert_true(strlen(mf_rc_message((enum mf_rc)rc)) > 0);
    }
    assert_string_equal(mf_rc_name(MF_RC_COUNT), "unknown");
    assert_string_equal(mf_layer_name(MF_LAYER_TLS), "tls");
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(mf_err_set(&e, MF_EAUTH, MF_LAYER_AUTH, "x=%d", 5), MF_EAUTH);
    assert_string_equal(e.detail, "x=5");
    mf_err_set_reply(&e, 535, "5.7.3", "bad\r\nthing\x01", 11);
    assert_string_equal(e.reply, "bad \nthing?");
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    mf_err_set(&e, MF_EAUTH, MF_LAYER_AUTH, "%s", big);
    assert_int_equal(strlen(e.detail), MF_ERR_DETAIL_MAX - 1);
    assert_int_equal(mf_err_set(NULL, MF_EIO, MF_LAYER_LOCAL, "x"), MF_EIO);
}

static void test_redaction(void **state)
{
    (void)state;
    assert_int_equal(mf_secret_register("hunter2-password"), MF_OK);
    assert_int_equal(mf_secret_register("abc"), MF_OK); /* too short: ignored */
    struct mf_buf out, b64;
    mf_buf_init(&out, 4096);
    mf_buf_init(&b64, 4096);
    const char *line = "PASS hunter2-password and abc";
    assert_int_equal(mf_redact(&out, line, strlen(line)), MF_OK);
    assert_string_equal(mf_buf_data(&out), "PASS <redacted> and abc");
    /* the base64 form inside an AUTH PLAIN payload is caught at any offset */
    for (size_t shift = 0; shift < 3; shift++) {
        char raw[64] = "\0\0\0";
        memcpy(raw + shift, "user\0hunter2-password", 21);
        mf_buf_reset(&b64);
        mf_base64_encode(&b64, raw, shift + 21);
        mf_buf_reset(&out);
        mf_redact(&out, mf_buf_data(&b64), mf_buf_len(&b64));
        assert_non_null(strstr(mf_buf_data(&out), MF_REDACTED));
    }
    mf_secret_clear_all();
    mf_buf_reset(&out);
    mf_redact(&out, line, strlen(line));
    assert_string_equal(mf_buf_data(&out), line);
    mf_buf_free(&out);
    mf_buf_free(&b64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_bounded),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_strict),
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_redaction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
