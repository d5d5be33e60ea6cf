#include "mail/mime.h"

#include <ctype.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/clock.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
    g_mime_init(); /* counted by GMime, so msg.c calling it too is fine */
}

/* ---- checks ---------------------------------------------------------------- */

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool has_ctl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (is_ctl(*p) || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return true; /* C0, DEL or C1 (U+0080..U+009F) */
    return false;
}

static bool is_atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5322 dot-atom-text over s[0..n): atext runs joined by single dots. */
static bool dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !is_atext(c))
            return false;
    }
    return true;
}

/* Domain labels: letters, digits, '-', or UTF-8 (an IDN U-label). */
static bool domain_ok(const char *d, size_t n)
{
    if (n == 0 || n > 253 || d[0] == '.' || d[n - 1] == '.')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0 || d[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum(c) || c >= 0x80 || (c == '-' && label > 0)))
            return false;
        if (++label > 63)
            return false;
    }
    return d[n - 1] != '-';
}

/* One plain "local@domain", confirmed by GMime's parser. */
static bool addr_ok(const char *a)
{
    size_t n = strlen(a);
    const char *at = strrchr(a, '@');
    if (n > 254 || !at || at - a > 64 || !dot_atom(a, (size_t)(at - a)) ||
        !domain_ok(at + 1, strlen(at + 1)) || !g_utf8_validate(a, -1, NULL))
        return false;
    InternetAddressList *list = internet_address_list_parse(NULL, a);
    bool ok = false;
    if (list && internet_address_list_length(list) == 1) {
        InternetAddress *ia = internet_address_list_get_address(list, 0);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *got = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            ok = got && strcmp(got, a) == 0;
        }
    }
    if (list)
        g_object_unref(list);
    return ok;
}

/* "<dot-atom@dot-atom>" over s[0..n). */
static bool id_ok(const char *s, size_t n)
{
    if (n < 5 || n > MIME_ID_MAX || s[0] != '<' || s[n - 1] != '>')
        return false;
    const char *at = memchr(s, '@', n);
    return at && dot_atom(s + 1, (size_t)(at - s - 1)) &&
           dot_atom(at + 1, (size_t)(s + n - 1 - at - 1));
}

/* Ids separated by spaces (no other white space): rewritten with one space
 * between ids into dst (sized like s). */
static bool refs_ok(const char *s, char *dst)
{
    size_t o = 0, count = 0;
    for (const char *p = s;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, ' ');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!id_ok(p, n))
            return false;
        if (count++)
            dst[o++] = ' ';
        memcpy(dst + o, p, n);
        o += n;
        p += n;
    }
    dst[o] = '\0';
    return count > 0;
}

/* An http(s) URL base we can put in <> and append "/TOKEN" to. */
static bool url_ok(const char *u, bool *https)
{
    *https = strncasecmp(u, "https://", 8) == 0;
    size_t skip = *https ? 8 : strncasecmp(u, "http://", 7) == 0 ? 7 : 0;
    if (!skip || !u[skip] || u[skip] == '/' || strlen(u) > MIME_URL_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("<>\"#\\^`{|}", *p))
            return false;
    return true;
}

static enum mf_rc bad(struct mf_err *err, enum mf_rc rc, const char *field,
                      const char *why)
{
    return mf_err_set(err, rc, MF_LAYER_LOCAL, "building the message: %s %s",
                      field, why);
}

/* ---- text ------------------------------------------------------------------ */

/* A malloc'd copy with every control character (C0, DEL, C1) replaced by
 * one space: what is left cannot end the header line. */
static char *one_line(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (!d)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            d[o++] = ' ';
            p++;
        } else {
            d[o++] = is_ctl(*p) ? ' ' : (char)*p;
        }
    }
    d[o] = '\0';
    return d;
}

/* Appends s with CRLF turned into LF and bare CRs dropped. */
static enum mf_rc add_lf(struct mf_buf *b, const char *s)
{
    while (*s) {
        size_t n = strcspn(s, "\r");
        enum mf_rc rc = mf_buf_add(b, s, n);
        if (rc != MF_OK)
            return rc;
        s += n;
        if (*s == '\r')
            s++;
    }
    return MF_OK;
}

