/* mail/classify: the DSN (RFC 3464, RFC 6533) and ARF (RFC 5965) field
 * parsers, and a failed recipient's status, reason and hard/soft from the
 * tables in classify_table.inc. See classify_int.h. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/classify_int.h"

#include "mail/classify_table.inc"

#define N_OF(a) (sizeof(a) / sizeof *(a))

bool cls_reason_known(const char *name)
{
    for (size_t k = 0; name && k < R_COUNT; k++)
        if (strcmp(name, cls_reasons[k].name) == 0)
            return true;
    return false;
}

/* ---- status codes ------------------------------------------------------------- */

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1..3 digits at s[*i]; advances. */
static bool digits13(const char *s, size_t n, size_t *i)
{
    size_t k = 0;
    while (*i + k < n && digit(s[*i + k]))
        k++;
    if (k < 1 || k > 3)
        return false;
    *i += k;
    return true;
}

/* The first RFC 3463 code (class 2, 4 or 5) standing alone in s[0..n):
 * not inside a number or an IP address. */
static bool status_in(const char *s, size_t n, char out[CLASSIFY_STATUS_SIZE])
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '2' && s[i] != '4' && s[i] != '5')
            continue;
        if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
            continue;
        size_t k = i + 1;
        if (k >= n || s[k] != '.')
            continue;
        k++;
        if (!digits13(s, n, &k) || k >= n || s[k] != '.')
            continue;
        k++;
        if (!digits13(s, n, &k))
            continue;
        if (k < n && (isalnum((unsigned char)s[k]) ||
                      (s[k] == '.' && k + 1 < n && digit(s[k + 1]))))
            continue;
        memcpy(out, s + i, k - i);
        out[k - i] = '\0';
        return true;
    }
    return false;
}

/* The class ('4' or '5') of the first SMTP reply code in s, or 0. */
static char reply_class(const char *s, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if ((s[i] != '4' && s[i] != '5') || !digit(s[i + 1]) || !digit(s[i + 2]))
            continue;
        if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.'))
            continue;
        if (i + 3 < n && s[i + 3] != ' ' && s[i + 3] != '-')
            continue;
        return s[i];
    }
    return 0;
}

static bool code_match(const char *pat, const char *code)
{
    for (;; pat++, code++) {
        if (*pat == '*')
            return true;
        if (*pat == '?' ? !digit(*code) : *pat != *code)
            return false;
        if (!*pat)
            return true;
    }
}

static enum cls_reason reason_of(const char *diag_lower, const char *status)
{
    struct cls_pairs set; /* most phrases are ruled out without strstr() */
    cls_pairs_of(diag_lower, strlen(diag_lower), &set);
    for (size_t k = 0; k < N_OF(cls_phrases); k++)
        if (cls_pairs_may_hold(&set, cls_phrases[k].phrase) &&
            strstr(diag_lower, cls_phrases[k].phrase))
            return cls_phrases[k].reason;
    for (size_t k = 0; status[0] && k < N_OF(cls_statuses); k++)
        if (code_match(cls_statuses[k].code, status))
            return cls_statuses[k].reason;
    return R_undefined;
}

static bool is_x00(const char *st)
{
    return st[0] && strcmp(st + 1, ".0.0") == 0;
}

/* ---- recipients --------------------------------------------------------------- */

/* Drops a "smtp;" / "x-unix;" diagnostic type from a cleaned string. */
static void drop_type(char *s)
{
    size_t i = 0;
    while (isalnum((unsigned char)s[i]) || s[i] == '-')
        i++;
    if (i == 0 || s[i] != ';')
        return;
    i++;
    while (s[i] == ' ')
        i++;
    memmove(s, s + i, strlen(s + i) + 1);
}

static const char *const actions[] = {"failed", "delayed", "delivered", "relayed",
                                      "expanded"};

static enum mf_rc rcpt_put(struct classify_result *r, const struct classify_rcpt *c)
{
    for (size_t i = 0; i < r->nrcpts; i++) {
        if (strcmp(r->rcpts[i].address, c->address) != 0)
            continue;
        /* the same address again (notice text and X-Failed-Recipients, or a
         * DSN listing it twice): the entry that has words wins */
        if (!r->rcpts[i].diagnostic[0] && c->diagnostic[0])
            r->rcpts[i] = *c;
        return MF_OK;
    }
    if (r->nrcpts >= CLASSIFY_RCPTS_MAX) {
        r->rcpts_dropped++;
        return MF_OK;
    }
    struct classify_rcpt *n = realloc(r->rcpts, (r->nrcpts + 1) * sizeof *n);
    if (!n)
        return MF_ENOMEM;
    r->rcpts = n;
    r->rcpts[r->nrcpts++] = *c;
    return MF_OK;
}

