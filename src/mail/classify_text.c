/* mail/classify: text helpers and the phrase look-ups. See classify_int.h. */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/classify_int.h"

#include "mail/classify_phrases.inc"

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* ---- characters -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* What to do with one valid sequence: 0 keep, 1 replace by '?', 2 space. */
static int judge(const unsigned char *s, size_t n)
{
    if (n == 1)
        return s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n' ||
                       s[0] == '\v' || s[0] == '\f'
                   ? 2
               : s[0] < 0x20 || s[0] == 0x7f ? 1
                                             : 0;
    if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0)
        return 1; /* C1 controls */
    if (n == 3 && s[0] == 0xe2 && s[1] == 0x80) {
        if (s[2] == 0xa8 || s[2] == 0xa9)
            return 2; /* line / paragraph separator */
        if (s[2] == 0x8e || s[2] == 0x8f || (s[2] >= 0xaa && s[2] <= 0xae))
            return 1; /* LRM, RLM, embeddings and overrides */
    }
    if (n == 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
        return 1; /* isolates */
    return 0;
}

/* ASCII other than controls, DEL and white space: kept as it is. */
static bool graphic(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

size_t cls_clean(char *dst, size_t size, const char *src, size_t len)
{
    if (size == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0, i = 0;
    bool space = false;
    while (src && i < len) {
        /* the common case first: a run of visible ASCII (what judge()
         * keeps, one octet each) */
        if (graphic(s[i])) {
            if (space) {
                if (o + 2 >= size)
                    break;
                dst[o++] = ' ';
                space = false;
            }
            while (i < len && o + 1 < size && graphic(s[i]))
                dst[o++] = (char)s[i++];
            if (i < len && o + 1 >= size && graphic(s[i]))
                break;
            continue;
        }
        size_t n = utf8_seq(s + i, len - i);
        int what = n ? judge(s + i, n) : 1;
        if (n == 0)
            n = 1;
        if (what == 2) {
            space = o > 0;
            i += n;
            continue;
        }
        size_t need = (what == 1 ? 1 : n) + (space ? 1 : 0);
        if (o + need >= size)
            break;
        if (space)
            dst[o++] = ' ';
        space = false;
        if (what == 1)
            dst[o++] = '?';
        else
            memcpy(dst + o, s + i, n), o += n;
        i += n;
    }
    dst[o] = '\0';
    return o;
}

void cls_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + ('a' - 'A'));
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* dst[0..n) = src[0..n) with ASCII letters lowercased. */
static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = lower(src[i]);
}

const char *cls_find(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    if (m == 0 || m > n)
        return m == 0 ? hay : NULL;
    for (size_t i = 0; i + m <= n; i++) {
        if (lower(hay[i]) != needle[0])
            continue;
        size_t k = 1;
        while (k < m && lower(hay[i + k]) == needle[k])
            k++;
        if (k == m)
            return hay + i;
    }
    return NULL;
}

static unsigned pair_hash(unsigned char a, unsigned char b)
{
    return ((unsigned)a * 31u + b) & 1023u;
}

void cls_pairs_of(const char *s, size_t n, struct cls_pairs *set)
{
    memset(set, 0, sizeof *set);
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned h = pair_hash((unsigned char)s[i], (unsigned char)s[i + 1]);
        set->bits[h >> 6] |= (uint64_t)1 << (h & 63);
    }
}

bool cls_pairs_may_hold(const struct cls_pairs *set, const char *needle)
{
    for (size_t i = 0; needle[i] && needle[i + 1]; i++) {
        unsigned h = pair_hash((unsigned char)needle[i], (unsigned char)needle[i + 1]);
        if (!(set->bits[h >> 6] & ((uint64_t)1 << (h & 63))))
            return false;
    }
    return true;
}