static void trim_newlines(struct mf_buf *b)
{
    while (b->len > 0 && b->mem[b->off + b->len - 1] == '\n')
        b->len--;
    b->mem[b->off + b->len] = '\0';
}

static enum mf_rc plain_text(const struct mime_out *m, struct mf_buf *b)
{
    enum mf_rc rc = add_lf(b, m->body ? m->body : "");
    if (rc != MF_OK || !m->footer || !*m->footer)
        return rc;
    trim_newlines(b);
    if ((rc = mf_buf_adds(b, "\n\n")) != MF_OK || (rc = add_lf(b, m->footer)) != MF_OK)
        return rc;
    trim_newlines(b);
    return mf_buf_adds(b, "\n");
}

/* "<p>footer</p>\n", HTML-escaped, line breaks as <br>. */
static enum mf_rc footer_html(const char *footer, struct mf_buf *b)
{
    struct mf_buf f;
    mf_buf_init(&f, MIME_TEXT_MAX);
    enum mf_rc rc = add_lf(&f, footer);
    if (rc == MF_OK) {
        trim_newlines(&f);
        rc = mf_buf_adds(b, "<p>");
    }
    for (const char *p = mf_buf_data(&f); rc == MF_OK && *p; p++) {
        switch (*p) {
        case '&': rc = mf_buf_adds(b, "&amp;"); break;
        case '<': rc = mf_buf_adds(b, "&lt;"); break;
        case '>': rc = mf_buf_adds(b, "&gt;"); break;
        case '"': rc = mf_buf_adds(b, "&quot;"); break;
        case '\'': rc = mf_buf_adds(b, "&#39;"); break;
        case '\n': rc = mf_buf_adds(b, "<br>\n"); break;
        default: rc = mf_buf_add(b, p, 1); break;
        }
    }
    if (rc == MF_OK)
        rc = mf_buf_adds(b, "</p>\n");
    mf_buf_free(&f);
    return rc;
}

/* The last "</body>" in s (any case), or NULL. */
static const char *last_body_end(const char *s)
{
    const char *found = NULL;
    for (const char *p = s; (p = strchr(p, '<')) != NULL; p++)
        if (strncasecmp(p, "</body>", 7) == 0)
            found = p;
    return found;
}

static enum mf_rc html_text(const struct mime_out *m, struct mf_buf *b)
{
    struct mf_buf h;
    mf_buf_init(&h, MIME_TEXT_MAX);
    enum mf_rc rc = add_lf(&h, m->html);
    if (rc == MF_OK && (!m->footer || !*m->footer)) {
        rc = mf_buf_add(b, mf_buf_data(&h), mf_buf_len(&h));
    } else if (rc == MF_OK) {
        const char *d = mf_buf_data(&h);
        const char *end = last_body_end(d);
        size_t head = end ? (size_t)(end - d) : mf_buf_len(&h);
        rc = mf_buf_add(b, d, head);
        if (rc == MF_OK && head > 0 && d[head - 1] != '\n')
            rc = mf_buf_adds(b, "\n");
        if (rc == MF_OK)
            rc = footer_html(m->footer, b);
        if (rc == MF_OK)
            rc = mf_buf_add(b, d + head, mf_buf_len(&h) - head);
    }
    mf_buf_free(&h);
    return rc;
}

/* Quoted-printable when 7bit would not do: a byte >= 0x80 or a line over
 * 78 octets. */
static bool needs_qp(const char *s, size_t n)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return true;
        col = c == '\n' ? 0 : col + 1;
        if (col > 78)
            return true;
    }
    return false;
}

static GMimeObject *text_part(const char *subtype, const struct mf_buf *b)
{
    GMimeTextPart *p = g_mime_text_part_new_with_subtype(subtype);
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(mf_buf_data(b), mf_buf_len(b));
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(p), w);
    g_object_unref(w);
    g_object_unref(st);
    g_mime_object_set_content_type_parameter(GMIME_OBJECT(p), "charset", "utf-8");
    g_mime_part_set_content_encoding(GMIME_PART(p),
                                     needs_qp(mf_buf_data(b), mf_buf_len(b))
                                         ? GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE
                                         : GMIME_CONTENT_ENCODING_7BIT);
    return GMIME_OBJECT(p);
}

