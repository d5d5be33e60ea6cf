/* mail/addr — see addr.h for the rules. */
#include "mail/addr.h"

#include <stdint.h>
#include <string.h>

/* Decodes one UTF-8 sequence at s (n bytes available). Returns its length
 * (1..4) and sets *cp, or 0 for an invalid, overlong, truncated or
 * surrogate sequence. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* The Unicode white space that spreadsheets and web pages leave around an
 * address (trimmed like ASCII white space). */
static bool is_unicode_space(uint32_t cp)
{
    return cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200b) || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/* Non-ASCII code points refused inside a domain label: C1 controls, spaces,
 * invisible format characters, the dots IDNA maps to '.', specials. */
static bool is_bad_in_label(uint32_t cp)
{
    return cp <= 0xa0 || cp == 0xad || cp == 0x34f || cp == 0x1680 ||
           (cp >= 0x180b && cp <= 0x180e) || (cp >= 0x2000 && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) ||
           cp == 0x3000 || cp == 0x3002 || (cp >= 0xfe00 && cp <= 0xfe0f) ||
           cp == 0xfeff || cp == 0xff0e || cp == 0xff61 ||
           (cp >= 0xfff0 && cp <= 0xffff) || (cp >= 0xe0000 && cp <= 0xe0fff);
}

static bool is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Trims white space on both sides of s[*b, *e). */
static void trim(const unsigned char *s, size_t *b, size_t *e)
{
    uint32_t cp;
    while (*b < *e) {
        if (is_ascii_space(s[*b])) {
            (*b)++;
            continue;
        }
        size_t k = utf8_decode(s + *b, *e - *b, &cp);
        if (k > 1 && is_unicode_space(cp)) {
            *b += k;
            continue;
        }
        break;
    }
    while (*e > *b) {
        if (is_ascii_space(s[*e - 1])) {
            (*e)--;
            continue;
        }
        bool cut = false;
        for (size_t k = 2; k <= 3 && k <= *e - *b; k++) {
            if (utf8_decode(s + *e - k, k, &cp) == k && is_unicode_space(cp)) {
                *e -= k;
                cut = true;
                break;
            }
        }
        if (!cut)
            break;
    }
}

/* RFC 5322 atext (ASCII). */
static bool is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-';
}

static const char *check_local(const unsigned char *s, size_t n)
{
    if (n == 0)
        return "empty local part";
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (i == 0 || i + 1 == n || s[i - 1] == '.')
                return "bad character in local part";
        } else if (!is_atext(s[i])) {
            return "bad character in local part";
        }
    }
    if (n > ADDR_LOCAL_MAX)
        return "local part too long";
    return NULL;
}

/* One label s[0, n), n > 0 checked by the caller. */
static bool label_ok(const unsigned char *s, size_t n)
{
    if (n > ADDR_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        if (s[i] < 0x80) {
            if (!is_ldh(s[i]))
                return false;
            i++;
            continue;
        }
        size_t k = utf8_decode(s + i, n - i, &cp);
        if (k == 0 || is_bad_in_label(cp))
            return false;
        i += k;
    }
    return true;
}

static const char *check_domain(const unsigned char *s, size_t n)
{
    if (n == 0)
        return "bad domain";
    size_t labels = 0, start = 0;
    bool numeric = true;    /* of the last label seen */
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (i == start || !label_ok(s + start, i - start))
            return "bad domain";
        numeric = true;
        for (size_t k = start; k < i; k++)
            if (s[k] < '0' || s[k] > '9')
                numeric = false;
        labels++;
        start = i + 1;
    }
    if (labels < 2)
        return "domain has no dot";
    if (numeric)
        return "numeric top-level domain";
    if (n > ADDR_DOMAIN_MAX)
        return "too long";
    return NULL;
}

/* A '"' directly followed by '@' in s[0, n). */
static bool quote_at(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == '"' && s[i + 1] == '@')
            return true;
    return false;
}

static bool refuse(char *out, size_t outsize, const char **why, const char *reason)
{
    if (out && outsize > 0)
        out[0] = '\0';
    if (why)
        *why = reason;
    return false;
}

bool addr_normalize(const char *in, char *out, size_t outsize, const char **why)
{
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t b = 0, e = strlen((const char *)s);
    trim(s, &b, &e);
    if (e - b >= 2 && s[b] == '<' && s[e - 1] == '>') {
        b++, e--;
        trim(s, &b, &e);
    }
    if (b == e)
        return refuse(out, outsize, why, "empty");
    size_t n = e - b;
    if (n > ADDR_MAX)
        return refuse(out, outsize, why, "too long");
    s += b;
    if (!utf8_valid(s, n))
        return refuse(out, outsize, why, "not UTF-8");
    /* "john doe"@x.com, "a@b"@x.com (but not "Bob" <bob@x.com>) */
    if (s[0] == '"' && quote_at(s + 1, n - 1))
        return refuse(out, outsize, why, "quoted local parts are not supported");
    const unsigned char *at = memchr(s, '@', n);
    if (!at)
        return refuse(out, outsize, why, "no @");
    size_t nlocal = (size_t)(at - s);
    if (memchr(at + 1, '@', n - nlocal - 1))
        return refuse(out, outsize, why, "two @");
    const char *bad = check_local(s, nlocal);
    if (!bad)
        bad = check_domain(at + 1, n - nlocal - 1);
    if (bad)
        return refuse(out, outsize, why, bad);
    if (out || outsize > 0) {
        if (!out || outsize <= n)
            return refuse(out, outsize, why, "output buffer too small");
        for (size_t i = 0; i < n; i++)
            out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
        out[n] = '\0';
    }
    if (why)
        *why = NULL;
    return true;
}

bool addr_domain(const char *normalized, const char **domain)
{
    const char *at = normalized ? strrchr(normalized, '@') : NULL;
    if (!at || at[1] == '\0') {
        if (domain)
            *domain = NULL;
        return false;
    }
    if (domain)
        *domain = at + 1;
    return true;
}
