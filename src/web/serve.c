#include "web/serve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/render.h"
#include "engine/store.h"
#include "util/log.h"

#define ROUTE "/u/"
#define TOKEN_MAX 100            /* render_unsub_verify refuses longer */
#define FORM "List-Unsubscribe=One-Click"
#define REASON "unsubscribed (one-click)"

struct serve {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;          /* guards st */
    struct store *st;
    unsigned char key[32];
    int port;
    serve_unsub_cb on_unsub;
    void *ctx;
};

/* One POST with a valid token, while its body arrives. */
struct req {
    int64_t lead, campaign;
    size_t len;
    char body[SERVE_BODY_MAX];
};

/* ---- answers ------------------------------------------------------------------------ */

static const char page_not_found[] =
    "<!doctype html>\n<html lang=en><meta charset=utf-8>"
    "<meta name=viewport content=\"width=device-width\">\n"
    "<title>Not found</title>\n"
    "<p>This link is not valid. To stop receiving these emails, reply to one of them "
    "and ask.</p>\n";
static const char page_confirm[] =
    "<!doctype html>\n<html lang=en><meta charset=utf-8>"
    "<meta name=viewport content=\"width=device-width\">\n"
    "<title>Unsubscribe</title>\n"
    "<h1>Unsubscribe</h1>\n"
    "<p>Press the button to stop receiving these emails.</p>\n"
    "<form method=post>"
    "<input type=hidden name=List-Unsubscribe value=One-Click>"
    "<button type=submit>Unsubscribe</button></form>\n";
static const char text_done[] = "You are unsubscribed.\n";
static const char text_bad_form[] =
    "Bad request: this address takes one form, List-Unsubscribe=One-Click "
    "(RFC 8058).\n";
static const char text_too_big[] = "Request body too large.\n";
static const char text_method[] = "Method not allowed.\n";
static const char text_failed[] =
    "The unsubscribe could not be recorded just now. Please try again in a minute.\n";

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
                              bool html)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type",
                            html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD, POST");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result not_found(struct MHD_Connection *c)
{
    return answer(c, MHD_HTTP_NOT_FOUND, page_not_found, true);
}

/* ---- the form ------------------------------------------------------------------------- */

/* ct is `type` followed by its end or its parameters. */
static bool ct_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return strncasecmp(ct, type, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

struct form {
    int fields;
    bool key_ok, bad;
    size_t vlen;
    char value[16];
};

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data,
                                uint64_t off, size_t size)
{
    (void)kind, (void)content_type, (void)transfer_encoding;
    struct form *f = cls;
    if (off == 0) {
        f->fields++;
        f->key_ok = key && strcmp(key, "List-Unsubscribe") == 0;
        f->vlen = 0;
    }
    if (filename || f->vlen + size >= sizeof f->value) {
        f->bad = true;
        return MHD_NO;
    }
    memcpy(f->value + f->vlen, data, size);
    f->vlen += size;
    f->value[f->vlen] = '\0';
    return MHD_YES;
}

/* RFC 8058: the body is List-Unsubscribe=One-Click, url-encoded or as a
 * multipart/form-data field; nothing else. */
static bool form_ok(struct MHD_Connection *c, const struct req *r)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!ct || ct_is(ct, "application/x-www-form-urlencoded")) {
        size_t n = r->len;
        while (n > 0 && (r->body[n - 1] == '\n' || r->body[n - 1] == '\r'))
            n--;
        return n == strlen(FORM) && memcmp(r->body, FORM, n) == 0;
    }
    if (!ct_is(ct, "multipart/form-data"))
        return false;
    struct form f = {0};
    struct MHD_PostProcessor *pp = MHD_create_post_processor(c, 1024, on_field, &f);
    if (!pp)
        return false;
    enum MHD_Result ok = MHD_post_process(pp, r->body, r->len);
    enum MHD_Result done = MHD_destroy_post_processor(pp);
    return ok == MHD_YES && done == MHD_YES && !f.bad && f.fields == 1 && f.key_ok &&
           strcmp(f.value, "One-Click") == 0;
}

