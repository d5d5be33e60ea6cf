/* mail/mime: the outbound message, parsed back with GMime; ids; subjects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <gmime/gmime.h>

#include "mail/mime.h"

#define MSGID "<abcdefghijklmnopqrstuvwxyz.s4hj5s@example.com>"

/* A minimal valid message; tests change what they look at. */
static struct mime_out base(void)
{
    return (struct mime_out){
        .from_name = "Anna Sender",
        .from_addr = "anna@example.com",
        .to_addr = "lead@example.org",
        .subject = "Quick question",
        .body = "Hi Lea,\nshort note.\n",
        .message_id = MSGID,
        .date = 1700000000, /* Tue, 14 Nov 2023 22:13:20 +0000 */
    };
}

/* Builds m; the result is malloc'd (caller frees), NULL when rc != MF_OK. */
static char *build(const struct mime_out *m, enum mf_rc want)
{
    struct mf_buf b;
    struct mf_err e;
    mf_buf_init(&b, 1 << 22);
    enum mf_rc rc = mime_build(m, &b, &e);
    if (rc != want)
        print_error("mime_build: %s (%s)\n", mf_rc_name(rc), e.detail);
    assert_int_equal(rc, want);
    char *s = NULL;
    if (rc == MF_OK) {
        s = strdup(mf_buf_data(&b));
        assert_non_null(s);
    } else {
        assert_int_equal(mf_buf_len(&b), 0); /* nothing appended on failure */
    }
    mf_buf_free(&b);
    return s;
}

static GMimeMessage *parse(const char *s)
{
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(s, strlen(s));
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    assert_non_null(m);
    return m;
}

/* Length of the header block, through its final CRLF (not the blank line). */
static size_t header_len(const char *s)
{
    const char *e = strstr(s, "\r\n\r\n");
    assert_non_null(e);
    return (size_t)(e - s) + 2;
}

/* Every line ends in CRLF; returns the longest header line. */
static size_t check_lines(const char *s)
{
    size_t hl = header_len(s), longest = 0;
    for (const char *p = s; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);                 /* the message ends with CRLF */
        assert_true(nl > p && nl[-1] == '\r'); /* never a bare LF */
        size_t n = (size_t)(nl - p) - 1;
        assert_null(memchr(p, '\r', n));     /* never a bare CR */
        if ((size_t)(p - s) < hl && n > longest)
            longest = n;
        p = nl + 1;
    }
    assert_true(longest <= 998);
    return longest;
}

/* The names of the header fields, in order, each followed by '\n'. */
static void header_names(const char *s, char *names, size_t size)
{
    size_t hl = header_len(s), o = 0;
    names[0] = '\0';
    for (const char *p = s; (size_t)(p - s) < hl; p = strstr(p, "\r\n") + 2) {
        if (*p == ' ' || *p == '\t')
            continue;
        const char *colon = strchr(p, ':');
        assert_non_null(colon);
        o += (size_t)snprintf(names + o, size - o, "%.*s\n", (int)(colon - p), p);
        assert_true(o < size);
    }
}

/* A header's unfolded value from the raw text, "" when absent. */
static void raw_header(const char *s, const char *name, char *out, size_t size)
{
    size_t hl = header_len(s), nl = strlen(name), o = 0;
    out[0] = '\0';
    for (const char *p = s; (size_t)(p - s) < hl; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
            continue;
        const char *v = p + nl + 1;
        while (*v == ' ')
            v++;
        for (; (size_t)(v - s) < hl; v++) {
            if (v[0] == '\r' && v[1] == '\n' && v[2] != ' ' && v[2] != '\t')
                break;
            if (*v != '\r' && *v != '\n' && o + 1 < size)
                out[o++] = *v;
        }
        out[o] = '\0';
        return;
    }
}

/* Decoded text of a text part, CRs removed; caller frees. */
static char *part_text(GMimeObject *part)
{
    assert_true(GMIME_IS_TEXT_PART(part));
    char *t = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    assert_non_null(t);
    char *d = strdup(t);
    assert_non_null(d);
    size_t o = 0;
    for (const char *p = t; *p; p++)
        if (*p != '\r')
            d[o++] = *p;
    d[o] = '\0';
    g_free(t);
    return d;
}

