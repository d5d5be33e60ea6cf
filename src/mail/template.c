/*
 * mail/template — merge fields with fallbacks and deterministic spintax.
 * The language and the guarantees are described in template.h.
 *
 * One recursive-descent parser serves checking, field listing and
 * rendering; `on` says whether a piece of template is being rendered or
 * only walked over. A spintax group is walked twice when rendered: once to
 * count its options (and to know where it ends), then again up to the
 * chosen option, which alone is rendered. Group numbers are handed out as
 * groups are walked, so a group's number never depends on the seed. The C
 * stack is bounded because the nesting is (TPL_MAX_DEPTH).
 */
#include "mail/template.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- output ------------------------------------------------------------ */

/* Filters what is rendered according to the mode. In header mode, spaces
 * and control characters are held back until the next visible character,
 * because whether they become one space, stay as written or are trimmed
 * depends on what follows. */
struct sink {
    struct mf_buf *b;
    size_t max;         /* the caller's limit, for the message */
    enum tpl_mode mode;
    struct mf_err *err;
    bool started;       /* header: a visible character was written */
    bool pend_ctrl;     /* header: the held-back run has a control */
    size_t pend_sp;     /* header: held-back spaces */
};

static enum mf_rc sink_add(struct sink *k, const char *p, size_t n)
{
    if (n == 0)
        return MF_OK;
    enum mf_rc rc = mf_buf_add(k->b, p, n);
    if (rc == MF_ELIMIT)
        return mf_err_set(k->err, rc, MF_LAYER_LOCAL,
                          "the rendered text is longer than %zu bytes", k->max);
    if (rc != MF_OK)
        return mf_err_set(k->err, rc, MF_LAYER_INTERNAL, "rendering: out of memory");
    if (k->mode == TPL_HEADER)
        k->started = true;
    return MF_OK;
}

static enum mf_rc sink_pending(struct sink *k)
{
    static const char spaces[] = "                                ";
    enum mf_rc rc = MF_OK;
    if (k->started && k->pend_ctrl) {
        rc = sink_add(k, " ", 1);
    } else if (k->started) {
        size_t n = k->pend_sp;
        while (rc == MF_OK && n > 0) {
            size_t c = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
            rc = sink_add(k, spaces, c);
            n -= c;
        }
    }
    k->pend_ctrl = false;
    k->pend_sp = 0;
    return rc;
}

static bool is_ctrl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Writes n bytes of rendered text (template or value, treated alike). */
static enum mf_rc sink_put(struct sink *k, const char *p, size_t n)
{
    enum mf_rc rc = MF_OK;
    size_t run = 0; /* start of the bytes still to copy unchanged */
    for (size_t i = 0; i < n && rc == MF_OK; i++) {
        unsigned char c = (unsigned char)p[i];
        if (k->mode == TPL_BODY) {
            if (!is_ctrl(c) || c == '\t' || c == '\n' ||
                (c == '\r' && i + 1 < n && p[i + 1] == '\n'))
                continue;
            rc = sink_add(k, p + run, i - run); /* drop c */
            run = i + 1;
        } else if (c == ' ' || is_ctrl(c)) {
            rc = sink_add(k, p + run, i - run);
            run = i + 1;
            if (c == ' ')
                k->pend_sp++;
            else
                k->pend_ctrl = true;
        } else if (k->pend_sp || k->pend_ctrl) {
            rc = sink_pending(k); /* run == i here: the held-back run ended */
        }
    }
    if (rc == MF_OK)
        rc = sink_add(k, p + run, n - run);
    return rc;
}

/* ---- field names seen without a fallback (tpl_required_fields) --------- */

/* Distinct names in order of first use, with a hash index so a template
 * with many fields stays linear. Names point into the template. */
struct nameset {
    struct { size_t off, len; } *v;
    size_t n, cap;
    size_t *tab;        /* index + 1 into v; 0 = free slot */
    size_t tcap;        /* power of two */
};

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static size_t name_hash(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a: only for the index */
    for (size_t i = 0; i < n; i++)
        h = (h ^ lower((unsigned char)s[i])) * 1099511628211u;
    return (size_t)h;
}

static bool name_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

