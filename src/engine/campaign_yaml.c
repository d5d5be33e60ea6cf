/*
 * engine/campaign_yaml — libyaml's event stream → a bounded tree
 * (campaign_int.h), and the typed accessors campaign.c validates it with.
 * Anchors and aliases are refused outright (no billion-laughs expansion is
 * possible), so is more than one document.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "engine/campaign.h"
#include "engine/campaign_int.h"

#define TAG_PREFIX "tag:yaml.org,2002:"

enum mf_rc cy_error(struct mf_err *err, enum mf_rc rc, const char *file, int line,
                    int col, const char *fmt, ...)
{
    char msg[MF_ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    if (!file)
        file = "<campaign>";
    if (line > 0)
        return mf_err_set(err, rc, MF_LAYER_LOCAL, "%s:%d:%d: %s", file, line, col,
                          msg);
    return mf_err_set(err, rc, MF_LAYER_LOCAL, "%s: %s", file, msg);
}

const char *cy_kind_name(enum cy_kind k)
{
    switch (k) {
    case CY_SCALAR:
        return "a string";
    case CY_SEQ:
        return "a list";
    case CY_MAP:
        return "a mapping";
    }
    return "?";
}

bool cy_is_null(const struct cy_node *n)
{
    if (!n || n->kind != CY_SCALAR || !n->plain)
        return false;
    return n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
           !strcmp(n->str, "Null") || !strcmp(n->str, "NULL");
}

void cy_free(struct cy_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        cy_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

struct builder {
    const char *file;
    const char *text;
    size_t len;
    struct mf_err *err;
    struct cy_node *root;
    struct cy_node *stack[CY_MAX_DEPTH];
    int depth;
    size_t nodes;
    int documents;
};

static enum mf_rc at(struct builder *b, enum mf_rc rc, const yaml_mark_t *m,
                     const char *what)
{
    return cy_error(b->err, rc, b->file, (int)m->line + 1, (int)m->column + 1, "%s",
                    what);
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static void offset_to_pos(const char *text, size_t len, size_t off, int *line,
                          int *col)
{
    int l = 1, c = 1;
    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static enum mf_rc syntax_error(struct builder *b, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "unknown problem";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return cy_error(b->err, MF_ENOMEM, b->file, 0, 0,
                        "out of memory while reading the YAML");
    case YAML_READER_ERROR: {
        int line, col;
        offset_to_pos(b->text, b->len, p->problem_offset, &line, &col);
        return cy_error(b->err, MF_ECONFIG, b->file, line, col,
                        "the file is not valid text (%s); save it as UTF-8 "
                        "without control characters",
                        problem);
    }
    default:
        break;
    }
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        return cy_error(b->err, MF_ECONFIG, b->file, (int)m->line + 1,
                        (int)m->column + 1,
                        "YAML syntax error: %s %s (line %d); check the "
                        "indentation, and quote text that holds ': ' or '#'",
                        problem, p->context, (int)p->context_mark.line + 1);
    return cy_error(b->err, MF_ECONFIG, b->file, (int)m->line + 1,
                    (int)m->column + 1,
                    "YAML syntax error: %s; check the indentation, and quote "
                    "text that holds ': ' or '#'",
                    problem);
}

/* NULL: no tag or an accepted one (*is_str tells !!str). */
static bool tag_ok(const yaml_char_t *tag, const char *want, bool *is_str)
{
    *is_str = false;
    if (!tag || !strcmp((const char *)tag, "!"))
        return true;
    const char *t = (const char *)tag;
    size_t pl = strlen(TAG_PREFIX);
    if (strncmp(t, TAG_PREFIX, pl))
        return false;
    if (!strcmp(t + pl, "str")) {
        *is_str = true;
        return !strcmp(want, "str");
    }
    return !strcmp(t + pl, want);
}

static enum mf_rc refuse_tag(struct builder *b, const yaml_event_t *ev,
                             const yaml_char_t *tag)
{
    return cy_error(b->err, MF_ECONFIG, b->file, (int)ev->start_mark.line + 1,
                    (int)ev->start_mark.column + 1,
                    "the tag '%.60s' is not supported; remove it (quote the "
                    "value if it must stay text)",
                    (const char *)tag);
}