/* ---- headers --------------------------------------------------------------- */

/* Percent-encodes s; `keep` lists the characters kept besides unreserved. */
static enum mf_rc add_pct(struct mf_buf *b, const char *s, const char *keep)
{
    enum mf_rc rc = MF_OK;
    for (const unsigned char *p = (const unsigned char *)s; rc == MF_OK && *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p) || strchr(keep, *p))
            rc = mf_buf_add(b, p, 1);
        else
            rc = mf_buf_printf(b, "%%%02X", *p);
    }
    return rc;
}

/* The List-Unsubscribe value, already folded (one URI per line) as GMime's
 * raw value wants it: leading space, LF line ends. */
static enum mf_rc unsub_value(const struct mime_out *m, struct mf_buf *b)
{
    enum mf_rc rc = MF_OK;
    if (m->unsub_mailto && *m->unsub_mailto) {
        rc = mf_buf_adds(b, " <mailto:");
        if (rc == MF_OK)
            rc = add_pct(b, m->unsub_mailto, "!$'()*+,;:@");
        if (rc == MF_OK)
            rc = mf_buf_adds(b, "?subject=unsubscribe%20");
        if (rc == MF_OK)
            rc = add_pct(b, m->unsub_token, "");
        if (rc == MF_OK)
            rc = mf_buf_adds(b, ">");
    }
    if (rc == MF_OK && m->unsub_url && *m->unsub_url) {
        /* one-click, path style: <base without trailing '/'>/TOKEN, the
         * token before the base's query, if it has one */
        const char *u = m->unsub_url;
        size_t q = strcspn(u, "?"), n = q;
        while (n > 0 && u[n - 1] == '/')
            n--;
        rc = mf_buf_printf(b, "%s <%.*s/", b->len ? ",\n" : "", (int)n, u);
        if (rc == MF_OK)
            rc = add_pct(b, m->unsub_token, "");
        if (rc == MF_OK)
            rc = mf_buf_printf(b, "%s>", u + q);
    }
    return rc == MF_OK ? mf_buf_adds(b, "\n") : rc;
}

/* Checks every input; fills *https and refs (sized like m->references). */
static enum mf_rc check(const struct mime_out *m, bool *https, char *refs,
                        struct mf_err *err)
{
    const struct {
        const char *v, *name;
        size_t max;
    } texts[] = {
        {m->from_name, "the sender's name", MIME_NAME_MAX},
        {m->subject, "the subject", MIME_SUBJECT_MAX},
        {m->body, "the body", MIME_TEXT_MAX},
        {m->html, "the html body", MIME_TEXT_MAX},
        {m->footer, "the footer", MIME_TEXT_MAX},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        if (!texts[i].v)
            continue;
        if (strlen(texts[i].v) > texts[i].max)
            return bad(err, MF_ELIMIT, texts[i].name, "is too long");
        if (!g_utf8_validate(texts[i].v, -1, NULL))
            return bad(err, MF_EINVAL, texts[i].name, "is not valid UTF-8");
    }
    if (!m->from_addr || !addr_ok(m->from_addr))
        return bad(err, MF_EINVAL, "from_addr", "is not a single plain address");
    if (!m->to_addr || !addr_ok(m->to_addr))
        return bad(err, MF_EINVAL, "to_addr", "is not a single plain address");
    if (!m->message_id || !id_ok(m->message_id, strlen(m->message_id)))
        return bad(err, MF_EINVAL, "message_id", "is missing or not \"<left@right>\"");
    if (m->in_reply_to && *m->in_reply_to &&
        !id_ok(m->in_reply_to, strlen(m->in_reply_to)))
        return bad(err, MF_EINVAL, "in_reply_to", "is not \"<left@right>\"");
    refs[0] = '\0';
    if (m->references && *m->references) {
        if (strlen(m->references) > MIME_REFS_MAX)
            return bad(err, MF_ELIMIT, "references", "is too long");
        if (!refs_ok(m->references, refs))
            return bad(err, MF_EINVAL, "references", "is not a list of \"<left@right>\"");
    }
    bool mailto = m->unsub_mailto && *m->unsub_mailto;
    bool url = m->unsub_url && *m->unsub_url;
    *https = false;
    if (mailto && !addr_ok(m->unsub_mailto))
        return bad(err, MF_EINVAL, "unsub_mailto", "is not a single plain address");
    if (url && !url_ok(m->unsub_url, https))
        return bad(err, MF_EINVAL, "unsub_url",
                   "is not an http(s) URL without spaces, controls or '#'");
    if (mailto || url) {
        const char *t = m->unsub_token;
        if (!t || !*t || has_ctl(t))
            return bad(err, MF_EINVAL, "unsub_token", "is missing or has control characters");
        if (strlen(t) > MIME_TOKEN_MAX)
            return bad(err, MF_ELIMIT, "unsub_token", "is too long");
    }
    if (m->date < 0)
        return bad(err, MF_EINVAL, "date", "is before 1970");
    return MF_OK;
}