static void assert_7bit(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        assert_true(*p < 0x80);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_minimal_headers(void **state)
{
    (void)state;
    struct mime_out m = base();
    char *s = build(&m, MF_OK);
    check_lines(s);
    char names[512], v[512];
    header_names(s, names, sizeof names);
    /* exactly these fields: no threading, no unsubscribe, no X-Mailer */
    assert_string_equal(names, "Date\nFrom\nSubject\nTo\nMessage-ID\n"
                               "MIME-Version\nContent-Type\nContent-Transfer-Encoding\n");
    raw_header(s, "From", v, sizeof v);
    assert_string_equal(v, "Anna Sender <anna@example.com>");
    raw_header(s, "To", v, sizeof v);
    assert_string_equal(v, "lead@example.org");
    raw_header(s, "Subject", v, sizeof v);
    assert_string_equal(v, "Quick question");
    raw_header(s, "Date", v, sizeof v);
    assert_string_equal(v, "Tue, 14 Nov 2023 22:13:20 +0000");
    raw_header(s, "Message-ID", v, sizeof v);
    assert_string_equal(v, MSGID);
    raw_header(s, "MIME-Version", v, sizeof v);
    assert_string_equal(v, "1.0");
    raw_header(s, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/plain; charset=utf-8");
    raw_header(s, "Content-Transfer-Encoding", v, sizeof v);
    assert_string_equal(v, "7bit");
    assert_non_null(strstr(s, "\r\n\r\nHi Lea,\r\nshort note.\r\n"));

    GMimeMessage *g = parse(s);
    assert_string_equal(g_mime_message_get_message_id(g),
                        "abcdefghijklmnopqrstuvwxyz.s4hj5s@example.com");
    assert_null(g_mime_object_get_header(GMIME_OBJECT(g), "In-Reply-To"));
    assert_null(g_mime_object_get_header(GMIME_OBJECT(g), "List-Unsubscribe"));
    char *t = part_text(g_mime_message_get_mime_part(g));
    assert_string_equal(t, m.body);
    free(t);
    g_object_unref(g);
    free(s);

    /* no display name: a bare address */
    m.from_name = "";
    s = build(&m, MF_OK);
    raw_header(s, "From", v, sizeof v);
    assert_string_equal(v, "anna@example.com");
    free(s);
}

static void test_unsubscribe_headers(void **state)
{
    (void)state;
    char v[1024], names[512];
    struct mime_out m = base();
    m.unsub_token = "L42C7-x_y.z~";

    m.unsub_mailto = "unsub+list@example.com";
    char *s = build(&m, MF_OK);
    raw_header(s, "List-Unsubscribe", v, sizeof v);
    assert_string_equal(v, "<mailto:unsub+list@example.com?subject=unsubscribe%20L42C7-x_y.z~>");
    header_names(s, names, sizeof names);
    assert_null(strstr(names, "List-Unsubscribe-Post")); /* no https URL */
    free(s);

    m.unsub_mailto = NULL;
    m.unsub_url = "https://u.example.com/unsub";
    s = build(&m, MF_OK);
    raw_header(s, "List-Unsubscribe", v, sizeof v);
    assert_string_equal(v, "<https://u.example.com/unsub/L42C7-x_y.z~>"); /* path style */
    raw_header(s, "List-Unsubscribe-Post", v, sizeof v);
    assert_string_equal(v, "List-Unsubscribe=One-Click");
    free(s);

    /* both, in order; the token percent-encoded; a query of the base stays
     * after the token */
    m.unsub_mailto = "unsub@example.com";
    m.unsub_url = "https://u.example.com/u?c=9";
    m.unsub_token = "a b/c";
    s = build(&m, MF_OK);
    check_lines(s);
    raw_header(s, "List-Unsubscribe", v, sizeof v);
    assert_string_equal(v, "<mailto:unsub@example.com?subject=unsubscribe%20a%20b%2Fc>, "
                           "<https://u.example.com/u/a%20b%2Fc?c=9>");
    header_names(s, names, sizeof names);
    assert_non_null(strstr(names, "\nList-Unsubscribe\nList-Unsubscribe-Post\n"));
    GMimeMessage *g = parse(s);
    assert_non_null(g_mime_object_get_header(GMIME_OBJECT(g), "List-Unsubscribe"));
    assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(g), "List-Unsubscribe-Post"),
                        "List-Unsubscribe=One-Click");
    g_object_unref(g);
    free(s);

    /* plain http: listed, but never One-Click (RFC 8058 wants https) */
    m.unsub_mailto = NULL;
    m.unsub_url = "http://u.example.com/u";
    m.unsub_token = "t1";
    s = build(&m, MF_OK);
    raw_header(s, "List-Unsubscribe", v, sizeof v);
    assert_string_equal(v, "<http://u.example.com/u/t1>");
    header_names(s, names, sizeof names);
    assert_null(strstr(names, "List-Unsubscribe-Post"));
    free(s);

    /* the base's trailing slashes are dropped: one '/' before the token */
    const char *bases[][2] = {{"https://u.example.com/u/", "<https://u.example.com/u/t1>"},
                              {"https://u.example.com//", "<https://u.example.com/t1>"},
                              {"https://u.example.com", "<https://u.example.com/t1>"},
                              {"https://u.example.com/u/?c=9", "<https://u.example.com/u/t1?c=9>"}};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        m.unsub_url = bases[i][0];
        s = build(&m, MF_OK);
        raw_header(s, "List-Unsubscribe", v, sizeof v);
        assert_string_equal(v, bases[i][1]);
        header_names(s, names, sizeof names);
        assert_non_null(strstr(names, "List-Unsubscribe-Post"));
        free(s);
    }

    /* refused */
    const char *bad_urls[] = {"ftp://x.example.com/u", "https://", "https://x.example.com/a b",
                              "https://x.example.com/u#frag", "https://x.example.com/\r\nBcc: x@y",
                              "https://x.example.com/<u>", "javascript:alert(1)"};
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        m.unsub_url = bad_urls[i];
        assert_null(build(&m, MF_EINVAL));
    }
    m.unsub_url = "https://u.example.com/u";
    m.unsub_token = NULL;
    assert_null(build(&m, MF_EINVAL)); /* an unsubscribe link must name the lead */
    m.unsub_token = "";
    assert_null(build(&m, MF_EINVAL));
    m.unsub_token = "tok\r\nBcc: x@y";
    assert_null(build(&m, MF_EINVAL));
    m.unsub_url = NULL;
    m.unsub_token = "tok";
    m.unsub_mailto = "unsub@example.com\r\nBcc: x@y";
    assert_null(build(&m, MF_EINVAL));
}