static enum mf_rc add_kid(struct builder *b, struct cy_node *parent,
                          struct cy_node *kid)
{
    if (parent->nkids >= 2 * CY_MAX_ITEMS ||
        (parent->kind == CY_SEQ && parent->nkids >= CY_MAX_ITEMS))
        return cy_error(b->err, MF_ELIMIT, b->file, kid->line, kid->col,
                        "too many entries (over %d) in the %s starting at "
                        "line %d; a campaign needs far fewer",
                        CY_MAX_ITEMS, parent->kind == CY_SEQ ? "list" : "mapping",
                        parent->line);
    if (parent->nkids == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 4;
        struct cy_node **k = realloc(parent->kids, cap * sizeof *k);
        if (!k)
            return mf_err_set(b->err, MF_ENOMEM, MF_LAYER_LOCAL,
                              "out of memory while reading the YAML");
        parent->kids = k;
        parent->cap = cap;
    }
    parent->kids[parent->nkids++] = kid;
    return MF_OK;
}

/* Attaches a new node under the open collection (or as the root). On
 * failure the node is freed here. */
static enum mf_rc attach(struct builder *b, struct cy_node *n)
{
    if (b->depth == 0) {
        if (b->root) { /* cannot happen within one document */
            enum mf_rc rc = cy_error(b->err, MF_EINTERNAL, b->file, n->line, n->col,
                                     "second root node");
            cy_free(n);
            return rc;
        }
        b->root = n;
        return MF_OK;
    }
    struct cy_node *top = b->stack[b->depth - 1];
    if (top->kind == CY_MAP && top->nkids % 2 == 0) {
        if (n->kind != CY_SCALAR) {
            enum mf_rc rc = cy_error(
                b->err, MF_ECONFIG, b->file, n->line, n->col,
                "a key must be a plain name, not %s; check the indentation",
                cy_kind_name(n->kind));
            cy_free(n);
            return rc;
        }
        for (size_t i = 0; i < top->nkids; i += 2) {
            const struct cy_node *k = top->kids[i];
            if (k->len == n->len && !memcmp(k->str, n->str, n->len)) {
                enum mf_rc rc =
                    cy_error(b->err, MF_ECONFIG, b->file, n->line, n->col,
                             "duplicate key '%.60s' (first at line %d); remove one "
                             "of them",
                             n->str, k->line);
                cy_free(n);
                return rc;
            }
        }
    }
    enum mf_rc rc = add_kid(b, top, n);
    if (rc != MF_OK)
        cy_free(n);
    return rc;
}

static struct cy_node *new_node(struct builder *b, enum cy_kind kind,
                                const yaml_event_t *ev, enum mf_rc *rc)
{
    if (++b->nodes > CY_MAX_NODES) {
        *rc = at(b, MF_ELIMIT, &ev->start_mark,
                 "the file has too many YAML nodes; a campaign needs far fewer");
        return NULL;
    }
    struct cy_node *n = calloc(1, sizeof *n);
    if (!n) {
        *rc = mf_err_set(b->err, MF_ENOMEM, MF_LAYER_LOCAL,
                         "out of memory while reading the YAML");
        return NULL;
    }
    n->kind = kind;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    *rc = MF_OK;
    return n;
}

static enum mf_rc on_scalar(struct builder *b, const yaml_event_t *ev)
{
    bool is_str;
    if (!tag_ok(ev->data.scalar.tag, "str", &is_str))
        return refuse_tag(b, ev, ev->data.scalar.tag);
    if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
        return at(b, MF_ECONFIG, &ev->start_mark,
                  "the value holds a NUL character (\\0); remove it");
    enum mf_rc rc;
    struct cy_node *n = new_node(b, CY_SCALAR, ev, &rc);
    if (!n)
        return rc;
    n->len = ev->data.scalar.length;
    n->str = malloc(n->len + 1);
    if (!n->str) {
        cy_free(n);
        return mf_err_set(b->err, MF_ENOMEM, MF_LAYER_LOCAL,
                          "out of memory while reading the YAML");
    }
    if (n->len)
        memcpy(n->str, ev->data.scalar.value, n->len);
    n->str[n->len] = '\0';
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !is_str;
    return attach(b, n);
}

static enum mf_rc on_start(struct builder *b, const yaml_event_t *ev,
                           enum cy_kind kind)
{
    const yaml_char_t *tag =
        kind == CY_MAP ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
    bool is_str;
    if (!tag_ok(tag, kind == CY_MAP ? "map" : "seq", &is_str))
        return refuse_tag(b, ev, tag);
    if (b->depth >= CY_MAX_DEPTH)
        return at(b, MF_ELIMIT, &ev->start_mark,
                  "lists and mappings are nested too deeply; a campaign "
                  "needs at most 5 levels");
    enum mf_rc rc;
    struct cy_node *n = new_node(b, kind, ev, &rc);
    if (!n)
        return rc;
    rc = attach(b, n);
    if (rc != MF_OK)
        return rc;
    b->stack[b->depth++] = n;
    return MF_OK;
}

