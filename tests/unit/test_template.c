/* mail/template: fields and fallbacks, spintax, escapes, modes, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/template.h"

/* A lead: name/value pairs (names lowercase, as the lookup receives them);
 * the names the template asked for are recorded. */
struct lead {
    const char *const *kv; /* name, value, name, value, ..., NULL */
    char asked[512];
};

static const char *lookup(void *ctx, const char *name)
{
    struct lead *l = ctx;
    size_t n = strlen(l->asked);
    snprintf(l->asked + n, sizeof l->asked - n, "%s;", name);
    for (size_t i = 0; l->kv && l->kv[i]; i += 2)
        if (strcmp(l->kv[i], name) == 0)
            return l->kv[i + 1];
    return NULL;
}

static const char *const ann[] = {"first_name", "Ann", "company", "  Acme Inc \n",
                                  "empty", "", "blank", " \t\r\n ",
                                  "nbsp", "\xc2\xa0 \xc2\xa0", "x-y.z_1", "dotted",
                                  "padded", "\xc2\xa0" "Bo\xc2\xa0" "b\xc2\xa0 ",
                                  NULL};

/* Renders into a fresh buffer (max 64 KiB); returns rc, text in *out. */
static enum mf_rc render(const char *tpl, const char *const *kv, uint64_t seed,
                         enum tpl_mode mode, struct mf_buf *out, struct mf_err *err)
{
    struct lead l = {.kv = kv};
    mf_buf_init(out, 64 * 1024);
    return tpl_render(tpl, strlen(tpl), lookup, &l, seed, mode, out, err);
}

/* Renders and checks the text in one go. */
static void expect(const char *tpl, const char *const *kv, uint64_t seed,
                   enum tpl_mode mode, const char *want)
{
    struct mf_buf out;
    struct mf_err e;
    enum mf_rc rc = render(tpl, kv, seed, mode, &out, &e);
    if (rc != MF_OK)
        fail_msg("%s: %s (%s)", tpl, mf_rc_name(rc), e.detail);
    assert_string_equal(mf_buf_data(&out), want);
    assert_int_equal(mf_buf_len(&out), strlen(want));
    mf_buf_free(&out);
}

static void test_plain_text_and_pipes(void **state)
{
    (void)state;
    expect("Hello | world, 100% plain; see below", ann, 1, TPL_BODY,
           "Hello | world, 100% plain; see below");
    expect("", ann, 1, TPL_BODY, "");
}

static void test_fields_case_insensitive_trimmed(void **state)
{
    (void)state;
    struct mf_buf out;
    struct mf_err e;
    struct lead l = {.kv = ann};
    const char *t = "Hi {{First_Name}} at {{ COMPANY\t}}! {{X-Y.Z_1}}";
    mf_buf_init(&out, 1024);
    assert_int_equal(tpl_render(t, strlen(t), lookup, &l, 7, TPL_BODY, &out, &e), MF_OK);
    /* the value " Acme Inc \n" is trimmed; names arrive lowercased */
    assert_string_equal(mf_buf_data(&out), "Hi Ann at Acme Inc! dotted");
    assert_string_equal(l.asked, "first_name;company;x-y.z_1;");
    mf_buf_free(&out);
}

static void test_fallbacks(void **state)
{
    (void)state;
    expect("Hi {{nick|there}},", ann, 1, TPL_BODY, "Hi there,");          /* missing */
    expect("Hi {{empty|there}},", ann, 1, TPL_BODY, "Hi there,");         /* empty */
    expect("Hi {{blank|there}},", ann, 1, TPL_BODY, "Hi there,");         /* spaces */
    expect("Hi {{nbsp|there}},", ann, 1, TPL_BODY, "Hi there,");          /* U+00A0 */
    expect("Hi {{ first_name | there }},", ann, 1, TPL_BODY, "Hi Ann,");  /* present */
    expect("Hi {{padded}},", ann, 1, TPL_BODY, "Hi Bo\xc2\xa0" "b,");   /* trimmed */
    expect("Hi{{nick|}},", ann, 1, TPL_BODY, "Hi,");                      /* empty ok */
    expect("Hi{{blank|   }},", ann, 1, TPL_BODY, "Hi,");
    expect("Hi {{nick|   my   friend  }}!", ann, 1, TPL_BODY, "Hi my   friend!");
    /* a fallback is literal text: escapes resolve, nothing else is parsed */
    expect("{{nick|a\\}\\}b \\| c\\\\ \\{x\\}}}", ann, 1, TPL_BODY, "a}}b | c\\ {x}");
    expect("{{nick|\xc2\xaf\\_(\xe3\x83\x84)_/\xc2\xaf}}", ann, 1, TPL_BODY,
           "\xc2\xaf\\_(\xe3\x83\x84)_/\xc2\xaf");
    expect("{{nick|don't: <b>}}", ann, 1, TPL_BODY, "don't: <b>");
}