static void nameset_slot(struct nameset *ns, const char *s, size_t idx)
{
    size_t mask = ns->tcap - 1;
    size_t i = name_hash(s + ns->v[idx].off, ns->v[idx].len) & mask;
    while (ns->tab[i])
        i = (i + 1) & mask;
    ns->tab[i] = idx + 1;
}

static enum mf_rc nameset_add(struct nameset *ns, const char *s, size_t off, size_t len)
{
    if (ns->tcap) {
        size_t mask = ns->tcap - 1;
        for (size_t i = name_hash(s + off, len) & mask; ns->tab[i]; i = (i + 1) & mask) {
            size_t e = ns->tab[i] - 1;
            if (ns->v[e].len == len && name_eq(s + ns->v[e].off, s + off, len))
                return MF_OK;
        }
    }
    if (ns->n == ns->cap) {
        size_t ncap = ns->cap ? ns->cap * 2 : 16;
        void *nv = realloc(ns->v, ncap * sizeof *ns->v);
        if (!nv)
            return MF_ENOMEM;
        ns->v = nv;
        ns->cap = ncap;
    }
    ns->v[ns->n].off = off;
    ns->v[ns->n].len = len;
    ns->n++;
    if (ns->n * 2 > ns->tcap) { /* keep the load under one half */
        size_t ntcap = ns->tcap ? ns->tcap * 2 : 32;
        size_t *nt = calloc(ntcap, sizeof *nt);
        if (!nt)
            return MF_ENOMEM;
        free(ns->tab);
        ns->tab = nt;
        ns->tcap = ntcap;
        for (size_t i = 0; i < ns->n; i++)
            nameset_slot(ns, s, i);
    } else {
        nameset_slot(ns, s, ns->n - 1);
    }
    return MF_OK;
}

static void nameset_free(struct nameset *ns)
{
    free(ns->v);
    free(ns->tab);
}

/* ---- hashing ------------------------------------------------------------ */

/* Fixed SipHash keys (16 bytes each; the literal's NUL is not used).
 * Changing any of them changes every rendered sequence. */
static const unsigned char key_seed_a[] = "mailfleet/tpl/sa";
static const unsigned char key_seed_b[] = "mailfleet/tpl/sb";
static const unsigned char key_seed[] = "mailfleet/tpl/sd";
static const unsigned char key_spin[] = "mailfleet/tpl/sp";
_Static_assert(sizeof key_spin == crypto_shorthash_siphash24_KEYBYTES + 1,
               "SipHash keys are 16 bytes");

static void store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* SipHash-2-4 by name rather than crypto_shorthash(), whose algorithm
 * libsodium could change; read little-endian so every machine agrees. */
static uint64_t siphash(const unsigned char *key, const void *m, size_t n)
{
    unsigned char h[crypto_shorthash_siphash24_BYTES];
    crypto_shorthash_siphash24(h, m, n, key);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | h[i];
    return v;
}

uint64_t tpl_seed(const char *a, const char *b)
{
    /* Hashing each string apart, then the pair, needs no buffer and keeps
     * ("ab", "c") and ("a", "bc") apart. */
    unsigned char m[16];
    if (!a)
        a = "";
    if (!b)
        b = "";
    store_le64(m, siphash(key_seed_a, a, strlen(a)));
    store_le64(m + 8, siphash(key_seed_b, b, strlen(b)));
    return siphash(key_seed, m, sizeof m);
}

static size_t choose(uint64_t seed, uint64_t group, size_t nopt)
{
    unsigned char m[16];
    store_le64(m, seed);
    store_le64(m + 8, group);
    /* mod bias is below nopt / 2^64: nothing a reader could ever notice */
    return (size_t)(siphash(key_spin, m, sizeof m) % nopt);
}

/* ---- parser ------------------------------------------------------------- */

struct parser {
    const char *s;
    size_t len;
    size_t pos;
    uint64_t group;         /* number of the next spintax group */
    int depth;
    struct mf_err *err;
    /* rendering */
    tpl_lookup_fn lookup;
    void *ctx;
    uint64_t seed;
    struct sink *out;
    /* tpl_required_fields */
    struct nameset *req;
};

/* "line L, column C: what" for the byte at offset `at`. Columns count UTF-8
 * characters because that is what the user's editor shows. */
