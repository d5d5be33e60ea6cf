/*
 * engine/csvin — see csvin.h for the format and the contract.
 *
 * How line numbers work: the input is cut into pieces that end at a line
 * end (LF, CRLF, or a bare CR) or at a block boundary, and libcsv is fed one
 * piece at a time. libcsv ends a record only at a CR or LF outside quotes,
 * which is always the end of a piece, so while a piece is parsed we know its
 * physical line. A record starts on the first piece, after the previous
 * record, that holds a byte libcsv does not skip (anything but spaces, tabs
 * and line ends): that is the line it is reported with.
 *
 * A CR at the very end of a block may be the first half of a CRLF: it is
 * held back and parsed with the next block.
 *
 * libcsv's callbacks cannot stop it, so they record the error (or the
 * caller's stop) in the reader and ignore everything after it; at most the
 * rest of one piece is parsed for nothing. libcsv's field buffer is bounded
 * through its realloc hook: beyond the cap the allocation fails and libcsv
 * reports CSV_ENOMEM, which becomes MF_ELIMIT.
 */
#include "engine/csvin.h"

#include <csv.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD_BLK 4096
#define FIELD_CAP (CSVIN_FIELD_MAX + 2 * FIELD_BLK)
#define REC_MEM_MAX (CSVIN_RECORD_MAX + CSVIN_COLS_MAX)  /* values + NULs */

struct reader {
    struct csv_parser p;
    const char *name;
    unsigned char delim;
    csvin_header_cb on_header;
    csvin_row_cb on_row;
    void *ctx;
    struct mf_err *err;
    enum mf_rc rc;
    bool done;              /* error or stop: callbacks are ignored */

    long cur_line;          /* physical line of the piece being parsed */
    size_t line_bytes;      /* bytes of cur_line parsed before this piece */
    bool in_record;
    long rec_line;          /* where the record being built starts */

    char *rec;              /* the record's values, each NUL-terminated */
    size_t rec_len, rec_cap, rec_bytes;
    size_t off[CSVIN_COLS_MAX];
    size_t nf;
    bool all_empty;
    const char *vals[CSVIN_COLS_MAX + 1];

    bool have_header;
    char *hdr_mem;
    const char *hdr_names[CSVIN_COLS_MAX];
    struct csvin_header hdr;

    struct csvin_result res;
};

/* libcsv's buffer for one field grows through this: refusing past the cap
 * bounds it (libcsv then halves its request down to nothing and fails). */
static void *capped_realloc(void *p, size_t n)
{
    return n > FIELD_CAP ? NULL : realloc(p, n);
}

static void fail(struct reader *r, enum mf_rc rc, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records the first error; line 0 = no line to name. */
static void fail(struct reader *r, enum mf_rc rc, long line, const char *fmt, ...)
{
    if (r->done)
        return;
    r->done = true;
    r->rc = rc;
    char what[MF_ERR_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(what, sizeof what, fmt, ap) < 0)
        what[0] = '\0';
    va_end(ap);
    char where[32] = "";
    if (line > 0)
        snprintf(where, sizeof where, "line %ld: ", line);
    mf_err_set(r->err, rc, MF_LAYER_LOCAL, "%s%s%s%s", r->name ? r->name : "",
               r->name ? ": " : "", where, what);
}

static void field_too_long(struct reader *r)
{
    fail(r, MF_ELIMIT, r->rec_line, "a value is longer than %d bytes%s",
         CSVIN_FIELD_MAX,
         r->cur_line > r->rec_line ? " (is a quote left open?)" : "");
}

/* libcsv: one field of the current record. */
static void on_field(void *field, size_t len, void *data)
{
    struct reader *r = data;
    if (r->done)
        return;
    if (r->nf == CSVIN_COLS_MAX) {
        fail(r, MF_ELIMIT, r->rec_line, "more than %d fields in one record",
             CSVIN_COLS_MAX);
        return;
    }
    if (len > CSVIN_FIELD_MAX) {
        field_too_long(r);
        return;
    }
    if (r->rec_bytes + len > CSVIN_RECORD_MAX) {
        fail(r, MF_ELIMIT, r->rec_line, "a record is longer than %d bytes",
             CSVIN_RECORD_MAX);
        return;
    }
    size_t need = r->rec_len + len + 1;   /* <= REC_MEM_MAX by the checks above */
    if (need > r->rec_cap) {
        size_t cap = r->rec_cap ? r->rec_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > REC_MEM_MAX)
            cap = REC_MEM_MAX;
        char *m = realloc(r->rec, cap);
        if (!m) {
            fail(r, MF_ENOMEM, r->rec_line, "out of memory");
            return;
        }
        r->rec = m;
        r->rec_cap = cap;
    }
    if (len > 0)
        memcpy(r->rec + r->rec_len, field, len);
    r->rec[r->rec_len + len] = '\0';
    r->off[r->nf++] = r->rec_len;
    r->rec_len += len + 1;
    r->rec_bytes += len;
    if (len > 0)
        r->all_empty = false;
}