/* Handles one event; *done is set at the end of the stream. */
static enum mf_rc on_event(struct builder *b, const yaml_event_t *ev, bool *done)
{
    const yaml_char_t *anchor = NULL;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return MF_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return at(b, MF_ECONFIG, &ev->start_mark,
                      "a campaign file holds one YAML document; remove this "
                      "'---' and what follows, or put it in its own file");
        return MF_OK;
    case YAML_ALIAS_EVENT:
        return at(b, MF_ECONFIG, &ev->start_mark,
                  "aliases (*name) are not supported; write the value out "
                  "in full");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return MF_OK;
    default:
        return MF_OK;
    }
    if (anchor)
        return at(b, MF_ECONFIG, &ev->start_mark,
                  "anchors (&name) and aliases (*name) are not supported; "
                  "write the value out in full");
    if (ev->type == YAML_SCALAR_EVENT)
        return on_scalar(b, ev);
    return on_start(b, ev, ev->type == YAML_MAPPING_START_EVENT ? CY_MAP : CY_SEQ);
}

enum mf_rc cy_load(const char *text, size_t len, const char *file,
                   struct cy_node **root, struct mf_err *err)
{
    *root = NULL;
    struct builder b = {.file = file, .text = text, .len = len, .err = err};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_LOCAL,
                          "out of memory while starting the YAML parser");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    enum mf_rc rc = MF_OK;
    bool done = false;
    while (!done && rc == MF_OK) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = syntax_error(&b, &p);
            break;
        }
        rc = on_event(&b, &ev, &done);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    if (rc != MF_OK) {
        cy_free(b.root);
        return rc;
    }
    *root = b.root;
    return MF_OK;
}

/* ---- typed accessors ------------------------------------------------ */

enum mf_rc cy_fail(struct cy_ctx *c, const struct cy_node *n, enum mf_rc rc,
                   const char *fmt, ...)
{
    char msg[MF_ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (len < 0)
        msg[0] = '\0';
    return cy_error(c->err, rc, c->file, n ? n->line : 1, n ? n->col : 1, "%s",
                    msg);
}

/* ---- keys ------------------------------------------------------------ */

/* Optimal string alignment distance, case-insensitive; short strings only. */
static size_t edit_distance(const char *a, const char *b)
{
    enum { M = 33 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= M || lb >= M)
        return (size_t)-1;
    size_t d[M][M];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[i - 1][j - 1] + (ca != cb);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The known name closest to s, if it is close enough to be a typo. */
const char *cy_suggest(const char *s, const char *const *known)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; known[i]; i++) {
        size_t d = edit_distance(s, known[i]);
        size_t limit = strlen(known[i]) <= 4 ? 1 : 2;
        if (d <= limit && d < bestd) {
            best = known[i];
            bestd = d;
        }
    }
    return best;
}

bool cy_in_list(const char *s, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

static void join(char *dst, size_t size, const char *const *list)
{
    dst[0] = '\0';
    for (size_t i = 0; list[i]; i++) {
        size_t used = strlen(dst);
        snprintf(dst + used, size - used, "%s%s", i ? ", " : "", list[i]);
    }
}

enum mf_rc cy_check_keys(struct cy_ctx *c, const struct cy_node *map,
                         const char *const *known, const char *where)
{
    for (size_t i = 0; i < map->nkids; i += 2) {
        const struct cy_node *k = map->kids[i];
        if (cy_in_list(k->str, known))
            continue;
        const char *s = cy_suggest(k->str, known);
        if (s)
            return cy_fail(c, k, MF_ECONFIG,
                           "unknown key '%.40s' in %s; did you mean '%s'?", k->str,
                           where, s);
        char list[160];
        join(list, sizeof list, known);
        return cy_fail(c, k, MF_ECONFIG,
                       "unknown key '%.40s' in %s; the keys here are: %s", k->str,
                       where, list);
    }
    return MF_OK;
}

/* The value for key in map, or NULL. */
const struct cy_node *cy_get(const struct cy_node *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->nkids; i += 2)
        if (!strcmp(map->kids[i]->str, key))
            return map->kids[i + 1];
    return NULL;
}

