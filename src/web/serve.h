/*
 * web/serve — the RFC 8058 one-click unsubscribe endpoint, on libmicrohttpd.
 *
 * A campaign's `unsubscribe.url` is a public base such as
 * https://go.example.com/u; every message carries <BASE/TOKEN> in
 * List-Unsubscribe (and {{unsubscribe_url}}), where TOKEN is
 * render_unsub_token(lead, campaign). A reverse proxy that terminates TLS
 * passes /u/TOKEN through to this server unchanged. Routes:
 *
 *   POST /u/TOKEN  body exactly `List-Unsubscribe=One-Click`, as
 *                  application/x-www-form-urlencoded (a missing Content-Type
 *                  reads as that) or as multipart/form-data with that one
 *                  field → in ONE store transaction: the lead's address is
 *                  suppressed ("unsubscribed (one-click)"), the lead becomes
 *                  'unsubscribed' (a 'bounced' or 'complained' lead keeps
 *                  that status), every active enrollment of the lead stops,
 *                  and an 'unsubscribe' event with source_key
 *                  "unsub:LEAD:CAMPAIGN" is recorded. 200 text/plain
 *                  "You are unsubscribed.", never a redirect. Idempotent: a
 *                  second POST answers the same and adds nothing. Another
 *                  body: 400; over SERVE_BODY_MAX: 413.
 *   GET|HEAD /u/TOKEN  a plain HTML page whose button POSTs the form above to
 *                  the same URL. GET never unsubscribes (link scanners and
 *                  previews fetch every URL of a message).
 *   a forged or damaged TOKEN, a lead that no longer exists, any other path:
 *                  404 with one generic page (the same bytes every time, so
 *                  nothing can be learnt about tokens or leads).
 *   another method on /u/TOKEN: 405 with Allow.
 * Every answer carries Cache-Control: no-store, Referrer-Policy: no-referrer,
 * X-Content-Type-Options: nosniff (the page also a restrictive CSP).
 *
 * Threads: libmicrohttpd's one internal polling thread answers every
 * request; the store is opened once by serve_start and used only under the
 * server's mutex. Store writes wait for other writers (a running
 * `mailfleet run`) through the store's busy timeout.
 *
 * Ownership: struct serve is the caller's (serve_stop); cfg is borrowed for
 * the call (callbacks and their ctx must outlive the server).
 */
#ifndef MF_WEB_SERVE_H
#define MF_WEB_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/err.h"

#define SERVE_DEFAULT_LISTEN "127.0.0.1:8025"
#define SERVE_BODY_MAX 4096  /* bytes of a POST body */

/* Called (in the server's thread) after each successful one-click POST:
 * first is false when the lead had already unsubscribed this way. */
typedef void (*serve_unsub_cb)(void *ctx, int64_t lead_id, const char *address,
                               int64_t campaign_id, bool first);

struct serve_cfg {
    const char *store_path;    /* NULL = store_default_path() */
    const char *listen;        /* "IPv4:PORT"; NULL = SERVE_DEFAULT_LISTEN;
                                * PORT 0 = any free port (serve_port says) */
    serve_unsub_cb on_unsubscribe;  /* may be NULL */
    void *ctx;
};

/*
 * Parses "A.B.C.D:PORT" (an IPv4 literal, never a host name; PORT 0-65535)
 * into the address in network order and the port. MF_EINVAL with a
 * sentence in err otherwise.
 */
enum mf_rc serve_parse_listen(const char *spec, uint32_t *addr_be, int *port,
                              struct mf_err *err);

/*
 * Opens the store, loads the unsubscribe key (made on first use) and starts
 * listening. NULL on failure with err set: MF_EINVAL (a bad listen address),
 * MF_ESTORE / MF_EIO (the store), MF_ECONNECT (cannot listen: the address is
 * in use or not local), MF_ENOMEM.
 */
struct serve *serve_start(const struct serve_cfg *cfg, struct mf_err *err);
/* The port actually listened on. */
int serve_port(const struct serve *s);
/* Stops listening (in-flight requests finish), closes the store, frees.
 * NULL is fine. */
void serve_stop(struct serve *s);

#endif
