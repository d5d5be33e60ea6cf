/*
 * util/buf — a bounded, growable byte buffer (curl's dynbuf).
 *
 * The maximum is set at init and never exceeded: a write that would pass it
 * fails with MF_ELIMIT and leaves the buffer unchanged. The data is always
 * followed by a NUL byte (not counted in len) so text can be used as a C
 * string. The buffer owns its memory; mf_buf_free() releases it.
 * Consumed bytes at the front are dropped lazily (mf_buf_consume).
 */
#ifndef MF_UTIL_BUF_H
#define MF_UTIL_BUF_H

#include <stddef.h>

#include "util/err.h"

struct mf_buf {
    char *mem;      /* owned */
    size_t off;     /* start of live data within mem */
    size_t len;     /* live bytes */
    size_t cap;     /* allocated bytes in mem */
    size_t max;     /* hard limit on len */
};

void mf_buf_init(struct mf_buf *b, size_t max);
/* Releases memory; b may be NULL. The buffer may be re-initialised. */
void mf_buf_free(struct mf_buf *b);
/* Overwrites the content with zeros before releasing it: for secrets. */
void mf_buf_wipe_free(struct mf_buf *b);

/* MF_OK, MF_ELIMIT (over max), MF_ENOMEM. */
enum mf_rc mf_buf_add(struct mf_buf *b, const void *data, size_t len);
enum mf_rc mf_buf_adds(struct mf_buf *b, const char *s);
enum mf_rc mf_buf_printf(struct mf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Borrowed pointer to the live data (NUL-terminated), valid until the next
 * modifying call. Never NULL: an empty buffer gives "". */
const char *mf_buf_data(const struct mf_buf *b);
size_t mf_buf_len(const struct mf_buf *b);

/* Overwrites n bytes with zeros in a way the compiler keeps (secrets). */
void mf_wipe(void *p, size_t n);
/* Wipes a NUL-terminated string, then frees it; NULL is fine. */
void mf_wipe_free_str(char *s);

/* Drops n bytes from the front (n > len drops everything). */
void mf_buf_consume(struct mf_buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void mf_buf_reset(struct mf_buf *b);

#endif
