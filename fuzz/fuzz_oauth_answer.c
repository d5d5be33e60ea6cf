/* libFuzzer: OAuth token endpoint and device authorization answers.
 *
 * Byte 0 picks the HTTP status (low 3 bits), whether an account name and an
 * oauth_error are passed (bits 3, 4) and the device state the poll starts
 * from (bit 5: the parsed device answer when there is one, else a fresh
 * one). The rest is the JSON body, read as oauth_http does
 * (JSON_REJECT_DUPLICATES), then given to oauth_parse_token_answer,
 * oauth_parse_device_answer and oauth_device_poll_answer.
 *
 * It traps when a result breaks the API's promises: a token with white
 * space, a device answer with a non-https verification_uri or an interval
 * out of range, a SLOW_DOWN that does not add exactly 5 s, an error text
 * with control characters, or a "SECRET-" string from the body showing up
 * in an error although the provider's error words did not carry it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "auth/oauth.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW ((int64_t)1700000000)
#define MARK "SECRET-"

static const long statuses[8] = {200, 400, 401, 403, 500, 503, 0, 302};

static bool has_marker(json_t *j, const char *key)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v && strstr(v, MARK);
}

/* Could the error texts legitimately contain MARK? Only when the provider's
 * own error words (or the token type we quote) carry it. */
static bool words_carry_marker(json_t *j)
{
    return has_marker(j, "error") || has_marker(j, "error_description") ||
           has_marker(j, "token_type");
}

static void check_err(const struct mf_err *e, bool marker_ok)
{
    for (const char *p = e->detail; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            __builtin_trap();
    for (const char *p = e->reply; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
            __builtin_trap();
    if (!marker_ok && (strstr(e->detail, MARK) || strstr(e->reply, MARK)))
        __builtin_trap();
    if (e->rc != MF_OK && !e->detail[0])
        __builtin_trap();
}

static void check_token(const char *t, bool required)
{
    if (!t) {
        if (required)
            __builtin_trap();
        return;
    }
    if (!*t || strpbrk(t, " \r\n\t"))
        __builtin_trap();
}

static void check_tokens(const struct oauth_tokens *t, bool ok)
{
    if (!ok) {
        if (t->access_token || t->refresh_token)
            __builtin_trap();
        return;
    }
    check_token(t->access_token, true);
    check_token(t->refresh_token, false);
    if (t->expires_at && (t->expires_at <= NOW || t->expires_at > NOW + 10LL * 365 * 86400))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    unsigned mode = data[0];
    long status = statuses[mode & 7];
    const char *account = mode & 8 ? "ACCT" : NULL;
    json_error_t je;
    json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return 0;
    bool marker_ok = words_carry_marker(j);

    /* token answer */
    struct oauth_tokens t;
    struct oauth_error oe;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = oauth_parse_token_answer(j, status, NOW, account, &t,
                                             mode & 16 ? &oe : NULL, &e);
    check_tokens(&t, rc == MF_OK);
    if (rc != MF_OK) {
        check_err(&e, marker_ok);
        if (e.rc != rc)
            __builtin_trap();
    }
    if (rc == MF_OK && status >= 400)
        __builtin_trap();
    oauth_tokens_clear(&t);

    /* device authorization answer */
    struct oauth_device d;
    mf_err_clear(&e);
    rc = oauth_parse_device_answer(j, status, NOW, &d, &e);
    if (rc == MF_OK) {
        check_token(d.device_code, true);
        if (!oauth_url_allowed(d.verification_uri) ||
            (d.verification_uri_complete[0] &&
             !oauth_url_allowed(d.verification_uri_complete)) ||
            d.interval_s < 1 || d.interval_s > 600 || d.expires_at <= NOW ||
            d.expires_at > NOW + 3600 || strpbrk(d.user_code, "\r\n") || status != 200)
            __builtin_trap();
    } else {
        check_err(&e, marker_ok);
        if (d.device_code)
            __builtin_trap();
    }
    if (rc != MF_OK || !(mode & 32)) {
        oauth_device_clear(&d);
        d.interval_s = 5;
    }

    /* one polling answer */
    int before = d.interval_s;
    mf_err_clear(&e);
    enum oauth_poll p = oauth_device_poll_answer(j, status, NOW, &d, &t, &e);
    check_tokens(&t, p == OAUTH_POLL_DONE);
    switch (p) {
    case OAUTH_POLL_SLOW_DOWN:
        if (d.interval_s != before + 5)
            __builtin_trap();
        break;
    case OAUTH_POLL_PENDING:
    case OAUTH_POLL_DONE:
        if (d.interval_s != before)
            __builtin_trap();
        break;
    case OAUTH_POLL_FAILED:
        if (d.interval_s != before || e.rc == MF_OK)
            __builtin_trap();
        check_err(&e, marker_ok);
        break;
    default:
        __builtin_trap();
    }
    oauth_tokens_clear(&t);
    oauth_device_clear(&d);
    json_decref(j);
    /* tokens were registered with the redactor; keep the registry small */
    mf_secret_clear_all();
    return 0;
}