static bool hdr_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims, lowercases and turns runs of white space into one '_', in place. */
static void normalize_name(char *s)
{
    unsigned char *in = (unsigned char *)s, *out = (unsigned char *)s;
    while (hdr_space(*in))
        in++;
    while (*in) {
        if (hdr_space(*in)) {
            while (hdr_space(*in))
                in++;
            if (*in)
                *out++ = '_';
            continue;
        }
        *out++ = (*in >= 'A' && *in <= 'Z') ? (unsigned char)(*in + ('a' - 'A')) : *in;
        in++;
    }
    *out = '\0';
}

static void take_header(struct reader *r, long line, size_t nf)
{
    for (size_t i = 0; i < nf; i++) {
        char *name = r->rec + r->off[i];
        normalize_name(name);
        if (name[0] == '\0') {
            fail(r, MF_EINVAL, line, "column %zu has no name", i + 1);
            return;
        }
        for (size_t k = 0; k < i; k++) {
            if (strcmp(r->rec + r->off[k], name) == 0) {
                fail(r, MF_EINVAL, line, "duplicate column \"%.64s\"", name);
                return;
            }
        }
    }
    r->hdr_mem = malloc(r->rec_len ? r->rec_len : 1);
    if (!r->hdr_mem) {
        fail(r, MF_ENOMEM, line, "out of memory");
        return;
    }
    memcpy(r->hdr_mem, r->rec, r->rec_len);
    for (size_t i = 0; i < nf; i++)
        r->hdr_names[i] = r->hdr_mem + r->off[i];
    r->hdr.ncols = nf;
    r->hdr.names = r->hdr_names;
    r->hdr.line = line;
    r->hdr.delimiter = r->delim;
    r->have_header = true;
    if (r->on_header && r->on_header(r->ctx, &r->hdr) != 0) {
        r->res.stopped = true;
        r->done = true;
    }
}

/* libcsv: the end of a record. */
static void on_record(int c, void *data)
{
    struct reader *r = data;
    (void)c;
    if (r->done)
        return;
    long line = r->in_record ? r->rec_line : r->cur_line;
    size_t nf = r->nf;
    r->in_record = false;
    if (!r->have_header) {
        take_header(r, line, nf);
    } else if (r->all_empty) {
        r->res.blank++;
    } else {
        size_t n = nf > r->hdr.ncols ? nf : r->hdr.ncols;
        for (size_t i = 0; i < n; i++)
            r->vals[i] = i < nf ? r->rec + r->off[i] : NULL;
        r->vals[n] = NULL;
        r->res.rows++;
        if (r->on_row && r->on_row(r->ctx, line, nf, r->vals) != 0) {
            r->res.stopped = true;
            r->done = true;
        }
    }
    r->nf = 0;
    r->rec_len = r->rec_bytes = 0;
    r->all_empty = true;
}

