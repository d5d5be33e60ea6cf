/* mail/classify: the plain-text bounce scanner — the failed recipients of
 * the MTAs' non-standard bounce texts. See classify_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/classify_int.h"

#define N_OF(a) (sizeof(a) / sizeof *(a))

/* Lines (after leading white space) where the notice ends and the copy of
 * the returned message, or a transcript, begins: recipient lines stop
 * here, the original Message-ID is looked for from here. */
static const char *const cls_copy_markers[] = {
    "------ this is a copy of the message",        /* Exim */
    "--- below this line is a copy of the message", /* qmail, Yahoo */
    "below is a copy of the original message",     /* OpenSMTPD */
    "----- transcript of session follows -----",   /* Sendmail */
    "----- original message follows -----",
    "------ original message ------",
    "original message headers",                    /* Exchange */
    "--- the header of the original message",
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
    "return-path:", "received:",
};


/* ---- plain-text bounces -------------------------------------------------------- */

static bool addr_char(unsigned char c)
{
    if (isalnum(c) || c >= 0x80)
        return true;
    switch (c) { /* "!#$%&'*+/=?^_`{|}~.-@[]" */
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|':
    case '}': case '~': case '.': case '-': case '@': case '[': case ']':
        return true;
    default:
        return false;
    }
}

/*
 * A recipient line: up to 8 columns of indentation, an address (optionally
 * in <>), an optional "(expanded from ...)" remark, then the end of the
 * line or ':' and the start of the diagnostic. *addr, *alen point at the
 * address, *rest, *rlen at the diagnostic start, *indented tells whether
 * the line was indented.
 */
static bool rcpt_line(const char *l, size_t n, const char **addr, size_t *alen,
                      const char **rest, size_t *rlen, bool *indented)
{
    size_t i = 0;
    while (i < n && i < 8 && (l[i] == ' ' || l[i] == '\t'))
        i++;
    *indented = i > 0;
    bool angle = i < n && l[i] == '<';
    if (angle)
        i++;
    size_t s = i;
    while (i < n && addr_char((unsigned char)l[i]))
        i++;
    const char *at = memchr(l + s, '@', i - s);
    /* a dot in the domain; a sentence's full stop is not part of it */
    while (i > s && l[i - 1] == '.')
        i--;
    if (!at || at == l + s || !memchr(at, '.', (size_t)(l + i - at)) || l[i - 1] == '@')
        return false;
    *addr = l + s;
    *alen = i - s;
    if (angle) {
        if (i >= n || l[i] != '>')
            return false;
        i++;
    }
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i < n && l[i] == '(') {
        const char *close = memchr(l + i, ')', n - i);
        if (!close)
            return false;
        i = (size_t)(close - l) + 1;
        while (i < n && (l[i] == ' ' || l[i] == '\t'))
            i++;
    }
    if (i < n && l[i] == ':')
        i++;
    else if (i < n)
        return false;
    *rest = l + i;
    *rlen = n - i;
    return true;
}

static bool copy_marker(const char *l, size_t n)
{
    size_t i = 0;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    for (size_t k = 0; k < N_OF(cls_copy_markers); k++) {
        size_t m = strlen(cls_copy_markers[k]);
        if (n - i >= m && strncasecmp(l + i, cls_copy_markers[k], m) == 0)
            return true;
    }
    return false;
}

struct pending {
    char addr[CLASSIFY_ADDR_SIZE * 2];
    size_t alen;
    char diag[CLASSIFY_DIAG_SIZE * 4];
    size_t dlen;
    bool have;
};

static void pend_diag(struct pending *pd, const char *s, size_t n)
{
    if (pd->dlen && pd->dlen + 1 < sizeof pd->diag)
        pd->diag[pd->dlen++] = ' ';
    if (n > sizeof pd->diag - 1 - pd->dlen)
        n = sizeof pd->diag - 1 - pd->dlen;
    memcpy(pd->diag + pd->dlen, s, n);
    pd->dlen += n;
}

static enum mf_rc pend_flush(struct pending *pd, bool delayed, struct classify_result *r)
{
    enum mf_rc rc = MF_OK;
    if (pd->have) {
        const char *action = delayed ? "delayed" : "failed";
        rc = cls_rcpt_add(r, pd->addr, pd->alen, action, strlen(action), NULL, 0,
                          pd->diag, pd->dlen);
    }
    pd->have = false;
    pd->alen = pd->dlen = 0;
    return rc;
}

enum mf_rc cls_text_rcpts(const char *text, size_t len, bool delayed,
                          struct classify_result *r, char orig_id[CLASSIFY_ID_SIZE])
{
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    const char *end = text + len, *next;
    struct pending pd = {.have = false};
    bool prev_blank = true;
    enum mf_rc rc = MF_OK;
    for (const char *p = text; p < end && rc == MF_OK; p = next) {
        size_t n = cls_line_at(p, end, &next);
        const char *a, *rest;
        size_t alen, rlen;
        bool indented, blank = true;
        for (size_t i = 0; i < n && blank; i++)
            blank = p[i] == ' ' || p[i] == '\t';
        if (copy_marker(p, n)) {
            rc = pend_flush(&pd, delayed, r);
            cls_msgid_in_headers(orig_id, p, (size_t)(end - p));
            break;
        }
        if (blank) {
            rc = pend_flush(&pd, delayed, r);
        } else if (rcpt_line(p, n, &a, &alen, &rest, &rlen, &indented) &&
                   (!pd.have || !indented || prev_blank)) {
            rc = pend_flush(&pd, delayed, r);
            if (alen < sizeof pd.addr) {
                memcpy(pd.addr, a, alen);
                pd.alen = alen;
                pd.have = true;
                pend_diag(&pd, rest, rlen);
            }
        } else if (pd.have) {
            pend_diag(&pd, p, n);
        }
        prev_blank = blank;
    }
    if (rc == MF_OK)
        rc = pend_flush(&pd, delayed, r);
    return rc;
}