static void roundtrip_i18n(const char *name, const char *subject)
{
    struct mime_out m = base();
    m.from_name = name;
    m.subject = subject;
    char *s = build(&m, MF_OK);
    assert_7bit(s);
    assert_true(check_lines(s) <= 78);
    char v[1024];
    raw_header(s, "Subject", v, sizeof v);
    assert_non_null(strstr(v, "=?UTF-8?"));
    raw_header(s, "From", v, sizeof v);
    assert_non_null(strstr(v, "=?UTF-8?"));
    assert_non_null(strstr(v, "<anna@example.com>"));

    GMimeMessage *g = parse(s);
    assert_string_equal(g_mime_message_get_subject(g), subject);
    InternetAddressList *from = g_mime_message_get_from(g);
    assert_int_equal(internet_address_list_length(from), 1);
    InternetAddress *ia = internet_address_list_get_address(from, 0);
    assert_string_equal(internet_address_get_name(ia), name);
    assert_string_equal(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)),
                        "anna@example.com");
    g_object_unref(g);
    free(s);
}

static void test_rfc2047_roundtrip(void **state)
{
    (void)state;
    roundtrip_i18n("Jürgen Müller", "Grüße aus München – ein Angebot für Sie");
    roundtrip_i18n("山田 太郎", "東京での打ち合わせについてのご提案");
    roundtrip_i18n("Zoë 👋", "Quick question 🚀 about Q3");
    /* no spaces to fold at: GMime alone would write one over-long word */
    roundtrip_i18n("山田太郎山田太郎山田太郎山田太郎山田太郎山田太郎",
                   "東京での打ち合わせについてのご提案東京での打ち合わせについてのご提案"
                   "東京での打ち合わせについてのご提案");
    /* ASCII that looks like an encoded word is encoded, so it reads back as typed */
    roundtrip_i18n("=?utf-8?q?Boss?=", "=?utf-8?q?hi?= there");

    /* ASCII specials: quoted, and read back as written */
    struct mime_out m = base();
    m.from_name = "Smith, John \"JJ\" (Sales)";
    char *s = build(&m, MF_OK);
    assert_7bit(s);
    GMimeMessage *g = parse(s);
    InternetAddress *ia = internet_address_list_get_address(g_mime_message_get_from(g), 0);
    assert_string_equal(internet_address_get_name(ia), m.from_name);
    g_object_unref(g);
    free(s);

    /* an IDN domain is written in its ASCII form */
    m = base();
    m.to_addr = "lea@bücher.de";
    s = build(&m, MF_OK);
    assert_7bit(s);
    char v[256];
    raw_header(s, "To", v, sizeof v);
    assert_string_equal(v, "lea@xn--bcher-kva.de");
    free(s);
}

