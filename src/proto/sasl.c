#include "proto/sasl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"

/* Microsoft access tokens run to a few KB; leave room, but bound it. */
#define SASL_SECRET_MAX 16384
#define SASL_USER_MAX 512
#define SASL_RESPONSE_MAX (4 * (SASL_SECRET_MAX + SASL_USER_MAX) / 3 + 256)
#define SASL_CHALLENGE_MAX 8192

struct sasl {
    enum sasl_mech mech;
    int steps;              /* challenges answered so far */
    bool initial_sent;
    bool error_answered;    /* bearer error continuation handled */
    char *user;             /* owned */
    char *secret;           /* owned, wiped */
    char *host;             /* owned, may be NULL */
    int port;
    char server_error[512];
};

static const char *const mech_names[SASL_MECH_COUNT] = {
    "NONE", "PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER",
};

const char *sasl_mech_name(enum sasl_mech m)
{
    return (unsigned)m < SASL_MECH_COUNT ? mech_names[m] : "NONE";
}

enum sasl_mech sasl_mech_parse(const char *name, size_t len)
{
    for (int m = SASL_MECH_PLAIN; m < SASL_MECH_COUNT; m++)
        if (strlen(mech_names[m]) == len &&
            strncasecmp(mech_names[m], name, len) == 0)
            return (enum sasl_mech)m;
    return SASL_MECH_NONE;
}

bool sasl_mech_is_oauth(enum sasl_mech m)
{
    return m == SASL_MECH_XOAUTH2 || m == SASL_MECH_OAUTHBEARER;
}

enum sasl_mech sasl_choose(unsigned offered_mask, enum sasl_mech wanted,
                           bool secret_is_token)
{
    if (wanted != SASL_MECH_NONE)
        return (offered_mask & SASL_BIT(wanted)) ? wanted : SASL_MECH_NONE;
    static const enum sasl_mech token_order[] = {SASL_MECH_XOAUTH2,
                                                 SASL_MECH_OAUTHBEARER};
    static const enum sasl_mech password_order[] = {SASL_MECH_PLAIN,
                                                    SASL_MECH_LOGIN};
    const enum sasl_mech *order = secret_is_token ? token_order : password_order;
    for (size_t i = 0; i < 2; i++)
        if (offered_mask & SASL_BIT(order[i]))
            return order[i];
    return SASL_MECH_NONE;
}

enum mf_rc sasl_check_transport(enum sasl_mech m, bool tls_active,
                                bool allow_plaintext, struct mf_err *err)
{
    if (tls_active || allow_plaintext)
        return MF_OK;
    return mf_err_set(err, MF_EAUTH, MF_LAYER_AUTH,
                      "refusing AUTH %s without TLS: it would send the %s in "
                      "clear (use STARTTLS or TLS, or --allow-plaintext-auth)",
                      sasl_mech_name(m),
                      sasl_mech_is_oauth(m) ? "access token" : "password");
}

static bool has_byte(const char *s, char c)
{
    return s && strchr(s, c) != NULL;
}

struct sasl *sasl_new(enum sasl_mech m, const struct sasl_creds *creds,
                      struct mf_err *err)
{
    if (m == SASL_MECH_NONE || (unsigned)m >= SASL_MECH_COUNT || !creds ||
        !creds->user || !creds->secret) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_AUTH, "no credentials for AUTH");
        return NULL;
    }
    if (strlen(creds->user) > SASL_USER_MAX ||
        strlen(creds->secret) > SASL_SECRET_MAX) {
        mf_err_set(err, MF_ELIMIT, MF_LAYER_AUTH,
                   "user name or secret too long for AUTH");
        return NULL;
    }
    /* ^A separates XOAUTH2/OAUTHBEARER fields; CR/LF would end the line. */
    if (has_byte(creds->user, '\001') || has_byte(creds->secret, '\001') ||
        has_byte(creds->user, '\n') || has_byte(creds->secret, '\n') ||
        has_byte(creds->user, '\r') || has_byte(creds->secret, '\r')) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_AUTH,
                   "user name or secret contains control characters");
        return NULL;
    }
    struct sasl *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    s->mech = m;
    s->user = strdup(creds->user);
    s->secret = strdup(creds->secret);
    s->host = creds->host ? strdup(creds->host) : NULL;
    s->port = creds->port;
    if (!s->user || !s->secret || (creds->host && !s->host)) {
        sasl_free(s);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    return s;
}


void sasl_free(struct sasl *s)
{
    if (!s)
        return;
    mf_wipe_free_str(s->user);
    mf_wipe_free_str(s->secret);
    free(s->host);
    free(s);
}

enum sasl_mech sasl_mech(const struct sasl *s)
{
    return s->mech;
}

/* Encodes a message assembled in `raw` into out and wipes raw. */
static enum mf_rc encode_wiped(struct mf_buf *raw, struct mf_buf *out)
{
    enum mf_rc rc = mf_base64_encode(out, mf_buf_data(raw), mf_buf_len(raw));
    mf_buf_wipe_free(raw);
    return rc;
}

static enum mf_rc plain_response(struct sasl *s, struct mf_buf *out)
{
    struct mf_buf raw;
    mf_buf_init(&raw, SASL_RESPONSE_MAX);
    enum mf_rc rc = mf_buf_add(&raw, "", 1); /* empty authzid, then NUL */
    if (rc == MF_OK)
        rc = mf_buf_add(&raw, s->user, strlen(s->user) + 1);
    if (rc == MF_OK)
        rc = mf_buf_adds(&raw, s->secret);
    if (rc != MF_OK) {
        mf_buf_wipe_free(&raw);
        return rc;
    }
    return encode_wiped(&raw, out);
}

