/* libFuzzer: a whole POP3 client session fed hostile server bytes. The
 * first byte picks the configuration; the rest is the server's side, cut
 * into reads at 0xff bytes. STAT, LIST, UIDL, TOP 1 0, RETR 1 and RETR 2
 * are queued and QUIT is asked for. Every byte an event points to is read,
 * so a dangling borrowed pointer shows under ASan. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/pop3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *p, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (unsigned char)p[i];
    sink += s;
}

static void drain(struct pop3 *p)
{
    struct pop3_event ev;
    while (pop3_next_event(p, &ev)) {
        touch(ev.text, strlen(ev.text));
        touch(ev.code, strlen(ev.code));
        if (ev.type == POP3_EV_NEED_TLS)
            pop3_tls_done(p);
        if (ev.data)
            touch(ev.data, ev.len);
        for (size_t i = 0; ev.list && i < ev.n; i++)
            sink += ev.list[i].msgno + (size_t)ev.list[i].size;
        for (size_t i = 0; ev.uidl && i < ev.n; i++)
            touch(ev.uidl[i].uid, strlen(ev.uidl[i].uid));
    }
    size_t len;
    const char *out;
    while ((out = pop3_output(p, &len)) && len) {
        touch(out, len);
        pop3_output_consume(p, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    struct sasl_creds creds = {.user = "me@example.com", .secret = "pw-secret",
                               .host = "pop.example.com", .port = 995};
    bool token = (mode & 8) != 0;
    struct pop3_cfg cfg = {
        .security = (enum pop3_security)(mode % 3),
        .creds = (mode & 4) ? &creds : NULL,
        .secret_is_token = token,
        .user_pass = !token && (mode & 16) != 0,
        .allow_plaintext_auth = true,
        .no_initial_response = (mode & 128) != 0,
        .max_line = (mode & 64) ? 64 : 512,
        .max_response = (mode & 64) ? 256 : 65536,
    };
    struct pop3 *p = pop3_new(&cfg, NULL);
    if (!p)
        return 0;
    pop3_request_stat(p);
    pop3_request_list(p);
    pop3_request_uidl(p);
    pop3_request_top(p, 1, 0);
    pop3_request_retr(p, 1);
    pop3_request_retr(p, 2);
    pop3_quit(p);
    const char *in = (const char *)data + 1, *end = (const char *)data + size;
    while (in < end) {
        const char *cut = memchr(in, 0xff, (size_t)(end - in));
        size_t len = cut ? (size_t)(cut - in) : (size_t)(end - in);
        pop3_feed(p, in, len);
        drain(p);
        in += len + (cut ? 1 : 0);
    }
    if (mode & 32)
        pop3_eof(p);
    drain(p);
    pop3_free(p);
    return 0;
}