/* ---- the store ------------------------------------------------------------------------ */

/* MF_ENOTFOUND when the lead is gone. Called with s->mu held. */
static enum mf_rc lead_exists(struct serve *s, int64_t lead, struct mf_err *err)
{
    struct store_lead l;
    enum mf_rc rc = store_lead_get(s->st, lead, &l, err);
    if (rc == MF_OK)
        store_lead_clear(&l);
    return rc;
}

/* The whole one-click unsubscribe, in one transaction. Called with s->mu
 * held. MF_ENOTFOUND when the lead is gone. */
static enum mf_rc unsubscribe(struct serve *s, int64_t lead, int64_t campaign, char *address,
                              size_t address_size, bool *first, struct mf_err *err)
{
    struct store *st = s->st;
    enum mf_rc rc = store_begin(st, err);
    if (rc != MF_OK)
        return rc;
    struct store_lead l;
    rc = store_lead_get(st, lead, &l, err);
    if (rc != MF_OK) {
        store_rollback(st);
        return rc;
    }
    snprintf(address, address_size, "%s", l.address);
    char key[64];
    snprintf(key, sizeof key, "unsub:%" PRId64 ":%" PRId64, lead, campaign);
    rc = store_suppress_add(st, l.address, REASON, err);
    /* bounced and complained say more than unsubscribed: they stay */
    if (rc == MF_OK && strcmp(l.status, "bounced") != 0 && strcmp(l.status, "complained") != 0)
        rc = store_lead_set_status(st, lead, "unsubscribed", err);
    if (rc == MF_OK)
        rc = store_enrollments_stop_lead(st, lead, 0, REASON, err);
    if (rc == MF_OK)
        rc = store_event_add(st, 0, "unsubscribe", lead, campaign, "", 0,
                             "one-click unsubscribe (RFC 8058)", key, first, err);
    if (rc == MF_OK)
        rc = store_commit(st, err);
    if (rc != MF_OK)
        store_rollback(st);
    store_lead_clear(&l);
    return rc;
}

/* ---- requests ------------------------------------------------------------------------- */

/* The token of "/u/TOKEN", or NULL for any other path. */
static const char *route_token(const char *url)
{
    size_t n = strlen(ROUTE);
    if (strncmp(url, ROUTE, n) != 0)
        return NULL;
    const char *t = url + n;
    size_t len = strlen(t);
    if (len == 0 || len > TOKEN_MAX || strchr(t, '/'))
        return NULL;
    return t;
}

static enum MHD_Result first_call(struct serve *s, struct MHD_Connection *c, const char *url,
                                  const char *method, void **req_cls)
{
    int64_t lead = 0, campaign = 0;
    const char *token = route_token(url);
    if (!token || !render_unsub_verify(s->key, token, &lead, &campaign))
        return not_found(c);
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    if (!get && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, text_method, false);
    if (get) {
        struct mf_err e;
        mf_err_clear(&e);
        pthread_mutex_lock(&s->mu);
        enum mf_rc rc = lead_exists(s, lead, &e);
        pthread_mutex_unlock(&s->mu);
        if (rc == MF_ENOTFOUND)
            return not_found(c);
        if (rc != MF_OK) {
            mf_log(MF_LOG_ERROR, "serve: %s", e.detail);
            return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_failed, false);
        }
        return answer(c, MHD_HTTP_OK, page_confirm, true);
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || end == cl || v > SERVE_BODY_MAX)
            return answer(c, MHD_HTTP_CONTENT_TOO_LARGE, text_too_big, false);
    }
    struct req *r = calloc(1, sizeof *r);
    if (!r)
        return MHD_NO;
    r->lead = lead;
    r->campaign = campaign;
    *req_cls = r;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **req_cls)
{
    (void)version;
    struct serve *s = cls;
    struct req *r = *req_cls;
    if (!r)
        return first_call(s, c, url, method, req_cls);
    if (*upload_size) {
        if (*upload_size > SERVE_BODY_MAX - r->len)
            return MHD_NO; /* chunked past the bound: drop the connection */
        memcpy(r->body + r->len, upload, *upload_size);
        r->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!form_ok(c, r))
        return answer(c, MHD_HTTP_BAD_REQUEST, text_bad_form, false);
    struct mf_err e;
    mf_err_clear(&e);
    char address[320] = "";
    bool first = false;
    pthread_mutex_lock(&s->mu);
    enum mf_rc rc = unsubscribe(s, r->lead, r->campaign, address, sizeof address, &first, &e);
    pthread_mutex_unlock(&s->mu);
    if (rc == MF_ENOTFOUND)
        return not_found(c);
    if (rc != MF_OK) {
        mf_log(MF_LOG_ERROR, "serve: unsubscribing lead %" PRId64 ": %s", r->lead, e.detail);
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, text_failed, false);
    }
    if (s->on_unsub)
        s->on_unsub(s->ctx, r->lead, address, r->campaign, first);
    return answer(c, MHD_HTTP_OK, text_done, false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*req_cls);
    *req_cls = NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

