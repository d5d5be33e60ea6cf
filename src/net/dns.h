/*
 * net/dns — asynchronous name resolution with c-ares on the libevent loop.
 *
 * A struct dns serves any number of lookups on one event_base. Results are
 * handed to the callback, which borrows them for the duration of the call.
 * Numeric addresses and /etc/hosts entries resolve without a query.
 */
#ifndef MF_NET_DNS_H
#define MF_NET_DNS_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "util/err.h"

struct event_base;

#define DNS_MAX_ADDRS 16

struct dns_addr {
    int family;                      /* AF_INET or AF_INET6 */
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];                   /* "192.0.2.1" / "2001:db8::1" */
};

struct dns_result {
    size_t n;
    struct dns_addr addrs[DNS_MAX_ADDRS];
};

/* res is NULL when rc != MF_OK; err then says why (layer DNS). */
typedef void (*dns_cb)(void *ctx, enum mf_rc rc, const struct dns_result *res,
                       const struct mf_err *err);

struct dns;

/* NULL on failure (err filled). Free with dns_free() after the loop no
 * longer runs lookups; pending lookups are cancelled (callback called with
 * MF_ECLOSED). */
struct dns *dns_new(struct event_base *base, struct mf_err *err);
void dns_free(struct dns *d);

/* Starts an A/AAAA lookup for host; the port is filled into every address.
 * family: AF_UNSPEC, AF_INET or AF_INET6. The callback may run before this
 * returns (numeric hosts). MF_OK or MF_EINVAL / MF_ENOMEM. */
enum mf_rc dns_resolve(struct dns *d, const char *host, int port, int family,
                       dns_cb cb, void *ctx);

#endif
