#include "proto/imap_parse.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- a bump allocator for one response's values ---------------------------- */

struct chunk {
    struct chunk *next;
    size_t used, size;
    char mem[];
};

struct arena {
    struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (!a->head || a->head->size - a->head->used < size) {
        size_t csize = size > 65536 ? size : 65536;
        struct chunk *c = malloc(sizeof *c + csize);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->size = csize;
        a->head = c;
    }
    void *p = a->head->mem + a->head->used;
    a->head->used += size;
    return p;
}

static void arena_reset(struct arena *a)
{
    while (a->head) {
        struct chunk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static char *arena_str(struct arena *a, const char *s, size_t len)
{
    char *d = arena_alloc(a, len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* ---- the parser --------------------------------------------------------------- */

struct imap_parser {
    struct imap_parse_limits lim;
    struct mf_buf in;
    size_t scan;          /* how far the current response has been checked */
    size_t line_start;    /* where the current line (after a literal) began */
    size_t literal_left;  /* bytes of a literal still to arrive */
    size_t taken;         /* bytes of the last handed-out response */
    struct arena arena;
    size_t nvalues;
};

struct imap_parser *imap_parse_new(const struct imap_parse_limits *limits)
{
    struct imap_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (limits)
        p->lim = *limits;
    if (!p->lim.max_line)
        p->lim.max_line = 16384;
    if (!p->lim.max_literal)
        p->lim.max_literal = 64u << 20;
    if (!p->lim.max_response)
        p->lim.max_response = 72u << 20;
    if (!p->lim.max_depth)
        p->lim.max_depth = 16;
    if (!p->lim.max_values)
        p->lim.max_values = 100000;
    mf_buf_init(&p->in, p->lim.max_response + p->lim.max_line);
    return p;
}

void imap_parse_free(struct imap_parser *p)
{
    if (!p)
        return;
    mf_buf_free(&p->in);
    arena_reset(&p->arena);
    free(p);
}

size_t imap_parse_pending(const struct imap_parser *p)
{
    return mf_buf_len(&p->in) - p->taken;
}

enum mf_rc imap_parse_feed(struct imap_parser *p, const char *data, size_t len,
                           struct mf_err *err)
{
    enum mf_rc rc = mf_buf_add(&p->in, data, len);
    if (rc == MF_ELIMIT)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                          "IMAP response larger than %zu bytes", p->lim.max_response);
    if (rc != MF_OK)
        return mf_err_set(err, rc, MF_LAYER_INTERNAL, "out of memory");
    return MF_OK;
}

/* A literal announcement "{n}" or "{n+}" ending the line [s, e) (CRLF
 * excluded). Returns true and the size when there is one. */
static bool literal_at_end(const char *s, const char *e, size_t *n)
{
    if (e - s < 3 || e[-1] != '}')
        return false;
    const char *q = e - 2;
    if (*q == '+')
        q--;
    const char *digits_end = q + 1;
    while (q >= s && isdigit((unsigned char)*q))
        q--;
    if (q < s || *q != '{' || q + 1 == digits_end || digits_end - (q + 1) > 12)
        return false;
    size_t v = 0;
    for (const char *d = q + 1; d < digits_end; d++)
        v = v * 10 + (size_t)(*d - '0');
    *n = v;
    return true;
}

/* Advances the scanner; returns the length of a complete response at the
 * front of the buffer, 0 if none yet, or (size_t)-1 on a limit error. */
static size_t scan_response(struct imap_parser *p, struct mf_err *err)
{
    const char *base = mf_buf_data(&p->in);
    size_t have = mf_buf_len(&p->in);
    for (;;) {
        if (p->literal_left) {
            size_t avail = have - p->scan;
            if (avail < p->literal_left) {
                p->literal_left -= avail;
                p->scan = have;
                return 0;
            }
            p->scan += p->literal_left;
            p->literal_left = 0;
            p->line_start = p->scan;
        }
        const char *nl = memchr(base + p->scan, '\n', have - p->scan);
        if (!nl) {
            p->scan = have;
            if (have - p->line_start > p->lim.max_line) {
                mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                           "IMAP line longer than %zu bytes", p->lim.max_line);
                return (size_t)-1;
            }
            return 0;
        }
        size_t end = (size_t)(nl - base);
        if (end - p->line_start > p->lim.max_line) {
            mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                       "IMAP line longer than %zu bytes", p->lim.max_line);
            return (size_t)-1;
        }
        const char *line_end = nl > base + p->line_start && nl[-1] == '\r' ? nl - 1 : nl;
        size_t lit;
        if (literal_at_end(base + p->line_start, line_end, &lit)) {
            if (lit > p->lim.max_literal) {
                mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                           "IMAP literal of %zu bytes (limit %zu)", lit,
                           p->lim.max_literal);
                return (size_t)-1;
            }
            p->scan = end + 1;
            p->literal_left = lit;
            p->line_start = p->scan;
            continue;
        }
        p->scan = end + 1;
        p->line_start = p->scan;
        return end + 1;
    }
}