static void test_missing_field_without_fallback(void **state)
{
    (void)state;
    struct mf_buf out;
    struct mf_err e;
    struct lead l = {.kv = ann};
    const char *t = "Hi {{First_Name}},";
    mf_buf_init(&out, 1024);
    assert_int_equal(mf_buf_adds(&out, "kept"), MF_OK);
    struct lead none = {.kv = NULL};
    assert_int_equal(tpl_render(t, strlen(t), lookup, &none, 1, TPL_BODY, &out, &e),
                     MF_ENOTFOUND);
    assert_int_equal(e.rc, MF_ENOTFOUND);
    assert_string_equal(e.detail, "missing field \"first_name\" and no fallback");
    assert_string_equal(mf_buf_data(&out), "kept"); /* never "Hi ," */

    /* an empty or blank value is no better than a missing one */
    const char *t2 = "Hi {{blank}},";
    assert_int_equal(tpl_render(t2, strlen(t2), lookup, &l, 1, TPL_BODY, &out, &e),
                     MF_ENOTFOUND);
    assert_string_equal(e.detail, "field \"blank\" is empty and no fallback");
    assert_string_equal(mf_buf_data(&out), "kept");

    /* a NULL lookup means every field is missing */
    assert_int_equal(tpl_render(t, strlen(t), NULL, NULL, 1, TPL_BODY, &out, &e),
                     MF_ENOTFOUND);
    mf_buf_free(&out);

    /* a missing field only matters when the seed picks the text using it */
    int ok = 0, notfound = 0;
    for (uint64_t seed = 0; seed < 64; seed++) {
        enum mf_rc rc = render("{{{nick}}|hey}", ann, seed, TPL_BODY, &out, &e);
        if (rc == MF_OK) {
            assert_string_equal(mf_buf_data(&out), "hey");
            ok++;
        } else {
            assert_int_equal(rc, MF_ENOTFOUND);
            assert_string_equal(e.detail, "missing field \"nick\" and no fallback");
            notfound++;
        }
        mf_buf_free(&out);
    }
    assert_true(ok > 0 && notfound > 0);
}

static void collect(void *ctx, const char *name)
{
    struct mf_buf *b = ctx;
    assert_int_equal(mf_buf_printf(b, "%s;", name), MF_OK);
}

static void test_required_fields(void **state)
{
    (void)state;
    struct mf_buf names;
    struct mf_err e;
    mf_buf_init(&names, 1024);
    const char *t = "Hi {{First_Name}} {{company|}} {a|{{City}}|{{first_name}}} "
                    "{{zip|00000}} {{CITY}} {{{y}}|z}";
    assert_int_equal(tpl_required_fields(t, strlen(t), collect, &names, &e), MF_OK);
    /* once each, lowercased, in order of first use, spintax options included */
    assert_string_equal(mf_buf_data(&names), "first_name;city;y;");
    mf_buf_reset(&names);

    const char *bad = "Hi {{first_name}} {oops";
    assert_int_equal(tpl_required_fields(bad, strlen(bad), collect, &names, &e), MF_EINVAL);
    assert_string_equal(mf_buf_data(&names), ""); /* nothing on a bad template */

    /* many distinct fields stay linear and are all listed */
    struct mf_buf big;
    mf_buf_init(&big, 1 << 20);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(mf_buf_printf(&big, "{{F%d}}{{f%d}}", i, i), MF_OK);
    struct mf_buf many;
    mf_buf_init(&many, 1 << 20);
    assert_int_equal(tpl_required_fields(mf_buf_data(&big), mf_buf_len(&big), collect,
                                         &many, &e), MF_OK);
    assert_non_null(strstr(mf_buf_data(&many), ";f4999;"));
    size_t count = 0;
    for (const char *p = mf_buf_data(&many); *p; p++)
        count += *p == ';';
    assert_int_equal(count, 5000);
    mf_buf_free(&big);
    mf_buf_free(&many);
    mf_buf_free(&names);
}