static enum mf_rc xoauth2_response(struct sasl *s, struct mf_buf *out)
{
    struct mf_buf raw;
    mf_buf_init(&raw, SASL_RESPONSE_MAX);
    enum mf_rc rc = mf_buf_printf(&raw, "user=%s\001auth=Bearer %s\001\001",
                                  s->user, s->secret);
    if (rc != MF_OK) {
        mf_buf_wipe_free(&raw);
        return rc;
    }
    return encode_wiped(&raw, out);
}

/* RFC 5801 gs2 saslname: ',' and '=' are escaped in the authzid. */
static enum mf_rc add_saslname(struct mf_buf *raw, const char *name)
{
    enum mf_rc rc = MF_OK;
    for (const char *p = name; *p && rc == MF_OK; p++) {
        if (*p == ',')
            rc = mf_buf_adds(raw, "=2C");
        else if (*p == '=')
            rc = mf_buf_adds(raw, "=3D");
        else
            rc = mf_buf_add(raw, p, 1);
    }
    return rc;
}

static enum mf_rc oauthbearer_response(struct sasl *s, struct mf_buf *out)
{
    struct mf_buf raw;
    mf_buf_init(&raw, SASL_RESPONSE_MAX);
    enum mf_rc rc = mf_buf_adds(&raw, "n,a=");
    if (rc == MF_OK)
        rc = add_saslname(&raw, s->user);
    if (rc == MF_OK)
        rc = mf_buf_adds(&raw, ",\001");
    if (rc == MF_OK && s->host)
        rc = mf_buf_printf(&raw, "host=%s\001", s->host);
    if (rc == MF_OK && s->port > 0)
        rc = mf_buf_printf(&raw, "port=%d\001", s->port);
    if (rc == MF_OK)
        rc = mf_buf_printf(&raw, "auth=Bearer %s\001\001", s->secret);
    if (rc != MF_OK) {
        mf_buf_wipe_free(&raw);
        return rc;
    }
    return encode_wiped(&raw, out);
}

static enum mf_rc initial_response(struct sasl *s, struct mf_buf *out)
{
    switch (s->mech) {
    case SASL_MECH_PLAIN:
        return plain_response(s, out);
    case SASL_MECH_XOAUTH2:
        return xoauth2_response(s, out);
    case SASL_MECH_OAUTHBEARER:
        return oauthbearer_response(s, out);
    default:
        return MF_EINVAL;
    }
}

bool sasl_initial(struct sasl *s, struct mf_buf *out)
{
    if (s->mech == SASL_MECH_LOGIN)
        return false;
    if (initial_response(s, out) != MF_OK)
        return false;
    s->initial_sent = true;
    return true;
}

static enum mf_rc login_step(struct sasl *s, struct mf_buf *out,
                             struct mf_err *err)
{
    const char *answer = s->steps == 0 ? s->user : s->secret;
    if (s->steps > 1)
        return mf_err_set(err, MF_EPROTO, MF_LAYER_AUTH,
                          "server sent a third LOGIN challenge");
    return mf_base64_encode(out, answer, strlen(answer));
}

/* A challenge after a bearer token is the server's error report (RFC 7628
 * section 3.2.2; Google's and Microsoft's XOAUTH2 do the same). */
static enum mf_rc bearer_error_step(struct sasl *s, const char *decoded,
                                    size_t len, struct mf_buf *out)
{
    mf_sanitize(s->server_error, sizeof s->server_error, decoded, len, 0);
    if (s->mech == SASL_MECH_OAUTHBEARER)
        return mf_base64_encode(out, "\001", 1); /* the RFC's dummy reply */
    return MF_OK; /* XOAUTH2: an empty line */
}

enum mf_rc sasl_step(struct sasl *s, const char *challenge, size_t len,
                     struct mf_buf *out, struct mf_err *err)
{
    if (len > SASL_CHALLENGE_MAX)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_PROTO,
                          "SASL challenge too long (%zu bytes)", len);
    struct mf_buf decoded;
    mf_buf_init(&decoded, SASL_CHALLENGE_MAX);
    enum mf_rc rc = mf_base64_decode(&decoded, challenge, len);
    if (rc != MF_OK) {
        mf_buf_free(&decoded);
        return mf_err_set(err, MF_EPROTO, MF_LAYER_PROTO,
                          "server sent a SASL challenge that is not base64");
    }
    switch (s->mech) {
    case SASL_MECH_LOGIN:
        rc = login_step(s, out, err);
        break;
    case SASL_MECH_PLAIN:
    case SASL_MECH_XOAUTH2:
    case SASL_MECH_OAUTHBEARER:
        if (!s->initial_sent && len == 0) {
            /* The server wants the initial response as a continuation. */
            rc = initial_response(s, out);
            s->initial_sent = rc == MF_OK;
        } else if (!s->initial_sent) {
            rc = mf_err_set(err, MF_EPROTO, MF_LAYER_AUTH,
                            "the server sent a challenge before the %s response",
                            sasl_mech_name(s->mech));
        } else if (sasl_mech_is_oauth(s->mech) && !s->error_answered) {
            rc = bearer_error_step(s, mf_buf_data(&decoded),
                                   mf_buf_len(&decoded), out);
            s->error_answered = true;
        } else {
            rc = mf_err_set(err, MF_EPROTO, MF_LAYER_AUTH,
                            "unexpected SASL challenge for %s",
                            sasl_mech_name(s->mech));
        }
        break;
    default:
        rc = mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "no mechanism");
    }
    mf_buf_free(&decoded);
    if (rc == MF_OK)
        s->steps++;
    return rc;
}

const char *sasl_server_error(const struct sasl *s)
{
    return s->server_error;
}
