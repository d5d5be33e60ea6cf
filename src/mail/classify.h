/*
 * mail/classify — what kind of message came back to a sending mailbox, and
 * for bounces, which recipients failed and why.
 *
 * Kinds, decided in this order (the first that fits wins):
 *   complaint    an ARF feedback report (RFC 5965: multipart/report;
 *                report-type=feedback-report, or a message/feedback-report
 *                part).
 *   bounce       a delivery status notification (RFC 3464 multipart/report;
 *                report-type=delivery-status with a message/delivery-status
 *                part, or RFC 6533 message/global-delivery-status) whose
 *                recipients failed or were delayed; or a plain-text bounce
 *                in the shapes of the common MTAs (Postfix, Exim, Sendmail,
 *                qmail, Exchange / Office 365 / Outlook.com, Gmail, Yahoo,
 *                Amazon SES, OpenSMTPD): from MAILER-DAEMON / postmaster or
 *                with a null Return-Path, a bounce subject ("Undelivered Mail
 *                Returned to Sender", "Mail delivery failed", "Undeliverable:",
 *                ...), the MTA's notice text and its per-recipient lines.
 *                A bounce is never an auto-reply, whatever Auto-Submitted says.
 *   unsubscribe  a message to the List-Unsubscribe mailto: its subject is
 *                "unsubscribe TOKEN" (the token is kept).
 *   auto-reply   RFC 3834 (Auto-Submitted other than "no"), X-Autoreply,
 *                X-Autorespond, Precedence: auto_reply, an MDN read receipt,
 *                or an out-of-office subject in the languages Exchange and
 *                common responders use ("Automatic reply:", "Automatische
 *                Antwort:", "Réponse automatique :", ...), or an auto-
 *                responder's opening sentence ("This is an automatic reply").
 *                Mail that is auto-generated AND list mail (List-Id,
 *                List-Unsubscribe, Precedence bulk/list/junk) is `other`.
 *   unsubscribe  a message whose subject or first lines ask to unsubscribe,
 *                stop or be removed ("Please remove me", "STOP", "abmelden").
 *   other        list and bulk mail (List-Id, List-Unsubscribe, Precedence
 *                bulk/list/junk, a noreply sender), success-only DSNs,
 *                input that is not a message.
 *   reply        anything else: a person wrote it.
 * Only the headers and the first non-quoted lines of the body are read for
 * auto-reply and unsubscribe, so a person's reply that QUOTES an
 * out-of-office text is a reply.
 *
 * Bounce recipients: address, status (RFC 3463 x.y.z), action (failed,
 * delayed, ...), reason in Sisimai's vocabulary (userunknown, mailboxfull,
 * blocked, ...: classify_reason_known() lists them) chosen by data tables
 * of diagnostic phrases and status codes (classify_table.inc), hard or soft,
 * and the diagnostic text. `hard` means the ADDRESS is bad: status class 5
 * and action failed, and a reason about the address (userunknown,
 * hostunknown, hasmoved, notaccept, or undefined). Every other reason is
 * about the message, the sender or the moment (mailboxfull, blocked,
 * spamdetected, policyviolation, expired, ...) and is soft even with a
 * 5.x.x status; 4.x.x and delayed are always soft. A status missing from
 * the report is made from the reply code's class and the reason's usual
 * code (550 + userunknown → 5.1.1).
 *
 * Parsing: GMime parses the message (MIME, encoded words, charsets,
 * transfer encodings). The DSN / ARF field parser and the text scanners
 * are ours, bounded: CLASSIFY_INPUT_MAX octets of input, of which at most
 * CLASSIFY_HEADER_MAX octets of header block (cut at a line end; GMime
 * grows its header buffer in small steps, which some allocators make
 * quadratic), a MIME walk
 * CLASSIFY_DEPTH_MAX deep that does not enter enclosed messages (a
 * forwarded bounce is not a bounce), CLASSIFY_SCAN_MAX octets of any one
 * part or text, CLASSIFY_RCPTS_MAX recipients (more are counted in
 * rcpts_dropped), CLASSIFY_REFS_MAX references (the first and the latest).
 *
 * Promises on a result (checked by fuzz/fuzz_classify.c): kind is valid;
 * every string is NUL-terminated within its array, valid UTF-8, without
 * control characters (C0, DEL, C1) or bidirectional overrides, and without
 * leading/trailing white space; message ids are "<...>" with an '@' and no
 * white space; addresses hold an '@' and no white space, ASCII letters
 * lowercased; reason is never NULL; status is "" or x.y.z; hard implies a
 * bounce. Nothing here prints or touches the store.
 *
 * GMime is initialised once (pthread_once). Functions are thread-safe.
 *
 * Ownership: raw is borrowed for the call. A result owns its rcpts and
 * references arrays: classify_result_free() releases them (NULL and an
 * already freed or zeroed result are fine). Name strings are static.
 */
