#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const rc_names[] = {
#define MF_RC_NAME(code, name, msg) name,
    MF_RC_LIST(MF_RC_NAME)
#undef MF_RC_NAME
};

static const char *const rc_messages[] = {
#define MF_RC_MSG(code, name, msg) msg,
    MF_RC_LIST(MF_RC_MSG)
#undef MF_RC_MSG
};

static const char *const layer_names[] = {
#define MF_LAYER_NAME(code, name) name,
    MF_LAYER_LIST(MF_LAYER_NAME)
#undef MF_LAYER_NAME
};

const char *mf_rc_name(enum mf_rc rc)
{
    return (unsigned)rc < MF_RC_COUNT ? rc_names[rc] : "unknown";
}

const char *mf_rc_message(enum mf_rc rc)
{
    return (unsigned)rc < MF_RC_COUNT ? rc_messages[rc] : "unknown error";
}

const char *mf_layer_name(enum mf_layer layer)
{
    return (unsigned)layer < MF_LAYER_COUNT ? layer_names[layer] : "unknown";
}

void mf_err_clear(struct mf_err *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

enum mf_rc mf_err_set(struct mf_err *err, enum mf_rc rc, enum mf_layer layer,
                      const char *fmt, ...)
{
    if (!err)
        return rc;
    err->rc = rc;
    err->layer = layer;
    if (fmt) {
        char tmp[MF_ERR_DETAIL_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
        va_end(ap);
        if (n < 0)
            tmp[0] = '\0';
        mf_sanitize(err->detail, sizeof err->detail, tmp, strlen(tmp), 0);
    } else {
        err->detail[0] = '\0';
    }
    return rc;
}

void mf_err_set_reply(struct mf_err *err, int code, const char *enhanced,
                      const char *text, size_t len)
{
    if (!err)
        return;
    err->reply_code = code;
    err->enhanced[0] = '\0';
    if (enhanced)
        mf_sanitize(err->enhanced, sizeof err->enhanced, enhanced,
                    strlen(enhanced), 0);
    err->reply[0] = '\0';
    if (text)
        mf_sanitize(err->reply, sizeof err->reply, text, len, 1);
}

size_t mf_sanitize(char *dst, size_t dstsize, const char *src, size_t len,
                   int keep_newlines)
{
    size_t o = 0;
    if (dstsize == 0)
        return 0;
    for (size_t i = 0; i < len && o + 1 < dstsize; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\n' && keep_newlines)
            dst[o++] = '\n';
        else if (c == '\r' || c == '\n' || c == '\t')
            dst[o++] = ' ';
        else if (c < 0x20 || c == 0x7f)
            dst[o++] = '?';
        else
            dst[o++] = (char)c; /* UTF-8 passes: servers localise replies */
    }
    dst[o] = '\0';
    return o;
}