/* Renders tpl under `n` seeds and returns how often each of `want` came out;
 * anything else fails. */
static void spin_counts(const char *tpl, const char *const *want, int *counts, int n)
{
    for (int i = 0; want[i]; i++)
        counts[i] = 0;
    for (int s = 0; s < n; s++) {
        char addr[64];
        snprintf(addr, sizeof addr, "lead%d@example.com", s);
        struct mf_buf out;
        struct mf_err e;
        assert_int_equal(render(tpl, ann, tpl_seed(addr, "c/1"), TPL_BODY, &out, &e), MF_OK);
        int i = 0;
        while (want[i] && strcmp(want[i], mf_buf_data(&out)) != 0)
            i++;
        if (!want[i])
            fail_msg("%s rendered unexpected \"%s\"", tpl, mf_buf_data(&out));
        counts[i]++;
        mf_buf_free(&out);
    }
}

static void test_spintax_nested_and_empty(void **state)
{
    (void)state;
    int c[4];
    const char *const nested[] = {"Hi", "Hello there", "Hello friend", NULL};
    spin_counts("{Hi|Hello {there|friend}}", nested, c, 200);
    assert_true(c[0] > 0 && c[1] > 0 && c[2] > 0);

    const char *const empty[] = {"Thanks", "Thanks!", NULL};
    spin_counts("Thanks{|!}", empty, c, 100);
    assert_true(c[0] > 0 && c[1] > 0);

    const char *const mixed[] = {"Hi Ann, x", "Hey Ann, x", "Hi Acme Inc, x",
                                 "Hey Acme Inc, x", NULL};
    spin_counts("{Hi|Hey} {{{first_name}}|{{company}}}, x", mixed, c, 200);
    assert_true(c[0] > 0 && c[1] > 0 && c[2] > 0 && c[3] > 0);
}

static void test_escapes(void **state)
{
    (void)state;
    expect("\\{not spintax\\} a\\|b \\\\ C:\\Users \xc2\xaf\\_(\xe3\x83\x84)_/\xc2\xaf",
           ann, 1, TPL_BODY,
           "{not spintax} a|b \\ C:\\Users \xc2\xaf\\_(\xe3\x83\x84)_/\xc2\xaf");
    expect("\\{\\{first_name\\}\\}", ann, 1, TPL_BODY, "{{first_name}}");
    const char *const opts[] = {"a|b", "{c}", NULL};
    int c[2];
    spin_counts("{a\\|b|\\{c\\}}", opts, c, 100);
    assert_true(c[0] > 0 && c[1] > 0);
}

static void test_values_are_not_template(void **state)
{
    (void)state;
    const char *const kv[] = {"first_name", "{{company}} {a|b} \\ }}", NULL};
    expect("Hi {{first_name}}", kv, 3, TPL_BODY, "Hi {{company}} {a|b} \\ }}");
    expect("Hi {{first_name}}", kv, 3, TPL_HEADER, "Hi {{company}} {a|b} \\ }}");
}

