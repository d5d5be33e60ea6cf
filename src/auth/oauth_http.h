/*
 * auth/oauth_http — the HTTP mailfleet's OAuth flows need, on libcurl and
 * jansson: GET a JSON document, POST a form and read a JSON answer.
 *
 * Only https URLs are fetched, except http on a loopback address (a local
 * identity provider, RFC 8252's spirit). No redirects are followed. Bodies
 * carry tokens: they are never logged, and are wiped after parsing; errors
 * never quote them.
 *
 * Ownership: *out JSON is the caller's (json_decref).
 */
#ifndef MF_AUTH_OAUTH_HTTP_H
#define MF_AUTH_OAUTH_HTTP_H

#include <jansson.h>
#include <stdbool.h>

#include "util/err.h"

struct oauth_http_opts {
    const char *cafile;   /* extra trust anchors (PEM), NULL = system store */
    long timeout_s;       /* whole request; 0 = 30 s */
};

/* A name/value pair of a form; arrays end with {NULL, NULL}. */
struct oauth_form_field {
    const char *name;
    const char *value;
};

/* true for https://..., and for http:// on 127.0.0.0/8, [::1] or localhost. */
bool oauth_url_allowed(const char *url);

/* GET url (Accept: application/json). MF_OK with *status and *out whenever
 * the server answered with JSON, whatever the status; MF_EPROTO when the
 * answer is not JSON; MF_ECONNECT/MF_ETLS/MF_ETIMEOUT/MF_EDNS when there was
 * no answer. what names the request in messages ("discovery"). */
enum mf_rc oauth_http_get_json(const struct oauth_http_opts *o, const char *what,
                               const char *url, long *status, json_t **out,
                               struct mf_err *err);

/* POST an application/x-www-form-urlencoded form. basic_user/basic_pass, when
 * not NULL, go in an Authorization: Basic header (client_secret_basic). Same
 * results as oauth_http_get_json. */
enum mf_rc oauth_http_post_form(const struct oauth_http_opts *o, const char *what,
                                const char *url, const struct oauth_form_field *fields,
                                const char *basic_user, const char *basic_pass,
                                long *status, json_t **out, struct mf_err *err);

/* Percent-encodes s for a URL query or form (RFC 3986 unreserved kept).
 * Returns malloc'd text (caller frees) or NULL on OOM. */
char *oauth_url_escape(const char *s);

#endif