__attribute__((format(printf, 3, 4)))
static enum mf_rc syntax_err(const struct parser *p, size_t at, const char *fmt, ...)
{
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < p->len; i++) {
        unsigned char c = (unsigned char)p->s[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xc0) != 0x80) {
            col++;
        }
    }
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mf_err_set(p->err, MF_EINVAL, MF_LAYER_LOCAL, "line %zu, column %zu: %s",
                      line, col, what);
}

/* A character for an error message: 'x', or its byte value when it would
 * not print (a control, a byte of a UTF-8 sequence). */
static const char *show_char(char *buf, size_t size, unsigned char c)
{
    if (c > 0x20 && c < 0x7f)
        snprintf(buf, size, "'%c'", c);
    else
        snprintf(buf, size, "byte 0x%02X", c);
    return buf;
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

static bool is_escapable(char c)
{
    return c == '{' || c == '}' || c == '|' || c == '\\';
}

static enum mf_rc emit(struct parser *p, bool on, const char *s, size_t n)
{
    return on ? sink_put(p->out, s, n) : MF_OK;
}

/* Renders a fallback's raw text [a, b): escapes resolved, already checked. */
static enum mf_rc emit_fallback(struct parser *p, size_t a, size_t b)
{
    while (a < b && is_ws((unsigned char)p->s[a]))
        a++;
    while (b > a && is_ws((unsigned char)p->s[b - 1]))
        b--;
    size_t run = a;
    enum mf_rc rc = MF_OK;
    for (size_t i = a; i + 1 < b && rc == MF_OK; i++) {
        if (p->s[i] == '\\' && is_escapable(p->s[i + 1])) {
            rc = sink_put(p->out, p->s + run, i - run);
            run = ++i; /* the escaped character starts the next run */
        }
    }
    return rc == MF_OK ? sink_put(p->out, p->s + run, b - run) : rc;
}

/* A value counts as blank when nothing is left once whitespace, controls
 * and no-break spaces (common in spreadsheet exports) are trimmed. */
static void trim_value(const char **v, size_t *n)
{
    const unsigned char *s = (const unsigned char *)*v;
    size_t a = 0, b = *n;
    for (;;) {
        if (a < b && (is_ws(s[a]) || is_ctrl(s[a])))
            a++;
        else if (a + 1 < b && s[a] == 0xc2 && s[a + 1] == 0xa0)
            a += 2;
        else
            break;
    }
    for (;;) {
        if (b > a && (is_ws(s[b - 1]) || is_ctrl(s[b - 1])))
            b--;
        else if (b > a + 1 && s[b - 2] == 0xc2 && s[b - 1] == 0xa0)
            b -= 2;
        else
            break;
    }
    *v += a;
    *n = b - a;
}

/* {{ name }} or {{ name | fallback }}; p->pos is at the first '{'. */
static enum mf_rc parse_field(struct parser *p, bool on)
{
    const char *s = p->s;
    size_t open = p->pos, i = open + 2;
    char cb[16];
    while (i < p->len && is_ws((unsigned char)s[i]))
        i++;
    size_t ns = i;
    while (i < p->len && is_name_char((unsigned char)s[i]))
        i++;
    size_t ne = i;
    while (i < p->len && is_ws((unsigned char)s[i]))
        i++;
    if (i >= p->len)
        return syntax_err(p, open, "unclosed {{");
    if (ne == ns && (s[i] == '|' || s[i] == '}'))
        return syntax_err(p, open, "empty field name");
    if (ne > ns && i > ne && is_name_char((unsigned char)s[i]))
        return syntax_err(p, ne, "space in a field name");
    if (s[i] != '|' && s[i] != '}')
        return syntax_err(p, i, "%s in a field name (letters, digits, _ - . only)",
                          show_char(cb, sizeof cb, (unsigned char)s[i]));
    if (ne - ns > TPL_NAME_MAX)
        return syntax_err(p, ns, "field name longer than %d characters", TPL_NAME_MAX);
    char name[TPL_NAME_MAX + 1];
    for (size_t k = ns; k < ne; k++)
        name[k - ns] = (char)lower((unsigned char)s[k]);
    name[ne - ns] = '\0';

    bool has_fb = s[i] == '|';
    size_t fa = i + 1, fb = fa;
    if (!has_fb) {
        if (i + 1 >= p->len || s[i + 1] != '}')
            return syntax_err(p, i, "} where }} should close the field \"%s\"", name);
        p->pos = i + 2;
    } else {
        /* Only the first }} ends a fallback; anything that looks like
         * template syntax inside is refused rather than sent as text. */
        for (;;) {
            if (fb >= p->len || (s[fb] == '}' && fb + 1 >= p->len))
                return syntax_err(p, open, "unclosed {{");
            char c = s[fb];
            if (c == '\\') {
                if (fb + 1 >= p->len)
                    return syntax_err(p, fb, "backslash at the end of the template "
                                              "(write \\\\ for a backslash)");
                fb += is_escapable(s[fb + 1]) ? 2 : 1;
                continue;
            }
            if (c == '}' && fb + 1 < p->len && s[fb + 1] == '}')
                break;
            if (c == '{' || c == '}' || c == '|')
                return syntax_err(p, fb, "%c in the fallback of \"%s\": a fallback is "
                                         "plain text (write \\%c)", c, name, c);
            fb++;
        }
        p->pos = fb + 2;
    }

    if (p->req && !has_fb && nameset_add(p->req, s, ns, ne - ns) != MF_OK)
        return mf_err_set(p->err, MF_ENOMEM, MF_LAYER_INTERNAL, "listing fields: out of memory");
    if (!on)
        return MF_OK;
    const char *v = p->lookup ? p->lookup(p->ctx, name) : NULL;
    size_t vn = v ? strlen(v) : 0;
    if (v)
        trim_value(&v, &vn);
    if (v && vn > 0)
        return sink_put(p->out, v, vn);
    if (has_fb)
        return emit_fallback(p, fa, fb);
    return mf_err_set(p->err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                      v ? "field \"%s\" is empty and no fallback"
                        : "missing field \"%s\" and no fallback", name);
}

static enum mf_rc parse_group(struct parser *p, bool on);

/* Text up to the end of the template, or, inside a group, up to the '|' or
 * '}' that ends the current option (p->pos is left on it). */
static enum mf_rc parse_seq(struct parser *p, bool in_group, bool on)
{
    const char *s = p->s;
    enum mf_rc rc = MF_OK;
    while (rc == MF_OK && p->pos < p->len) {
        size_t i = p->pos;
        char c = s[i];
        if (c == '{') {
            /* "{{" is a field unless a third '{' follows: "{{{f}}|x}"
             * can only be a group starting with a field. */
            bool field = i + 1 < p->len && s[i + 1] == '{' &&
                         !(i + 2 < p->len && s[i + 2] == '{');
            rc = field ? parse_field(p, on) : parse_group(p, on);
        } else if (c == '}') {
            if (in_group)
                return MF_OK;
            if (i + 1 < p->len && s[i + 1] == '}')
                return syntax_err(p, i, "}} without a matching {{");
            return syntax_err(p, i, "} without a matching {");
        } else if (c == '|' && in_group) {
            return MF_OK;
        } else if (c == '\\') {
            if (i + 1 >= p->len)
                return syntax_err(p, i, "backslash at the end of the template "
                                        "(write \\\\ for a backslash)");
            /* \{ \} \| \\ are the character; any other backslash is itself */
            bool esc = is_escapable(s[i + 1]);
            rc = emit(p, on, s + i + esc, 1);
            p->pos = i + 1 + esc;
        } else {
            size_t j = i + 1;
            while (j < p->len && s[j] != '{' && s[j] != '}' && s[j] != '\\' &&
                   !(in_group && s[j] == '|'))
                j++;
            rc = emit(p, on, s + i, j - i);
            p->pos = j;
        }
    }
    return rc;
}

/* Walks the options of the group whose '{' is at `open`, without
 * rendering; p->pos ends after its '}'. */
static enum mf_rc skip_options(struct parser *p, size_t open, size_t *nopt)
{
    *nopt = 0;
    for (;;) {
        enum mf_rc rc = parse_seq(p, true, false);
        if (rc != MF_OK)
            return rc;
        ++*nopt;
        if (p->pos >= p->len)
            return syntax_err(p, open, "unclosed {");
        if (p->s[p->pos++] == '}')
            return MF_OK;
    }
}

/* {a|b|...}; p->pos is at the '{'. */
static enum mf_rc parse_group(struct parser *p, bool on)
{
    size_t open = p->pos;
    if (p->depth >= TPL_MAX_DEPTH)
        return syntax_err(p, open, "spintax nested deeper than %d levels", TPL_MAX_DEPTH);
    p->depth++;
    uint64_t group = p->group++;
    size_t body = ++p->pos;
    uint64_t body_group = p->group;
    size_t nopt;
    enum mf_rc rc = skip_options(p, open, &nopt);
    if (rc != MF_OK)
        return rc;
    if (nopt < 2)
        return syntax_err(p, open, "{...} without | is not spintax: write {{name}} for "
                                   "a field, \\{ for a brace");
    if (on) {
        /* Second walk: up to the chosen option, rendering only that one,
         * then jump to where the first walk ended. */
        size_t end = p->pos;
        uint64_t end_group = p->group;
        size_t k = choose(p->seed, group, nopt);
        p->pos = body;
        p->group = body_group;
        for (size_t i = 0; i <= k; i++) {
            rc = parse_seq(p, true, i == k);
            if (rc != MF_OK)
                return rc;
            p->pos++; /* the '|' */
        }
        p->pos = end;
        p->group = end_group;
    }
    p->depth--;
    return MF_OK;
}

static enum mf_rc walk(struct parser *p, const char *tpl, size_t len, struct mf_err *err)
{
    mf_err_clear(err);
    p->s = tpl;
    p->len = len;
    p->err = err;
    if (!tpl && len)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "template: NULL text");
    if (len > TPL_MAX_SRC)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_LOCAL,
                          "the template is longer than %u bytes", TPL_MAX_SRC);
    return parse_seq(p, false, p->out != NULL);
}

