/* libFuzzer: the IMAP response reader and tokenizer, fed in two pieces. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/imap_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct imap_val *v, size_t n, size_t depth)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].type == IMAP_LIST) {
            if (depth > 64)
                __builtin_trap(); /* the depth limit must hold */
            count += walk(v[i].items, v[i].n, depth + 1);
        } else if (v[i].s && strlen(v[i].s) > v[i].len) {
            __builtin_trap();
        }
        count++;
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct imap_parse_limits lim = {.max_line = 2048, .max_literal = 4096,
                                    .max_response = 16384, .max_depth = 8};
    struct imap_parser *p = imap_parse_new(&lim);
    if (!p)
        return 0;
    size_t half = size / 2;
    const char *s = (const char *)data;
    for (int part = 0; part < 2; part++) {
        const char *chunk = part ? s + half : s;
        size_t len = part ? size - half : half;
        if (imap_parse_feed(p, chunk, len, NULL) != MF_OK)
            break;
        struct imap_resp r;
        enum mf_rc rc;
        while ((rc = imap_parse_next(p, &r, NULL)) == MF_OK)
            walk(r.vals, r.nvals, 0);
        if (rc != MF_ENOTFOUND)
            break;
    }
    imap_parse_free(p);
    return 0;
}
