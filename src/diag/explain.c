#include "diag/explain.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/*
 * Only this much of any text is examined: a pasted NDR can be megabytes,
 * and what identifies a failure is in its first lines. Bounding it also
 * bounds the work of the substring search (rows x alternatives x text).
 */
#define EXPLAIN_TEXT_MAX 8192
#define ENH_MAX 16

/* Row host restrictions, used by explain_table.inc. */
#define HOST_ANY 0
#define HOST_MS 1

/*
 * The table carries two criteria struct explain_entry has no field for
 * (port, host). Expanding the same X-macro list twice keeps both arrays in
 * step without widening the public struct.
 */
struct row_extra {
    int port;
    int host;
};

#define ROW(id, proto, layer, code, enh, pat, port, host, cause, fix, src) \
    {id, proto, layer, code, enh, pat, cause, fix, src},
static const struct explain_entry rows[] = {
#include "diag/explain_table.inc"
};
#undef ROW

#define ROW(id, proto, layer, code, enh, pat, port, host, cause, fix, src) \
    {port, host},
static const struct row_extra extras[] = {
#include "diag/explain_table.inc"
};
#undef ROW

#define NROWS (sizeof rows / sizeof rows[0])
_Static_assert(sizeof rows / sizeof rows[0] ==
                   sizeof extras / sizeof extras[0],
               "explain rows and extras out of step");

/* ---- enhanced status codes ------------------------------------------------ */

/* A parsed RFC 3463 code or prefix: n components; the last one may be a
 * range [part[n-1], hi] (table rows only). */
struct enh {
    int n;
    int part[3];
    int hi;
};

/* Parses "5", "5.7", "5.7.139" or, with allow_range, "5.7.606-649".
 * Every component is 1-3 digits; anything else makes the whole code invalid. */