/* Writes the header's value exactly as raw (folded, LF line ends). */
static void set_raw_header(GMimeObject *o, const char *name, const char *raw)
{
    GMimeHeaderList *list = g_mime_object_get_header_list(o);
    if (!g_mime_header_list_contains(list, name))
        g_mime_object_set_header(o, name, "", NULL);
    GMimeHeader *h = g_mime_header_list_get_header(list, name);
    if (h)
        g_mime_header_set_raw_value(h, raw);
}

static void add_mailbox(InternetAddressList *list, const char *name, const char *addr)
{
    InternetAddress *ia = internet_address_mailbox_new(name, addr);
    internet_address_set_charset(ia, "utf-8");
    internet_address_list_add(list, ia);
    g_object_unref(ia);
}

/* Text that must go out as encoded words: non-ASCII, or holding "=?",
 * which a reader would otherwise take for the start of an encoded word. */
static bool needs_words(const char *s)
{
    if (strstr(s, "=?"))
        return true;
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* Octets of UTF-8 text per encoded word: "=?UTF-8?B?" + 56 + "?=" is 68
 * columns, so "Subject: " + a word stays within 78. */
#define WORD_OCTETS 42

/*
 * Appends text (UTF-8) as RFC 2047 "B" encoded words, one per line ("\n "
 * between them, the raw-value form GMime writes with the message's line
 * ends), each holding whole characters. Non-ASCII text takes this path
 * because GMime 3.2 can write an encoded word longer than RFC 2047's 75
 * columns, and a first line past 78, for text without spaces (CJK).
 * Spaces sit inside the words, so they decode exactly as given.
 */
static enum mf_rc add_encoded_words(struct mf_buf *b, const char *text)
{
    enum mf_rc rc = MF_OK;
    size_t len = strlen(text);
    for (size_t i = 0; rc == MF_OK && i < len;) {
        size_t n = len - i < WORD_OCTETS ? len - i : WORD_OCTETS;
        while (n > 0 && i + n < len && ((unsigned char)text[i + n] & 0xc0) == 0x80)
            n--; /* never split a character */
        gchar *enc = g_base64_encode((const guchar *)text + i, n);
        rc = mf_buf_printf(b, "%s=?UTF-8?B?%s?=", i ? "\n " : "", enc);
        g_free(enc);
        i += n;
    }
    return rc;
}

static enum mf_rc set_raw_encoded(GMimeObject *o, const char *field, const char *text,
                                  const char *addr)
{
    struct mf_buf v;
    mf_buf_init(&v, 8192);
    enum mf_rc rc = mf_buf_adds(&v, " ");
    if (rc == MF_OK)
        rc = add_encoded_words(&v, text);
    if (rc == MF_OK && addr) {
        const char *last = strrchr(mf_buf_data(&v), '\n');
        size_t col = last ? mf_buf_len(&v) - (size_t)(last - mf_buf_data(&v))
                          : strlen(field) + 1 + mf_buf_len(&v);
        rc = mf_buf_printf(&v, "%s<%s>", col + 2 + strlen(addr) + 1 > 78 ? "\n " : " ", addr);
    }
    if (rc == MF_OK)
        rc = mf_buf_adds(&v, "\n");
    if (rc == MF_OK)
        set_raw_header(o, field, mf_buf_data(&v));
    mf_buf_free(&v);
    return rc;
}

/* Headers: every line at most 998 octets (GMime folds; this is the guard). */
static bool lines_ok(const char *s)
{
    for (const char *p = s; *p;) {
        const char *e = strstr(p, "\r\n");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 998)
            return false;
        if (n == 0 || !e)
            break; /* end of the header block */
        p = e + 2;
    }
    return true;
}