static void test_determinism_and_balance(void **state)
{
    (void)state;
    const char *t = "{a|b|c}";
    struct mf_buf o1, o2;
    struct mf_err e;
    for (uint64_t s = 0; s < 50; s++) {
        uint64_t seed = s * 0x9e3779b97f4a7c15u;
        assert_int_equal(render(t, ann, seed, TPL_BODY, &o1, &e), MF_OK);
        assert_int_equal(render(t, ann, seed, TPL_BODY, &o2, &e), MF_OK);
        assert_string_equal(mf_buf_data(&o1), mf_buf_data(&o2));
        mf_buf_free(&o1);
        mf_buf_free(&o2);
    }
    /* over 200 leads every option shows up, each at least 20% of the time */
    const char *const opts[] = {"a", "b", "c", NULL};
    int c[3];
    spin_counts(t, opts, c, 200);
    for (int i = 0; i < 3; i++)
        assert_true(c[i] >= 40);
    /* the seed depends on both strings, their boundary and nothing else */
    assert_true(tpl_seed("a@b.c", "c/1") == tpl_seed("a@b.c", "c/1"));
    assert_true(tpl_seed("a@b.c", "c/1") != tpl_seed("a@b.c", "c/2"));
    assert_true(tpl_seed("a@b.c", "c/1") != tpl_seed("c/1", "a@b.c"));
    assert_true(tpl_seed("ab", "c") != tpl_seed("a", "bc"));
    assert_true(tpl_seed(NULL, NULL) == tpl_seed("", ""));
}

/* A group's number is its place in the text, not in what was rendered:
 * the group after a group with a nested group chooses the same way as the
 * group after two flat groups. */
static void test_group_numbers_ignore_choices(void **state)
{
    (void)state;
    struct mf_buf a, b;
    struct mf_err e;
    for (uint64_t s = 0; s < 100; s++) {
        uint64_t seed = tpl_seed("lead@example.com", "c/1") + s;
        assert_int_equal(render("{A|B{c|d}}-{x|y|z}", ann, seed, TPL_BODY, &a, &e), MF_OK);
        assert_int_equal(render("{A|B}{q|r}-{x|y|z}", ann, seed, TPL_BODY, &b, &e), MF_OK);
        assert_string_equal(strchr(mf_buf_data(&a), '-'), strchr(mf_buf_data(&b), '-'));
        mf_buf_free(&a);
        mf_buf_free(&b);
    }
}

static bool has_ctrl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static void test_header_mode(void **state)
{
    (void)state;
    const char *const evil[] = {"company", "x\r\nBcc: y", "first_name", "a\x01\x7f" "b",
                                "ctl", "\x01\x02", NULL};
    struct mf_buf out;
    struct mf_err e;
    for (uint64_t s = 0; s < 20; s++) {
        assert_int_equal(render("Quick\r\nquestion\tfor {{company}} {now|today}\n", evil,
                                s, TPL_HEADER, &out, &e), MF_OK);
        assert_false(has_ctrl(mf_buf_data(&out)));
        assert_null(strchr(mf_buf_data(&out), '\r'));
        assert_null(strchr(mf_buf_data(&out), '\n'));
        mf_buf_free(&out);
    }
    expect("Quick\r\nquestion\tfor {{company}}\n", evil, 1, TPL_HEADER,
           "Quick question for x Bcc: y");
    expect("{{first_name}}", evil, 1, TPL_HEADER, "a b");
    /* spaces stay as written, unless they touch a control run */
    expect("  \r\n re:  a \r\n b\t\t{{company}} \n", evil, 1, TPL_HEADER,
           "re:  a b x Bcc: y");
    /* a value that is only controls is blank */
    expect("[{{ctl|none}}]", evil, 1, TPL_HEADER, "[none]");
    expect("{{nick|a\nb}}", evil, 1, TPL_HEADER, "a b");
    expect("\r\n\t", evil, 1, TPL_HEADER, "");
}

static void test_body_mode(void **state)
{
    (void)state;
    const char *const kv[] = {"first_name", "Ann", "note", "a\x01" "b\rc\r\nd\te\x7f" "f\ng",
                              NULL};
    expect("Hi {{first_name}},\r\n\r\n\tline\nend\n", kv, 1, TPL_BODY,
           "Hi Ann,\r\n\r\n\tline\nend\n");
    expect("[{{note}}]", kv, 1, TPL_BODY, "[abc\r\nd\tef\ng]");
    expect("a\x01" "b\x7f" "c\r", kv, 1, TPL_BODY, "abc");
}

