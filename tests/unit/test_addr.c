/* mail/addr: address syntax check and normalisation (the lead dedupe key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/addr.h"

static void expect_ok(const char *in, const char *want)
{
    char out[ADDR_BUFSIZE];
    const char *why = "unset";
    bool ok = addr_normalize(in, out, sizeof out, &why);
    if (!ok || strcmp(out, want) != 0) {
        fprintf(stderr, "input [%s]: ok=%d out=[%s] why=%s, want [%s]\n", in, ok, out,
                why ? why : "(null)", want);
        fail();
    }
    assert_null(why);
    /* idempotent */
    char again[ADDR_BUFSIZE];
    assert_true(addr_normalize(out, again, sizeof again, NULL));
    assert_string_equal(again, out);
}

static void expect_bad(const char *in, const char *want_why)
{
    char out[ADDR_BUFSIZE];
    const char *why = NULL;
    bool ok = addr_normalize(in, out, sizeof out, &why);
    if (ok || !why || strcmp(why, want_why) != 0) {
        fprintf(stderr, "input [%s]: ok=%d out=[%s] why=%s, want refusal \"%s\"\n", in,
                ok, out, why ? why : "(null)", want_why);
        fail();
    }
    assert_string_equal(out, "");
}

static void test_valid(void **state)
{
    (void)state;
    expect_ok("bob@example.com", "bob@example.com");
    expect_ok("Bob.Smith@Example.COM", "bob.smith@example.com");
    expect_ok("a@b.co", "a@b.co");
    expect_ok("a@b.c", "a@b.c");
    expect_ok("first.last+tag@sub.domain.example.org", "first.last+tag@sub.domain.example.org");
    expect_ok("o'brien@example.ie", "o'brien@example.ie");
    expect_ok("user_name-x@my-host.example", "user_name-x@my-host.example");
    expect_ok("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~@example.com");
    expect_ok("x@123.example.com", "x@123.example.com");    /* numeric labels below the TLD */
    expect_ok("x@example.c0m", "x@example.c0m");
    expect_ok("x@xn--bcher-kva.de", "x@xn--bcher-kva.de");  /* A-label kept as is */
    expect_ok("1234@example.com", "1234@example.com");
}

static void test_trimming_and_brackets(void **state)
{
    (void)state;
    expect_ok("  bob@example.com\t", "bob@example.com");
    expect_ok("\r\nbob@example.com\r\n", "bob@example.com");
    expect_ok("<bob@example.com>", "bob@example.com");
    expect_ok("  < Bob@Example.com >  ", "bob@example.com");
    expect_ok("\xc2\xa0" "bob@example.com" "\xc2\xa0", "bob@example.com"); /* NBSP */
    expect_ok("\xef\xbb\xbf" "bob@example.com", "bob@example.com");          /* BOM */
    expect_ok("bob@example.com" "\xe2\x80\x8b", "bob@example.com");          /* ZWSP */
    expect_ok("bob@example.com" "\xe3\x80\x80", "bob@example.com");          /* ideographic space */
    /* only one pair of <> is removed */
    expect_bad("<<bob@example.com>>", "bad character in local part");
    expect_bad("<bob@example.com", "bad character in local part");
    expect_bad("bob@example.com>", "bad domain");
}

static void test_display_names_refused(void **state)
{
    (void)state;
    /* a cell holds one address: no display-name parsing */
    expect_bad("Bob <bob@example.com>", "bad character in local part");
    expect_bad("\"Bob\" <bob@example.com>", "bad character in local part");
    expect_bad("bob@example.com (Bob)", "bad domain");
    expect_bad("bob@example.com, amy@example.com", "two @");
    expect_bad("mailto:bob@example.com", "bad character in local part");
}

static void test_structure(void **state)
{
    (void)state;
    expect_bad("", "empty");
    expect_bad(NULL, "empty");
    expect_bad("   \t ", "empty");
    expect_bad("<>", "empty");
    expect_bad("< >", "empty");
    expect_bad("bob.example.com", "no @");
    expect_bad("bob@@example.com", "two @");
    expect_bad("a@b@example.com", "two @");
    expect_bad("@example.com", "empty local part");
    expect_bad("bob@", "bad domain");
    expect_bad("\"john doe\"@example.com", "quoted local parts are not supported");
    expect_bad("\"a@b\"@example.com", "quoted local parts are not supported");
}

static void test_local_part(void **state)
{
    (void)state;
    expect_bad(".bob@example.com", "bad character in local part");
    expect_bad("bob.@example.com", "bad character in local part");
    expect_bad("bo..b@example.com", "bad character in local part");
    expect_bad("bo b@example.com", "bad character in local part");
    expect_bad("bo\"b@example.com", "bad character in local part");
    expect_bad("bo(b)@example.com", "bad character in local part");
    expect_bad("bo,b@example.com", "bad character in local part");
    expect_bad("bo;b@example.com", "bad character in local part");
    expect_bad("bo\\b@example.com", "bad character in local part");
    expect_bad("bo[b]@example.com", "bad character in local part");
    expect_bad("bo\x01" "b@example.com", "bad character in local part");
    expect_bad("bo\x7f" "b@example.com", "bad character in local part");
    expect_bad("j\xc3\xb6rg@example.com", "bad character in local part"); /* non-ASCII */

    char local[80], addr[200];
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_ok(addr, addr);
    local[64] = 'a';
    local[65] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_bad(addr, "local part too long");
}