enum mf_rc cls_rcpt_add(struct classify_result *r, const char *addr, size_t alen,
                        const char *action, size_t aclen, const char *status,
                        size_t stlen, const char *diag, size_t dlen)
{
    struct classify_rcpt c;
    memset(&c, 0, sizeof c);
    if (!cls_address(c.address, addr, alen))
        return MF_OK;
    char ld[CLASSIFY_DIAG_SIZE * 4];
    cls_clean(ld, sizeof ld, diag, diag ? dlen : 0);
    drop_type(ld);
    cls_clean(c.diagnostic, sizeof c.diagnostic, ld, strlen(ld));
    cls_lower(ld);

    char act[CLASSIFY_ACTION_SIZE];
    cls_clean(act, sizeof act, action, action ? aclen : 0);
    cls_lower(act);
    for (size_t k = 0; k < N_OF(actions); k++)
        if (strncmp(act, actions[k], strlen(actions[k])) == 0)
            snprintf(c.action, sizeof c.action, "%s", actions[k]);

    char st[CLASSIFY_STATUS_SIZE], dst[CLASSIFY_STATUS_SIZE];
    status_in(status ? status : "", status ? stlen : 0, st);
    status_in(ld, strlen(ld), dst);
    /* "Status: 5.0.0" with "550 5.1.1 ..." in the diagnostic: the precise one */
    if (!st[0] || (is_x00(st) && dst[0] == st[0] && !is_x00(dst)))
        memcpy(st, dst, sizeof st);

    char cls = st[0] ? st[0] : reply_class(ld, strlen(ld));
    if (!cls)
        cls = !strcmp(c.action, "delayed") ? '4' : c.action[0] && strcmp(c.action, "failed")
                                                       ? '2' : '5';
    if (!c.action[0])
        snprintf(c.action, sizeof c.action, "%s",
                 cls == '4' ? "delayed" : cls == '2' ? "delivered" : "failed");

    bool success = !strcmp(c.action, "delivered") || !strcmp(c.action, "relayed") ||
                   !strcmp(c.action, "expanded");
    enum cls_reason why = success ? R_delivered : reason_of(ld, st);
    if (!st[0])
        snprintf(st, sizeof st, "%c.%s", cls, cls_reasons[why].code);
    memcpy(c.status, st, sizeof st);
    c.reason = cls_reasons[why].name;
    c.hard = !strcmp(c.action, "failed") && st[0] == '5' &&
             cls_reasons[why].hardness == CLS_ADDRESS;
    return rcpt_put(r, &c);
}

enum mf_rc cls_rcpt_feedback(struct classify_result *r, const char *addr, size_t alen,
                             const char *diag, size_t dlen)
{
    struct classify_rcpt c;
    memset(&c, 0, sizeof c);
    if (!cls_address(c.address, addr, alen))
        return MF_OK;
    cls_clean(c.diagnostic, sizeof c.diagnostic, diag, diag ? dlen : 0);
    c.reason = cls_reasons[R_feedback].name;
    return rcpt_put(r, &c);
}

/* ---- report fields ------------------------------------------------------------- */

/* One field of a report part: name and the value with its folded lines. */
struct field {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
    bool blank;       /* a blank line, not a field */
};

/* Reads the field at *p (bounded by end) and advances past it. Lines that
 * are neither fields nor blank are skipped (they come back as a blank
 * "field" with no name, which ends nothing). */
static void next_field(const char **p, const char *end, struct field *f)
{
    memset(f, 0, sizeof *f);
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl + 1 : end;
    size_t n = (size_t)(e - s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    *p = e;
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] > ' ' && s[i] < 127)
        i++;
    if (n == 0 || (n > 0 && (s[0] == ' ' || s[0] == '\t') && i == 0)) {
        bool ws = true;
        for (size_t k = 0; k < n && ws; k++)
            ws = s[k] == ' ' || s[k] == '\t';
        f->blank = ws;
        return;
    }
    if (i == 0 || i >= n || s[i] != ':')
        return;
    f->name = s;
    f->nlen = i;
    f->value = s + i + 1;
    while (*p < end && (**p == ' ' || **p == '\t')) { /* folded lines */
        const char *q = memchr(*p, '\n', (size_t)(end - *p));
        *p = q ? q + 1 : end;
    }
    f->vlen = (size_t)(*p - f->value);
}

static bool named(const struct field *f, const char *name)
{
    return f->name && f->nlen == strlen(name) && strncasecmp(f->name, name, f->nlen) == 0;
}