struct bad {
    const char *tpl;
    const char *detail;
};

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct bad cases[] = {
        {"line one\nline two\nHello there, {Hi|Hey",
         "line 3, column 14: unclosed {"},
        {"Hi {{first_name", "line 1, column 4: unclosed {{"},
        {"Hi {{first_name|there}", "line 1, column 4: unclosed {{"},
        {"a\nb\nHi {{first_name}, x",
         "line 3, column 16: } where }} should close the field \"first_name\""},
        {"x}", "line 1, column 2: } without a matching {"},
        {"{a|b}}", "line 1, column 6: } without a matching {"},
        {"Hi first_name}}", "line 1, column 14: }} without a matching {{"},
        {"{{}}", "line 1, column 1: empty field name"},
        {"x {{ |there}}", "line 1, column 3: empty field name"},
        {"{{first name}}", "line 1, column 8: space in a field name"},
        {"{{na$me}}", "line 1, column 5: '$' in a field name (letters, digits, _ - . only)"},
        {"{{n\xc3\xa4me}}", "line 1, column 4: byte 0xC3 in a field name (letters, digits, _ - . only)"},
        {"{{a\x01}}", "line 1, column 4: byte 0x01 in a field name (letters, digits, _ - . only)"},
        {"{{x|a\\", "line 1, column 6: backslash at the end of the template (write \\\\ for a backslash)"},
        {"abc\\", "line 1, column 4: backslash at the end of the template (write \\\\ for a backslash)"},
        {"{{x|a{b}}", "line 1, column 6: { in the fallback of \"x\": a fallback is plain text (write \\{)"},
        {"{{x|a}b}}", "line 1, column 6: } in the fallback of \"x\": a fallback is plain text (write \\})"},
        /* "{{" always opens a field, even where a group was meant */
        {"{{Hi|Hello} there|Hey}", "line 1, column 11: } in the fallback of \"hi\": a fallback is plain text (write \\})"},
        {"{{RANDOM|a|b}}", "line 1, column 11: | in the fallback of \"random\": a fallback is plain text (write \\|)"},
        {"Hi {first_name}", "line 1, column 4: {...} without | is not spintax: write {{name}} for a field, \\{ for a brace"},
        {"{}", "line 1, column 1: {...} without | is not spintax: write {{name}} for a field, \\{ for a brace"},
        {"\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\n\ns\xc3\xa9 {a|b", "line 3, column 4: unclosed {"},
        {"{a|{b|c}", "line 1, column 1: unclosed {"},
    };
    struct mf_buf out;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mf_err e;
        size_t n = strlen(cases[i].tpl);
        if (tpl_check(cases[i].tpl, n, &e) != MF_EINVAL)
            fail_msg("accepted: %s", cases[i].tpl);
        assert_string_equal(e.detail, cases[i].detail);
        /* render reports the same error, with every field present */
        assert_int_equal(render(cases[i].tpl, ann, 1, TPL_BODY, &out, &e), MF_EINVAL);
        assert_string_equal(e.detail, cases[i].detail);
        assert_int_equal(mf_buf_len(&out), 0);
        mf_buf_free(&out);
    }
    /* a syntax error in an option the seed does not pick still counts */
    struct mf_err e;
    for (uint64_t s = 0; s < 10; s++) {
        assert_int_equal(render("{ok|{{bad name}}}", ann, s, TPL_BODY, &out, &e), MF_EINVAL);
        mf_buf_free(&out);
    }
    /* a field name of exactly TPL_NAME_MAX is fine, one more is not */
    char t[TPL_NAME_MAX + 16];
    snprintf(t, sizeof t, "{{%0*d|x}}", TPL_NAME_MAX, 0);
    assert_int_equal(tpl_check(t, strlen(t), &e), MF_OK);
    snprintf(t, sizeof t, "{{%0*d|x}}", TPL_NAME_MAX + 1, 0);
    assert_int_equal(tpl_check(t, strlen(t), &e), MF_EINVAL);
    assert_string_equal(e.detail, "line 1, column 3: field name longer than 64 characters");
}

