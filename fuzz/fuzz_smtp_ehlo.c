/* libFuzzer: the EHLO capability parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/smtp_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_caps caps;
    smtp_caps_parse(&caps, (const char *)data, size);
    if (strlen(caps.auth_list) >= sizeof caps.auth_list ||
        strlen(caps.domain) >= sizeof caps.domain)
        __builtin_trap();
    return 0;
}