/* A per-recipient group being read. */
struct group {
    char final[CLASSIFY_ADDR_SIZE * 2], original[CLASSIFY_ADDR_SIZE * 2];
    char action[64], status[64];
    char diag[CLASSIFY_DIAG_SIZE * 4];
    bool any;
};

static void take(char *dst, size_t size, const struct field *f)
{
    size_t n = f->vlen < size - 1 ? f->vlen : size - 1;
    memcpy(dst, f->value, n);
    dst[n] = '\0';
}

static enum mf_rc group_flush(struct group *g, struct classify_result *r)
{
    enum mf_rc rc = MF_OK;
    if (g->final[0] || g->original[0]) {
        char a[CLASSIFY_ADDR_SIZE];
        /* Final-Recipient, or the Original-Recipient when that is all there is
         * or the final one is not a usable address */
        const char *use = g->final[0] && cls_address(a, g->final, strlen(g->final))
                              ? g->final : g->original;
        rc = cls_rcpt_add(r, use, strlen(use), g->action, strlen(g->action), g->status,
                          strlen(g->status), g->diag, strlen(g->diag));
    }
    memset(g, 0, sizeof *g);
    return rc;
}

enum mf_rc cls_dsn_parse(const char *data, size_t len, struct classify_result *r,
                         char *reporting_mta, size_t mta_size,
                         char orig_id[CLASSIFY_ID_SIZE])
{
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    const char *p = data, *end = data + len;
    struct group *g = calloc(1, sizeof *g);
    if (!g)
        return MF_ENOMEM;
    enum mf_rc rc = MF_OK;
    while (p < end && rc == MF_OK) {
        struct field f;
        next_field(&p, end, &f);
        if (f.blank) {
            if (g->final[0] || g->original[0])
                rc = group_flush(g, r);
            continue;
        }
        if (!f.name)
            continue;
        /* a field seen twice starts the next recipient (a missing blank line) */
        char *slot = named(&f, "Final-Recipient")      ? g->final
                     : named(&f, "Original-Recipient") ? g->original
                     : named(&f, "Action")             ? g->action
                     : named(&f, "Status")             ? g->status
                     : named(&f, "Diagnostic-Code")    ? g->diag
                                                       : NULL;
        size_t size = slot == g->final || slot == g->original ? sizeof g->final
                      : slot == g->diag                      ? sizeof g->diag
                                                             : sizeof g->action;
        if (slot) {
            if (slot[0] && (g->final[0] || g->original[0]))
                rc = group_flush(g, r);
            take(slot, size, &f);
            if (!slot[0])
                slot[0] = ' '; /* present, if empty */
        } else if (named(&f, "Reporting-MTA") && reporting_mta && mta_size) {
            char v[300];
            take(v, sizeof v, &f);
            char *semi = strchr(v, ';');
            cls_clean(reporting_mta, mta_size, semi ? semi + 1 : v,
                      strlen(semi ? semi + 1 : v));
        } else if (named(&f, "X-Original-Message-ID") && !orig_id[0]) {
            char v[CLASSIFY_ID_SIZE * 2];
            take(v, sizeof v, &f);
            char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
            if (lt && gt) {
                *gt = '\0';
                cls_msgid(orig_id, lt + 1);
            }
        }
    }
    if (rc == MF_OK)
        rc = group_flush(g, r);
    free(g);
    return rc;
}

enum mf_rc cls_arf_parse(const char *data, size_t len, struct classify_result *r,
                         char *feedback_type, size_t ft_size)
{
    if (len > CLASSIFY_SCAN_MAX)
        len = CLASSIFY_SCAN_MAX;
    const char *p = data, *end = data + len;
    char type[64] = "";
    enum mf_rc rc = MF_OK;
    /* the recipients come after Feedback-Type in practice, but not by rule:
     * read the type first */
    while (p < end) {
        struct field f;
        next_field(&p, end, &f);
        if (named(&f, "Feedback-Type")) {
            char v[64];
            take(v, sizeof v, &f);
            cls_clean(type, sizeof type, v, strlen(v));
            cls_lower(type);
            break;
        }
    }
    if (feedback_type && ft_size)
        snprintf(feedback_type, ft_size, "%s", type);
    char diag[96];
    snprintf(diag, sizeof diag, "feedback type %s", type[0] ? type : "unknown");
    for (p = data; p < end && rc == MF_OK;) {
        struct field f;
        next_field(&p, end, &f);
        if (named(&f, "Original-Rcpt-To") || named(&f, "Removal-Recipient"))
            rc = cls_rcpt_feedback(r, f.value, f.vlen, diag, strlen(diag));
    }
    return rc;
}
