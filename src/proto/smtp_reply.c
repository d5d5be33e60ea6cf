#include "proto/smtp_reply.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "proto/sasl.h"

void smtp_reply_init(struct smtp_reply_parser *p, size_t max_lines,
                     size_t max_text)
{
    memset(p, 0, sizeof *p);
    p->max_lines = max_lines;
    mf_buf_init(&p->text, max_text);
}

void smtp_reply_free(struct smtp_reply_parser *p)
{
    if (p)
        mf_buf_free(&p->text);
}

void smtp_reply_reset(struct smtp_reply_parser *p)
{
    p->nlines = 0;
    p->code = 0;
    p->enhanced[0] = '\0';
    mf_buf_reset(&p->text);
}

static size_t digits(const char *s, size_t len, size_t max)
{
    size_t n = 0;
    while (n < len && n <= max && isdigit((unsigned char)s[n]))
        n++;
    return n;
}

size_t smtp_enhanced_parse(const char *text, size_t len, int klass,
                           char out[SMTP_ENHANCED_MAX])
{
    /* class "." subject(1-3 digits) "." detail(1-3 digits), then space/end */
    if (len < 5 || text[0] != (char)('0' + klass) || text[1] != '.')
        return 0;
    size_t i = 2;
    size_t n = digits(text + i, len - i, 3);
    if (n == 0 || n > 3 || i + n >= len || text[i + n] != '.')
        return 0;
    i += n + 1;
    n = digits(text + i, len - i, 3);
    if (n == 0 || n > 3)
        return 0;
    i += n;
    if (i < len && text[i] != ' ')
        return 0;
    memcpy(out, text, i);
    out[i] = '\0';
    while (i < len && text[i] == ' ')
        i++;
    return i;
}

static enum mf_rc bad_line(struct mf_err *err, const char *why,
                           const char *line, size_t len)
{
    mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO, "malformed reply: %s", why);
    mf_err_set_reply(err, 0, NULL, line, len > 200 ? 200 : len);
    return MF_EPROTO;
}

enum mf_rc smtp_reply_line(struct smtp_reply_parser *p, const char *line,
                           size_t len, bool *done, struct mf_err *err)
{
    *done = false;
    if (len < 3 || digits(line, len, 3) < 3 || line[0] < '2' || line[0] > '5')
        return bad_line(err, "no reply code", line, len);
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return bad_line(err, "code not followed by space or dash", line, len);
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (p->nlines > 0 && code != p->code)
        return bad_line(err, "reply code changed within a multi-line reply",
                        line, len);
    if (p->nlines >= p->max_lines)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                          "reply has more than %zu lines", p->max_lines);
    p->code = code;
    const char *text = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    /* Each line may repeat the enhanced code; keep the first, strip all. */
    char enh[SMTP_ENHANCED_MAX];
    size_t skip = smtp_enhanced_parse(text, tlen, line[0] - '0', enh);
    if (skip && p->nlines == 0)
        memcpy(p->enhanced, enh, sizeof enh);
    text += skip;
    tlen -= skip;

    char clean[1024];
    enum mf_rc rc = MF_OK;
    if (p->nlines > 0)
        rc = mf_buf_add(&p->text, "\n", 1);
    while (rc == MF_OK && tlen > 0) {
        size_t chunk = tlen < sizeof clean - 1 ? tlen : sizeof clean - 1;
        size_t n = mf_sanitize(clean, sizeof clean, text, chunk, 0);
        rc = mf_buf_add(&p->text, clean, n);
        text += chunk;
        tlen -= chunk;
    }
    if (rc != MF_OK)
        return mf_err_set(err, rc, MF_LAYER_PROTO, "reply text too long");
    p->nlines++;
    *done = len == 3 || line[3] == ' ';
    return MF_OK;
}

void smtp_reply_get(const struct smtp_reply_parser *p, struct smtp_reply *r)
{
    r->code = p->code;
    r->enhanced = p->enhanced;
    r->text = mf_buf_data(&p->text);
    r->len = mf_buf_len(&p->text);
    r->nlines = p->nlines;
}

/* Copies at most dstsize-1 bytes. */
static void copy_bounded(char *dst, size_t dstsize, const char *src, size_t len)
{
    if (len >= dstsize)
        len = dstsize - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static bool word_is(const char *w, size_t wlen, const char *kw)
{
    return strlen(kw) == wlen && strncasecmp(w, kw, wlen) == 0;
}

static void parse_auth(struct smtp_caps *caps, const char *s, size_t len)
{
    size_t used = strlen(caps->auth_list);
    for (size_t i = 0; i < len;) {
        while (i < len && s[i] == ' ')
            i++;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        if (i == start)
            break;
        enum sasl_mech m = sasl_mech_parse(s + start, i - start);
        if (m != SASL_MECH_NONE) {
            if (caps->auth_mask & SASL_BIT(m))
                continue; /* listed twice (AUTH and AUTH=) */
            caps->auth_mask |= SASL_BIT(m);
        }
        if (used + (i - start) + 2 < sizeof caps->auth_list) {
            if (used)
                caps->auth_list[used++] = ' ';
            memcpy(caps->auth_list + used, s + start, i - start);
            used += i - start;
            caps->auth_list[used] = '\0';
        }
    }
}

static void parse_size(struct smtp_caps *caps, const char *s, size_t len)
{
    unsigned long v = 0;
    size_t i = 0;
    while (i < len && s[i] == ' ')
        i++;
    for (; i < len && isdigit((unsigned char)s[i]); i++) {
        if (v > (~0ul - 9) / 10)
            return; /* absurd: treat as no limit */
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    caps->size = true;
    caps->size_max = v;
}

static void parse_keyword_line(struct smtp_caps *caps, const char *s, size_t len)
{
    size_t k = 0;
    while (k < len && s[k] != ' ' && s[k] != '=')
        k++;
    const char *arg = k < len ? s + k + 1 : "";
    size_t alen = k < len ? len - k - 1 : 0;
    if (word_is(s, k, "PIPELINING"))
        caps->pipelining = true;
    else if (word_is(s, k, "STARTTLS"))
        caps->starttls = true;
    else if (word_is(s, k, "8BITMIME"))
        caps->eightbitmime = true;
    else if (word_is(s, k, "SMTPUTF8"))
        caps->smtputf8 = true;
    else if (word_is(s, k, "ENHANCEDSTATUSCODES"))
        caps->enhancedstatuscodes = true;
    else if (word_is(s, k, "CHUNKING"))
        caps->chunking = true;
    else if (word_is(s, k, "DSN"))
        caps->dsn = true;
    else if (word_is(s, k, "SIZE"))
        parse_size(caps, arg, alen);
    else if (word_is(s, k, "AUTH"))
        parse_auth(caps, arg, alen);
}

void smtp_caps_parse(struct smtp_caps *caps, const char *text, size_t len)
{
    memset(caps, 0, sizeof *caps);
    caps->esmtp = true;
    size_t i = 0, line = 0;
    while (i <= len) {
        size_t start = i;
        while (i < len && text[i] != '\n')
            i++;
        if (line == 0) {
            size_t d = 0;
            while (start + d < i && text[start + d] != ' ')
                d++;
            copy_bounded(caps->domain, sizeof caps->domain, text + start, d);
        } else {
            parse_keyword_line(caps, text + start, i - start);
        }
        line++;
        i++;
    }
}
