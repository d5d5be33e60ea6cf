#include "net/conn.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn {
    struct event_base *base;
    struct bufferevent *bev;      /* the socket, or the TLS filter over it */
    struct event *deadline;
    char deadline_what[96];
    int deadline_ms;
    SSL *ssl;                     /* owned by the filter bufferevent */
    char host[256];
    struct dns_addr addr;
    struct conn_callbacks cb;
    void *ctx;
    bool connected;
    bool tls_pending;
    int busy;                     /* inside a callback */
    bool dead;                    /* conn_free() was called while busy */
};

/* ---- TLS context ---------------------------------------------------------- */

static void openssl_reason(char *buf, size_t size, unsigned long e)
{
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(buf, size, "%s", r ? r : "unknown TLS error");
}

/* True when the system's CA directory is hashed (c_rehash, as Debian's
 * update-ca-certificates leaves it) and no SSL_CERT_FILE asks for a bundle:
 * then OpenSSL reads just the certificates a handshake needs, on demand,
 * instead of parsing the whole bundle (~25 ms) before every run. */
static bool hashed_dir_only(void)
{
    if (getenv(X509_get_default_cert_file_env()))
        return false;
    const char *dir = getenv(X509_get_default_cert_dir_env());
    if (!dir || !*dir)
        dir = X509_get_default_cert_dir();
    if (strchr(dir, ':')) /* a list: let OpenSSL walk it with the file too */
        return false;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool hashed = false;
    struct dirent *de;
    while (!hashed && (de = readdir(d))) {
        const char *n = de->d_name;
        hashed = strlen(n) >= 10 && strspn(n, "0123456789abcdef") == 8 && n[8] == '.' &&
                 strspn(n + 9, "0123456789") == strlen(n + 9);
    }
    closedir(d);
    return hashed;
}