/* Parses s and checks that only the expected fields exist: no Bcc/Cc. */
static void assert_no_injected_header(const char *s)
{
    char names[512];
    header_names(s, names, sizeof names);
    assert_string_equal(names, "Date\nFrom\nSubject\nTo\nMessage-ID\n"
                               "MIME-Version\nContent-Type\nContent-Transfer-Encoding\n");
    GMimeMessage *g = parse(s);
    assert_null(g_mime_object_get_header(GMIME_OBJECT(g), "Bcc"));
    assert_int_equal(internet_address_list_length(g_mime_message_get_bcc(g)), 0);
    assert_int_equal(internet_address_list_length(g_mime_message_get_cc(g)), 0);
    assert_int_equal(internet_address_list_length(g_mime_message_get_to(g)), 1);
    assert_int_equal(internet_address_list_length(g_mime_message_get_from(g)), 1);
    g_object_unref(g);
}

static void test_header_injection(void **state)
{
    (void)state;
    struct mime_out m = base();
    m.subject = "Hi\r\nBcc: victim@example.net";
    char *s = build(&m, MF_OK);
    assert_no_injected_header(s);
    GMimeMessage *g = parse(s);
    assert_string_equal(g_mime_message_get_subject(g), "Hi  Bcc: victim@example.net");
    g_object_unref(g);
    free(s);

    m = base();
    m.subject = "a\nb\rc\td\x7f" "e\xc2\x85" "f"; /* LF, CR, TAB, DEL, NEL (C1) */
    s = build(&m, MF_OK);
    assert_no_injected_header(s);
    g = parse(s);
    assert_string_equal(g_mime_message_get_subject(g), "a b c d e f");
    g_object_unref(g);
    free(s);

    m = base();
    m.from_name = "Eve\nBcc: victim@example.net";
    s = build(&m, MF_OK);
    assert_no_injected_header(s);
    g = parse(s);
    InternetAddress *ia = internet_address_list_get_address(g_mime_message_get_from(g), 0);
    assert_string_equal(internet_address_get_name(ia), "Eve Bcc: victim@example.net");
    g_object_unref(g);
    free(s);

    /* addresses, ids and the token are refused, not repaired */
    const char *bad_addrs[] = {
        "lead@example.org\r\nBcc: victim@example.net", "lead@example.org\n",
        "Bob <bob@example.org>", "a@example.org, b@example.org", "a@[192.0.2.1]",
        "\"q u\"@example.org", "a@example.org (c)", "a@@example.org", "a.@example.org",
        "@example.org", "lead@", "lead", "", "grp: a@example.org;", "a@exa mple.org",
        "a@-x.org", "a\x01@example.org",
    };
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        m = base();
        m.to_addr = bad_addrs[i];
        assert_null(build(&m, MF_EINVAL));
        m = base();
        m.from_addr = bad_addrs[i];
        assert_null(build(&m, MF_EINVAL));
    }
    m = base();
    m.to_addr = NULL;
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.message_id = "<a@example.com>\r\nBcc: victim@example.net";
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.in_reply_to = "<a@example.com>\nBcc: victim@example.net";
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.references = "<a@example.com>\r\n <b@example.com>";
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.references = "<a@example.com>\t<b@example.com>";
    assert_null(build(&m, MF_EINVAL));
}

