/* web/serve: the one-click unsubscribe endpoint over real sockets on
 * 127.0.0.1, with libcurl as the mail client (Gmail's exact POST) and as the
 * browser / link scanner (GET). The store is a temporary file that the test
 * reads through its own connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "unit_tmpdir.h"
#include <curl/curl.h>

#include "engine/render.h"
#include "engine/store.h"
#include "web/serve.h"

static char db[300];
static struct store *st;      /* the test's own connection */
static struct serve *srv;
static int port;
static unsigned char key[32];
static int64_t lead1, lead2, lead3, camp;
static int calls, first_calls;

struct answer {
    CURLcode cc;
    long status;
    char body[4096];
    size_t len;
    char headers[4096];
    size_t hlen;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct answer *a = ctx;
    size_t n = size * nmemb, room = sizeof a->body - 1 - a->len;
    memcpy(a->body + a->len, ptr, n < room ? n : room);
    a->len += n < room ? n : room;
    a->body[a->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct answer *a = ctx;
    size_t n = size * nmemb, room = sizeof a->headers - 1 - a->hlen;
    memcpy(a->headers + a->hlen, ptr, n < room ? n : room);
    a->hlen += n < room ? n : room;
    a->headers[a->hlen] = '\0';
    return n;
}

/* One request on a fresh connection. body NULL: no body; ctype NULL: curl's
 * default for POSTFIELDS (application/x-www-form-urlencoded). */
static struct answer request_mime(const char *method, const char *path, const char *ctype,
                                  const char *body, size_t body_len, curl_mime *mime,
                                  const char *extra_header)
{
    struct answer a;
    memset(&a, 0, sizeof a);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *h = curl_easy_init();
    assert_non_null(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    struct curl_slist *hdrs = NULL;
    if (ctype) {
        char line[200];
        snprintf(line, sizeof line, "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (extra_header)
        hdrs = curl_slist_append(hdrs, extra_header);
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (mime) {
        curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    a.cc = curl_easy_perform(h);
    if (a.cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return a;
}

static struct answer request(const char *method, const char *path, const char *ctype,
                             const char *body)
{
    return request_mime(method, path, ctype, body, body ? strlen(body) : 0, NULL, NULL);
}

/* Gmail: POST, application/x-www-form-urlencoded, List-Unsubscribe=One-Click. */
static struct answer one_click(const char *path)
{
    return request("POST", path, "application/x-www-form-urlencoded",
                   "List-Unsubscribe=One-Click");
}

static void path_for(char *buf, size_t size, int64_t lead, int64_t campaign)
{
    char token[RENDER_TOKEN_SIZE];
    render_unsub_token(key, lead, campaign, token, sizeof token);
    snprintf(buf, size, "/u/%s", token);
}

static void on_unsub(void *ctx, int64_t lead_id, const char *address, int64_t campaign_id,
                     bool first)
{
    (void)ctx, (void)address, (void)campaign_id;
    assert_true(lead_id > 0);
    calls++;
    first_calls += first;
}

static int count_event(void *ctx, int64_t at, const char *kind, int64_t campaign_id,
                       const char *mailbox, const char *detail)
{
    (void)at, (void)campaign_id, (void)mailbox, (void)detail;
    if (strcmp(kind, "unsubscribe") == 0)
        (*(int *)ctx)++;
    return 0;
}

static int events_of(int64_t lead)
{
    int n = 0;
    struct mf_err e;
    assert_int_equal(store_events_of_lead(st, lead, count_event, &n, &e), MF_OK);
    return n;
}

static void lead_status(int64_t lead, const char *want)
{
    struct store_lead l;
    struct mf_err e;
    assert_int_equal(store_lead_get(st, lead, &l, &e), MF_OK);
    assert_string_equal(l.status, want);
    store_lead_clear(&l);
}

static int enrollment_cb(void *ctx, const struct store_enrollment *en)
{
    snprintf(ctx, 16, "%s", en->state);
    return 0;
}

static void enrollment_state(int64_t lead, const char *want)
{
    char state[16] = "";
    struct mf_err e;
    assert_int_equal(store_enrollments_of_lead(st, lead, enrollment_cb, state, &e), MF_OK);
    assert_string_equal(state, want);
}

static bool suppressed(const char *address, const char *domain, char *reason, size_t size)
{
    bool yes = false;
    struct mf_err e;
    assert_int_equal(store_suppressed(st, address, domain, &yes, reason, size, &e), MF_OK);
    return yes;
}

static void assert_headers(const struct answer *a)
{
    assert_non_null(strstr(a->headers, "Cache-Control: no-store"));
    assert_non_null(strstr(a->headers, "Referrer-Policy: no-referrer"));
    assert_non_null(strstr(a->headers, "X-Content-Type-Options: nosniff"));
    assert_null(strstr(a->headers, "Location:"));
    assert_null(strstr(a->headers, "Set-Cookie:"));
}

static int setup(void **state)
{
    (void)state;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    if (tmpdir_make("serve") != 0)
        return -1;
    snprintf(db, sizeof db, "%s/store.db", dir);
    struct mf_err e;
    st = store_open(db, &e);
    bool ins = false;
    if (!st || store_campaign_put(st, "c1", "name: c1\n", 2, &camp, &e) != MF_OK ||
        store_lead_add(st, "ann@example.org", "example.org", "{}", "", &lead1, &ins, &e) ||
        store_lead_add(st, "bob@example.org", "example.org", "{}", "", &lead2, &ins, &e) ||
        store_lead_add(st, "cy@example.org", "example.org", "{}", "", &lead3, &ins, &e) ||
        store_enroll(st, camp, lead1, 0, &ins, &e) || store_enroll(st, camp, lead2, 0, &ins, &e) ||
        store_enroll(st, camp, lead3, 0, &ins, &e) || render_unsub_key(st, key, &e) != MF_OK) {
        fprintf(stderr, "setup: %s\n", e.detail);
        return -1;
    }
    struct serve_cfg cfg = {.store_path = db, .listen = "127.0.0.1:0", .on_unsubscribe = on_unsub};
    srv = serve_start(&cfg, &e);
    if (!srv) {
        fprintf(stderr, "serve_start: %s\n", e.detail);
        return -1;
    }
    port = serve_port(srv);
    return port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    serve_stop(srv);
    store_close(st);
    curl_global_cleanup();
    return tmpdir_remove();
}

/* A GET (browser, link scanner, preview) shows the button and changes nothing. */
static void test_get_shows_the_button_only(void **state)
{
    (void)state;
    char path[200];
    path_for(path, sizeof path, lead3, camp);
    struct answer a = request("GET", path, NULL, NULL);
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 200);
    assert_headers(&a);
    assert_non_null(strstr(a.headers, "Content-Type: text/html; charset=utf-8"));
    assert_non_null(strstr(a.headers, "Content-Security-Policy: default-src 'none'"));
    assert_non_null(strstr(a.body, "<form method=post>"));
    assert_non_null(strstr(a.body, "name=List-Unsubscribe value=One-Click"));
    assert_null(strstr(a.body, "cy@example.org")); /* the page names nobody */
    a = request("HEAD", path, NULL, NULL);
    assert_int_equal(a.status, 200);
    lead_status(lead3, "active");
    enrollment_state(lead3, "active");
    assert_int_equal(events_of(lead3), 0);
    char reason[300];
    assert_false(suppressed("cy@example.org", "example.org", reason, sizeof reason));
}

/* Gmail's POST: 200, suppressed + unsubscribed + stopped + one event;
 * the second POST answers the same and adds nothing. */
static void test_one_click_post(void **state)
{
    (void)state;
    char path[200];
    path_for(path, sizeof path, lead1, camp);
    int before = calls;
    struct answer a = one_click(path);
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 200);
    assert_headers(&a);
    assert_non_null(strstr(a.headers, "Content-Type: text/plain"));
    assert_string_equal(a.body, "You are unsubscribed.\n");
    lead_status(lead1, "unsubscribed");
    enrollment_state(lead1, "stopped");
    char reason[300];
    assert_true(suppressed("ann@example.org", "example.org", reason, sizeof reason));
    assert_non_null(strstr(reason, "unsubscribed (one-click)"));
    assert_int_equal(events_of(lead1), 1);
    assert_int_equal(calls, before + 1);
    assert_int_equal(first_calls, 1);

    /* again, with another token of the same lead and campaign (another nonce) */
    path_for(path, sizeof path, lead1, camp);
    a = one_click(path);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "You are unsubscribed.\n");
    assert_int_equal(events_of(lead1), 1);
    assert_int_equal(first_calls, 1);
    assert_int_equal(calls, before + 2);
    /* the others are untouched */
    lead_status(lead2, "active");
    enrollment_state(lead2, "active");
}

/* Anything but the RFC 8058 form is 400 and changes nothing. */
static void test_wrong_bodies(void **state)
{
    (void)state;
    char path[200];
    path_for(path, sizeof path, lead2, camp);
    const char *bodies[] = {"", "List-Unsubscribe=One-Clicks", "list-unsubscribe=one-click",
                            "List-Unsubscribe=One-Click&x=1", "x=1&List-Unsubscribe=One-Click",
                            "List-Unsubscribe=Yes", "List-Unsubscribe"};
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        struct answer a = request("POST", path, "application/x-www-form-urlencoded", bodies[i]);
        assert_int_equal(a.cc, CURLE_OK);
        assert_int_equal(a.status, 400);
        assert_headers(&a);
    }
    struct answer a = request("POST", path, "application/json", "List-Unsubscribe=One-Click");
    assert_int_equal(a.status, 400);
    a = request("POST", path, "text/plain", "List-Unsubscribe=One-Click");
    assert_int_equal(a.status, 400);
    /* multipart with a second field */
    CURL *h = curl_easy_init();
    curl_mime *m = curl_mime_init(h);
    curl_mimepart *p = curl_mime_addpart(m);
    curl_mime_name(p, "List-Unsubscribe");
    curl_mime_data(p, "One-Click", CURL_ZERO_TERMINATED);
    p = curl_mime_addpart(m);
    curl_mime_name(p, "extra");
    curl_mime_data(p, "1", CURL_ZERO_TERMINATED);
    a = request_mime("POST", path, NULL, NULL, 0, m, NULL);
    assert_int_equal(a.status, 400);
    curl_mime_free(m);
    curl_easy_cleanup(h);
    /* too big: 413 before the body is read */
    char big[SERVE_BODY_MAX + 100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    a = request("POST", path, "application/x-www-form-urlencoded", big);
    assert_int_equal(a.cc, CURLE_OK);
    assert_int_equal(a.status, 413);
    /* chunked (no Content-Length) past the bound: the connection is dropped */
    a = request_mime("POST", path, "application/x-www-form-urlencoded", big, strlen(big), NULL,
                     "Transfer-Encoding: chunked");
    assert_true(a.cc != CURLE_OK || a.status == 413);
    /* chunked within the bound is fine (and still the wrong form here) */
    a = request_mime("POST", path, "application/x-www-form-urlencoded", "x=1", 3, NULL,
                     "Transfer-Encoding: chunked");
    assert_int_equal(a.status, 400);
    lead_status(lead2, "active");
    enrollment_state(lead2, "active");
    assert_int_equal(events_of(lead2), 0);

    /* multipart/form-data with just that field is the form too */
    h = curl_easy_init();
    m = curl_mime_init(h);
    p = curl_mime_addpart(m);
    curl_mime_name(p, "List-Unsubscribe");
    curl_mime_data(p, "One-Click", CURL_ZERO_TERMINATED);
    a = request_mime("POST", path, NULL, NULL, 0, m, NULL);
    curl_mime_free(m);
    curl_easy_cleanup(h);
    assert_int_equal(a.status, 200);
    lead_status(lead2, "unsubscribed");
    enrollment_state(lead2, "stopped");
    assert_int_equal(events_of(lead2), 1);
}

/* Every bad token, and every other path, gets the same 404 page. */
static void test_bad_tokens_are_all_alike(void **state)
{
    (void)state;
    char path[200], forged[260];
    path_for(path, sizeof path, lead3, camp);
    struct answer ref = request("GET", "/u/nothing-here", NULL, NULL);
    assert_int_equal(ref.status, 404);
    assert_headers(&ref);
    /* flip each character of the token in turn (a sample of positions) */
    size_t n = strlen(path);
    for (size_t i = 3; i < n; i += 7) {
        snprintf(forged, sizeof forged, "%s", path);
        forged[i] = forged[i] == 'A' ? 'B' : 'A';
        struct answer a = one_click(forged);
        assert_int_equal(a.status, 404);
        assert_string_equal(a.body, ref.body);
        a = request("GET", forged, NULL, NULL);
        assert_int_equal(a.status, 404);
        assert_string_equal(a.body, ref.body);
    }
    /* truncated, extended, a valid token of a lead that does not exist, of id 0 */
    snprintf(forged, sizeof forged, "%.*s", (int)(n - 1), path);
    assert_int_equal(one_click(forged).status, 404);
    snprintf(forged, sizeof forged, "%sA", path);
    assert_int_equal(one_click(forged).status, 404);
    path_for(forged, sizeof forged, 999999, camp);
    struct answer a = one_click(forged);
    assert_int_equal(a.status, 404);
    assert_string_equal(a.body, ref.body);
    assert_int_equal(request("GET", forged, NULL, NULL).status, 404);
    /* other paths, whatever the method */
    const char *paths[] = {"/", "/u", "/u/", "/favicon.ico", "/x/abc"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        a = one_click(paths[i]);
        assert_int_equal(a.status, 404);
        assert_string_equal(a.body, ref.body);
    }
    snprintf(forged, sizeof forged, "%s/", path);
    assert_int_equal(request("GET", forged, NULL, NULL).status, 404);
    snprintf(forged, sizeof forged, "/x%s", path);
    assert_int_equal(one_click(forged).status, 404);
    /* a token from another store's key */
    unsigned char other[32];
    memset(other, 7, sizeof other);
    char token[RENDER_TOKEN_SIZE];
    render_unsub_token(other, lead3, camp, token, sizeof token);
    snprintf(forged, sizeof forged, "/u/%s", token);
    assert_int_equal(one_click(forged).status, 404);
    lead_status(lead3, "active");
    assert_int_equal(events_of(lead3), 0);
}

static void test_other_methods(void **state)
{
    (void)state;
    char path[200];
    path_for(path, sizeof path, lead3, camp);
    const char *methods[] = {"PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        struct answer a = request(methods[i], path, NULL, NULL);
        assert_int_equal(a.cc, CURLE_OK);
        assert_int_equal(a.status, 405);
        assert_non_null(strstr(a.headers, "Allow: GET, HEAD, POST"));
        assert_headers(&a);
    }
    lead_status(lead3, "active");
}

static void test_listen_addresses(void **state)
{
    (void)state;
    uint32_t addr = 0;
    int p = -1;
    struct mf_err e;
    assert_int_equal(serve_parse_listen("127.0.0.1:8025", &addr, &p, &e), MF_OK);
    assert_int_equal(p, 8025);
    assert_int_equal(addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(serve_parse_listen("0.0.0.0:80", &addr, &p, &e), MF_OK);
    assert_int_equal(addr, 0);
    const char *bad[] = {"localhost:8025", "go.example.com:443", "127.0.0.1", "127.0.0.1:",
                         ":8025", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
                         "[::1]:8025", "::1:8025", "127.1:80", "", "127.0.0.1:0080000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mf_err_clear(&e);
        assert_int_equal(serve_parse_listen(bad[i], &addr, &p, &e), MF_EINVAL);
        assert_true(e.detail[0] != '\0');
    }
    mf_err_clear(&e);
    serve_parse_listen("localhost:8025", &addr, &p, &e);
    assert_non_null(strstr(e.detail, "never a host name"));

    /* the port the server already holds: a clear refusal */
    char busy[64];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", port);
    struct serve_cfg cfg = {.store_path = db, .listen = busy};
    mf_err_clear(&e);
    assert_null(serve_start(&cfg, &e));
    assert_int_equal(e.rc, MF_ECONNECT);
    assert_non_null(strstr(e.detail, busy));
    cfg.listen = "localhost:1";
    assert_null(serve_start(&cfg, &e));
    assert_int_equal(e.rc, MF_EINVAL);
    serve_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_shows_the_button_only),
        cmocka_unit_test(test_one_click_post),
        cmocka_unit_test(test_wrong_bodies),
        cmocka_unit_test(test_bad_tokens_are_all_alike),
        cmocka_unit_test(test_other_methods),
        cmocka_unit_test(test_listen_addresses),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