SSL_CTX *conn_tls_ctx_new(const char *cafile, bool insecure, int min_tls,
                          struct mf_err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        mf_err_set(err, MF_ETLS, MF_LAYER_TLS, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_tls ? min_tls : TLS1_2_VERSION);
    /* A peer that closes without close_notify is normal for mail servers
     * after QUIT; the protocol layer decides whether an EOF was clean. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    int ok = cafile          ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
             : hashed_dir_only() ? SSL_CTX_set_default_verify_dir(ctx)
                                 : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        char why[160];
        openssl_reason(why, sizeof why, ERR_get_error());
        ERR_clear_error();
        mf_err_set(err, MF_ECONFIG, MF_LAYER_TLS,
                   "cannot load CA certificates%s%s: %s", cafile ? " from " : "",
                   cafile ? cafile : "", why);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    return ctx;
}

void conn_tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

/* ---- lifetime ------------------------------------------------------------- */

static void destroy(struct conn *c)
{
    if (c->deadline)
        event_free(c->deadline);
    if (c->bev)
        bufferevent_free(c->bev); /* frees the SSL and the socket too */
    free(c);
}

void conn_free(struct conn *c)
{
    if (!c)
        return;
    if (c->busy) {
        c->dead = true;
        return;
    }
    destroy(c);
}

/* Every callback into the user is bracketed so that conn_free() inside it
 * is deferred until the bracket closes. Returns false if c is gone. */
static void enter(struct conn *c) { c->busy++; }
static bool leave(struct conn *c)
{
    if (--c->busy == 0 && c->dead) {
        destroy(c);
        return false;
    }
    return !c->dead;
}

static void report(struct conn *c, enum mf_rc rc, enum mf_layer layer,
                   const char *detail)
{
    struct mf_err e;
    mf_err_clear(&e);
    mf_err_set(&e, rc, layer, "%s", detail);
    if (c->deadline)
        evtimer_del(c->deadline);
    enter(c);
    if (c->cb.on_error)
        c->cb.on_error(c->ctx, &e);
    leave(c);
}

/* ---- TLS details ------------------------------------------------------------ */

static void name_line(X509_NAME *name, char *buf, size_t size)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return;
    X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
    int n = BIO_read(b, buf, (int)size - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

static void sans_line(X509 *cert, char *buf, size_t size)
{
    buf[0] = '\0';
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return;
    size_t used = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        char item[128] = "";
        if (gn->type == GEN_DNS) {
            const unsigned char *d = ASN1_STRING_get0_data(gn->d.dNSName);
            snprintf(item, sizeof item, "DNS:%.*s",
                     ASN1_STRING_length(gn->d.dNSName), (const char *)d);
        } else if (gn->type == GEN_IPADD) {
            int len = ASN1_STRING_length(gn->d.iPAddress);
            const unsigned char *d = ASN1_STRING_get0_data(gn->d.iPAddress);
            char ip[64] = "?";
            if (len == 4 || len == 16)
                inet_ntop(len == 4 ? AF_INET : AF_INET6, d, ip, sizeof ip);
            snprintf(item, sizeof item, "IP:%s", ip);
        } else {
            continue;
        }
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", item);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    GENERAL_NAMES_free(names);
}

static void fill_tls_info(SSL *ssl, struct conn_tls_info *info)
{
    memset(info, 0, sizeof *info);
    snprintf(info->version, sizeof info->version, "%s", SSL_get_version(ssl));
    snprintf(info->cipher, sizeof info->cipher, "%s", SSL_get_cipher_name(ssl));
    long vr = SSL_get_verify_result(ssl);
    X509 *cert = SSL_get1_peer_certificate(ssl);
    info->verified = cert && vr == X509_V_OK;
    snprintf(info->verify_result, sizeof info->verify_result, "%s",
             !cert ? "no certificate"
                   : vr == X509_V_OK ? "ok" : X509_verify_cert_error_string(vr));
    if (!cert)
        return;
    name_line(X509_get_subject_name(cert), info->subject, sizeof info->subject);
    name_line(X509_get_issuer_name(cert), info->issuer, sizeof info->issuer);
    sans_line(cert, info->sans, sizeof info->sans);
    const ASN1_TIME *na = X509_get0_notAfter(cert);
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        ASN1_TIME_print(b, na);
        int n = BIO_read(b, info->not_after, (int)sizeof info->not_after - 1);
        info->not_after[n > 0 ? n : 0] = '\0';
        BIO_free(b);
    }
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, na))
        info->days_left = days;
    X509_free(cert);
}

/* Why a handshake failed, in OpenSSL's words plus the verification verdict. */
static void tls_failure(struct conn *c, char *buf, size_t size)
{
    char reason[160] = "";
    unsigned long e;
    while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
        if (!reason[0])
            openssl_reason(reason, sizeof reason, e);
    long vr = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    if (vr != X509_V_OK)
        snprintf(buf, size, "TLS handshake failed: certificate verify failed "
                 "(%s)", X509_verify_cert_error_string(vr));
    else if (reason[0])
        snprintf(buf, size, "TLS handshake failed: %s", reason);
    else
        snprintf(buf, size, "TLS handshake failed: connection closed by the "
                 "server during the handshake");
}