static void test_message_ids(void **state)
{
    (void)state;
    enum { N = 10000 };
    char (*ids)[MIME_MSGID_SIZE] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++) {
        assert_true(mime_message_id("Anna@Example.COM", ids[i], sizeof ids[i]));
        const char *p = ids[i];
        assert_int_equal(*p++, '<');
        for (int k = 0; k < 26; k++, p++)
            assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz234567", *p));
        assert_int_equal(*p++, '.');
        size_t t = strspn(p, "0123456789abcdefghijklmnopqrstuvwxyz");
        assert_true(t >= 6 && t <= 13);
        p += t;
        assert_string_equal(p, "@example.com>");
    }
    qsort(ids, N, sizeof *ids, (int (*)(const void *, const void *))strcmp);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);

    /* the id is accepted by mime_build and read back by GMime */
    struct mime_out m = base();
    m.message_id = ids[0];
    char *s = build(&m, MF_OK);
    GMimeMessage *g = parse(s);
    assert_int_equal(strlen(g_mime_message_get_message_id(g)), strlen(ids[0]) - 2);
    assert_int_equal(strncmp(g_mime_message_get_message_id(g), ids[0] + 1,
                             strlen(ids[0]) - 2), 0);
    g_object_unref(g);
    free(s);
    free(ids);

    char id[MIME_MSGID_SIZE];
    assert_true(mime_message_id("me@bücher.de", id, sizeof id));
    assert_non_null(strstr(id, "@xn--bcher-kva.de>"));
    assert_true(mime_message_id("no-at-sign", id, sizeof id));
    assert_non_null(strstr(id, "@localhost>"));
    assert_true(mime_message_id(NULL, id, sizeof id));
    assert_non_null(strstr(id, "@localhost>"));
    assert_true(mime_message_id("x@bad domain\r\n", id, sizeof id));
    assert_non_null(strstr(id, "@localhost>"));
    char small[20];
    assert_false(mime_message_id("a@example.com", small, sizeof small));
    assert_string_equal(small, "");
}

static void test_reply_subject(void **state)
{
    (void)state;
    char out[64];
    mime_reply_subject("Quick question", out, sizeof out);
    assert_string_equal(out, "Re: Quick question");
    mime_reply_subject("Re: Quick question", out, sizeof out);
    assert_string_equal(out, "Re: Quick question"); /* never "Re: Re:" */
    mime_reply_subject("RE: Quick question", out, sizeof out);
    assert_string_equal(out, "RE: Quick question");
    mime_reply_subject("re:x", out, sizeof out);
    assert_string_equal(out, "re:x");
    mime_reply_subject("rE: mixed", out, sizeof out);
    assert_string_equal(out, "rE: mixed");
    mime_reply_subject("Reply needed", out, sizeof out);
    assert_string_equal(out, "Re: Reply needed");
    mime_reply_subject("Regarding Q3", out, sizeof out);
    assert_string_equal(out, "Re: Regarding Q3");
    mime_reply_subject(NULL, out, sizeof out);
    assert_string_equal(out, "Re: ");
    char a[64], b[64]; /* idempotent */
    mime_reply_subject("Grüße", a, sizeof a);
    mime_reply_subject(a, b, sizeof b);
    assert_string_equal(a, "Re: Grüße");
    assert_string_equal(b, a);
    char small[8]; /* "Re: Gr" + half of "ü" would not be UTF-8: cut before it */
    mime_reply_subject("Grüße", small, sizeof small);
    assert_string_equal(small, "Re: Gr");
}

static void test_threading_headers(void **state)
{
    (void)state;
    char v[1024];
    struct mime_out m = base();
    m.subject = "Re: Quick question";
    m.in_reply_to = "<first.s4hj5s@example.com>";
    m.references = "<root@example.com>   <first.s4hj5s@example.com>";
    char *s = build(&m, MF_OK);
    check_lines(s);
    raw_header(s, "In-Reply-To", v, sizeof v);
    assert_string_equal(v, "<first.s4hj5s@example.com>");
    raw_header(s, "References", v, sizeof v);
    assert_non_null(strstr(v, "<root@example.com>"));
    assert_non_null(strstr(v, "<first.s4hj5s@example.com>"));
    assert_true(strstr(v, "<root@") < strstr(v, "<first."));
    GMimeMessage *g = parse(s);
    GMimeReferences *r = g_mime_references_parse(NULL,
        g_mime_object_get_header(GMIME_OBJECT(g), "References"));
    assert_int_equal(g_mime_references_length(r), 2);
    assert_string_equal(g_mime_references_get_message_id(r, 0), "root@example.com");
    assert_string_equal(g_mime_references_get_message_id(r, 1), "first.s4hj5s@example.com");
    g_mime_references_free(r);
    g_object_unref(g);
    free(s);

    /* In-Reply-To alone: References repeats it, so threading still works */
    m.references = NULL;
    s = build(&m, MF_OK);
    raw_header(s, "References", v, sizeof v);
    assert_string_equal(v, "<first.s4hj5s@example.com>");
    free(s);

    const char *bad_ids[] = {"first@example.com", "<first>", "<a b@example.com>",
                             "<a@example.com", "<a@b@c>", "<>", "<.a@b>"};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        m = base();
        m.in_reply_to = bad_ids[i];
        assert_null(build(&m, MF_EINVAL));
        m = base();
        m.message_id = bad_ids[i];
        assert_null(build(&m, MF_EINVAL));
        m = base();
        m.references = bad_ids[i];
        assert_null(build(&m, MF_EINVAL));
    }
    m = base();
    m.message_id = NULL; /* the caller must have stored one first */
    assert_null(build(&m, MF_EINVAL));
}