bool cls_find_any(const char *hay, size_t n, const char *const *needles, size_t count)
{
    char low[8192];
    size_t longest = 0;
    for (size_t k = 0; k < count; k++) {
        size_t m = strlen(needles[k]);
        if (m == 0) /* as cls_find */
            return hay != NULL;
        longest = m > longest ? m : longest;
    }
    if (longest > sizeof low / 2) {
        for (size_t k = 0; k < count; k++)
            if (cls_find(hay, n, needles[k]))
                return true;
        return false;
    }
    /* each window lowercased once for every needle; windows overlap by
     * longest - 1 octets */
    size_t step = sizeof low - (longest ? longest - 1 : 0);
    for (size_t at = 0; at < n; at += step) {
        size_t w = n - at < sizeof low ? n - at : sizeof low;
        lower_copy(low, hay + at, w);
        struct cls_pairs set;
        cls_pairs_of(low, w, &set);
        for (size_t k = 0; k < count; k++) {
            size_t m = strlen(needles[k]);
            if (m <= w && cls_pairs_may_hold(&set, needles[k]) && memmem(low, w, needles[k], m))
                return true;
        }
        if (at + w >= n)
            break;
    }
    return false;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- addresses and ids ---------------------------------------------------------- */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *n)
{
    while (*n && is_ws(**s))
        (*s)++, (*n)--;
    while (*n && is_ws((*s)[*n - 1]))
        (*n)--;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Writes code point cp as UTF-8 at out (room for 4); returns the length,
 * 0 for surrogates and values past U+10FFFF. */
static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Bytes fit for an id or an address: valid UTF-8, nothing judge() refuses,
 * none of the characters in `refused`. */
static bool plain_token(const char *s, size_t n, const char *refused)
{
    uint64_t set[2] = {0, 0}; /* refused ASCII characters, one bit each */
    for (const unsigned char *r = (const unsigned char *)refused; *r; r++)
        if (*r < 128)
            set[*r >> 6] |= (uint64_t)1 << (*r & 63);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (graphic(c)) { /* judge() keeps it */
            if (set[c >> 6] & ((uint64_t)1 << (c & 63)))
                return false;
            i++;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (k == 0 || judge((const unsigned char *)s + i, k) != 0)
            return false;
        if (k == 1 && strchr(refused, s[i]))
            return false;
        i += k;
    }
    return true;
}

bool cls_address(char dst[CLASSIFY_ADDR_SIZE], const char *src, size_t len)
{
    dst[0] = '\0';
    if (!src)
        return false;
    trim(&src, &len);
    /* "rfc822;" / "utf-8;": an address type before any '@' */
    const char *semi = memchr(src, ';', len), *at = memchr(src, '@', len);
    if (semi && (!at || semi < at)) {
        len -= (size_t)(semi + 1 - src);
        src = semi + 1;
        trim(&src, &len);
    }
    const char *lt = memchr(src, '<', len);
    if (lt) {
        const char *gt = memchr(lt, '>', len - (size_t)(lt - src));
        if (!gt)
            return false;
        len = (size_t)(gt - lt - 1);
        src = lt + 1;
        trim(&src, &len);
    }
    char buf[CLASSIFY_ADDR_SIZE];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        /* RFC 6533 utf-8-addr-xtext: \x{HEX} */
        if (src[i] == '\\' && i + 3 < len && src[i + 1] == 'x' && src[i + 2] == '{') {
            uint32_t cp = 0;
            size_t k = i + 3, digits = 0;
            int h;
            while (k < len && digits < 6 && (h = hexval(src[k])) >= 0)
                cp = cp * 16 + (uint32_t)h, k++, digits++;
            if (digits == 0 || k >= len || src[k] != '}' || o + 4 >= sizeof buf)
                return false;
            size_t w = put_utf8(buf + o, cp);
            if (w == 0)
                return false;
            if (w == 1)
                buf[o] = lower(buf[o]); /* \x{4C} is an ASCII 'L' */
            o += w;
            i = k;
            continue;
        }
        if (o + 1 >= sizeof buf)
            return false;
        buf[o++] = lower(src[i]);
    }
    buf[o] = '\0';
    const char *last_at = strrchr(buf, '@');
    if (o == 0 || !last_at || buf[0] == '@' || !last_at[1] ||
        !plain_token(buf, o, " <>(),;:\\\""))
        return false;
    memcpy(dst, buf, o + 1);
    return true;
}

