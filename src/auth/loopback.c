#include "auth/loopback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth/oauth.h"
#include "util/buf.h"
#include "util/log.h"

struct loopback {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char state[64];
    int port;
    bool decided;        /* the decisive request arrived */
    bool answered;       /* ...and its response was sent */
    enum mf_rc rc;
    struct mf_err err;
    char *code;
};

static const char page_ok[] =
    "<!doctype html><meta charset=utf-8><title>mailfleet</title>"
    "<p>mailfleet: signed in. You can close this tab and go back to the terminal.";
static const char page_fail[] =
    "<!doctype html><meta charset=utf-8><title>mailfleet</title>"
    "<p>mailfleet: the sign-in did not complete. The terminal says why.";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static bool state_matches(const char *expected, const char *got)
{
    size_t n = strlen(expected);
    return got && strlen(got) == n && sodium_memcmp(expected, got, n) == 0;
}

/* Decides the flow from the redirect's query. Called with lb->mu held. */
static void decide(struct loopback *lb, struct MHD_Connection *c)
{
    const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
    const char *code = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "code");
    const char *error = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "error");
    lb->decided = true;
    if (!state_matches(lb->state, state)) {
        lb->rc = mf_err_set(&lb->err, MF_EAUTH, MF_LAYER_AUTH,
                            "the redirect carried the wrong state: it was not the "
                            "answer to this sign-in (a forged request?); aborted");
        return;
    }
    if (error) {
        struct oauth_error oe;
        memset(&oe, 0, sizeof oe);
        mf_sanitize(oe.code, sizeof oe.code, error, strlen(error), false);
        const char *d = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                                    "error_description");
        if (d)
            mf_sanitize(oe.description, sizeof oe.description, d, strlen(d), false);
        lb->rc = oauth_explain_error(&oe, 0, NULL, &lb->err);
        return;
    }
    if (!code || !*code || strlen(code) > 8192) {
        lb->rc = mf_err_set(&lb->err, MF_EPROTO, MF_LAYER_PROTO,
                            "the redirect carried neither a code nor an error");
        return;
    }
    lb->code = strdup(code);
    if (!lb->code) {
        lb->rc = mf_err_set(&lb->err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return;
    }
    lb->rc = MF_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **req)
{
    (void)version, (void)upload;
    struct loopback *lb = cls;
    static int marker;
    if (*upload_size)
        return MHD_NO; /* a redirect carries no body */
    if (strcmp(method, "GET") != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, page_fail);
    if (strcmp(url, "/callback") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, "<!doctype html><p>not found");
    pthread_mutex_lock(&lb->mu);
    bool first = !lb->decided;
    if (first) {
        decide(lb, c);
        *req = &marker; /* completion of this request is what loopback_wait awaits */
        pthread_cond_broadcast(&lb->cv);
    }
    bool ok = first && lb->rc == MF_OK;
    pthread_mutex_unlock(&lb->mu);
    if (!first)
        return reply(c, MHD_HTTP_GONE, page_fail);
    return reply(c, ok ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST, ok ? page_ok : page_fail);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    struct loopback *lb = cls;
    if (!*req)
        return;
    pthread_mutex_lock(&lb->mu);
    lb->answered = true;
    pthread_cond_broadcast(&lb->cv);
    pthread_mutex_unlock(&lb->mu);
}

struct loopback *loopback_start(const char *state, struct mf_err *err)
{
    struct loopback *lb = calloc(1, sizeof *lb);
    if (!lb) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(lb->state, sizeof lb->state, "%s", state);
    pthread_mutex_init(&lb->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lb->cv, &ca);
    pthread_condattr_destroy(&ca);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lb->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC, 0, NULL, NULL,
                             on_request, lb,
                             MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                             MHD_OPTION_CONNECTION_LIMIT, (unsigned)8,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, lb,
                             MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        lb->d ? MHD_get_daemon_info(lb->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || !info->port) {
        mf_err_set(err, MF_EIO, MF_LAYER_LOCAL,
                   "cannot listen on 127.0.0.1 for the sign-in redirect");
        loopback_stop(lb);
        return NULL;
    }
    lb->port = info->port;
    return lb;
}

int loopback_port(const struct loopback *lb)
{
    return lb->port;
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

enum mf_rc loopback_wait(struct loopback *lb, int timeout_s, char **code,
                         struct mf_err *err)
{
    *code = NULL;
    struct timespec until;
    deadline_in(&until, (long)timeout_s * 1000);
    pthread_mutex_lock(&lb->mu);
    while (!lb->decided)
        if (pthread_cond_timedwait(&lb->cv, &lb->mu, &until) == ETIMEDOUT)
            break;
    bool decided = lb->decided;
    /* Let the browser get its page before the listener goes away. */
    deadline_in(&until, 2000);
    while (decided && !lb->answered)
        if (pthread_cond_timedwait(&lb->cv, &lb->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&lb->mu);
    if (!decided)
        return mf_err_set(err, MF_ETIMEOUT, MF_LAYER_AUTH,
                          "nobody completed the sign-in in the browser within %d s",
                          timeout_s);
    int fd = MHD_quiesce_daemon(lb->d);
    if (fd >= 0) {
        /* close() alone may leave the socket listening for a moment: MHD's
         * thread can still hold it. shutdown() stops listening now. */
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
    if (lb->rc != MF_OK) {
        if (err)
            *err = lb->err;
        return lb->rc;
    }
    *code = lb->code;
    lb->code = NULL;
    mf_secret_register(*code); /* here, not in the listener's thread */
    return MF_OK;
}

void loopback_stop(struct loopback *lb)
{
    if (!lb)
        return;
    if (lb->d)
        MHD_stop_daemon(lb->d);
    pthread_cond_destroy(&lb->cv);
    pthread_mutex_destroy(&lb->mu);
    mf_wipe_free_str(lb->code);
    free(lb);
}