#ifndef MF_MAIL_CLASSIFY_H
#define MF_MAIL_CLASSIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define CLASSIFY_INPUT_MAX (64u << 20)  /* octets of a message */
#define CLASSIFY_HEADER_MAX (256u << 10) /* octets of the header block read */
#define CLASSIFY_SCAN_MAX (1u << 20)    /* octets read of one part / text */
#define CLASSIFY_DEPTH_MAX 8            /* MIME levels walked */
#define CLASSIFY_RCPTS_MAX 100
#define CLASSIFY_REFS_MAX 64

#define CLASSIFY_ADDR_SIZE 321     /* 320 octets + NUL */
#define CLASSIFY_ID_SIZE 256       /* "<...>" + NUL */
#define CLASSIFY_STATUS_SIZE 12    /* "5.999.999" + NUL */
#define CLASSIFY_ACTION_SIZE 16
#define CLASSIFY_DIAG_SIZE 512
#define CLASSIFY_SUBJECT_SIZE 512
#define CLASSIFY_WHY_SIZE 256
#define CLASSIFY_TOKEN_SIZE 201
#define CLASSIFY_LINE_SIZE 320

/* X(code, name) */
#define CLASSIFY_KIND_LIST(X)                                                \
    X(CLASSIFY_OTHER, "other")                                               \
    X(CLASSIFY_REPLY, "reply")                                               \
    X(CLASSIFY_AUTO_REPLY, "auto-reply")                                     \
    X(CLASSIFY_UNSUBSCRIBE, "unsubscribe")                                   \
    X(CLASSIFY_COMPLAINT, "complaint")                                       \
    X(CLASSIFY_BOUNCE, "bounce")

enum classify_kind {
#define CLASSIFY_KIND_ENUM(code, name) code,
    CLASSIFY_KIND_LIST(CLASSIFY_KIND_ENUM)
#undef CLASSIFY_KIND_ENUM
    CLASSIFY_KIND_COUNT
};

struct classify_rcpt {
    char address[CLASSIFY_ADDR_SIZE];   /* never "" */
    char status[CLASSIFY_STATUS_SIZE];  /* "5.1.1", "" when unknown */
    char action[CLASSIFY_ACTION_SIZE];  /* failed, delayed, delivered,
                                         * relayed, expanded; "" unknown */
    bool hard;
    const char *reason;                 /* static; "feedback" for the
                                         * complainer of a complaint */
    char diagnostic[CLASSIFY_DIAG_SIZE];/* the server's words, one line */
};

struct classify_result {
    enum classify_kind kind;
    struct classify_rcpt *rcpts;        /* owned, nrcpts entries */
    size_t nrcpts;
    size_t rcpts_dropped;               /* beyond CLASSIFY_RCPTS_MAX */
    char message_id[CLASSIFY_ID_SIZE];  /* of this message, "<...>" or "" */
    char in_reply_to[CLASSIFY_ID_SIZE]; /* its first id, or "" */
    char (*references)[CLASSIFY_ID_SIZE]; /* owned, oldest first */
    size_t nreferences;
    char original_message_id[CLASSIFY_ID_SIZE]; /* of the bounced or
                                         * reported message, or "" */
    char from[CLASSIFY_ADDR_SIZE];      /* the first From address, or "" */
    char subject[CLASSIFY_SUBJECT_SIZE];/* decoded, one line */
    char unsubscribe_token[CLASSIFY_TOKEN_SIZE]; /* from "unsubscribe TOKEN" */
    char why[CLASSIFY_WHY_SIZE];        /* the rule that decided, for people */
    char first_line[CLASSIFY_LINE_SIZE]; /* a person's first line of text, not
                                         * quoted (replies, unsubscribes); "" */
};

/*
 * Classifies raw (len octets, any line endings; need not be NUL-terminated)
 * into *out, which is overwritten (free a previous result first).
 * Input that GMime cannot read as a message is MF_OK with kind other.
 * Errors: MF_EINVAL (out NULL, raw NULL with len > 0), MF_ELIMIT (len over
 * CLASSIFY_INPUT_MAX), MF_ENOMEM. On error *out is empty (kind other, no
 * memory held) and err (may be NULL) says why.
 */
enum mf_rc classify_message(const char *raw, size_t len, struct classify_result *out,
                            struct mf_err *err);

/* Releases what r owns and zeroes it; r may be NULL. */
void classify_result_free(struct classify_result *r);

/* "bounce", "complaint", ...; "invalid" out of range. Static. */
const char *classify_kind_name(enum classify_kind kind);

/* Whether s is one of the reason names a result can hold. */
bool classify_reason_known(const char *s);

/*
 * The result as JSON with exactly these keys:
 *   kind         string
 *   recipients   [{address, status, action, hard, reason, diagnostic}]
 *                (status, action, diagnostic are null when unknown)
 *   in_reply_to  string or null
 *   matched      the given string (an outbox Message-ID) or null
 * Returns a new reference (caller json_decref), NULL on out of memory.
 */
json_t *classify_result_json(const struct classify_result *r, const char *matched);

#endif