/* ---- tokenising a complete response ------------------------------------------ */

struct tok {
    struct imap_parser *p;
    const char *s, *end;   /* the response, CRLF included */
    struct mf_err *err;
    bool failed;
};

static bool bad(struct tok *t, const char *why)
{
    if (!t->failed)
        mf_err_set(t->err, MF_EPROTO, MF_LAYER_PROTO, "malformed IMAP response: %s", why);
    t->failed = true;
    return false;
}

static bool at_eol(const struct tok *t)
{
    return t->s >= t->end || *t->s == '\r' || *t->s == '\n';
}

static void skip_spaces(struct tok *t)
{
    while (t->s < t->end && *t->s == ' ')
        t->s++;
}

/* atom-specials of RFC 3501, less '[' which opens a section kept whole */
static bool atom_char(char c)
{
    return (unsigned char)c > 0x20 && c != 0x7f && c != '(' && c != ')' &&
           c != '{' && c != '"';
}

static bool parse_value(struct tok *t, struct imap_val *v, size_t depth);

static bool parse_list(struct tok *t, struct imap_val *v, size_t depth)
{
    if (depth >= t->p->lim.max_depth)
        return bad(t, "lists nested too deeply");
    t->s++; /* '(' */
    struct imap_val *tmp = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        skip_spaces(t);
        if (t->s < t->end && *t->s == ')') {
            t->s++;
            break;
        }
        if (at_eol(t)) {
            free(tmp);
            return bad(t, "unterminated list");
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct imap_val *nt = realloc(tmp, cap * sizeof *nt);
            if (!nt) {
                free(tmp);
                return bad(t, "out of memory");
            }
            tmp = nt;
        }
        if (!parse_value(t, &tmp[n], depth + 1)) {
            free(tmp);
            return false;
        }
        n++;
    }
    v->type = IMAP_LIST;
    v->n = n;
    v->items = n ? arena_alloc(&t->p->arena, n * sizeof *tmp) : NULL;
    if (n && !v->items) {
        free(tmp);
        return bad(t, "out of memory");
    }
    if (n)
        memcpy(v->items, tmp, n * sizeof *tmp);
    free(tmp);
    return true;
}

static bool parse_quoted(struct tok *t, struct imap_val *v)
{
    t->s++;
    const char *start = t->s;
    /* the unescaped copy is never longer than the quoted text */
    size_t max = 0;
    while (start + max < t->end && start[max] != '"' && start[max] != '\r' &&
           start[max] != '\n') {
        if (start[max] == '\\' && start + max + 1 < t->end)
            max++;
        max++;
    }
    if (start + max >= t->end || start[max] != '"')
        return bad(t, "unterminated quoted string");
    char *d = arena_alloc(&t->p->arena, max + 1);
    if (!d)
        return bad(t, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < max; i++) {
        if (start[i] == '\\')
            i++;
        d[o++] = start[i];
    }
    d[o] = '\0';
    t->s = start + max + 1;
    v->type = IMAP_STRING;
    v->s = d;
    v->len = o;
    return true;
}

