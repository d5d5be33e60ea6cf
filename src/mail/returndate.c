/* mail/returndate: the message's text part, found and decoded by GMime (HTML
 * made text); returndate_scan.c reads the return date in it. See
 * returndate.h. */
#include "mail/returndate.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_OF(a) (sizeof(a) / sizeof *(a))
#define PARTS_PER_LEVEL 256

static bool wordc(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80;
}

static bool digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ---- the message ------------------------------------------------------------------------ */

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
    g_mime_init(); /* counted by GMime: other modules calling it too is fine */
}

struct pick {
    GMimeObject *plain, *html;   /* borrowed from the message */
};

static bool is_type(GMimeContentType *ct, const char *type, const char *sub)
{
    return ct && g_mime_content_type_is_type(ct, type, sub);
}

/* The first text/plain and text/html leaves that are not attachments,
 * CLASSIFY_DEPTH_MAX levels deep, not inside enclosed messages. */
static void walk(GMimeObject *o, int depth, struct pick *pk)
{
    if (!o || depth > CLASSIFY_DEPTH_MAX || pk->plain)
        return;
    if (GMIME_IS_MULTIPART(o)) {
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && i < PARTS_PER_LEVEL && !pk->plain; i++)
            walk(g_mime_multipart_get_part(mp, i), depth + 1, pk);
        return;
    }
    if (!GMIME_IS_PART(o))
        return; /* an enclosed message (message/rfc822) is someone else's text */
    GMimeContentDisposition *cd = g_mime_object_get_content_disposition(o);
    if (cd && g_mime_content_disposition_is_attachment(cd))
        return;
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    if (!ct || is_type(ct, "text", "plain"))
        pk->plain = o;
    else if (is_type(ct, "text", "html") && !pk->html)
        pk->html = o;
}

/* The content of a leaf, decoded and in UTF-8, at most CLASSIFY_SCAN_MAX
 * octets, NUL-terminated; malloc'd (caller frees). NULL when it is empty,
 * or on ENOMEM (then *rc is set). */
static char *part_text(GMimeObject *o, size_t *len, enum mf_rc *rc)
{
    *len = 0;
    GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
    GMimeStream *src = w ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (!src)
        return NULL;
    g_mime_stream_reset(src);
    GMimeStream *fs = g_mime_stream_filter_new(src);
    GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
    if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE) {
        GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);
        g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
        g_object_unref(f);
    }
    /* text in another charset becomes UTF-8; one GMime cannot convert is
     * read as it is (the scan reads invalid octets as '?') */
    const char *cs = g_mime_object_get_content_type_parameter(o, "charset");
    if (cs && g_ascii_strcasecmp(cs, "utf-8") && g_ascii_strcasecmp(cs, "utf8") &&
        g_ascii_strcasecmp(cs, "us-ascii") && g_ascii_strcasecmp(cs, "ascii")) {
        GMimeFilter *f = g_mime_filter_charset_new(cs, "utf-8");
        if (f) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
            g_object_unref(f);
        }
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= CLASSIFY_SCAN_MAX)
                break;
            cap = cap * 4 < CLASSIFY_SCAN_MAX ? cap * 4 : CLASSIFY_SCAN_MAX;
            char *bigger = realloc(buf, cap + 1);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
        ssize_t r = g_mime_stream_read(fs, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    g_object_unref(fs);
    if (!buf) {
        *rc = MF_ENOMEM;
        return NULL;
    }
    if (!n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool tag_is(const char *t, size_t n, const char *name)
{
    size_t m = strlen(name);
    return n >= m && !strncasecmp(t, name, m) &&
           (n == m || !wordc((unsigned char)t[m]) || t[m] == '/');
}

/* A character reference at s (s[0] == '&', n octets there) into out: the
 * octets read (0: not one), *outn what it stands for (never longer). */
static size_t entity(const char *s, size_t n, char out[4], size_t *outn)
{
    static const struct { const char *name, *text; } names[] = {
        {"nbsp", " "}, {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""},
        {"apos", "'"}, {"rsquo", "'"}, {"lsquo", "'"}, {"ldquo", "\""}, {"rdquo", "\""},
        {"laquo", "\""}, {"raquo", "\""}, {"ndash", "-"}, {"mdash", "-"},
        {"eacute", "é"}, {"egrave", "è"}, {"ecirc", "ê"}, {"euml", "ë"}, {"agrave", "à"},
        {"aacute", "á"}, {"acirc", "â"}, {"auml", "ä"}, {"ccedil", "ç"}, {"iacute", "í"},
        {"icirc", "î"}, {"iuml", "ï"}, {"igrave", "ì"}, {"oacute", "ó"}, {"ocirc", "ô"},
        {"ouml", "ö"}, {"ograve", "ò"}, {"uacute", "ú"}, {"ugrave", "ù"}, {"ucirc", "û"},
        {"uuml", "ü"}, {"szlig", "ß"}, {"ntilde", "ñ"}, {"atilde", "ã"}, {"otilde", "õ"},
        {"ordm", "º"}, {"ordf", "ª"}, {"deg", "°"},
    };
    const char *semi = memchr(s, ';', n < 12 ? n : 12);
    if (!semi || semi - s < 3)
        return 0;
    size_t len = (size_t)(semi - s) + 1;
    if (s[1] == '#') {
        bool hex = s[2] == 'x' || s[2] == 'X';
        unsigned long cp = 0;
        size_t i = hex ? 3 : 2;
        if (i == len - 1)
            return 0;
        for (; i < len - 1; i++) {
            int v = digit((unsigned char)s[i]) ? s[i] - '0'
                    : hex && strchr("abcdef", s[i] | 0x20) ? (s[i] | 0x20) - 'a' + 10 : -1;
            if (v < 0)
                return 0;
            cp = cp * (hex ? 16 : 10) + (unsigned long)v;
        }
        if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return out[0] = '?', *outn = 1, len;
        if (cp < 0x80)
            out[0] = (char)cp, *outn = 1;
        else if (cp < 0x800)
            out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f)), *outn = 2;
        else if (cp < 0x10000)
            out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
            out[2] = (char)(0x80 | (cp & 0x3f)), *outn = 3;
        else
            out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
            out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f)),
            *outn = 4;
        return len;
    }
    for (size_t k = 0; k < N_OF(names); k++)
        if (strlen(names[k].name) == len - 2 && !strncasecmp(s + 1, names[k].name, len - 2)) {
            *outn = strlen(names[k].text);
            memcpy(out, names[k].text, *outn);
            return len;
        }
    return 0;
}