bool cls_msgid(char dst[CLASSIFY_ID_SIZE], const char *id)
{
    dst[0] = '\0';
    if (!id)
        return false;
    size_t n = strlen(id);
    trim(&id, &n);
    if (n >= 2 && id[0] == '<' && id[n - 1] == '>')
        id++, n -= 2;
    if (n == 0 || n + 3 > CLASSIFY_ID_SIZE || !memchr(id, '@', n) ||
        !plain_token(id, n, " <>"))
        return false;
    dst[0] = '<';
    memcpy(dst + 1, id, n);
    dst[n + 1] = '>';
    dst[n + 2] = '\0';
    return true;
}

/* The line at p (up to end): its length without the line break; *next is
 * the start of the following line. */
size_t cls_line_at(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r')
        e--;
    return (size_t)(e - p);
}

bool cls_msgid_in_headers(char dst[CLASSIFY_ID_SIZE], const char *text, size_t len)
{
    dst[0] = '\0';
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    const char *end = text + len, *next;
    for (const char *p = text; p < end; p = next) {
        size_t n = cls_line_at(p, end, &next);
        size_t i = 0;
        while (i < n && i < 4 && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (n - i < 11 || strncasecmp(p + i, "message-id", 10) != 0)
            continue;
        i += 10;
        while (i < n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (i >= n || p[i] != ':')
            continue;
        /* the value with its folded lines, bounded */
        char v[CLASSIFY_ID_SIZE * 2];
        size_t o = 0;
        for (const char *q = p + i + 1, *qn;;) {
            size_t m = cls_line_at(q, end, &qn);
            for (size_t k = 0; k < m && o + 1 < sizeof v; k++)
                v[o++] = q[k];
            if (qn >= end || (*qn != ' ' && *qn != '\t') || o + 1 >= sizeof v)
                break;
            v[o++] = ' ';
            q = qn;
        }
        v[o] = '\0';
        char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt) {
            *gt = '\0';
            return cls_msgid(dst, lt + 1);
        }
        return cls_msgid(dst, v);
    }
    return false;
}

/* ---- the first lines of a body -------------------------------------------------- */

static bool quote_start(const char *l)
{
    for (size_t k = 0; k < N_OF(cls_quote_starts); k++)
        if (starts_with(l, cls_quote_starts[k]))
            return true;
    return false;
}

static bool quote_end(const char *l)
{
    for (size_t k = 0; k < N_OF(cls_quote_ends); k++)
        if (ends_with(l, cls_quote_ends[k]))
            return true;
    return false;
}

/* The next non-blank line from *p, cleaned and lowercased into out; false
 * at the end. */
static bool next_line(const char **p, const char *end, char out[CLS_LINE_SIZE])
{
    while (*p < end) {
        const char *next;
        size_t n = cls_line_at(*p, end, &next);
        cls_clean(out, CLS_LINE_SIZE, *p, n);
        *p = next;
        if (out[0]) {
            cls_lower(out);
            return true;
        }
    }
    return false;
}

size_t cls_first_lines(const char *text, size_t len,
                       char lines[CLS_FIRST_LINES][CLS_LINE_SIZE])
{
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    const char *p = text, *end = text + len;
    size_t got = 0;
    char l[CLS_LINE_SIZE], peek[CLS_LINE_SIZE];
    bool have = next_line(&p, end, l);
    while (got < CLS_FIRST_LINES && have) {
        if (quote_start(l) || quote_end(l))
            break;
        /* "On Tue, 5 May 2024, Anna <a@x>" + "wrote:" on the next line */
        bool more = next_line(&p, end, peek);
        if (more && quote_end(peek) && strlen(peek) < 40 && strchr(l, '@'))
            break;
        memcpy(lines[got++], l, sizeof l);
        if (more) /* the next line, already read */
            memcpy(l, peek, sizeof l);
        have = more;
    }
    return got;
}

void cls_first_line(const char *text, size_t len, char out[CLASSIFY_LINE_SIZE])
{
    out[0] = '\0';
    const char *p = text, *end = text + (len > CLASSIFY_SCAN_MAX ? CLASSIFY_SCAN_MAX : len);
    while (p < end && !out[0]) {
        const char *next;
        size_t n = cls_line_at(p, end, &next);
        cls_clean(out, CLASSIFY_LINE_SIZE, p, n);
        p = next;
    }
    if (out[0] == '>')
        out[0] = '\0';
}

/* ---- HTML to text ------------------------------------------------------------- */

static bool tag_is(const char *t, size_t n, const char *name)
{
    size_t m = strlen(name);
    return n >= m && strncasecmp(t, name, m) == 0 &&
           (n == m || !isalnum((unsigned char)t[m]));
}

size_t cls_html_text(char *dst, size_t size, const char *html, size_t len)
{
    static const struct { const char *name, *text; } ents[] = {
        {"nbsp;", " "}, {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"},
        {"quot;", "\""}, {"#39;", "'"}, {"apos;", "'"},
    };
    if (size == 0)
        return 0;
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    size_t o = 0;
    const char *skip_until = NULL; /* inside <style>, <script>, <head> */
    for (size_t i = 0; i < len && o + 4 < size;) {
        if (html[i] == '<') {
            const char *gt = memchr(html + i, '>', len - i);
            if (!gt)
                break;
            const char *t = html + i + 1;
            size_t tn = (size_t)(gt - t);
            i = (size_t)(gt - html) + 1;
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
            else if (tag_is(t, tn, "blockquote"))
                memcpy(dst + o, "\n> ", 3), o += 3;
            else if (tag_is(t, tn, "br") || tag_is(t, tn, "p") || tag_is(t, tn, "/p") ||
                     tag_is(t, tn, "div") || tag_is(t, tn, "/div") || tag_is(t, tn, "tr") ||
                     tag_is(t, tn, "li") || tag_is(t, tn, "hr"))
                dst[o++] = '\n';
            continue;
        }
        if (skip_until) {
            i++;
            continue;
        }
        if (html[i] == '&') {
            size_t k = 0;
            while (k < N_OF(ents) &&
                   (len - i - 1 < strlen(ents[k].name) ||
                    strncasecmp(html + i + 1, ents[k].name, strlen(ents[k].name)) != 0))
                k++;
            if (k < N_OF(ents)) {
                dst[o++] = ents[k].text[0];
                i += 1 + strlen(ents[k].name);
                continue;
            }
        }
        dst[o++] = html[i] == '\r' ? ' ' : html[i];
        i++;
    }
    dst[o] = '\0';
    return o;
}

/* ---- phrase look-ups ----------------------------------------------------------- */

static const char *in_list(const char *s, const char *const *list, size_t n, bool whole)
{
    for (size_t k = 0; k < n; k++)
        if (whole ? strcmp(s, list[k]) == 0 : strstr(s, list[k]) != NULL)
            return list[k];
    return NULL;
}

const char *cls_daemon_sender(const char *addr, const char *name_lower)
{
    char local[CLASSIFY_ADDR_SIZE];
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : 0;
    memcpy(local, addr, n);
    local[n] = '\0';
    const char *hit = n ? in_list(local, cls_daemon_locals, N_OF(cls_daemon_locals), true)
                        : NULL;
    for (size_t k = 0; !hit && n && k < N_OF(cls_daemon_prefixes); k++)
        if (starts_with(local, cls_daemon_prefixes[k]))
            hit = cls_daemon_prefixes[k];
    if (!hit && name_lower[0])
        hit = in_list(name_lower, cls_daemon_names, N_OF(cls_daemon_names), true);
    return hit;
}

const char *cls_bulk_sender(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : 0;
    for (size_t k = 0; n && k < N_OF(cls_bulk_locals); k++) {
        size_t m = strlen(cls_bulk_locals[k]);
        /* "noreply", "noreply-billing", "news" but not "newsom" */
        if (n >= m && strncmp(addr, cls_bulk_locals[k], m) == 0 &&
            (n == m || addr[m] == '-' || addr[m] == '_' || addr[m] == '.' ||
             addr[m] == '+'))
            return cls_bulk_locals[k];
    }
    return NULL;
}

const char *cls_bounce_subject(const char *subject)
{
    return in_list(subject, cls_bounce_subjects, N_OF(cls_bounce_subjects), false);
}

const char *cls_bounce_preamble(const char *text, size_t len)
{
    char low[8192];
    if (len > sizeof low)
        len = sizeof low; /* the notice is at the top */
    lower_copy(low, text, len); /* once, for every phrase (as cls_find) */
    struct cls_pairs set;
    cls_pairs_of(low, len, &set);
    for (size_t k = 0; k < N_OF(cls_preambles); k++)
        if (cls_pairs_may_hold(&set, cls_preambles[k].phrase) &&
            memmem(low, len, cls_preambles[k].phrase, strlen(cls_preambles[k].phrase)))
            return cls_preambles[k].mta;
    return NULL;
}

static bool reply_prefixed(const char *s)
{
    for (size_t k = 0; k < N_OF(cls_reply_prefixes); k++)
        if (starts_with(s, cls_reply_prefixes[k]))
            return true;
    return false;
}

const char *cls_auto_subject(const char *subject)
{
    for (size_t k = 0; k < N_OF(cls_auto_prefixes); k++)
        if (starts_with(subject, cls_auto_prefixes[k]))
            return cls_auto_prefixes[k];
    if (reply_prefixed(subject))
        return NULL;
    return in_list(subject, cls_auto_subject_words, N_OF(cls_auto_subject_words), false);
}

const char *cls_auto_opening(char lines[][CLS_LINE_SIZE], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *hit = in_list(lines[i], cls_auto_openings, N_OF(cls_auto_openings),
                                  false);
        if (hit)
            return hit;
    }
    return NULL;
}

const char *cls_unsub_request(const char *subject, char lines[][CLS_LINE_SIZE], size_t n)
{
    const char *hit = in_list(subject, cls_unsub_phrases, N_OF(cls_unsub_phrases), false);
    for (size_t i = 0; !hit && i < n && i < 3; i++) {
        char l[CLS_LINE_SIZE];
        snprintf(l, sizeof l, "%s", lines[i]);
        size_t m = strlen(l);
        while (m && strchr(".!, ", l[m - 1]))
            l[--m] = '\0';
        hit = in_list(l, cls_unsub_lines, N_OF(cls_unsub_lines), true);
        if (!hit)
            hit = in_list(l, cls_unsub_phrases, N_OF(cls_unsub_phrases), false);
    }
    return hit;
}

static bool token_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("._~+/=-", c));
}

bool cls_unsub_token(const char *subject, char token[CLASSIFY_TOKEN_SIZE])
{
    token[0] = '\0';
    while (*subject == ' ')
        subject++;
    if (strncasecmp(subject, "unsubscribe ", 12) != 0)
        return false;
    const char *t = subject + 12;
    while (*t == ' ')
        t++;
    size_t n = 0;
    while (token_char(t[n]))
        n++;
    const char *rest = t + n;
    while (*rest == ' ')
        rest++;
    if (n == 0 || n >= CLASSIFY_TOKEN_SIZE || *rest)
        return false;
    memcpy(token, t, n);
    token[n] = '\0';
    return true;
}
