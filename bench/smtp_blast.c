/*
 * bench/smtp_blast — mailfleet's side of the throughput benchmark: sends
 * TOTAL messages of SIZE bytes over CONNS connections on one event loop,
 * through the real transport and SMTP core, and prints the elapsed time.
 * usage: smtp_blast HOST PORT CONNS TOTAL SIZE [--no-pipelining]
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/smtp_drive.h"
#include "util/clock.h"

static size_t done_sessions, accepted, failed;
static struct event_base *base;
static size_t nconns;

static void on_event(void *ctx, const struct smtp_event *ev)
{
    struct smtp_drive **slot = ctx;
    if (ev->type == SMTP_EV_MSG_DONE) {
        if (ev->ok)
            accepted++;
        else {
            failed++;
            if (failed < 5)
                fprintf(stderr, "message failed: %s %s\n", ev->err.detail, ev->err.reply);
        }
    } else if (ev->type == SMTP_EV_READY) {
        smtp_drive_quit(*slot);
    }
}

static void on_done(void *ctx, const struct mf_err *err)
{
    (void)ctx;
    if (err)
        fprintf(stderr, "session: %s\n", err->detail);
    if (++done_sessions == nconns)
        event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: smtp_blast HOST PORT CONNS TOTAL SIZE [--no-pipelining]\n");
        return 64;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    nconns = (size_t)atoi(argv[3]);
    size_t total = (size_t)atoi(argv[4]), size = (size_t)atoi(argv[5]);
    bool nopipe = argc > 6 && strcmp(argv[6], "--no-pipelining") == 0;
    if (!nconns || !total || size < 64)
        return 64;
    base = event_base_new();
    struct mf_err err;
    struct dns *dns = dns_new(base, &err);
    /* a ~SIZE byte message of 76-column lines, like smtp-source -l */
    char *data = malloc(size + 1);
    int h = snprintf(data, size, "From: bench@example.com\r\nTo: sink@example.com\r\n"
                     "Subject: benchmark\r\n\r\n");
    for (size_t i = (size_t)h; i < size; i++)
        data[i] = (i - (size_t)h) % 78 == 76 ? '\r' : (i - (size_t)h) % 78 == 77 ? '\n' : 'x';
    const char *rcpt[] = {"sink@example.com"};
    struct smtp_msg *msgs = calloc(total, sizeof *msgs);
    struct smtp_drive **drives = calloc(nconns, sizeof *drives);
    for (size_t i = 0; i < total; i++)
        msgs[i] = (struct smtp_msg){.from = "bench@example.com", .rcpts = rcpt,
                                    .nrcpt = 1, .data = data, .len = size};
    double t0 = mf_now_ms();
    for (size_t c = 0; c < nconns; c++) {
        struct smtp_drive_cfg cfg = {
            .base = base, .dns = dns, .host = host, .port = port,
            .smtp = {.helo_name = "bench", .security = SMTP_SEC_NONE,
                     .no_pipelining = nopipe},
            .obs = {.on_event = on_event, .on_done = on_done},
            .ctx = &drives[c],
        };
        drives[c] = smtp_drive_start(&cfg, &err);
        if (!drives[c]) {
            fprintf(stderr, "start: %s\n", err.detail);
            return 1;
        }
        for (size_t i = c; i < total; i += nconns)
            smtp_drive_submit(drives[c], &msgs[i]);
    }
    event_base_dispatch(base);
    double ms = mf_now_ms() - t0;
    printf("%zu messages (%zu failed) of %zu bytes over %zu connection(s)%s: %.1f ms, %.0f msg/s\n",
           accepted, failed, size, nconns, nopipe ? " without pipelining" : "", ms,
           accepted / (ms / 1000.0));
    for (size_t c = 0; c < nconns; c++)
        smtp_drive_free(drives[c]);
    dns_free(dns);
    event_base_free(base);
    free(msgs);
    free(drives);
    free(data);
    return failed || accepted != total ? 1 : 0;
}
