/* net/dns: address literals resolve at once, without a query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "net/dns.h"

struct answer {
    int calls;
    enum mf_rc rc;
    struct dns_result res;
};

static void on_answer(void *ctx, enum mf_rc rc, const struct dns_result *res,
                      const struct mf_err *err)
{
    (void)err;
    struct answer *a = ctx;
    a->calls++;
    a->rc = rc;
    if (res)
        a->res = *res;
}

struct fixture {
    struct event_base *base;
    struct dns *dns;
};

static int setup(void **state)
{
    static struct fixture f;
    struct mf_err err;
    mf_err_clear(&err);
    f.base = event_base_new();
    f.dns = f.base ? dns_new(f.base, &err) : NULL;
    *state = &f;
    return f.dns ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    dns_free(f->dns);
    event_base_free(f->base);
    return 0;
}

/* The callback runs inside dns_resolve: no resolver round trip (c-ares
 * answers only from the event loop, which this test never runs). */
static void resolve_now(struct fixture *f, const char *host, int family, struct answer *a)
{
    memset(a, 0, sizeof *a);
    assert_int_equal(dns_resolve(f->dns, host, 2525, family, on_answer, a), MF_OK);
    assert_int_equal(a->calls, 1);
    assert_int_equal(a->rc, MF_OK);
    assert_int_equal(a->res.n, 1);
}

static void test_ipv4_literal(void **state)
{
    struct answer a;
    resolve_now(*state, "127.0.0.1", AF_UNSPEC, &a);
    const struct dns_addr *ad = &a.res.addrs[0];
    assert_int_equal(ad->family, AF_INET);
    assert_int_equal(ad->len, sizeof(struct sockaddr_in));
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&ad->ss;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 2525);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
    assert_string_equal(ad->text, "127.0.0.1");
    resolve_now(*state, "192.0.2.7", AF_INET, &a);
    assert_string_equal(a.res.addrs[0].text, "192.0.2.7");
}

static void test_ipv6_literal(void **state)
{
    struct answer a;
    resolve_now(*state, "::1", AF_UNSPEC, &a);
    const struct dns_addr *ad = &a.res.addrs[0];
    assert_int_equal(ad->family, AF_INET6);
    assert_int_equal(ad->len, sizeof(struct sockaddr_in6));
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ad->ss;
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 2525);
    assert_memory_equal(&sin6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback);
    resolve_now(*state, "2001:db8::25", AF_INET6, &a);
    assert_string_equal(a.res.addrs[0].text, "2001:db8::25");
}

/* Not literals: left to the resolver, so no answer before the loop runs.
 * (Only refused input here: the test must not send a query.) */
static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct answer a;
    memset(&a, 0, sizeof a);
    assert_int_equal(dns_resolve(f->dns, "", 25, AF_UNSPEC, on_answer, &a), MF_EINVAL);
    assert_int_equal(dns_resolve(f->dns, "127.0.0.1", 0, AF_UNSPEC, on_answer, &a), MF_EINVAL);
    assert_int_equal(dns_resolve(f->dns, "127.0.0.1", 65536, AF_UNSPEC, on_answer, &a),
                     MF_EINVAL);
    assert_int_equal(a.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_literal),
        cmocka_unit_test(test_ipv6_literal),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