enum mf_rc serve_parse_listen(const char *spec, uint32_t *addr_be, int *port,
                              struct mf_err *err)
{
    const char *colon = spec ? strrchr(spec, ':') : NULL;
    char host[INET_ADDRSTRLEN + 1];
    size_t hlen = colon ? (size_t)(colon - spec) : 0;
    const char *p = colon ? colon + 1 : "";
    bool digits = *p && strlen(p) <= 5;
    for (const char *q = p; *q; q++)
        digits = digits && isdigit((unsigned char)*q);
    long v = digits ? strtol(p, NULL, 10) : -1;
    struct in_addr a;
    if (!colon || hlen == 0 || hlen >= sizeof host || v < 0 || v > 65535)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "listen address \"%.100s\" is not ADDRESS:PORT, e.g. %s",
                          spec ? spec : "", SERVE_DEFAULT_LISTEN);
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &a) != 1)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "listen address \"%.100s\": \"%s\" is not an IPv4 address "
                          "(give one like 127.0.0.1, never a host name)",
                          spec, host);
    *addr_be = a.s_addr;
    *port = (int)v;
    return MF_OK;
}

/* Why the address cannot be listened on: tries it ourselves for errno. */
static const char *bind_error(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return strerror(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const char *why = "the HTTP server could not start";
    if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) != 0)
        why = strerror(errno);
    close(fd);
    return why;
}

struct serve *serve_start(const struct serve_cfg *cfg, struct mf_err *err)
{
    const char *listen = cfg->listen ? cfg->listen : SERVE_DEFAULT_LISTEN;
    uint32_t addr = 0;
    int port = 0;
    if (serve_parse_listen(listen, &addr, &port, err) != MF_OK)
        return NULL;
    struct serve *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->on_unsub = cfg->on_unsubscribe;
    s->ctx = cfg->ctx;
    s->st = store_open(cfg->store_path, err);
    if (!s->st || render_unsub_key(s->st, s->key, err) != MF_OK) {
        serve_stop(s);
        return NULL;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = addr;
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC, 0, NULL, NULL,
                            on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)15,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || !info->port) {
        const char *why = s->d ? "no port was bound" : bind_error(&sa);
        mf_err_set(err, MF_ECONNECT, MF_LAYER_LOCAL, "cannot listen on %s: %s", listen, why);
        serve_stop(s);
        return NULL;
    }
    s->port = info->port;
    return s;
}

int serve_port(const struct serve *s)
{
    return s ? s->port : 0;
}

void serve_stop(struct serve *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d); /* joins the thread: nobody uses the store after */
    store_close(s->st);
    sodium_memzero(s->key, sizeof s->key);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
