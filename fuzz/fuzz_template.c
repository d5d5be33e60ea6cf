/* libFuzzer: mail/template. The input is a template, rendered with a fixed
 * lead in both modes. Traps when header output holds a control character or
 * an untrimmed space, body output a control other than TAB, LF or CRLF, when
 * check and render disagree on the syntax, when rendering is not
 * deterministic, when a failed render changes the output buffer, or when a
 * lead that has every field tpl_required_fields() lists still fails with
 * MF_ENOTFOUND. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mail/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* name, value: the first four are never blank */
static const char *const fields[] = {
    "first_name", "Ann",
    "company", "Acme\r\nBcc: x@evil.example",
    "ctl", "a\x01" "b\x7f" "c\r\n\td",
    "brace", "{{first_name}} {a|b} \\",
    "empty", "",
    "blank", " \t\r\n",
};
#define NONBLANK 4

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i += 2)
        if (strcmp(fields[i], name) == 0)
            return fields[i + 1];
    return NULL;
}

static void required(void *ctx, const char *name)
{
    bool *all_present = ctx;
    bool found = false;
    for (size_t i = 0; i < 2 * NONBLANK; i += 2)
        found |= strcmp(fields[i], name) == 0;
    if (!found)
        *all_present = false;
}

static void check_output(const char *s, size_t n, enum tpl_mode mode)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ctrl = c < 0x20 || c == 0x7f;
        if (mode == TPL_HEADER && ctrl)
            __builtin_trap();
        if (mode == TPL_BODY && ctrl && c != '\t' && c != '\n' &&
            !(c == '\r' && i + 1 < n && s[i + 1] == '\n'))
            __builtin_trap();
    }
    if (mode == TPL_HEADER && n > 0 && (s[0] == ' ' || s[n - 1] == ' '))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *tpl = (const char *)data;
    struct mf_err ce, e;
    enum mf_rc crc = tpl_check(tpl, size, &ce);
    bool all_present = true;
    enum mf_rc rrc = tpl_required_fields(tpl, size, required, &all_present, &e);
    if (rrc != crc && rrc != MF_ENOMEM)
        __builtin_trap();
    static const uint64_t seeds[] = {0, 0x9e3779b97f4a7c15u};
    for (int m = 0; m < 2; m++) {
        enum tpl_mode mode = m ? TPL_HEADER : TPL_BODY;
        for (size_t k = 0; k < 2; k++) {
            struct mf_buf out, again;
            /* the same room for the rendered text in both buffers */
            mf_buf_init(&out, 3 + 8192);
            mf_buf_init(&again, 8192);
            mf_buf_adds(&out, "pre");
            enum mf_rc rc = tpl_render(tpl, size, lookup, NULL, seeds[k], mode, &out, &e);
            enum mf_rc rc2 = tpl_render(tpl, size, lookup, NULL, seeds[k], mode, &again, &e);
            if (rc != rc2)
                __builtin_trap();
            if (crc != MF_OK) {
                /* the same syntax error, whatever the seed */
                if (rc != crc || strcmp(e.detail, ce.detail) != 0)
                    __builtin_trap();
            } else if (rc == MF_ENOTFOUND) {
                if (all_present && rrc == MF_OK)
                    __builtin_trap();
            } else if (rc != MF_OK && rc != MF_ELIMIT && rc != MF_ENOMEM) {
                __builtin_trap();
            }
            if (rc != MF_OK) {
                if (strcmp(mf_buf_data(&out), "pre") != 0 || mf_buf_len(&again) != 0)
                    __builtin_trap();
            } else {
                if (mf_buf_len(&out) != 3 + mf_buf_len(&again) ||
                    memcmp(mf_buf_data(&out) + 3, mf_buf_data(&again), mf_buf_len(&again)) != 0)
                    __builtin_trap();
                check_output(mf_buf_data(&again), mf_buf_len(&again), mode);
            }
            mf_buf_free(&out);
            mf_buf_free(&again);
        }
    }
    return 0;
}