static void test_nesting_depth(void **state)
{
    (void)state;
    /* TPL_MAX_DEPTH levels, every path ending in "x": s = {as|bs}, doubled.
     * ("{{" would open a field: an option starting with a group cannot come
     * first.) */
    struct mf_buf t, next;
    mf_buf_init(&t, TPL_MAX_SRC);
    assert_int_equal(mf_buf_adds(&t, "x"), MF_OK);
    for (int i = 0; i < TPL_MAX_DEPTH; i++) {
        mf_buf_init(&next, TPL_MAX_SRC);
        assert_int_equal(mf_buf_printf(&next, "{a%s|b%s}", mf_buf_data(&t), mf_buf_data(&t)),
                         MF_OK);
        mf_buf_free(&t);
        t = next;
    }
    struct mf_err e;
    assert_int_equal(tpl_check(mf_buf_data(&t), mf_buf_len(&t), &e), MF_OK);
    for (uint64_t s = 0; s < 20; s++) {
        struct mf_buf out;
        struct lead l = {.kv = ann};
        mf_buf_init(&out, 64);
        assert_int_equal(tpl_render(mf_buf_data(&t), mf_buf_len(&t), lookup, &l, s,
                                    TPL_BODY, &out, &e), MF_OK);
        assert_int_equal(mf_buf_len(&out), TPL_MAX_DEPTH + 1);
        assert_int_equal(strspn(mf_buf_data(&out), "ab"), TPL_MAX_DEPTH);
        assert_int_equal(mf_buf_data(&out)[TPL_MAX_DEPTH], 'x');
        mf_buf_free(&out);
    }
    /* one level more is refused */
    assert_int_equal(mf_buf_adds(&t, "|y}"), MF_OK);
    mf_buf_init(&next, TPL_MAX_SRC);
    assert_int_equal(mf_buf_printf(&next, "{z%s", mf_buf_data(&t)), MF_OK);
    assert_int_equal(tpl_check(mf_buf_data(&next), mf_buf_len(&next), &e), MF_EINVAL);
    assert_string_equal(e.detail, "line 1, column 33: spintax nested deeper than 16 levels");
    mf_buf_free(&next);
    mf_buf_free(&t);

    char deep[256] = "ab ";
    size_t n = 3;
    for (int i = 0; i <= TPL_MAX_DEPTH; i++) {
        deep[n++] = '{';
        deep[n++] = '|';
    }
    deep[n] = '\0';
    assert_int_equal(tpl_check(deep, n, &e), MF_EINVAL);
    /* the 17th '{' is at column 3 + 2*16 + 1 */
    assert_string_equal(e.detail, "line 1, column 36: spintax nested deeper than 16 levels");
}

static const char *big_value(void *ctx, const char *name)
{
    (void)name;
    return ctx;
}

static void test_limits(void **state)
{
    (void)state;
    struct mf_err e;
    char *big = malloc(100001);
    assert_non_null(big);
    memset(big, 'x', 100000);
    big[100000] = '\0';

    struct mf_buf out;
    mf_buf_init(&out, 1000);
    assert_int_equal(mf_buf_adds(&out, "prefix "), MF_OK);
    const char *t = "Hi {{first_name}}";
    assert_int_equal(tpl_render(t, strlen(t), big_value, big, 1, TPL_BODY, &out, &e),
                     MF_ELIMIT);
    assert_string_equal(e.detail, "the rendered text is longer than 1000 bytes");
    assert_string_equal(mf_buf_data(&out), "prefix "); /* unchanged */
    /* the limit counts what was already in the buffer */
    big[993] = '\0';
    assert_int_equal(tpl_render("{{a}}", 5, big_value, big, 1, TPL_BODY, &out, &e), MF_OK);
    assert_int_equal(mf_buf_len(&out), 1000);
    mf_buf_reset(&out);
    big[993] = 'x';
    mf_buf_free(&out);

    /* a large template with many fields renders; with a smaller max, not */
    struct mf_buf tpl;
    mf_buf_init(&tpl, TPL_MAX_SRC);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(mf_buf_adds(&tpl, "{{first_name}} {a|b} \\{ "), MF_OK);
    struct lead l = {.kv = ann};
    mf_buf_init(&out, 1 << 20);
    assert_int_equal(tpl_render(mf_buf_data(&tpl), mf_buf_len(&tpl), lookup, &l, 9,
                                TPL_BODY, &out, &e), MF_OK);
    assert_int_equal(mf_buf_len(&out), 20000 * strlen("Ann a { "));
    mf_buf_free(&out);
    mf_buf_init(&out, 4096);
    assert_int_equal(tpl_render(mf_buf_data(&tpl), mf_buf_len(&tpl), lookup, &l, 9,
                                TPL_HEADER, &out, &e), MF_ELIMIT);
    assert_int_equal(mf_buf_len(&out), 0);
    mf_buf_free(&out);
    mf_buf_free(&tpl);

    /* a template over TPL_MAX_SRC is refused before parsing */
    char *huge = malloc(TPL_MAX_SRC + 1);
    assert_non_null(huge);
    memset(huge, 'y', TPL_MAX_SRC + 1);
    assert_int_equal(tpl_check(huge, TPL_MAX_SRC + 1, &e), MF_ELIMIT);
    assert_int_equal(tpl_check(huge, TPL_MAX_SRC, &e), MF_OK);
    free(huge);
    free(big);
}