/* The key node for key in map (for positions), or map itself. */
const struct cy_node *cy_key(const struct cy_node *map, const char *key)
{
    for (size_t i = 0; i + 1 < map->nkids; i += 2)
        if (!strcmp(map->kids[i]->str, key))
            return map->kids[i];
    return map;
}

enum mf_rc cy_expect(struct cy_ctx *c, const struct cy_node *n, enum cy_kind kind,
                     const char *what)
{
    if (n->kind == kind)
        return MF_OK;
    const char *hint = "";
    if (kind == CY_SCALAR)
        hint = "; quote the text if it holds ': ' or starts with '{', '[' or '-'";
    else if (kind == CY_SEQ)
        hint = "; write it as [a, b] or one '- item' per line";
    else
        hint = "; write it as 'key: value' lines indented below";
    return cy_fail(c, n, MF_ECONFIG, "%s must be %s, not %s%s", what,
                   cy_kind_name(kind), cy_kind_name(n->kind), hint);
}

/* ---- scalars --------------------------------------------------------- */

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* Copies a text value after checking it; *out is the caller's. */
enum mf_rc cy_text(struct cy_ctx *c, const struct cy_node *n, const char *what,
                   enum cy_text_mode mode, size_t max, char **out)
{
    *out = NULL;
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, what);
    if (rc != MF_OK)
        return rc;
    if (cy_is_null(n) || blank(n->str, n->len))
        return cy_fail(c, n, MF_ECONFIG,
                       "%s is empty; write the text after the ':'", what);
    if (n->len > max)
        return cy_fail(c, n, MF_ELIMIT, "%s is %zu bytes long; the limit is %zu",
                       what, n->len, max);
    for (size_t i = 0; i < n->len; i++) {
        unsigned char ch = (unsigned char)n->str[i];
        if (ch == '\n' && mode == CY_ONE_LINE)
            return cy_fail(c, n, MF_ECONFIG,
                           "%s must be one line; remove the line break (use a "
                           "quoted string, or '>-' instead of '|')",
                           what);
        if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f ||
            (ch == '\t' && mode == CY_ONE_LINE))
            return cy_fail(c, n, MF_ECONFIG,
                           "%s contains the control character 0x%02x; remove it",
                           what, ch);
    }
    c->total += n->len;
    if (c->total > CAMPAIGN_MAX_TOTAL)
        return cy_fail(c, n, MF_ELIMIT,
                       "the texts of this campaign pass %u bytes in all; shorten "
                       "them or use fewer variants",
                       CAMPAIGN_MAX_TOTAL);
    *out = malloc(n->len + 1);
    if (!*out)
        return mf_err_set(c->err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    memcpy(*out, n->str, n->len + 1);
    return MF_OK;
}

/* An optional text: absent or null leaves *out NULL. */
enum mf_rc cy_opt_text(struct cy_ctx *c, const struct cy_node *map, const char *key,
                       const char *what, enum cy_text_mode mode, size_t max,
                       char **out)
{
    const struct cy_node *n = cy_get(map, key);
    *out = NULL;
    if (!n || cy_is_null(n))
        return MF_OK;
    return cy_text(c, n, what, mode, max, out);
}

enum mf_rc cy_bool(struct cy_ctx *c, const struct cy_node *n, const char *what,
                   bool *out)
{
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, what);
    if (rc != MF_OK)
        return rc;
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (!strcasecmp(n->str, yes[i])) {
            *out = true;
            return MF_OK;
        }
        if (!strcasecmp(n->str, no[i])) {
            *out = false;
            return MF_OK;
        }
    }
    return cy_fail(c, n, MF_ECONFIG, "%s must be true or false, not '%.40s'", what,
                   n->str);
}

enum mf_rc cy_int(struct cy_ctx *c, const struct cy_node *n, const char *what,
                  long lo, long hi, long *out)
{
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, what);
    if (rc != MF_OK)
        return rc;
    long v = 0;
    size_t i = 0;
    for (; i < n->len && i < 9 && isdigit((unsigned char)n->str[i]); i++)
        v = v * 10 + (n->str[i] - '0');
    if (i == 0 || i != n->len || v < lo || v > hi)
        return cy_fail(c, n, MF_ECONFIG,
                       "%s must be a whole number from %ld to %ld, not '%.40s'",
                       what, lo, hi, n->str);
    *out = v;
    return MF_OK;
}
