#include "util/base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum mf_rc mf_base64_encode(struct mf_buf *out, const void *data, size_t len)
{
    const unsigned char *p = data;
    char quad[4];
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        size_t left = len - i;
        if (left > 1)
            v |= (unsigned)p[i + 1] << 8;
        if (left > 2)
            v |= p[i + 2];
        quad[0] = alphabet[(v >> 18) & 63];
        quad[1] = alphabet[(v >> 12) & 63];
        quad[2] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
        quad[3] = left > 2 ? alphabet[v & 63] : '=';
        enum mf_rc rc = mf_buf_add(out, quad, 4);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

enum mf_rc mf_base64_decode(struct mf_buf *out, const char *text, size_t len)
{
    if (len % 4 != 0)
        return MF_EINVAL;
    for (size_t i = 0; i < len; i += 4) {
        int s[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)text[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                s[k] = 0;
                pad++;
            } else if (pad) {
                return MF_EINVAL; /* data after padding */
            } else if ((s[k] = sextet(c)) < 0) {
                return MF_EINVAL;
            }
        }
        unsigned v = (unsigned)s[0] << 18 | (unsigned)s[1] << 12 |
                     (unsigned)s[2] << 6 | (unsigned)s[3];
        unsigned char bytes[3] = {(unsigned char)(v >> 16),
                                  (unsigned char)(v >> 8), (unsigned char)v};
        enum mf_rc rc = mf_buf_add(out, bytes, (size_t)(3 - pad));
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}
