/* libFuzzer: a whole client session fed hostile server bytes. The first
 * byte picks the configuration; the rest is the server's side, cut into
 * reads at 0xff bytes. Two messages are queued; QUIT is asked for. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(struct smtp *s)
{
    size_t len;
    const char *p;
    struct smtp_event ev;
    while (smtp_next_event(s, &ev))
        if (ev.type == SMTP_EV_NEED_TLS)
            smtp_tls_done(s);
    while ((p = smtp_output(s, &len)) && len)
        smtp_output_consume(s, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    struct sasl_creds creds = {.user = "me@example.com", .secret = "pw-secret"};
    struct smtp_cfg cfg = {
        .helo_name = "fuzz",
        .security = (enum smtp_security)(mode % 3),
        .creds = (mode & 4) ? &creds : NULL,
        .secret_is_token = (mode & 8) != 0,
        .allow_plaintext_auth = true,
        .no_pipelining = (mode & 16) != 0,
        .max_line = 512,
    };
    struct smtp *s = smtp_new(&cfg, NULL);
    if (!s)
        return 0;
    const char *rcpts[] = {"a@example.com", "b@example.com"};
    struct smtp_msg m1 = {.from = "me@example.com", .rcpts = rcpts, .nrcpt = 2,
                          .data = "Subject: x\r\n\r\n.dot\r\n", .len = 20};
    struct smtp_msg m2 = {.from = "", .rcpts = rcpts, .nrcpt = 1,
                          .data = "x\n.\n", .len = 4};
    smtp_submit(s, &m1);
    smtp_submit(s, &m2);
    smtp_quit(s);
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    while (p < end) {
        const char *cut = memchr(p, 0xff, (size_t)(end - p));
        size_t len = cut ? (size_t)(cut - p) : (size_t)(end - p);
        smtp_feed(s, p, len);
        drain(s);
        p += len + (cut ? 1 : 0);
    }
    if (mode & 32)
        smtp_eof(s);
    drain(s);
    smtp_free(s);
    return 0;
}