static bool parse_literal(struct tok *t, struct imap_val *v)
{
    t->s++;
    size_t n = 0, digits = 0;
    while (t->s < t->end && isdigit((unsigned char)*t->s) && digits < 13) {
        n = n * 10 + (size_t)(*t->s++ - '0');
        digits++;
    }
    if (t->s < t->end && *t->s == '+')
        t->s++;
    if (!digits || t->s >= t->end || *t->s != '}')
        return bad(t, "bad literal announcement");
    t->s++;
    if (t->s < t->end && *t->s == '\r')
        t->s++;
    if (t->s >= t->end || *t->s != '\n')
        return bad(t, "literal announcement not at the end of a line");
    t->s++;
    if ((size_t)(t->end - t->s) < n)
        return bad(t, "literal shorter than announced");
    v->type = IMAP_STRING;
    v->s = arena_str(&t->p->arena, t->s, n);
    v->len = n;
    t->s += n;
    return v->s ? true : bad(t, "out of memory");
}

static bool parse_atom(struct tok *t, struct imap_val *v)
{
    const char *start = t->s;
    int brackets = 0;
    while (t->s < t->end && *t->s != '\r' && *t->s != '\n') {
        char c = *t->s;
        if (c == '[')
            brackets++;
        else if (c == ']' && brackets)
            brackets--;
        else if (!brackets && (c == ' ' || !atom_char(c)))
            break;
        t->s++;
    }
    if (brackets)
        return bad(t, "unterminated [section]");
    if (t->s == start)
        return bad(t, "unexpected character");
    size_t len = (size_t)(t->s - start);
    if (len == 3 && strncasecmp(start, "NIL", 3) == 0) {
        v->type = IMAP_NIL;
        v->s = "";
        v->len = 0;
        return true;
    }
    v->type = IMAP_ATOM;
    v->s = arena_str(&t->p->arena, start, len);
    v->len = len;
    return v->s ? true : bad(t, "out of memory");
}

static bool parse_value(struct tok *t, struct imap_val *v, size_t depth)
{
    memset(v, 0, sizeof *v);
    if (++t->p->nvalues > t->p->lim.max_values)
        return bad(t, "too many values");
    char c = *t->s;
    if (c == '(')
        return parse_list(t, v, depth);
    if (c == '"')
        return parse_quoted(t, v);
    if (c == '{')
        return parse_literal(t, v);
    if (c == ')')
        return bad(t, "unbalanced ')'");
    return parse_atom(t, v);
}

/* The rest of the line as text, CRLF stripped. */
static const char *rest_of_line(struct tok *t)
{
    skip_spaces(t);
    const char *start = t->s;
    while (t->s < t->end && *t->s != '\r' && *t->s != '\n')
        t->s++;
    return arena_str(&t->p->arena, start, (size_t)(t->s - start));
}

static bool is_status(const char *w, size_t n)
{
    static const char *const words[] = {"OK", "NO", "BAD", "PREAUTH", "BYE"};
    for (size_t i = 0; i < 5; i++)
        if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
            return true;
    return false;
}