/* ---- the message ----------------------------------------------------------- */

static enum mf_rc build(const struct mime_out *m, const char *name,
                        const char *subject, const char *refs, bool https,
                        GMimeMessage *msg, struct mf_err *err)
{
    GMimeObject *o = GMIME_OBJECT(msg);
    enum mf_rc rc = MF_OK;
    InternetAddressList *from = g_mime_message_get_from(msg);
    add_mailbox(from, name, m->from_addr);
    if (needs_words(name)) {
        const char *idn = internet_address_mailbox_get_idn_addr(
            INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(from, 0)));
        rc = set_raw_encoded(o, "From", name, idn);
    }
    add_mailbox(g_mime_message_get_to(msg), "", m->to_addr);
    g_mime_message_set_subject(msg, subject, "utf-8");
    if (rc == MF_OK && needs_words(subject))
        rc = set_raw_encoded(o, "Subject", subject, NULL);
    if (rc != MF_OK)
        return bad(err, rc, "the headers:", mf_rc_message(rc));
    GDateTime *dt = g_date_time_new_from_unix_utc(m->date ? m->date : mf_wall_seconds());
    if (!dt)
        return bad(err, MF_EINVAL, "date", "is out of range");
    g_mime_message_set_date(msg, dt);
    g_date_time_unref(dt);
    g_mime_object_set_header(o, "Message-ID", m->message_id, NULL);
    bool irt = m->in_reply_to && *m->in_reply_to;
    if (irt)
        g_mime_object_set_header(o, "In-Reply-To", m->in_reply_to, NULL);
    if (*refs || irt)
        g_mime_object_set_header(o, "References", *refs ? refs : m->in_reply_to, NULL);

    if ((m->unsub_mailto && *m->unsub_mailto) || (m->unsub_url && *m->unsub_url)) {
        struct mf_buf v;
        mf_buf_init(&v, 4096);
        rc = unsub_value(m, &v);
        if (rc == MF_OK)
            set_raw_header(o, "List-Unsubscribe", mf_buf_data(&v));
        mf_buf_free(&v);
        if (rc == MF_OK && https)
            g_mime_object_set_header(o, "List-Unsubscribe-Post",
                                     "List-Unsubscribe=One-Click", NULL);
    }

    struct mf_buf plain, html;
    mf_buf_init(&plain, 2 * MIME_TEXT_MAX + 16);
    mf_buf_init(&html, 3 * MIME_TEXT_MAX + 16);
    if (rc == MF_OK)
        rc = plain_text(m, &plain);
    bool has_html = m->html && *m->html;
    if (rc == MF_OK && has_html)
        rc = html_text(m, &html);
    if (rc == MF_OK) {
        GMimeObject *text = text_part("plain", &plain);
        if (has_html) {
            GMimeMultipart *alt = g_mime_multipart_new_with_subtype("alternative");
            GMimeObject *h = text_part("html", &html);
            g_mime_multipart_add(alt, text);
            g_mime_multipart_add(alt, h);
            g_object_unref(h);
            g_mime_message_set_mime_part(msg, GMIME_OBJECT(alt));
            g_object_unref(alt);
        } else {
            g_mime_message_set_mime_part(msg, text);
        }
        g_object_unref(text);
    }
    mf_buf_free(&plain);
    mf_buf_free(&html);
    if (rc != MF_OK)
        return bad(err, rc, "the body:", mf_rc_message(rc));
    return MF_OK;
}

