/*
 * mail/msg — readies a message for submission the way sendmail and msmtp
 * do: the envelope (sender; recipients from the command line and, with -t,
 * from To/Cc/Bcc), Bcc removed so it never reaches a recipient, Date and
 * Message-ID added when missing, From added when missing. The bytes of the
 * original message are otherwise left exactly as they were.
 *
 * Address lists are parsed with GMime (groups, comments, quoted names,
 * encoded words); the header block is scanned here because GMime would
 * re-serialise the message.
 *
 * Ownership: struct msg_prepared owns its buffers; msg_prepared_free()
 * releases them.
 */
#ifndef MF_MAIL_MSG_H
#define MF_MAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define MSG_MAX_RCPTS 1000
#define MSG_MAX_SIZE (64u * 1024 * 1024)

struct msg_opts {
    bool extract_recipients;        /* -t: To, Cc, Bcc become recipients */
    const char *envelope_from;      /* -f; NULL: the From header's address */
    const char *from_name;          /* -F: display name for an added From */
    const char *default_from;       /* address for an added From header */
    const char *const *rcpts;       /* recipients named on the command line */
    size_t nrcpts;
};

struct msg_prepared {
    struct mf_buf data;             /* the message to send */
    char **rcpts;                   /* owned, deduplicated */
    size_t nrcpt;
    char *from;                     /* envelope sender, owned; "" = <> */
    char message_id[256];           /* without <>, as found or added */
};

/* MF_EINVAL (no recipient, bad address, header injection in -F),
 * MF_ELIMIT (too big / too many recipients), MF_ENOMEM. */
enum mf_rc msg_prepare(const char *raw, size_t len, const struct msg_opts *opts,
                       struct msg_prepared *out, struct mf_err *err);
void msg_prepared_free(struct msg_prepared *m);

/* Builds a plain-text message (UTF-8, RFC 2047 subject when needed,
 * quoted-printable body when it is not 7-bit) into out. */
enum mf_rc msg_build_text(const char *from, const char *from_name,
                          const char *const *to, size_t nto,
                          const char *subject, const char *body,
                          struct mf_buf *out, struct mf_err *err);

/* A bare address check: one '@', non-empty local part and domain, no
 * spaces, controls or <>. */
bool msg_address_ok(const char *addr);

#endif