/* HTML to text in place (the text is never longer): tags dropped, block
 * ends and <br> as line breaks, <blockquote> as a "> " quote line, style,
 * script, head and comments skipped, character references decoded, the
 * source's own line breaks as spaces. Returns the new length. */
static size_t html_text(char *s, size_t n)
{
    static const char *const breaks[] = {"br", "p", "/p", "div", "/div", "tr", "li", "hr",
                                         "h1", "h2", "h3", "h4", "h5", "h6", "/h1", "/h2",
                                         "/h3", "table", "/table", "ul", "ol", "pre", "dt",
                                         "dd"};
    size_t o = 0;
    const char *skip_until = NULL; /* inside <style>, <script>, <head>, <title> */
    for (size_t i = 0; i < n;) {
        if (s[i] == '<' && i + 4 <= n && !memcmp(s + i, "<!--", 4)) {
            const char *e = NULL;
            for (size_t k = i + 4; k + 3 <= n && !e; k++)
                if (!memcmp(s + k, "-->", 3))
                    e = s + k;
            i = e ? (size_t)(e - s) + 3 : n;
            continue;
        }
        if (s[i] == '<') {
            const char *gt = memchr(s + i, '>', n - i);
            if (!gt)
                break;
            const char *t = s + i + 1;
            size_t tn = (size_t)(gt - t), start = i;
            i = (size_t)(gt - s) + 1;
            if (skip_until) {
                if (tag_is(t, tn, skip_until))
                    skip_until = NULL;
                continue;
            }
            if (tag_is(t, tn, "style"))
                skip_until = "/style";
            else if (tag_is(t, tn, "script"))
                skip_until = "/script";
            else if (tag_is(t, tn, "head"))
                skip_until = "/head";
            else if (tag_is(t, tn, "title"))
                skip_until = "/title";
            else if (tag_is(t, tn, "blockquote") && o + 3 <= start)
                memcpy(s + o, "\n> ", 3), o += 3;
            else if (tag_is(t, tn, "td") || tag_is(t, tn, "th"))
                s[o++] = ' ';
            else
                for (size_t k = 0; k < N_OF(breaks); k++)
                    if (tag_is(t, tn, breaks[k])) {
                        s[o++] = '\n';
                        break;
                    }
            continue;
        }
        if (skip_until) {
            i++;
            continue;
        }
        char rep[4];
        size_t rn, used = s[i] == '&' ? entity(s + i, n - i, rep, &rn) : 0;
        if (used) {
            memcpy(s + o, rep, rn); /* rn <= used: o + rn <= i + used */
            o += rn;
            i += used;
            continue;
        }
        s[o++] = s[i] == '\r' || s[i] == '\n' || s[i] == '\t' ? ' ' : s[i];
        i++;
    }
    s[o] = '\0';
    return o;
}

/* Whether GMime may parse it: a header block over CLASSIFY_HEADER_MAX is
 * refused, as classify cuts it (GMime grows its header buffer in small
 * steps, which some allocators make quadratic). */
static bool header_fits(const char *raw, size_t len)
{
    if (len <= CLASSIFY_HEADER_MAX)
        return true;
    for (const char *p = raw, *e = raw + CLASSIFY_HEADER_MAX; p < e;) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl)
            return false;
        if (nl == p || (nl == p + 1 && *p == '\r'))
            return true;
        p = nl + 1;
    }
    return false;
}

enum mf_rc returndate_find(const char *raw, size_t len, int64_t arrived, const char *zone,
                           struct returndate *out, struct mf_err *err)
{
    if (!out)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no result to fill");
    memset(out, 0, sizeof *out);
    if (!raw && len)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no message");
    if (!raw)
        raw = "";
    if (len > CLASSIFY_INPUT_MAX)
        len = CLASSIFY_INPUT_MAX;
    if (len > 5 && !memcmp(raw, "From ", 5)) { /* a saved mbox message */
        const char *nl = memchr(raw, '\n', len);
        size_t skip = nl ? (size_t)(nl - raw) + 1 : len;
        raw += skip, len -= skip;
    }
    if (!header_fits(raw, len))
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                          "the header block is over %u octets: not read", CLASSIFY_HEADER_MAX);
    pthread_once(&gmime_once, gmime_init_once);
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    if (!m)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "not a message");
    struct pick pk = {NULL, NULL};
    walk(g_mime_message_get_mime_part(m), 0, &pk);
    enum mf_rc rc = MF_OK;
    size_t n = 0;
    char *text = pk.plain || pk.html ? part_text(pk.plain ? pk.plain : pk.html, &n, &rc) : NULL;
    g_object_unref(m);
    if (rc != MF_OK)
        return mf_err_set(err, rc, MF_LAYER_LOCAL, "reading the text: %s", mf_rc_message(rc));
    if (!text)
        return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "the message has no text");
    if (!pk.plain)
        n = html_text(text, n);
    rc = returndate_in_text(text, n, arrived, zone, out, err);
    free(text);
    return rc;
}