enum mf_rc mime_build(const struct mime_out *m, struct mf_buf *out, struct mf_err *err)
{
    pthread_once(&gmime_once, gmime_init_once);
    bool https = false;
    char *refs = malloc(m->references ? strlen(m->references) + 1 : 1);
    if (!refs)
        return bad(err, MF_ENOMEM, "references:", "out of memory");
    enum mf_rc rc = check(m, &https, refs, err);
    if (rc != MF_OK) {
        free(refs);
        return rc;
    }
    char *name = one_line(m->from_name ? m->from_name : "");
    char *subject = one_line(m->subject ? m->subject : "");
    GMimeMessage *msg = NULL;
    if (!name || !subject) {
        rc = bad(err, MF_ENOMEM, "the headers:", "out of memory");
    } else {
        msg = g_mime_message_new(TRUE);
        rc = build(m, name, subject, refs, https, msg, err);
    }
    if (rc == MF_OK) {
        GMimeFormatOptions *fo = g_mime_format_options_clone(NULL);
        g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
        char *s = g_mime_object_to_string(GMIME_OBJECT(msg), fo);
        g_mime_format_options_free(fo);
        if (!s)
            rc = bad(err, MF_ENOMEM, "the message:", "GMime wrote nothing");
        else if (!lines_ok(s))
            rc = bad(err, MF_ELIMIT, "a header line", "is over 998 octets");
        else if ((rc = mf_buf_add(out, s, strlen(s))) != MF_OK)
            rc = bad(err, rc, "the message:", mf_rc_message(rc));
        g_free(s);
    }
    if (msg)
        g_object_unref(msg);
    free(name);
    free(subject);
    free(refs);
    return rc;
}

/* ---- ids and subjects ------------------------------------------------------ */

/* from_addr's domain in lowercase ASCII (IDN as xn--), or "localhost". */
static void msgid_domain(const char *from_addr, char *dst, size_t size)
{
    const char *at = from_addr ? strrchr(from_addr, '@') : NULL;
    char *ace = at && at[1] && strlen(at + 1) <= 253 && g_utf8_validate(at + 1, -1, NULL)
                    ? g_hostname_to_ascii(at + 1)
                    : NULL;
    bool ok = ace && *ace && strlen(ace) < size && ace[0] != '.' && ace[0] != '-';
    for (const char *p = ace; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || *p == '-' || (*p == '.' && p[1] && p[1] != '.');
    snprintf(dst, size, "%s", ok ? ace : "localhost");
    for (char *p = dst; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    g_free(ace);
}

bool mime_message_id(const char *from_addr, char *out, size_t size)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    static const char b36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    unsigned char r[17]; /* 136 bits, 130 used */
    if (sodium_init() < 0)
        abort(); /* no randomness: nothing safe to do */
    randombytes_buf(r, sizeof r);
    char rnd[27];
    for (size_t i = 0; i < 26; i++) {
        size_t bit = i * 5;
        unsigned v = ((unsigned)r[bit / 8] << 8 | r[bit / 8 + 1]) >> (11 - bit % 8);
        rnd[i] = b32[v & 31];
    }
    rnd[26] = '\0';
    char t[16], *tp = t + sizeof t - 1;
    *tp = '\0';
    int64_t now = mf_wall_seconds();
    uint64_t secs = now > 0 ? (uint64_t)now : 0;
    do
        *--tp = b36[secs % 36];
    while ((secs /= 36) != 0);
    char dom[254];
    msgid_domain(from_addr, dom, sizeof dom);
    int n = snprintf(out, size, "<%s.%s@%s>", rnd, tp, dom);
    sodium_memzero(r, sizeof r);
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            out[0] = '\0';
        return false;
    }
    return true;
}

/* Appends up to what fits of s at dst[*pos], never cutting a UTF-8 char. */
static void put_utf8(char *dst, size_t size, size_t *pos, const char *s)
{
    size_t len = strlen(s), room = size - 1 - *pos;
    size_t n = len < room ? len : room;
    while (n > 0 && n < len && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    memcpy(dst + *pos, s, n);
    *pos += n;
    dst[*pos] = '\0';
}

void mime_reply_subject(const char *subject, char *out, size_t size)
{
    if (size == 0)
        return;
    const char *s = subject ? subject : "";
    const char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t pos = 0;
    out[0] = '\0';
    if (strncasecmp(p, "re:", 3) != 0)
        put_utf8(out, size, &pos, "Re: ");
    put_utf8(out, size, &pos, s);
}
