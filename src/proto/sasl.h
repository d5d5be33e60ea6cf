/*
 * proto/sasl — one SASL client engine for SMTP, IMAP and POP3:
 * PLAIN (RFC 4616), LOGIN, XOAUTH2 (Google/Microsoft) and OAUTHBEARER
 * (RFC 7628), including the error continuation both bearer mechanisms use.
 *
 * The engine knows nothing of the protocol around it: it takes the server's
 * challenges as base64 text and produces base64 responses; the protocol core
 * wraps them ("334 " / "+ " / "AUTH X <ir>"). Every response carries a
 * secret, so a core never logs one: it writes MF_REDACTED instead.
 *
 * A struct sasl owns a copy of the credentials and wipes it at sasl_free().
 */
#ifndef MF_PROTO_SASL_H
#define MF_PROTO_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

enum sasl_mech {
    SASL_MECH_NONE = 0,
    SASL_MECH_PLAIN,
    SASL_MECH_LOGIN,
    SASL_MECH_XOAUTH2,
    SASL_MECH_OAUTHBEARER,
    SASL_MECH_COUNT
};

#define SASL_BIT(m) (1u << (m))

/* Static names ("PLAIN", ...); "NONE" for SASL_MECH_NONE. */
const char *sasl_mech_name(enum sasl_mech m);
/* Case-insensitive; SASL_MECH_NONE for an unknown name. */
enum sasl_mech sasl_mech_parse(const char *name, size_t len);
/* True for the bearer-token mechanisms. */
bool sasl_mech_is_oauth(enum sasl_mech m);

/*
 * Picks the mechanism: `wanted` if the server offers it (NONE when it does
 * not), or with wanted == NONE the best offered one that fits the secret:
 * a token → XOAUTH2, else OAUTHBEARER; a password → PLAIN, else LOGIN.
 */
enum sasl_mech sasl_choose(unsigned offered_mask, enum sasl_mech wanted,
                           bool secret_is_token);

/*
 * Every mechanism here carries a secret (a password or a bearer token), so
 * without TLS it is refused unless the user explicitly allowed it.
 * MF_OK or MF_EAUTH (layer AUTH, with the reason in err).
 */
enum mf_rc sasl_check_transport(enum sasl_mech m, bool tls_active,
                                bool allow_plaintext, struct mf_err *err);

struct sasl_creds {
    const char *user;     /* login name / mailbox address */
    const char *secret;   /* password or bearer access token */
    const char *host;     /* server name, for OAUTHBEARER's host= (optional) */
    int port;             /* server port, for OAUTHBEARER's port= (0: omit) */
};

struct sasl;

/* Copies the credentials. NULL on ENOMEM or invalid credentials (NUL/^A
 * inside, oversize); err says which. Caller frees with sasl_free(). */
struct sasl *sasl_new(enum sasl_mech m, const struct sasl_creds *creds,
                      struct mf_err *err);
void sasl_free(struct sasl *s);

enum sasl_mech sasl_mech(const struct sasl *s);

/* Appends the base64 initial response to out. Returns true when the
 * mechanism has one (PLAIN, XOAUTH2, OAUTHBEARER), false for LOGIN. */
bool sasl_initial(struct sasl *s, struct mf_buf *out);

/*
 * Answers one server challenge (base64 text, possibly empty) by appending
 * the base64 response to out (possibly empty: an empty line).
 * For XOAUTH2/OAUTHBEARER a challenge after the initial response is the
 * server's error JSON: it is kept (sasl_server_error) and the mechanism's
 * abort response is produced. MF_OK, MF_EPROTO (bad base64, too many steps),
 * MF_ELIMIT / MF_ENOMEM.
 */
enum mf_rc sasl_step(struct sasl *s, const char *challenge, size_t len,
                     struct mf_buf *out, struct mf_err *err);

/* The error JSON a bearer mechanism's server sent, sanitised; "" if none.
 * Borrowed, valid until sasl_free(). */
const char *sasl_server_error(const struct sasl *s);

#endif
