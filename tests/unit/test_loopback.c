/* auth/loopback: the one-shot redirect listener, over real sockets on
 * 127.0.0.1 with libcurl as the browser. The listener answers in its own
 * thread, so each request is sent (curl returns once the page arrived) and
 * then loopback_wait is called. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "auth/loopback.h"
#include "util/buf.h"
#include "util/log.h"

struct answer {
    CURLcode cc;
    long status;
    char body[2048];
    size_t len;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct answer *a = ctx;
    size_t n = size * nmemb;
    size_t room = sizeof a->body - 1 - a->len;
    memcpy(a->body + a->len, ptr, n < room ? n : room);
    a->len += n < room ? n : room;
    a->body[a->len] = '\0';
    return n;
}

/* One request on a fresh connection (no reuse between requests). */
static struct answer request(int port, const char *method, const char *path)
{
    struct answer a;
    memset(&a, 0, sizeof a);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, ""); /* never an http_proxy from the environment */
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "state=st4te&code=abc");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    a.cc = curl_easy_perform(h);
    if (a.cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
    curl_easy_cleanup(h);
    return a;
}

/* Nobody answers on port any more: no HTTP answer at all, and connections
 * are refused. The very first attempt may instead be accepted by the kernel
 * and reset (the closed listener can linger a moment while libmicrohttpd's
 * thread still holds it); no request is ever served either way. */
static void assert_nobody_listens(int port, const char *path)
{
    struct answer a = request(port, "GET", path);
    assert_int_not_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 0);
    if (a.cc == CURLE_COULDNT_CONNECT)
        return;
    assert_true(a.cc == CURLE_RECV_ERROR || a.cc == CURLE_GOT_NOTHING ||
                a.cc == CURLE_SEND_ERROR);
    for (int i = 0; i < 20 && a.cc != CURLE_COULDNT_CONNECT; i++) {
        usleep(10000);
        a = request(port, "GET", path);
        assert_int_not_equal(a.cc, CURLE_OK);
    }
    assert_int_equal(a.cc, CURLE_COULDNT_CONNECT);
}

static int setup(void **state)
{
    (void)state;
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mf_secret_clear_all();
    curl_global_cleanup();
    return 0;
}

static struct loopback *start(void)
{
    struct mf_err e;
    mf_err_clear(&e);
    struct loopback *lb = loopback_start("st4te", &e);
    if (!lb)
        fail_msg("loopback_start: %s", e.detail);
    assert_true(loopback_port(lb) > 0 && loopback_port(lb) < 65536);
    return lb;
}

/* The loopback_wait of an undecided flow: MF_ETIMEOUT after 1 s. */
static void assert_undecided(struct loopback *lb)
{
    char *code = (char *)"untouched";
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 1, &code, &e), MF_ETIMEOUT);
    assert_null(code);
    assert_int_equal(e.rc, MF_ETIMEOUT);
}

/* Other paths, other methods and waiting in vain decide nothing: the
 * listener stays, and the real redirect still completes the flow. */
static void test_noise_does_not_decide(void **state)
{
    (void)state;
    struct loopback *lb = start();
    int port = loopback_port(lb);

    struct answer a = request(port, "GET", "/favicon.ico");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 404);
    a = request(port, "GET", "/other?state=st4te&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 404);
    a = request(port, "GET", "/callback/x?state=st4te&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 404);
    a = request(port, "POST", "/callback?state=st4te&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 405);
    a = request(port, "DELETE", "/callback?state=st4te&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 405);
    assert_undecided(lb);

    /* still listening after all that, and after a timed-out wait */
    a = request(port, "GET", "/favicon.ico");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 404);
    a = request(port, "GET", "/callback?state=st4te&code=late-code");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 200);
    char *code = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_OK);
    assert_string_equal(code, "late-code");
    mf_wipe_free_str(code);
    loopback_stop(lb);
}

static void test_code_then_one_shot(void **state)
{
    (void)state;
    struct loopback *lb = start();
    int port = loopback_port(lb);

    struct answer a = request(port, "GET", "/callback?state=st4te&code=abc&session_state=x");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 200);
    assert_non_null(strstr(a.body, "signed in"));
    char *code = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_OK);
    assert_non_null(code);
    assert_string_equal(code, "abc");

    /* one shot: nobody listens any more */
    assert_nobody_listens(port, "/callback?state=st4te&code=second");
    assert_nobody_listens(port, "/favicon.ico");

    /* the code is registered with the log redactor: a longer one shows it */
    mf_wipe_free_str(code);
    loopback_stop(lb);

    lb = start();
    port = loopback_port(lb);
    a = request(port, "GET", "/callback?code=M.C507_BAY.2.U.secret-code-1&state=st4te");
    assert_int_equal(a.status, 200);
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_OK);
    assert_string_equal(code, "M.C507_BAY.2.U.secret-code-1");
    struct mf_buf out;
    mf_buf_init(&out, 1024);
    const char *line = "code=M.C507_BAY.2.U.secret-code-1";
    assert_int_equal(mf_redact(&out, line, strlen(line)), MF_OK);
    assert_null(strstr(mf_buf_data(&out), "secret-code-1"));
    mf_buf_free(&out);
    mf_wipe_free_str(code);
    loopback_stop(lb);
}

