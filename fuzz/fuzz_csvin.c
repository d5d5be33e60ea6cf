/* libFuzzer: engine/csvin. Byte 0 picks the mode: bits 0-1 the delimiter
 * (auto, ',', ';', tab), bits 2-7 a step (2..64) for a second read fed in
 * small pieces; the rest is the file (read through fmemopen). Traps when a
 * callback sees a broken invariant (line numbers going back, NULL values
 * within nvalues, over-long values, bad header names), when an error has no
 * detail, or when the stepped read differs from the whole-block read. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/csvin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool cond)
{
    if (!cond)
        __builtin_trap();
}

struct seen {
    uint64_t hash;      /* FNV-1a over everything the callbacks saw */
    long last_line;
    long rows;
    size_t ncols;
    bool header;
};

static void mix(struct seen *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        s->hash = (s->hash ^ b[i]) * 1099511628211ull;
}

static int on_header(void *ctx, const struct csvin_header *h)
{
    struct seen *s = ctx;
    check(!s->header && h->line >= 1 && h->ncols >= 1 && h->ncols <= CSVIN_COLS_MAX);
    s->header = true;
    s->ncols = h->ncols;
    s->last_line = h->line;
    mix(s, &h->line, sizeof h->line);
    for (size_t i = 0; i < h->ncols; i++) {
        const char *n = h->names[i];
        size_t len = strlen(n);
        check(len > 0);
        for (size_t k = 0; k < len; k++)
            check(!(n[k] >= 'A' && n[k] <= 'Z') && n[k] != ' ' && n[k] != '\t' &&
                  n[k] != '\r' && n[k] != '\n');
        for (size_t k = 0; k < i; k++)
            check(strcmp(h->names[k], n) != 0);
        check(csvin_column(h, n) == i);
        mix(s, n, len + 1);
    }
    return 0;
}

static int on_row(void *ctx, long line, size_t nvalues, const char *const *values)
{
    struct seen *s = ctx;
    check(s->header && line > s->last_line);
    check(nvalues >= 1 && nvalues <= CSVIN_COLS_MAX);
    s->last_line = line;
    s->rows++;
    mix(s, &line, sizeof line);
    bool all_empty = true;
    for (size_t i = 0; i < nvalues; i++) {
        check(values[i] != NULL);
        size_t len = strlen(values[i]);
        check(len <= CSVIN_FIELD_MAX);
        all_empty &= len == 0;
        mix(s, values[i], len + 1);
    }
    check(!all_empty);
    for (size_t i = nvalues; i < s->ncols; i++)
        check(values[i] == NULL);
    return 0;
}

static enum mf_rc run(const uint8_t *data, size_t size, int delim, size_t step,
                      struct seen *s, struct csvin_result *res, struct mf_err *err)
{
    static const char empty[1];
    memset(s, 0, sizeof *s);
    s->hash = 1469598103934665603ull;
    /* glibc's fmemopen wants a non-empty buffer: read one byte of "" then */
    FILE *f = size ? fmemopen((void *)data, size, "r") : fmemopen((void *)empty, 1, "r");
    if (!f)
        return MF_ENOMEM;
    if (!size)
        (void)fgetc(f);
    enum mf_rc rc = csvin_read_stepped(f, "fuzz.csv", delim, step, on_header, on_row, s,
                                       res, err);
    fclose(f);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int delims[4] = {0, ',', ';', '\t'};
    int delim = delims[data[0] & 3];
    size_t step = 2 + (size_t)(data[0] >> 2);
    data++, size--;

    struct seen a, b;
    struct csvin_result ra, rb;
    struct mf_err ea, eb;
    enum mf_rc rca = run(data, size, delim, 0, &a, &ra, &ea);
    if (rca == MF_ENOMEM && !a.header)
        return 0;
    enum mf_rc rcb = run(data, size, delim, step, &b, &rb, &eb);

    check(rca == rcb && a.hash == b.hash && a.rows == b.rows);
    check(memcmp(&ra, &rb, sizeof ra) == 0);
    check(ra.rows == a.rows && !ra.stopped);
    if (rca != MF_OK) {
        check(ea.rc == rca && strncmp(ea.detail, "fuzz.csv: ", 10) == 0);
        check(strcmp(ea.detail, eb.detail) == 0);
    } else {
        check(a.header);
    }
    return 0;
}