static bool enh_parse(const char *s, bool allow_range, struct enh *e)
{
    e->n = 0;
    if (!s || !*s)
        return false;
    for (;;) {
        int v = 0, digits = 0;
        while (isdigit((unsigned char)*s) && digits < 4) {
            v = v * 10 + (*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || e->n == 3)
            return false;
        e->part[e->n++] = v;
        e->hi = v;
        if (*s == '\0')
            return true;
        if (*s == '-' && allow_range) {
            s++;
            int hi = 0, hd = 0;
            while (isdigit((unsigned char)*s) && hd < 4) {
                hi = hi * 10 + (*s++ - '0');
                hd++;
            }
            if (hd == 0 || hd > 3 || *s != '\0' || hi < v)
                return false;
            e->hi = hi;
            return true;
        }
        if (*s != '.')
            return false;
        s++;
    }
}

/* The row's prefix matches whole components only: "5.7.1" is not a prefix
 * of "5.7.139", "5.7" is. */
static bool enh_match(const char *row_enh, const struct enh *q)
{
    struct enh r;
    if (!enh_parse(row_enh, true, &r) || q->n < r.n)
        return false;
    for (int i = 0; i < r.n - 1; i++)
        if (q->part[i] != r.part[i])
            return false;
    int last = q->part[r.n - 1];
    return last >= r.part[r.n - 1] && last <= r.hi;
}

/* ---- text patterns ------------------------------------------------------- */

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Does pat[0..plen) occur in text[0..tlen), ignoring ASCII case? A space in
 * the pattern matches any run of white space, because servers wrap long
 * replies and a phrase can straddle a line break.
 */
static bool ci_find(const char *text, size_t tlen, const char *pat, size_t plen)
{
    if (plen == 0)
        return false;
    for (size_t start = 0; start < tlen; start++) {
        size_t i = start, j = 0;
        while (j < plen && i < tlen) {
            unsigned char p = (unsigned char)pat[j];
            unsigned char t = (unsigned char)text[i];
            if (p == ' ') {
                if (!is_space(t))
                    break;
                while (i < tlen && is_space((unsigned char)text[i]))
                    i++;
                j++;
            } else if (tolower(p) == tolower(t)) {
                i++;
                j++;
            } else {
                break;
            }
        }
        if (j == plen)
            return true;
    }
    return false;
}

/* One text to search; len excludes the terminator. */
struct span {
    const char *s;
    size_t len;
};

/* '|' separates alternatives; any alternative in any span is a match. */
static bool pattern_match(const char *pattern, const struct span *texts,
                          size_t ntexts)
{
    const char *alt = pattern;
    for (;;) {
        const char *bar = strchr(alt, '|');
        size_t alen = bar ? (size_t)(bar - alt) : strlen(alt);
        for (size_t k = 0; k < ntexts; k++)
            if (texts[k].s && ci_find(texts[k].s, texts[k].len, alt, alen))
                return true;
        if (!bar)
            return false;
        alt = bar + 1;
    }
}

/* ---- matching a row ------------------------------------------------------ */

/* Failures below the protocol: a row for one of these with code 0 means
 * "no reply at all", so it must not swallow a query that carries a reply. */
static bool transport_layer(enum mf_layer l)
{
    return l == MF_LAYER_DNS || l == MF_LAYER_TCP || l == MF_LAYER_TLS;
}

/* What a lookup knows, normalised once. */
struct probe {
    const struct explain_query *q;
    bool has_enh;
    struct enh enh;
    struct span texts[2];
    size_t ntexts;
};

static bool row_matches(size_t idx, const struct probe *p)
{
    const struct explain_entry *r = &rows[idx];
    const struct row_extra *x = &extras[idx];
    const struct explain_query *q = p->q;
    bool has_pat = r->pattern && r->pattern[0];

    /*
     * An unknown proto or layer in the query (ANY/NONE) does not rule a row
     * out, but only when the row has other evidence to match on — else an
     * empty query would match every row that names a layer.
     */
    bool evidence = has_pat || x->port || x->host != HOST_ANY || r->code != 0 ||
                    r->enhanced;
    if (r->proto != EXPLAIN_ANY && q->proto != r->proto &&
        !(q->proto == EXPLAIN_ANY && evidence))
        return false;
    if (r->layer != MF_LAYER_NONE && q->layer != r->layer &&
        !(q->layer == MF_LAYER_NONE && evidence))
        return false;

    if (r->code == 0) {
        if (transport_layer(r->layer) && q->code != 0)
            return false;
    } else if (r->code < 10) {
        if (q->code < 100 || q->code / 100 != r->code)
            return false;
    } else if (q->code != r->code) {
        return false;
    }
    if (x->port && q->port != x->port)
        return false;
    if (x->host == HOST_MS && !q->is_microsoft)
        return false;
    if (r->enhanced && (!p->has_enh || !enh_match(r->enhanced, &p->enh)))
        return false;
    if (has_pat && !pattern_match(r->pattern, p->texts, p->ntexts))
        return false;
    return true;
}

static const struct explain_entry *lookup(const struct explain_query *q,
                                          const char *extra_text,
                                          size_t extra_max)
{
    if (!q)
        return NULL;
    struct probe p = {.q = q};
    char enh[ENH_MAX];
    enh[0] = '\0';
    if (q->enhanced) {
        size_t n = strnlen(q->enhanced, sizeof enh - 1);
        memcpy(enh, q->enhanced, n);
        enh[n] = '\0';
    }
    p.has_enh = enh_parse(enh, false, &p.enh);
    if (q->text)
        p.texts[p.ntexts++] =
            (struct span){q->text, strnlen(q->text, EXPLAIN_TEXT_MAX)};
    if (extra_text)
        p.texts[p.ntexts++] =
            (struct span){extra_text, strnlen(extra_text, extra_max)};
    for (size_t i = 0; i < NROWS; i++)
        if (row_matches(i, &p))
            return &rows[i];
    return NULL;
}

const struct explain_entry *explain_lookup(const struct explain_query *q)
{
    return lookup(q, NULL, 0);
}

const struct explain_entry *explain_err(const struct mf_err *err,
                                        enum explain_proto proto, int port,
                                        int is_microsoft)
{
    if (!err)
        return NULL;
    /* The fixed arrays are NUL-terminated by err.c; bound them anyway. */
    char enh[ENH_MAX];
    size_t n = strnlen(err->enhanced, sizeof err->enhanced);
    if (n >= sizeof enh)
        n = sizeof enh - 1;
    memcpy(enh, err->enhanced, n);
    enh[n] = '\0';
    char reply[MF_ERR_REPLY_MAX];
    n = strnlen(err->reply, sizeof err->reply);
    if (n >= sizeof reply)
        n = sizeof reply - 1;
    memcpy(reply, err->reply, n);
    reply[n] = '\0';
    struct explain_query q = {
        .proto = proto,
        .layer = err->layer,
        .code = err->reply_code,
        .enhanced = enh,
        .text = reply,
        .port = port,
        .is_microsoft = is_microsoft,
    };
    /* Our own words (err->detail) can name the failure as well as the
     * server's: "connection closed by the server", "wrong version number". */
    return lookup(&q, err->detail, sizeof err->detail);
}

const struct explain_entry *explain_table(size_t *count)
{
    if (count)
        *count = NROWS;
    return rows;
}

/* ---- pasted text ----------------------------------------------------------- */

/*
 * Users paste replies in many shapes: a bare "535 5.7.139 ...", a
 * transcript with "S: " / "<- " / "<<< " markers, a multi-line "535-"
 * reply, a Postfix log line ("said: 550 5.7.606 ..."), or an exception
 * ("SMTPAuthenticationError: (535, b'5.7.8 ...')"). The parser below finds
 * the reply code and enhanced code in that order of confidence and keeps
 * the text after them, with the repeated codes of continuation lines
 * stripped so phrases that wrap still match.
 */

static const char *const prefixes[] = {
    "[<-]", "<<<", "<<", "<-", "<", "S:", "SERVER -> CLIENT:", "SERVER:",
};

/* Skips leading white space and transcript markers on one line. */
static size_t skip_prefix(const char *s, size_t len)
{
    size_t i = 0;
    for (;;) {
        while (i < len && (s[i] == ' ' || s[i] == '\t'))
            i++;
        bool found = false;
        for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
            size_t pl = strlen(prefixes[k]);
            if (pl <= len - i && strncasecmp(s + i, prefixes[k], pl) == 0) {
                i += pl;
                found = true;
                break;
            }
        }
        if (!found)
            return i;
    }
}