/* ---- API ---------------------------------------------------------------- */

enum mf_rc tpl_check(const char *tpl, size_t len, struct mf_err *err)
{
    struct parser p = {0};
    return walk(&p, tpl, len, err);
}

enum mf_rc tpl_required_fields(const char *tpl, size_t len,
                               void (*cb)(void *ctx, const char *name),
                               void *ctx, struct mf_err *err)
{
    struct nameset ns = {0};
    struct parser p = {.req = &ns};
    enum mf_rc rc = walk(&p, tpl, len, err);
    /* reported only after the whole template parsed */
    for (size_t i = 0; rc == MF_OK && cb && i < ns.n; i++) {
        char name[TPL_NAME_MAX + 1];
        for (size_t k = 0; k < ns.v[i].len; k++)
            name[k] = (char)lower((unsigned char)tpl[ns.v[i].off + k]);
        name[ns.v[i].len] = '\0';
        cb(ctx, name);
    }
    nameset_free(&ns);
    return rc;
}

enum mf_rc tpl_render(const char *tpl, size_t len, tpl_lookup_fn lookup,
                      void *ctx, uint64_t seed, enum tpl_mode mode,
                      struct mf_buf *out, struct mf_err *err)
{
    if (!out)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "template: no output buffer");
    /* The whole template is checked first so that a syntax error is
     * reported the same way for every lead, whatever the seed picks. */
    enum mf_rc rc = tpl_check(tpl, len, err);
    if (rc != MF_OK)
        return rc;
    /* Render aside so that a failure leaves out as it was. */
    size_t used = mf_buf_len(out);
    struct mf_buf tmp;
    mf_buf_init(&tmp, out->max > used ? out->max - used : 0);
    struct sink k = {.b = &tmp, .max = out->max, .mode = mode, .err = err};
    struct parser p = {.lookup = lookup, .ctx = ctx, .seed = seed, .out = &k};
    rc = walk(&p, tpl, len, err);
    /* Header mode's trailing spaces and controls are still held back in
     * the sink: dropping them is the trailing trim. */
    if (rc == MF_OK && used == 0) {
        size_t max = out->max;
        mf_buf_free(out);
        *out = tmp; /* nothing to keep in out: hand over the memory */
        out->max = max;
        return MF_OK;
    }
    if (rc == MF_OK) {
        rc = mf_buf_add(out, mf_buf_data(&tmp), mf_buf_len(&tmp));
        if (rc != MF_OK)
            mf_err_set(err, rc, MF_LAYER_INTERNAL, "rendering: out of memory");
    }
    mf_buf_free(&tmp);
    return rc;
}
