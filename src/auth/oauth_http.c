#include "auth/oauth_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

#define BODY_MAX (256 * 1024)

static bool curl_ready;

static bool global_init(void)
{
    if (!curl_ready && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK)
        curl_ready = true;
    return curl_ready;
}

static bool host_is_loopback(const char *host, size_t len)
{
    if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
        return true;
    if (len == 5 && memcmp(host, "[::1]", 5) == 0)
        return true;
    return len >= 4 && memcmp(host, "127.", 4) == 0 &&
           strspn(host, "0123456789.") == len;
}

bool oauth_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return url[8] != '\0';
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    size_t authority = strcspn(host, "/?#");
    /* "http://localhost:x@evil.com/" goes to evil.com: no userinfo here */
    if (memchr(host, '@', authority))
        return false;
    size_t len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":/?#");
    if (len > authority || (host[len] != '\0' && host[len] != ':' && len != authority))
        return false;
    return host_is_loopback(host, len);
}

char *oauth_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
            (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

struct body {
    char *data;
    size_t len, cap;
    bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    struct body *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > BODY_MAX) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        /* Grow by copy so the old bytes (tokens) can be wiped. */
        char *nd = malloc(cap);
        if (!nd)
            return 0;
        if (b->data) {
            memcpy(nd, b->data, b->len);
            mf_wipe(b->data, b->len);
            free(b->data);
        }
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static enum mf_rc transfer_error(CURLcode cc, const char *what, const char *url,
                                 const char *errbuf, struct mf_err *err)
{
    enum mf_rc rc = MF_ECONNECT;
    enum mf_layer layer = MF_LAYER_TCP;
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        rc = MF_EDNS, layer = MF_LAYER_DNS;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = MF_ETIMEOUT;
        break;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE: case CURLE_SSL_CERTPROBLEM:
        rc = MF_ETLS, layer = MF_LAYER_TLS;
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = MF_ECONFIG, layer = MF_LAYER_LOCAL;
        break;
    case CURLE_WRITE_ERROR:
        rc = MF_ELIMIT, layer = MF_LAYER_PROTO;
        break;
    default:
        break;
    }
    char shown[200];
    mf_sanitize(shown, sizeof shown, url, strcspn(url, "?#"), false);
    return mf_err_set(err, rc, layer, "%s at %s: %s", what, shown,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

static enum mf_rc perform(const struct oauth_http_opts *o, const char *what,
                          const char *url, CURL *h, long *status, json_t **out,
                          struct mf_err *err)
{
    *out = NULL;
    char shown[200];
    mf_sanitize(shown, sizeof shown, url, strcspn(url, "?#"), false);
    if (!oauth_url_allowed(url))
        return mf_err_set(err, MF_ECONFIG, MF_LAYER_LOCAL,
                          "%s: %s is not an https URL (http is only allowed on "
                          "loopback)", what, shown);
    struct body b = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, o && o->timeout_s > 0 ? o->timeout_s : 30L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mailfleet/0.1");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (o && o->cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->cafile);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    enum mf_rc rc = MF_OK;
    if (cc != CURLE_OK) {
        rc = b.too_big ? mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                                    "%s at %s: the answer is larger than %d KiB", what,
                                    shown, BODY_MAX / 1024)
                       : transfer_error(cc, what, url, errbuf, err);
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        json_error_t je;
        *out = b.data ? json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je) : NULL;
        if (!*out || !json_is_object(*out)) {
            const char *ct = NULL;
            curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
            char ct_shown[64];
            mf_sanitize(ct_shown, sizeof ct_shown, ct ? ct : "none",
                        strlen(ct ? ct : "none"), false);
            /* jansson's message may quote the body: only the position is shown. */
            rc = mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                            "%s at %s: HTTP %ld with %s, not a JSON object%s", what,
                            shown, *status, ct_shown,
                            *out ? "" : " (malformed JSON)");
            json_decref(*out);
            *out = NULL;
        }
    }
    if (b.data) {
        mf_wipe(b.data, b.cap);
        free(b.data);
    }
    return rc;
}

enum mf_rc oauth_http_get_json(const struct oauth_http_opts *o, const char *what,
                               const char *url, long *status, json_t **out,
                               struct mf_err *err)
{
    *out = NULL;
    if (!global_init())
        return mf_err_set(err, MF_EINTERNAL, MF_LAYER_INTERNAL, "libcurl failed to start");
    CURL *h = curl_easy_init();
    if (!h)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    enum mf_rc rc = perform(o, what, url, h, status, out, err);
    curl_easy_cleanup(h);
    return rc;
}

/* name=value&... with both sides percent-encoded; sized up front so no
 * copy of a secret is left behind by a reallocation. */
static char *encode_form(const struct oauth_form_field *fields)
{
    size_t total = 1;
    for (const struct oauth_form_field *f = fields; f->name; f++)
        if (f->value)
            total += 3 * (strlen(f->name) + strlen(f->value)) + 2;
    char *out = malloc(total), *p = out;
    if (!out)
        return NULL;
    *p = '\0';
    for (const struct oauth_form_field *f = fields; f->name; f++) {
        if (!f->value)
            continue;
        char *n = oauth_url_escape(f->name), *v = oauth_url_escape(f->value);
        if (!n || !v) {
            free(n);
            mf_wipe_free_str(v);
            mf_wipe_free_str(out);
            return NULL;
        }
        p += snprintf(p, total - (size_t)(p - out), "%s%s=%s", p == out ? "" : "&", n, v);
        free(n);
        mf_wipe_free_str(v);
    }
    return out;
}

enum mf_rc oauth_http_post_form(const struct oauth_http_opts *o, const char *what,
                                const char *url, const struct oauth_form_field *fields,
                                const char *basic_user, const char *basic_pass,
                                long *status, json_t **out, struct mf_err *err)
{
    *out = NULL;
    if (!global_init())
        return mf_err_set(err, MF_EINTERNAL, MF_LAYER_INTERNAL, "libcurl failed to start");
    char *form = encode_form(fields);
    CURL *h = curl_easy_init();
    char *user = basic_user ? oauth_url_escape(basic_user) : NULL;
    char *pass = basic_pass ? oauth_url_escape(basic_pass) : NULL;
    enum mf_rc rc;
    if (!form || !h || (basic_user && !user) || (basic_pass && !pass)) {
        rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
        if (user) {
            curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(h, CURLOPT_USERNAME, user);
            curl_easy_setopt(h, CURLOPT_PASSWORD, pass ? pass : "");
        }
        rc = perform(o, what, url, h, status, out, err);
    }
    curl_easy_cleanup(h);
    mf_wipe_free_str(form);
    free(user);
    mf_wipe_free_str(pass);
    return rc;
}