/* "OK [CODE args] text": status word already at t->s. */
static bool parse_status(struct tok *t, struct imap_resp *r)
{
    const char *w = t->s;
    while (t->s < t->end && *t->s != ' ' && *t->s != '\r' && *t->s != '\n')
        t->s++;
    char *status = arena_str(&t->p->arena, w, (size_t)(t->s - w));
    if (!status)
        return bad(t, "out of memory");
    for (char *c = status; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    r->status = status;
    skip_spaces(t);
    r->code = "";
    if (t->s < t->end && *t->s == '[') {
        const char *cs = ++t->s;
        while (t->s < t->end && *t->s != ']' && *t->s != '\r' && *t->s != '\n')
            t->s++;
        if (t->s >= t->end || *t->s != ']')
            return bad(t, "unterminated [response code]");
        r->code = arena_str(&t->p->arena, cs, (size_t)(t->s - cs));
        t->s++;
    }
    r->text = rest_of_line(t);
    return r->code && r->text ? true : bad(t, "out of memory");
}

static bool parse_data(struct tok *t, struct imap_resp *r)
{
    struct imap_val *tmp = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        skip_spaces(t);
        if (at_eol(t))
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct imap_val *nt = realloc(tmp, cap * sizeof *nt);
            if (!nt) {
                free(tmp);
                return bad(t, "out of memory");
            }
            tmp = nt;
        }
        if (!parse_value(t, &tmp[n], 0)) {
            free(tmp);
            return false;
        }
        n++;
    }
    r->vals = n ? arena_alloc(&t->p->arena, n * sizeof *tmp) : NULL;
    if (n && r->vals)
        memcpy(r->vals, tmp, n * sizeof *tmp);
    r->nvals = r->vals ? n : 0;
    free(tmp);
    return n == 0 || r->vals ? true : bad(t, "out of memory");
}

static bool parse_response(struct tok *t, struct imap_resp *r)
{
    memset(r, 0, sizeof *r);
    r->tag = "";
    r->status = "";
    r->code = "";
    r->text = "";
    if (t->s < t->end && *t->s == '+') {
        t->s++;
        r->kind = IMAP_RESP_CONTINUE;
        r->text = rest_of_line(t);
        return r->text ? true : bad(t, "out of memory");
    }
    const char *w = t->s;
    while (t->s < t->end && atom_char(*t->s) && *t->s != ' ' && *t->s != '[' &&
           *t->s != ']' && *t->s != '%')
        t->s++;
    if (t->s == w)
        return bad(t, "no tag");
    if (t->s >= t->end || *t->s != ' ')
        return bad(t, "tag not followed by a space");
    bool untagged = t->s - w == 1 && *w == '*';
    r->kind = untagged ? IMAP_RESP_UNTAGGED : IMAP_RESP_TAGGED;
    r->tag = untagged ? "" : arena_str(&t->p->arena, w, (size_t)(t->s - w));
    skip_spaces(t);
    const char *word = t->s;
    while (t->s < t->end && *t->s != ' ' && *t->s != '\r' && *t->s != '\n')
        t->s++;
    bool status = is_status(word, (size_t)(t->s - word));
    t->s = word;
    if (status)
        return parse_status(t, r);
    if (!untagged)
        return bad(t, "tagged response without OK, NO or BAD");
    return parse_data(t, r);
}

enum mf_rc imap_parse_next(struct imap_parser *p, struct imap_resp *out,
                           struct mf_err *err)
{
    if (p->taken) {
        mf_buf_consume(&p->in, p->taken);
        p->scan -= p->taken;
        p->line_start -= p->taken;
        p->taken = 0;
    }
    arena_reset(&p->arena);
    p->nvalues = 0;
    size_t len = scan_response(p, err);
    if (len == (size_t)-1)
        return MF_ELIMIT;
    if (len == 0)
        return MF_ENOTFOUND;
    p->taken = len;
    struct tok t = {.p = p, .s = mf_buf_data(&p->in), .err = err};
    t.end = t.s + len;
    if (!parse_response(&t, out))
        return MF_EPROTO;
    out->raw = mf_buf_data(&p->in);
    out->raw_len = len;
    return MF_OK;
}

bool imap_val_is(const struct imap_val *v, const char *s)
{
    return v && (v->type == IMAP_ATOM || v->type == IMAP_STRING) &&
           v->len == strlen(s) && strncasecmp(v->s, s, v->len) == 0;
}