/* Parses one piece: part of a line, ending at most with its line end. */
static void feed_piece(struct reader *r, const unsigned char *s, size_t len)
{
    if (!r->in_record) {
        for (size_t i = 0; i < len; i++) {
            unsigned char c = s[i];
            if (c == ' ' || c == '\r' || c == '\n' || (c == '\t' && r->delim != '\t'))
                continue;
            r->in_record = true;
            r->rec_line = r->cur_line;
            break;
        }
    }
    size_t used = csv_parse(&r->p, s, len, on_field, on_record, r);
    if (r->done || used >= len)
        return;
    size_t at = r->line_bytes + used + 1;
    switch (csv_error(&r->p)) {
    case CSV_EPARSE:
        if (s[used] == '"')
            fail(r, MF_EPROTO, r->cur_line,
                 "stray quote at byte %zu (a value holding a quote must be quoted, "
                 "and the quote doubled: \"\")", at);
        else
            fail(r, MF_EPROTO, r->cur_line,
                 "text after a closing quote at byte %zu (a quote inside a quoted "
                 "value must be doubled: \"\")", at);
        break;
    case CSV_ENOMEM:
        if (csv_get_buffer_size(&r->p) + FIELD_BLK > FIELD_CAP)
            field_too_long(r);
        else
            fail(r, MF_ENOMEM, r->rec_line, "out of memory");
        break;
    default:
        field_too_long(r);
        break;
    }
}

/*
 * Cuts s[0, n) into pieces at line ends and parses them. eof: nothing
 * follows s. Returns the bytes consumed: n, or n - 1 when s ends with a CR
 * whose LF may be in the next block (the caller passes that CR again).
 */
static size_t feed(struct reader *r, const unsigned char *s, size_t n, bool eof)
{
    const unsigned char *nul = memchr(s, '\0', n);
    size_t lim = nul ? (size_t)(nul - s) : n;
    size_t i = 0;
    while (i < lim && !r->done) {
        const unsigned char *lf = memchr(s + i, '\n', lim - i);
        size_t seg = lf ? (size_t)(lf - s) : lim;
        const unsigned char *cr = memchr(s + i, '\r', seg - i);
        size_t end;
        bool newline = true;
        if (cr) {
            size_t c = (size_t)(cr - s);
            if (lf && c + 1 == seg) {
                end = seg + 1;                  /* CRLF */
            } else if (c + 1 < lim || lim < n || eof) {
                end = c + 1;                    /* a bare CR */
            } else {                            /* CR, then the end of s */
                feed_piece(r, s + i, c - i);
                r->line_bytes += c - i;
                return c;
            }
        } else if (lf) {
            end = seg + 1;
        } else {
            end = lim;
            newline = false;
        }
        feed_piece(r, s + i, end - i);
        if (newline) {
            r->cur_line++;
            r->line_bytes = 0;
        } else {
            r->line_bytes += end - i;
        }
        i = end;
    }
    if (nul && !r->done)
        fail(r, MF_EPROTO, r->cur_line,
             "NUL byte at byte %zu (is this a binary or UTF-16 file?)",
             r->line_bytes + 1);
    return n;
}

/* The delimiter of the first line: see csvin.h. */
static unsigned char sniff(const unsigned char *s, size_t n)
{
    static const unsigned char cand[3] = {',', ';', '\t'};
    size_t count[3] = {0, 0, 0};
    bool quoted = false;
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;                        /* blank lines before the header */
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '"') {
            quoted = !quoted;
        } else if (!quoted) {
            if (c == '\n' || c == '\r')
                break;
            for (int k = 0; k < 3; k++)
                if (c == cand[k])
                    count[k]++;
        }
    }
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (count[k] > count[best])
            best = k;
    return cand[best];
}