static void test_domain(void **state)
{
    (void)state;
    expect_bad("bob@localhost", "domain has no dot");
    expect_bad("bob@com", "domain has no dot");
    expect_bad("bob@.example.com", "bad domain");
    expect_bad("bob@example.com.", "bad domain");        /* no root dot */
    expect_bad("bob@example..com", "bad domain");
    expect_bad("bob@-example.com", "bad domain");
    expect_bad("bob@example-.com", "bad domain");
    expect_bad("bob@example.-com", "bad domain");
    expect_bad("bob@exa_mple.com", "bad domain");
    expect_bad("bob@exa mple.com", "bad domain");
    expect_bad("bob@[192.168.1.1]", "bad domain");
    expect_bad("bob@192.168.1.1", "numeric top-level domain");
    expect_bad("bob@example.123", "numeric top-level domain");
    expect_bad("bob@example.com:25", "bad domain");
    expect_bad("bob@example.com/", "bad domain");

    char label[80], addr[300];
    memset(label, 'd', 63);
    label[63] = '\0';
    snprintf(addr, sizeof addr, "b@%s.com", label);
    expect_ok(addr, addr);
    label[63] = 'd';
    label[64] = '\0';
    snprintf(addr, sizeof addr, "b@%s.com", label);
    expect_bad(addr, "bad domain");
}

static void test_idn(void **state)
{
    (void)state;
    /* U-labels as they are; only ASCII letters are lowercased */
    expect_ok("Info@B\xc3\xbc" "cher.DE", "info@b\xc3\xbc" "cher.de");
    expect_ok("x@\xd0\x9f\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84",
              "x@\xd0\x9f\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84");
    expect_ok("x@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
              "x@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a");
    expect_bad("x@b\xfc" "cher.de", "not UTF-8");                 /* Latin-1 */
    expect_bad("x@b\xc3" "cher.de", "not UTF-8");                 /* truncated */
    expect_bad("x@\xc0\xae" "example.com", "not UTF-8");          /* overlong */
    expect_bad("x@\xed\xa0\x80" "a.com", "not UTF-8");            /* surrogate */
    expect_bad("x@\xf4\x90\x80\x80" "a.com", "not UTF-8");        /* > U+10FFFF */
    expect_bad("x@b\xc3\xbc" "cher-.de", "bad domain");
    expect_bad("x@exa\xc2\xa0" "mple.com", "bad domain");         /* NBSP inside */
    expect_bad("x@exa\xe2\x80\x8b" "mple.com", "bad domain");     /* ZWSP inside */
    expect_bad("x@example\xe3\x80\x82" "com", "bad domain");    /* ideographic full stop */
    expect_bad("x@a.example\xef\xbc\x8e" "com", "bad domain");    /* full-width dot */
    expect_bad("x@a.exa\xc2\x85" "mple", "bad domain");           /* C1 control */
}

static void test_lengths(void **state)
{
    (void)state;
    /* 64 + 1 + 189 = 254 octets: the longest address */
    char addr[400];
    snprintf(addr, sizeof addr, "%.64s@%.60s.%.60s.%.60s.cccccc",
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    assert_int_equal(strlen(addr), 254);
    expect_ok(addr, addr);
    /* white space and <> around do not count */
    char padded[420];
    snprintf(padded, sizeof padded, "   <%s>  ", addr);
    expect_ok(padded, addr);
    /* 255 */
    strcat(addr, "c");
    expect_bad(addr, "too long");
}

static void test_outputs(void **state)
{
    (void)state;
    const char *why = "x";
    /* check only */
    assert_true(addr_normalize("A@B.CO", NULL, 0, &why));
    assert_null(why);
    /* too small a buffer is refused, not truncated */
    char small[6];
    assert_false(addr_normalize("bob@example.com", small, sizeof small, &why));
    assert_string_equal(why, "output buffer too small");
    assert_string_equal(small, "");
    char exact[16];
    assert_true(addr_normalize("BOB@EXAMPLE.COM", exact, sizeof exact, NULL));
    assert_string_equal(exact, "bob@example.com");
    /* why may be NULL */
    assert_false(addr_normalize("nope", exact, sizeof exact, NULL));
}

static void test_domain_of(void **state)
{
    (void)state;
    const char *d = "x";
    assert_true(addr_domain("bob@example.com", &d));
    assert_string_equal(d, "example.com");
    assert_false(addr_domain("bob", &d));
    assert_null(d);
    assert_false(addr_domain("bob@", &d));
    assert_null(d);
    assert_false(addr_domain(NULL, &d));
    assert_true(addr_domain("a@b.c", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_trimming_and_brackets),
        cmocka_unit_test(test_display_names_refused),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_local_part),
        cmocka_unit_test(test_domain),
        cmocka_unit_test(test_idn),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_domain_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