/* ---- libevent callbacks -------------------------------------------------- */

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char chunk[16384];
    enter(c);
    while (!c->dead && evbuffer_get_length(in) > 0) {
        int n = evbuffer_remove(in, chunk, sizeof chunk);
        if (n <= 0)
            break;
        if (c->cb.on_data)
            c->cb.on_data(c->ctx, chunk, (size_t)n);
    }
    leave(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    char why[320];
    if (what & BEV_EVENT_CONNECTED) {
        if (c->tls_pending) {
            c->tls_pending = false;
            struct conn_tls_info info;
            fill_tls_info(c->ssl, &info);
            enter(c);
            if (c->cb.on_tls)
                c->cb.on_tls(c->ctx, &info);
            leave(c);
            return;
        }
        c->connected = true;
        int one = 1;
        setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof one);
        enter(c);
        if (c->cb.on_connected)
            c->cb.on_connected(c->ctx, &c->addr);
        leave(c);
        return;
    }
    if (c->tls_pending && (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))) {
        tls_failure(c, why, sizeof why);
        report(c, MF_ETLS, MF_LAYER_TLS, why);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        if (!c->connected)
            snprintf(why, sizeof why, "connect to %s port %d: %s", c->addr.text,
                     ntohs(((struct sockaddr_in *)&c->addr.ss)->sin_port),
                     e ? strerror(e) : "failed");
        else if (c->ssl)
            tls_failure(c, why, sizeof why);
        else
            snprintf(why, sizeof why, "connection error: %s",
                     e ? strerror(e) : "unknown");
        report(c, c->connected ? MF_ECLOSED : MF_ECONNECT, MF_LAYER_TCP, why);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        /* flush what arrived with the FIN before reporting the end; the
         * bracket spans both, so a conn_free() while reading is deferred */
        enter(c);
        on_read(c->bev, c);
        if (!c->dead && c->cb.on_eof)
            c->cb.on_eof(c->ctx);
        leave(c);
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    char why[200];
    snprintf(why, sizeof why, "timed out after %d.%d s %s", c->deadline_ms / 1000,
             (c->deadline_ms % 1000) / 100, c->deadline_what);
    report(c, MF_ETIMEOUT, c->tls_pending ? MF_LAYER_TLS : MF_LAYER_TCP, why);
}

/* ---- API ------------------------------------------------------------------ */

struct conn *conn_open(struct event_base *base, const struct dns_addr *addr,
                       const char *host, const struct conn_callbacks *cb,
                       void *ctx, struct mf_err *err)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    c->base = base;
    c->addr = *addr;
    c->cb = *cb;
    c->ctx = ctx;
    snprintf(c->host, sizeof c->host, "%s", host ? host : addr->text);
    c->deadline = evtimer_new(base, on_deadline, c);
    c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->deadline || !c->bev) {
        destroy(c);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->addr.ss,
                                   (int)c->addr.len) != 0) {
        int e = EVUTIL_SOCKET_ERROR();
        mf_err_set(err, MF_ECONNECT, MF_LAYER_TCP, "connect to %s: %s",
                   addr->text, e ? strerror(e) : "failed");
        destroy(c);
        return NULL;
    }
    return c;
}

enum mf_rc conn_write(struct conn *c, const void *data, size_t len)
{
    return bufferevent_write(c->bev, data, len) == 0 ? MF_OK : MF_ENOMEM;
}

size_t conn_pending_output(const struct conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev));
}

static bool is_ip_literal(const char *host)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

enum mf_rc conn_start_tls(struct conn *c, SSL_CTX *tls, struct mf_err *err)
{
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) != 0)
        return mf_err_set(err, MF_ETLS, MF_LAYER_TLS,
                          "data received before the TLS handshake (possible "
                          "response injection)");
    if (!tls)
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_TLS, "no TLS context");
    SSL *ssl = SSL_new(tls);
    if (!ssl)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_TLS, "SSL_new failed");
    if (is_ip_literal(c->host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host);
    } else {
        SSL_set_tlsext_host_name(ssl, c->host);
        SSL_set1_host(ssl, c->host);
    }
    struct bufferevent *f = bufferevent_openssl_filter_new(
        c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!f) {
        SSL_free(ssl);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_TLS,
                          "cannot start TLS on the connection");
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    c->bev = f;
    c->ssl = ssl;
    c->tls_pending = true;
    bufferevent_setcb(f, on_read, NULL, on_event, c);
    bufferevent_enable(f, EV_READ | EV_WRITE);
    return MF_OK;
}

void conn_set_deadline(struct conn *c, int ms, const char *what)
{
    if (ms <= 0) {
        evtimer_del(c->deadline);
        return;
    }
    c->deadline_ms = ms;
    snprintf(c->deadline_what, sizeof c->deadline_what, "%s", what ? what : "");
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(c->deadline, &tv);
}