static void test_api_edges(void **state)
{
    (void)state;
    struct mf_err e;
    struct mf_buf out;
    assert_int_equal(tpl_check(NULL, 0, &e), MF_OK);
    assert_int_equal(tpl_check(NULL, 5, &e), MF_EINVAL);
    assert_int_equal(tpl_check("{a|b}", 5, NULL), MF_OK);
    assert_int_equal(tpl_check("{a|b", 4, NULL), MF_EINVAL);
    assert_int_equal(tpl_render("x", 1, NULL, NULL, 0, TPL_BODY, NULL, &e), MF_EINVAL);
    assert_int_equal(tpl_required_fields("{{a}}", 5, NULL, NULL, &e), MF_OK);
    /* the length is what counts; a NUL is a control character */
    mf_buf_init(&out, 64);
    assert_int_equal(tpl_render("a\0b{c", 3, NULL, NULL, 0, TPL_HEADER, &out, NULL), MF_OK);
    assert_int_equal(mf_buf_len(&out), 3);
    assert_string_equal(mf_buf_data(&out), "a b");
    mf_buf_free(&out);
    mf_buf_init(&out, 64);
    assert_int_equal(tpl_render("a\0b{c", 3, NULL, NULL, 0, TPL_BODY, &out, NULL), MF_OK);
    assert_string_equal(mf_buf_data(&out), "ab");
    mf_buf_free(&out);
}

/* Pins the hash: if this fails, every running sequence would change the
 * text it sends mid-campaign. Do not update the expectations casually.
 * The values were cross-checked against an independent SipHash-2-4 (checked
 * on the reference vector) following the recipe in template.h. */
static void test_golden(void **state)
{
    (void)state;
    const char *t = "{Hi|Hello|Hey} {{first_name|there}}, {quick|short} question about "
                    "{{company}}{.|!|?} {I {saw|noticed|read}|Saw} your {post|news}.";
    uint64_t seed = tpl_seed("a@b.c", "c/1");
    assert_true(seed == UINT64_C(0xe6ca850aad46681e));
    expect(t, ann, seed, TPL_BODY, "Hi Ann, quick question about Acme Inc? I read your post.");
    seed = tpl_seed("b@c.d", "c/2");
    assert_true(seed == UINT64_C(0x754cabcd44d5c6d4));
    expect(t, ann, seed, TPL_HEADER, "Hi Ann, short question about Acme Inc. I saw your post.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_and_pipes),
        cmocka_unit_test(test_fields_case_insensitive_trimmed),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_missing_field_without_fallback),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_spintax_nested_and_empty),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_values_are_not_template),
        cmocka_unit_test(test_determinism_and_balance),
        cmocka_unit_test(test_group_numbers_ignore_choices),
        cmocka_unit_test(test_header_mode),
        cmocka_unit_test(test_body_mode),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_nesting_depth),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