static void test_long_subject_folding(void **state)
{
    (void)state;
    char subject[MIME_SUBJECT_MAX + 2];
    size_t o = 0;
    while (o + 40 < MIME_SUBJECT_MAX - 200)
        o += (size_t)snprintf(subject + o, sizeof subject - o, "%s ",
                              o % 3 ? "Angebot für Ihr Team" : "quarterly planning");
    subject[o - 1] = '\0';
    struct mime_out m = base();
    m.subject = subject;
    char *s = build(&m, MF_OK);
    assert_true(check_lines(s) <= 78);
    GMimeMessage *g = parse(s);
    assert_string_equal(g_mime_message_get_subject(g), subject);
    g_object_unref(g);
    free(s);

    /* one unbreakable 300-character word: still no line over 998, same text */
    memset(subject, 'x', 300);
    memcpy(subject + 300, " end", 5);
    s = build(&m, MF_OK);
    check_lines(s);
    g = parse(s);
    assert_string_equal(g_mime_message_get_subject(g), subject);
    g_object_unref(g);
    free(s);

    memset(subject, 'y', MIME_SUBJECT_MAX + 1);
    subject[MIME_SUBJECT_MAX + 1] = '\0';
    assert_null(build(&m, MF_ELIMIT));
}

static void test_body_encoding(void **state)
{
    (void)state;
    char v[256];
    struct mime_out m = base();
    m.body = "Hi Lea 👋,\r\nthanks — see you in Köln.\r\n\r\n";
    m.footer = "Not interested? Reply STOP.\nACME GmbH, Hauptstraße 1, 50667 Köln\n";
    char *s = build(&m, MF_OK);
    check_lines(s);
    assert_7bit(s);
    raw_header(s, "Content-Transfer-Encoding", v, sizeof v);
    assert_string_equal(v, "quoted-printable");
    raw_header(s, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/plain; charset=utf-8");
    for (const char *p = s + header_len(s); *p; p = strchr(p, '\n') + 1)
        assert_true(strcspn(p, "\r") <= 76); /* QP lines */
    GMimeMessage *g = parse(s);
    char *t = part_text(g_mime_message_get_mime_part(g));
    assert_string_equal(t, "Hi Lea 👋,\nthanks — see you in Köln.\n\n"
                           "Not interested? Reply STOP.\nACME GmbH, Hauptstraße 1, 50667 Köln\n");
    free(t);
    g_object_unref(g);
    free(s);

    /* ASCII with a long line: quoted-printable, text unchanged */
    char longline[200];
    memset(longline, 'a', 120);
    memcpy(longline + 120, " b\nshort\n", 10);
    m = base();
    m.body = longline;
    s = build(&m, MF_OK);
    raw_header(s, "Content-Transfer-Encoding", v, sizeof v);
    assert_string_equal(v, "quoted-printable");
    g = parse(s);
    t = part_text(g_mime_message_get_mime_part(g));
    assert_string_equal(t, longline);
    free(t);
    g_object_unref(g);
    free(s);

    /* a bare CR is dropped, and cannot smuggle anything */
    m.body = "one\rtwo\n";
    s = build(&m, MF_OK);
    check_lines(s);
    assert_non_null(strstr(s, "\r\n\r\nonetwo\r\n"));
    free(s);

    m.body = "bad \xff\xfe UTF-8";
    assert_null(build(&m, MF_EINVAL));
}

static void test_html_alternative(void **state)
{
    (void)state;
    char v[256];
    struct mime_out m = base();
    m.body = "Hi Lea,\nsee below.";
    m.html = "<html><body><p>Hi Lea,</p><p>see below.</p></body></html>\n";
    m.footer = "Stop: reply \"STOP\" & we <never> write again\nACME GmbH";
    char *s = build(&m, MF_OK);
    check_lines(s);
    raw_header(s, "Content-Type", v, sizeof v);
    assert_non_null(strstr(v, "multipart/alternative; boundary="));
    GMimeMessage *g = parse(s);
    GMimeObject *top = g_mime_message_get_mime_part(g);
    assert_true(GMIME_IS_MULTIPART(top));
    GMimeMultipart *mp = GMIME_MULTIPART(top);
    assert_int_equal(g_mime_multipart_get_count(mp), 2);
    GMimeObject *p0 = g_mime_multipart_get_part(mp, 0), *p1 = g_mime_multipart_get_part(mp, 1);
    assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p0), "text", "plain"));
    assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p1), "text", "html"));
    assert_string_equal(g_mime_object_get_content_type_parameter(p1, "charset"), "utf-8");
    char *t = part_text(p0);
    assert_string_equal(t, "Hi Lea,\nsee below.\n\n"
                           "Stop: reply \"STOP\" & we <never> write again\nACME GmbH\n");
    free(t);
    t = part_text(p1);
    assert_string_equal(t, "<html><body><p>Hi Lea,</p><p>see below.</p>\n"
                           "<p>Stop: reply &quot;STOP&quot; &amp; we &lt;never&gt; write again"
                           "<br>\nACME GmbH</p>\n</body></html>\n");
    free(t);
    g_object_unref(g);
    free(s);

    /* no </body>: the footer goes at the end; no footer: html untouched */
    m.html = "<p>Hi</p>";
    m.footer = "Bye";
    s = build(&m, MF_OK);
    g = parse(s);
    t = part_text(g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(g)), 1));
    assert_string_equal(t, "<p>Hi</p>\n<p>Bye</p>\n");
    free(t);
    g_object_unref(g);
    free(s);
    m.footer = NULL;
    s = build(&m, MF_OK);
    g = parse(s);
    t = part_text(g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(g)), 1));
    assert_string_equal(t, "<p>Hi</p>");
    free(t);
    g_object_unref(g);
    free(s);

    /* "" is no html: a single text/plain part */
    m.html = "";
    s = build(&m, MF_OK);
    raw_header(s, "Content-Type", v, sizeof v);
    assert_string_equal(v, "text/plain; charset=utf-8");
    free(s);
}

