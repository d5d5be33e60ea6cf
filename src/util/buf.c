#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char empty[1] = "";

void mf_buf_init(struct mf_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void mf_buf_free(struct mf_buf *b)
{
    if (!b)
        return;
    free(b->mem);
    b->mem = NULL;
    b->off = b->len = b->cap = 0;
}

void mf_buf_wipe_free(struct mf_buf *b)
{
    if (!b)
        return;
    if (b->mem)
        mf_wipe(b->mem, b->cap);
    mf_buf_free(b);
}

void mf_wipe(void *p, size_t n)
{
    /* volatile so the compiler cannot drop the stores before free() */
    volatile unsigned char *v = p;
    for (size_t i = 0; i < n; i++)
        v[i] = 0;
}

void mf_wipe_free_str(char *s)
{
    if (!s)
        return;
    mf_wipe(s, strlen(s));
    free(s);
}

/* Makes room for `extra` more bytes plus the NUL, compacting first. */
static enum mf_rc reserve(struct mf_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return MF_ELIMIT;
    size_t need = b->len + extra + 1;
    if (b->off && b->off + need > b->cap) {
        memmove(b->mem, b->mem + b->off, b->len);
        b->off = 0;
    }
    if (b->off + need <= b->cap)
        return MF_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->max + 1)
        ncap = b->max + 1;
    char *nm = realloc(b->mem, ncap);
    if (!nm)
        return MF_ENOMEM;
    b->mem = nm;
    b->cap = ncap;
    return MF_OK;
}

enum mf_rc mf_buf_add(struct mf_buf *b, const void *data, size_t len)
{
    enum mf_rc rc = reserve(b, len);
    if (rc != MF_OK)
        return rc;
    if (len)
        memcpy(b->mem + b->off + b->len, data, len);
    b->len += len;
    b->mem[b->off + b->len] = '\0';
    return MF_OK;
}

enum mf_rc mf_buf_adds(struct mf_buf *b, const char *s)
{
    return mf_buf_add(b, s, strlen(s));
}

enum mf_rc mf_buf_printf(struct mf_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MF_EINVAL;
    enum mf_rc rc = reserve(b, (size_t)n);
    if (rc != MF_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->mem + b->off + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return MF_OK;
}

const char *mf_buf_data(const struct mf_buf *b)
{
    return b->mem ? b->mem + b->off : empty;
}

size_t mf_buf_len(const struct mf_buf *b)
{
    return b->len;
}

void mf_buf_consume(struct mf_buf *b, size_t n)
{
    if (n >= b->len) {
        b->off = 0;
        b->len = 0;
    } else {
        b->off += n;
        b->len -= n;
    }
    if (b->mem)
        b->mem[b->off + b->len] = '\0';
}

void mf_buf_reset(struct mf_buf *b)
{
    mf_buf_consume(b, b->len);
}
