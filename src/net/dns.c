#include "net/dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FDS 16

/* c-ares tells us which sockets it wants watched; each gets a libevent. */
struct watch {
    ares_socket_t fd;
    struct event *ev;
    struct dns *owner;
};

struct dns {
    struct event_base *base;
    ares_channel channel;
    struct watch watches[MAX_FDS];
    struct event *timer;
};

struct lookup {
    dns_cb cb;
    void *ctx;
    int port;
    char host[256];
};

static void arm_timer(struct dns *d)
{
    struct timeval tv, *tvp = ares_timeout(d->channel, NULL, &tv);
    if (tvp)
        evtimer_add(d->timer, tvp);
    else
        evtimer_del(d->timer);
}

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    ares_process_fd(w->owner->channel,
                    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    arm_timer(w->owner);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct dns *d = arg;
    ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    arm_timer(d);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable,
                          int writable)
{
    struct dns *d = data;
    struct watch *w = NULL, *free_slot = NULL;
    for (size_t i = 0; i < MAX_FDS; i++) {
        if (d->watches[i].ev && d->watches[i].fd == fd)
            w = &d->watches[i];
        else if (!d->watches[i].ev && !free_slot)
            free_slot = &d->watches[i];
    }
    if (w) {
        event_free(w->ev);
        w->ev = NULL;
    }
    if (!readable && !writable)
        return;
    if (!w)
        w = free_slot;
    if (!w)
        return; /* more sockets than slots: c-ares falls back to its timer */
    short what = (short)(EV_PERSIST | (readable ? EV_READ : 0) |
                         (writable ? EV_WRITE : 0));
    w->fd = fd;
    w->owner = d;
    w->ev = event_new(d->base, fd, what, on_fd, w);
    if (w->ev)
        event_add(w->ev, NULL);
}

struct dns *dns_new(struct event_base *base, struct mf_err *err)
{
    static int library_ready;
    if (!library_ready) {
        int rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            mf_err_set(err, MF_EDNS, MF_LAYER_DNS, "c-ares: %s",
                       ares_strerror(rc));
            return NULL;
        }
        library_ready = 1;
    }
    struct dns *d = calloc(1, sizeof *d);
    if (!d) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    d->base = base;
    struct ares_options opts;
    memset(&opts, 0, sizeof opts);
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = d;
    opts.timeout = 3000; /* ms per try */
    opts.tries = 2;
    int rc = ares_init_options(&d->channel, &opts,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS |
                                   ARES_OPT_TRIES);
    d->timer = evtimer_new(base, on_timer, d);
    if (rc != ARES_SUCCESS || !d->timer) {
        mf_err_set(err, MF_EDNS, MF_LAYER_DNS, "c-ares: %s",
                   rc != ARES_SUCCESS ? ares_strerror(rc) : "no timer");
        if (rc == ARES_SUCCESS)
            ares_destroy(d->channel);
        if (d->timer)
            event_free(d->timer);
        free(d);
        return NULL;
    }
    return d;
}

void dns_free(struct dns *d)
{
    if (!d)
        return;
    ares_destroy(d->channel); /* runs pending callbacks with ARES_EDESTRUCTION */
    for (size_t i = 0; i < MAX_FDS; i++)
        if (d->watches[i].ev)
            event_free(d->watches[i].ev);
    event_free(d->timer);
    free(d);
}

static void fill_result(struct dns_result *res, const struct ares_addrinfo *ai,
                        int port)
{
    res->n = 0;
    for (const struct ares_addrinfo_node *n = ai->nodes;
         n && res->n < DNS_MAX_ADDRS; n = n->ai_next) {
        struct dns_addr *a = &res->addrs[res->n];
        if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
            (size_t)n->ai_addrlen > sizeof a->ss)
            continue;
        memset(a, 0, sizeof *a);
        a->family = n->ai_family;
        memcpy(&a->ss, n->ai_addr, n->ai_addrlen);
        a->len = (socklen_t)n->ai_addrlen;
        const void *raw;
        if (a->family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
            sin->sin_port = htons((uint16_t)port);
            raw = &sin->sin_addr;
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
            sin6->sin6_port = htons((uint16_t)port);
            raw = &sin6->sin6_addr;
        }
        inet_ntop(a->family, raw, a->text, sizeof a->text);
        res->n++;
    }
}

static void on_addrinfo(void *arg, int status, int timeouts,
                        struct ares_addrinfo *ai)
{
    (void)timeouts;
    struct lookup *l = arg;
    struct mf_err err;
    mf_err_clear(&err);
    if (status == ARES_SUCCESS && ai) {
        struct dns_result *res = malloc(sizeof *res);
        status = res ? ARES_ENODATA : ARES_ENOMEM;
        if (res) {
            fill_result(res, ai, l->port);
            if (res->n) {
                l->cb(l->ctx, MF_OK, res, NULL);
                free(res);
                ares_freeaddrinfo(ai);
                free(l);
                return;
            }
            free(res);
        }
    }
    enum mf_rc rc = status == ARES_EDESTRUCTION || status == ARES_ECANCELLED
                        ? MF_ECLOSED : MF_EDNS;
    mf_err_set(&err, rc, MF_LAYER_DNS, "could not resolve %s: %s", l->host,
               ares_strerror(status));
    l->cb(l->ctx, rc, NULL, &err);
    if (ai)
        ares_freeaddrinfo(ai);
    free(l);
}

/* An address literal ("127.0.0.1", "::1") of the family asked for, filled
 * into res. c-ares 1.18 sends A and AAAA queries for an IPv4 literal when
 * the family is AF_UNSPEC: a round trip to the resolver (or its timeout)
 * before every connection to a host given by address. */
static bool numeric_host(const char *host, int port, int family, struct dns_result *res)
{
    struct dns_addr *a = &res->addrs[0];
    memset(res, 0, sizeof *res);
    struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
    if (family != AF_INET6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        a->family = AF_INET;
        a->len = sizeof *sin;
    } else if (family != AF_INET && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        a->family = AF_INET6;
        a->len = sizeof *sin6;
    } else {
        return false;
    }
    snprintf(a->text, sizeof a->text, "%s", host);
    res->n = 1;
    return true;
}

enum mf_rc dns_resolve(struct dns *d, const char *host, int port, int family,
                       dns_cb cb, void *ctx)
{
    if (!host || !*host || strlen(host) >= sizeof ((struct lookup *)0)->host ||
        port <= 0 || port > 65535)
        return MF_EINVAL;
    struct dns_result numeric;
    if (numeric_host(host, port, family, &numeric)) {
        cb(ctx, MF_OK, &numeric, NULL);
        return MF_OK;
    }
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return MF_ENOMEM;
    l->cb = cb;
    l->ctx = ctx;
    l->port = port;
    snprintf(l->host, sizeof l->host, "%s", host);
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    ares_getaddrinfo(d->channel, host, NULL, &hints, on_addrinfo, l);
    arm_timer(d);
    return MF_OK;
}
