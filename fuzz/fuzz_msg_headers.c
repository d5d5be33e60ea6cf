/* libFuzzer: mail/msg's header scanner and -t recipient extraction. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mail/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct msg_opts o = {.extract_recipients = true, .default_from = "me@example.com"};
    struct msg_prepared m;
    if (msg_prepare((const char *)data, size, &o, &m, NULL) == MF_OK) {
        /* Bcc must never survive into the output header block */
        const char *d = mf_buf_data(&m.data);
        size_t n = mf_buf_len(&m.data);
        for (size_t i = 0; i + 4 < n; i++) {
            if ((d[i] == '\n' && d[i + 1] == '\n') ||
                (d[i] == '\n' && d[i + 1] == '\r'))
                break; /* end of the header block */
            if ((i == 0 || d[i - 1] == '\n') && strncasecmp(d + i, "bcc", 3) == 0) {
                size_t k = i + 3;
                while (k < n && (d[k] == ' ' || d[k] == '\t'))
                    k++;
                if (k < n && d[k] == ':')
                    __builtin_trap(); /* "Bcc:" or the obsolete "Bcc :" */
            }
        }
    }
    msg_prepared_free(&m);
    return 0;
}
