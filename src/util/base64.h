/*
 * util/base64 — RFC 4648 base64 (standard alphabet, padded), as SASL needs.
 * Decoding is strict: whitespace, a bad character or bad padding is an error,
 * because a lenient decoder hides a broken or hostile server.
 */
#ifndef MF_UTIL_BASE64_H
#define MF_UTIL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* Appends the encoding of data to out. MF_OK, MF_ELIMIT, MF_ENOMEM. */
enum mf_rc mf_base64_encode(struct mf_buf *out, const void *data, size_t len);

/* Appends the decoded bytes to out. MF_EINVAL on malformed input. */
enum mf_rc mf_base64_decode(struct mf_buf *out, const char *text, size_t len);

#endif