static bool is_digit_at(const char *s, size_t len, size_t i)
{
    return i < len && isdigit((unsigned char)s[i]);
}

/*
 * An enhanced code at s[i]: class (2, 4 or 5; `klass` if nonzero), then two
 * components of 1-3 digits, not glued to more digits or dots (so an IP
 * address is not one). Returns its length, 0 if none.
 */
static size_t enh_at(const char *s, size_t len, size_t i, int klass)
{
    if (i >= len || (s[i] != '2' && s[i] != '4' && s[i] != '5'))
        return 0;
    if (klass && s[i] != '0' + klass)
        return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
        return 0;
    size_t j = i + 1;
    for (int comp = 0; comp < 2; comp++) {
        if (j >= len || s[j] != '.')
            return 0;
        j++;
        size_t d = 0;
        while (is_digit_at(s, len, j) && d < 4) {
            j++;
            d++;
        }
        if (d == 0 || d > 3)
            return 0;
    }
    if (j < len && (isalnum((unsigned char)s[j]) ||
                    (s[j] == '.' && is_digit_at(s, len, j + 1))))
        return 0;
    return j - i;
}

/* A reply code at s[i]: [2-5]dd not glued to letters or digits. */
static int code_at(const char *s, size_t len, size_t i)
{
    if (i + 3 > len || s[i] < '2' || s[i] > '5' || !is_digit_at(s, len, i + 1) ||
        !is_digit_at(s, len, i + 2))
        return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
        return 0;
    if (i + 3 < len && (isalnum((unsigned char)s[i + 3]) || s[i + 3] == '.'))
        return 0;
    return (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
}

struct parsed {
    int code;
    char enh[ENH_MAX];
    size_t rest;          /* offset of the text after the codes */
};

static void take_enh(struct parsed *p, const char *s, size_t at, size_t n)
{
    if (n >= sizeof p->enh)
        n = sizeof p->enh - 1;
    memcpy(p->enh, s + at, n);
    p->enh[n] = '\0';
}

/* After "ddd" at i: separator, then the enhanced code if its class agrees. */
static void after_code(struct parsed *p, const char *s, size_t len, size_t i)
{
    size_t j = i + 3;
    if (j < len && (s[j] == ' ' || s[j] == '-'))
        j++;
    while (j < len && s[j] == ' ')
        j++;
    size_t n = enh_at(s, len, j, p->code / 100);
    if (n) {
        take_enh(p, s, j, n);
        j += n;
    }
    p->rest = j;
}

/* 1: a line that starts with a reply code (after transcript markers).
 * 4xx/5xx win over 2xx/3xx: a pasted session starts with 220 and 250s. */
static bool parse_line_codes(struct parsed *p, const char *s, size_t len)
{
    size_t best = len, any = len;
    for (size_t ls = 0; ls < len;) {
        const char *nl = memchr(s + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - s) : len;
        size_t i = ls + skip_prefix(s + ls, le - ls);
        int c = code_at(s, le, i);
        if (c && (i + 3 == le || s[i + 3] == ' ' || s[i + 3] == '-' ||
                  s[i + 3] == '\r')) {
            if (any == len)
                any = i;
            if (c >= 400) {
                best = i;
                break;
            }
        }
        ls = le + 1;
    }
    size_t at = best < len ? best : any;
    if (at == len)
        return false;
    p->code = code_at(s, len, at);
    after_code(p, s, len, at);
    return true;
}

/* 2: a code followed closely by a matching enhanced code anywhere, as in
 * log lines and exception messages: "said: 550 5.7.606", "(535, b'5.7.8". */
static bool parse_embedded(struct parsed *p, const char *s, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++) {
        int c = code_at(s, len, i);
        if (!c)
            continue;
        size_t j = i + 3;
        size_t stop = j + 5 < len ? j + 5 : len;
        while (j < stop && s[j] && strchr(" ,-'\"(b", s[j]))
            j++;
        size_t n = enh_at(s, len, j, c / 100);
        if (n) {
            p->code = c;
            take_enh(p, s, j, n);
            p->rest = j + n;
            return true;
        }
    }
    return false;
}

