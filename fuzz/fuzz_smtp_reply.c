/* libFuzzer: the SMTP reply line parser, line by line as the core feeds it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_reply_parser p;
    smtp_reply_init(&p, 16, 4096);
    const char *s = (const char *)data, *end = s + size;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
        bool done = false;
        if (smtp_reply_line(&p, s, len, &done, NULL) != MF_OK) {
            smtp_reply_reset(&p);
        } else if (done) {
            struct smtp_reply r;
            smtp_reply_get(&p, &r);
            if (r.code < 200 || r.code > 599 || strlen(r.text) != r.len)
                __builtin_trap();
            smtp_reply_reset(&p);
        }
        s += len + (nl ? 1 : 0);
    }
    smtp_reply_free(&p);
    return 0;
}