static void read_all(struct reader *r, FILE *in, int delimiter, size_t step,
                     unsigned char *buf)
{
    size_t have = 0;                /* a held-back CR at buf[0] */
    bool first = true, eof = false;
    while (!r->done && !eof) {
        size_t want = CSVIN_CHUNK - have;
        size_t got = fread(buf + have, 1, want, in);
        if (got < want) {
            if (ferror(in)) {
                fail(r, MF_EIO, 0, "read error: %s", strerror(errno));
                return;
            }
            eof = true;
        }
        size_t n = have + got, k = 0;
        if (first) {
            first = false;
            if (n >= 2 && ((buf[0] == 0xff && buf[1] == 0xfe) ||
                           (buf[0] == 0xfe && buf[1] == 0xff))) {
                fail(r, MF_EINVAL, 0, "the file is UTF-16 text: save it as \"CSV UTF-8\"");
                return;
            }
            if (n >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
                k = 3;
            r->delim = delimiter ? (unsigned char)delimiter : sniff(buf + k, n - k);
            csv_set_delim(&r->p, r->delim);
            r->res.delimiter = r->delim;
        }
        while (k < n && !r->done) {
            size_t m = n - k < step ? n - k : step;
            bool last = k + m == n;
            size_t used = feed(r, buf + k, m, eof && last);
            k += used;
            if (used < m && last)
                break;
        }
        have = n - k;               /* 0, or 1 for a held-back CR */
        if (have)
            buf[0] = buf[k];
    }
    if (r->done)
        return;
    if (csv_fini(&r->p, on_field, on_record, r) != 0)
        fail(r, MF_EPROTO, r->rec_line,
             "a quoted value is not closed by the end of the file");
    if (!r->done && !r->have_header)
        fail(r, MF_EINVAL, 0, "the file is empty: no header line");
}

enum mf_rc csvin_read_stepped(FILE *in, const char *name_for_errors, int delimiter,
                              size_t step, csvin_header_cb on_header,
                              csvin_row_cb on_row, void *ctx,
                              struct csvin_result *out, struct mf_err *err)
{
    struct csvin_result scratch;
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    mf_err_clear(err);
    if (!in || step == 1 ||
        (delimiter != 0 && delimiter != ',' && delimiter != ';' && delimiter != '\t'))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "csvin: bad arguments (the delimiter must be ',', ';' or tab)");
    if (step == 0 || step > CSVIN_CHUNK)
        step = CSVIN_CHUNK;
    struct reader *r = calloc(1, sizeof *r);
    unsigned char *buf = malloc(CSVIN_CHUNK);
    if (!r || !buf || csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        free(r);
        free(buf);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    }
    csv_set_blk_size(&r->p, FIELD_BLK);
    csv_set_realloc_func(&r->p, capped_realloc);
    csv_set_free_func(&r->p, free);
    r->name = name_for_errors;
    r->on_header = on_header;
    r->on_row = on_row;
    r->ctx = ctx;
    r->err = err;
    r->rc = MF_OK;
    r->cur_line = 1;
    r->all_empty = true;

    read_all(r, in, delimiter, step, buf);

    r->res.lines = r->cur_line - 1 + (r->line_bytes > 0 ? 1 : 0);
    *out = r->res;
    enum mf_rc rc = r->rc;
    csv_free(&r->p);
    free(r->rec);
    free(r->hdr_mem);
    free(r);
    free(buf);
    return rc;
}

enum mf_rc csvin_read(FILE *in, const char *name_for_errors, int delimiter,
                      csvin_header_cb on_header, csvin_row_cb on_row, void *ctx,
                      struct csvin_result *out, struct mf_err *err)
{
    return csvin_read_stepped(in, name_for_errors, delimiter, 0, on_header, on_row,
                              ctx, out, err);
}

size_t csvin_column(const struct csvin_header *h, const char *name)
{
    if (!h || !name)
        return CSVIN_NO_COLUMN;
    for (size_t i = 0; i < h->ncols; i++)
        if (strcasecmp(h->names[i], name) == 0)
            return i;
    return CSVIN_NO_COLUMN;
}