static void test_errors_and_limits(void **state)
{
    (void)state;
    struct mime_out m = base();
    m.subject = "caf\xe9"; /* Latin-1, not UTF-8 */
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.from_name = "\xc3";
    assert_null(build(&m, MF_EINVAL));
    m = base();
    m.date = -1;
    assert_null(build(&m, MF_EINVAL));

    /* the caller's buffer bound is kept, and the buffer left as it was */
    m = base();
    struct mf_buf b;
    struct mf_err e;
    mf_buf_init(&b, 200);
    assert_int_equal(mf_buf_adds(&b, "keep"), MF_OK);
    assert_int_equal(mime_build(&m, &b, &e), MF_ELIMIT);
    assert_string_equal(mf_buf_data(&b), "keep");
    mf_buf_free(&b);

    /* appends: two messages in one buffer */
    mf_buf_init(&b, 1 << 16);
    assert_int_equal(mime_build(&m, &b, NULL), MF_OK);
    size_t one = mf_buf_len(&b);
    assert_int_equal(mime_build(&m, &b, NULL), MF_OK);
    assert_int_equal(mf_buf_len(&b), 2 * one);
    mf_buf_free(&b);

    /* date 0 is now */
    m.date = 0;
    char *s = build(&m, MF_OK);
    GMimeMessage *g = parse(s);
    GDateTime *d = g_mime_message_get_date(g);
    assert_non_null(d);
    assert_true(g_date_time_to_unix(d) > 1700000000);
    g_object_unref(g);
    free(s);
}

int main(void)
{
    g_mime_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_headers),
        cmocka_unit_test(test_unsubscribe_headers),
        cmocka_unit_test(test_rfc2047_roundtrip),
        cmocka_unit_test(test_header_injection),
        cmocka_unit_test(test_message_ids),
        cmocka_unit_test(test_reply_subject),
        cmocka_unit_test(test_threading_headers),
        cmocka_unit_test(test_long_subject_folding),
        cmocka_unit_test(test_body_encoding),
        cmocka_unit_test(test_html_alternative),
        cmocka_unit_test(test_errors_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
