#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

#define MAX_SECRETS 16
/* A secret appears in clear and in base64, which may start at any of three
 * alignments: each form is kept. */
#define FORMS 4

static enum mf_log_level current_level = MF_LOG_WARN;
static char *secrets[MAX_SECRETS][FORMS];
static size_t nsecrets;

void mf_log_set_level(enum mf_log_level level) { current_level = level; }
enum mf_log_level mf_log_get_level(void) { return current_level; }

void mf_notev(mf_note_fn fn, void *ctx, const char *fmt, va_list ap)
{
    if (!fn)
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fn(ctx, line);
}

void mf_log(enum mf_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > current_level)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    struct mf_buf out;
    mf_buf_init(&out, sizeof line * 2);
    if (mf_redact(&out, line, strlen(line)) == MF_OK)
        fprintf(stderr, "mailfleet: %s: %s\n", names[level], mf_buf_data(&out));
    mf_buf_free(&out);
}

/* The base64 of the secret as it appears when preceded by `shift` bytes in
 * the encoded payload, minus the first and last quads, which depend on the
 * neighbouring bytes. */
static char *base64_core(const char *secret, size_t shift)
{
    size_t len = strlen(secret);
    struct mf_buf tmp, enc;
    mf_buf_init(&tmp, len + 3);
    mf_buf_init(&enc, 2 * len + 16);
    char *res = NULL;
    if (mf_buf_add(&tmp, "\0\0", shift) == MF_OK &&
        mf_buf_add(&tmp, secret, len) == MF_OK &&
        mf_base64_encode(&enc, mf_buf_data(&tmp), mf_buf_len(&tmp)) == MF_OK &&
        mf_buf_len(&enc) > 8 + 6) {
        size_t n = mf_buf_len(&enc) - 8;
        res = malloc(n + 1);
        if (res) {
            memcpy(res, mf_buf_data(&enc) + 4, n);
            res[n] = '\0';
        }
    }
    mf_buf_wipe_free(&tmp);
    mf_buf_wipe_free(&enc);
    return res;
}

enum mf_rc mf_secret_register(const char *secret)
{
    if (!secret || strlen(secret) < 4)
        return MF_OK;
    for (size_t i = 0; i < nsecrets; i++)
        if (strcmp(secrets[i][0], secret) == 0)
            return MF_OK;
    if (nsecrets == MAX_SECRETS)
        return MF_ELIMIT;
    char *clear = strdup(secret);
    if (!clear)
        return MF_ENOMEM;
    secrets[nsecrets][0] = clear;
    for (size_t s = 0; s < 3; s++)
        secrets[nsecrets][s + 1] = base64_core(secret, s); /* may be NULL */
    nsecrets++;
    return MF_OK;
}

void mf_secret_clear_all(void)
{
    for (size_t i = 0; i < nsecrets; i++)
        for (size_t f = 0; f < FORMS; f++) {
            mf_wipe_free_str(secrets[i][f]);
            secrets[i][f] = NULL;
        }
    nsecrets = 0;
}

/* Length of the registered form that starts at src, 0 if none. */
static size_t secret_at(const char *src, size_t left)
{
    for (size_t i = 0; i < nsecrets; i++)
        for (size_t f = 0; f < FORMS; f++) {
            const char *s = secrets[i][f];
            if (!s)
                continue;
            size_t n = strlen(s);
            if (n <= left && memcmp(src, s, n) == 0)
                return n;
        }
    return 0;
}

enum mf_rc mf_redact(struct mf_buf *out, const char *src, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        size_t n = nsecrets ? secret_at(src + i, len - i) : 0;
        if (n == 0) {
            i++;
            continue;
        }
        enum mf_rc rc = mf_buf_add(out, src + start, i - start);
        if (rc == MF_OK)
            rc = mf_buf_adds(out, MF_REDACTED);
        if (rc != MF_OK)
            return rc;
        i += n;
        start = i;
    }
    return mf_buf_add(out, src + start, len - start);
}