/* 3: an enhanced code alone ("Status: 5.1.1", "dsn=5.7.57"). */
static bool parse_enh_only(struct parsed *p, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        size_t n = enh_at(s, len, i, 0);
        if (n && s[i] != '2') {
            take_enh(p, s, i, n);
            p->rest = 0;      /* the words may come before the code */
            return true;
        }
    }
    return false;
}

/*
 * Copies s[from..len) to out, one line at a time, dropping each line's
 * transcript markers and the repeated reply and enhanced codes of
 * continuation lines ("535-5.7.8 ..." / "5.7.14 ..."). Always terminates.
 */
static void clean_text(const char *s, size_t len, size_t from, int code,
                       char *out, size_t outsize)
{
    size_t o = 0;
    bool first = true;
    for (size_t ls = from; ls < len && o + 1 < outsize;) {
        const char *nl = memchr(s + ls, '\n', len - ls);
        size_t le = nl ? (size_t)(nl - s) : len;
        size_t i = ls;
        if (!first) {
            i += skip_prefix(s + ls, le - ls);
            if (code && code_at(s, le, i) == code &&
                (i + 3 == le || s[i + 3] == ' ' || s[i + 3] == '-'))
                i += 3 + (i + 3 < le);
            while (i < le && s[i] == ' ')
                i++;
            size_t n = enh_at(s, le, i, 0);
            if (n)
                i += n;
            out[o++] = '\n';
        }
        for (; i < le && o + 1 < outsize; i++)
            out[o++] = s[i] == '\r' ? ' ' : s[i];
        first = false;
        ls = le + 1;
    }
    out[o] = '\0';
}

const struct explain_entry *explain_text(const char *text, int *code_out,
                                         char *enhanced_out)
{
    if (code_out)
        *code_out = 0;
    if (enhanced_out)
        enhanced_out[0] = '\0';
    if (!text)
        return NULL;
    size_t len = strnlen(text, EXPLAIN_TEXT_MAX);
    struct parsed p = {0};
    if (!parse_line_codes(&p, text, len) && !parse_embedded(&p, text, len))
        parse_enh_only(&p, text, len);

    char clean[EXPLAIN_TEXT_MAX + 1];
    clean_text(text, len, p.rest, p.code, clean, sizeof clean);

    if (code_out)
        *code_out = p.code;
    if (enhanced_out)
        memcpy(enhanced_out, p.enh, strlen(p.enh) + 1);
    struct explain_query q = {
        .proto = EXPLAIN_ANY,
        .layer = MF_LAYER_NONE,
        .code = p.code,
        .enhanced = p.enh,
        .text = clean,
    };
    return lookup(&q, NULL, 0);
}
