/* `mailfleet serve`: the one-click unsubscribe endpoint (RFC 8058). */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "web/serve.h"

static const char serve_usage[] =
    "usage: mailfleet serve [--listen ADDRESS:PORT]\n"
    "\n"
    "The one-click unsubscribe endpoint (RFC 8058). Gmail, Yahoo and Apple Mail\n"
    "show an Unsubscribe button for a message whose List-Unsubscribe has an https\n"
    "URL with List-Unsubscribe-Post; pressing it POSTs List-Unsubscribe=One-Click\n"
    "to that URL. mailfleet serve records it in one transaction: the address is\n"
    "suppressed, the lead is unsubscribed and all its sequences stop. Opening the\n"
    "link in a browser shows a page with a button; a GET alone never unsubscribes\n"
    "(link scanners open every link). Runs until Ctrl-C or SIGTERM.\n"
    "\n"
    "  --listen ADDRESS:PORT   where to listen (default " SERVE_DEFAULT_LISTEN "); an\n"
    "                          IPv4 address, never a host name\n"
    "\n"
    "1. Give the campaign a public https base, in the campaign file:\n"
    "     unsubscribe:\n"
    "       text: \"Not interested? {{unsubscribe_url}}\"\n"
    "       url: https://go.example.com/u\n"
    "   Every message then carries <https://go.example.com/u/TOKEN>, and\n"
    "   {{unsubscribe_url}} is the same link. TOKEN seals the lead and the\n"
    "   campaign: it cannot be guessed or forged, and shows no id.\n"
    "2. Put a reverse proxy with TLS in front that passes /u/ unchanged, e.g.\n"
    "     Caddy:  go.example.com { reverse_proxy /u/* 127.0.0.1:8025 }\n"
    "     nginx:  location /u/ { proxy_pass http://127.0.0.1:8025; }\n"
    "3. Keep mailfleet serve running on the same store as mailfleet run (same\n"
    "   user, same --db), e.g. as a systemd service.\n";

static void print_unsub(void *ctx, int64_t lead_id, const char *address, int64_t campaign_id,
                        bool first)
{
    (void)ctx;
    printf("%s %s (lead %" PRId64 ", campaign %" PRId64 ")\n",
           first ? "unsubscribed" : "already unsubscribed:", address, lead_id, campaign_id);
    fflush(stdout);
}

int cmd_serve(const struct cli_global *g, int argc, char **argv)
{
    const char *listen = SERVE_DEFAULT_LISTEN;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            listen = argv[++i];
        } else {
            bool help = !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
            fputs(serve_usage, help ? stdout : stderr);
            return help ? CLI_OK : CLI_USAGE;
        }
    }
    /* SIGINT/SIGTERM blocked here and in the server's thread (it inherits the
     * mask): sigwait below takes them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct mf_err e;
    mf_err_clear(&e);
    struct serve_cfg cfg = {.store_path = g->db_path, .listen = listen,
                            .on_unsubscribe = print_unsub};
    struct serve *s = serve_start(&cfg, &e);
    if (!s) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return e.rc == MF_EINVAL ? CLI_USAGE
               : e.rc == MF_ECONNECT ? CLI_UNAVAILABLE
                                     : CLI_CONFIG;
    }
    char host[64];
    const char *colon = strrchr(listen, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    printf("mailfleet serve: listening on http://%s:%d\n", host, serve_port(s));
    printf("one-click URLs: <unsubscribe.url>/TOKEN (e.g. https://go.example.com/u/TOKEN),\n"
           "answered here as POST /u/TOKEN; put a TLS reverse proxy in front "
           "(mailfleet serve --help)\n");
    if (strncmp(host, "127.", 4) != 0)
        printf("note: %s is reachable from other machines; serve it only behind TLS\n", host);
    printf("Ctrl-C stops.\n");
    fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    serve_stop(s);
    printf("mailfleet serve: stopped (%s)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return CLI_OK;
}