static void test_wrong_state(void **state)
{
    (void)state;
    struct loopback *lb = start();
    int port = loopback_port(lb);
    struct answer a = request(port, "GET", "/callback?state=forged&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 400);
    /* the first /callback decided: the right one after it is too late */
    a = request(port, "GET", "/callback?state=st4te&code=abc");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 410);
    char *code = (char *)"untouched";
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_EAUTH);
    assert_null(code);
    assert_int_equal(e.rc, MF_EAUTH);
    assert_non_null(strstr(e.detail, "state"));
    assert_nobody_listens(port, "/callback?state=st4te&code=abc");
    loopback_stop(lb);

    /* no state, a prefix of it, a longer one: all forged */
    const char *paths[] = {"/callback?code=abc", "/callback?state=st4&code=abc",
                           "/callback?state=st4te2&code=abc", "/callback?state=&code=abc"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        lb = start();
        a = request(loopback_port(lb), "GET", paths[i]);
        assert_int_equal(a.status, 400);
        mf_err_clear(&e);
        assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_EAUTH);
        assert_null(code);
        assert_non_null(strstr(e.detail, "state"));
        loopback_stop(lb);
    }
}

static void test_error_answers(void **state)
{
    (void)state;
    struct loopback *lb = start();
    struct answer a = request(loopback_port(lb), "GET",
                              "/callback?error=access_denied&error_description=The+user+"
                              "declined%0D%0Aconsent&state=st4te");
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 400);
    char *code = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_EAUTH);
    assert_null(code);
    assert_non_null(strstr(e.detail, "declined"));
    assert_non_null(strstr(e.reply, "access_denied"));
    assert_null(strchr(e.reply, '\r'));
    assert_null(strchr(e.reply, '\n'));
    loopback_stop(lb);

    /* an error wins over a code */
    lb = start();
    a = request(loopback_port(lb), "GET",
                "/callback?error=invalid_scope&code=abc&state=st4te");
    assert_int_equal(a.status, 400);
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_ECONFIG);
    assert_null(code);
    loopback_stop(lb);

    /* neither a code nor an error */
    lb = start();
    a = request(loopback_port(lb), "GET", "/callback?state=st4te");
    assert_int_equal(a.status, 400);
    mf_err_clear(&e);
    assert_int_equal(loopback_wait(lb, 5, &code, &e), MF_EPROTO);
    assert_null(code);
    loopback_stop(lb);
}

static void test_timeout(void **state)
{
    (void)state;
    struct loopback *lb = start();
    assert_undecided(lb);
    loopback_stop(lb);
    loopback_stop(NULL);
}

/* A listener that was never waited on is stopped with its code unclaimed
 * (LSan checks it is freed). */
static void test_stop_without_wait(void **state)
{
    (void)state;
    struct loopback *lb = start();
    struct answer a = request(loopback_port(lb), "GET", "/callback?state=st4te&code=abcdef");
    assert_int_equal(a.status, 200);
    loopback_stop(lb);
}

/* The local address of a listening socket on port in a /proc/net/tcp*
 * file (hex, as the kernel prints it); "" when there is none. */
static void listen_addr(const char *file, int port, char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen(file, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char local[64], remote[64];
        unsigned st;
        if (sscanf(line, " %*d: %63s %63s %x", local, remote, &st) != 3)
            continue;
        char *colon = strchr(local, ':');
        if (!colon || st != 0x0A) /* TCP_LISTEN */
            continue;
        if ((int)strtol(colon + 1, NULL, 16) == port) {
            *colon = '\0';
            snprintf(out, size, "%s", local);
        }
    }
    fclose(f);
}

static void test_bound_to_loopback_only(void **state)
{
    (void)state;
    struct loopback *lb = start();
    int port = loopback_port(lb);

    if (access("/proc/net/tcp", R_OK) == 0) {
        char addr[64];
        listen_addr("/proc/net/tcp", port, addr, sizeof addr);
        assert_string_equal(addr, "0100007F"); /* 127.0.0.1, not 00000000 */
        /* and no IPv6 listener ([::] would take IPv4 too) on the port */
        listen_addr("/proc/net/tcp6", port, addr, sizeof addr);
        assert_string_equal(addr, "");
    }

    /* A connect to this machine's non-loopback IPv4 address is refused. */
    struct ifaddrs *ifs = NULL, *i;
    bool tried = false;
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i && !tried; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            struct sockaddr_in sa = *(struct sockaddr_in *)i->ifa_addr;
            if ((ntohl(sa.sin_addr.s_addr) >> 24) == 127)
                continue;
            sa.sin_port = htons((uint16_t)port);
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            assert_true(fd >= 0);
            int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
            int saved = errno;
            close(fd);
            assert_int_equal(rc, -1);
            assert_int_equal(saved, ECONNREFUSED);
            tried = true;
        }
        freeifaddrs(ifs);
    }
    /* No non-loopback IPv4 address on this machine: /proc/net/tcp above
     * is the check. */

    /* the loopback address itself does accept */
    struct answer a = request(port, "GET", "/favicon.ico");
    assert_int_equal(a.status, 404);
    loopback_stop(lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_does_not_decide),
        cmocka_unit_test(test_code_then_one_shot),
        cmocka_unit_test(test_wrong_state),
        cmocka_unit_test(test_error_answers),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_stop_without_wait),
        cmocka_unit_test(test_bound_to_loopback_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
