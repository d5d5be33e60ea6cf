/*
 * mail/mime — builds the outbound campaign message (RFC 5322 + MIME) with
 * GMime 3, and makes the Message-IDs and reply subjects that go with it.
 *
 * What mime_build writes (Date, From, Subject, To first: GMime's order):
 *   Date      RFC 5322, +0000
 *   From      display name quoted by GMime when it has specials; when it is
 *             non-ASCII (or holds "=?") UTF-8 "B" encoded words of at most
 *             42 octets each, one per folded line; the address as given (an
 *             IDN domain in its ASCII "xn--" form)
 *   Subject   ASCII: as is, folded by GMime; non-ASCII (or holding "=?"):
 *             encoded words as for From. Either way lines stay within 78
 *             columns (GMime 3.2 alone can pass that with CJK text)
 *   To        the lead's bare address
 *   Message-ID, In-Reply-To, References (References defaults to
 *             In-Reply-To when only that is given)
 *   List-Unsubscribe      `<mailto:ADDR?subject=unsubscribe%20TOKEN>` and/or
 *                         `<BASE/TOKEN>` (BASE without a trailing '/'; a
 *                         query in BASE stays after the token), the token
 *                         percent-encoded; only the parts given
 *   List-Unsubscribe-Post `List-Unsubscribe=One-Click`, only when the URL is
 *                         https (RFC 8058)
 *   MIME-Version: 1.0 and the body.
 * No X-Mailer or any other header that names the tool.
 *
 * Body: text/plain; charset=utf-8, quoted-printable when it has a non-ASCII
 * byte or a line over 78 octets, else 7bit. Line ends are normalised (CRLF
 * and LF both accepted, a bare CR is dropped) and written as CRLF. With a
 * footer the plain text is: body (its trailing line breaks trimmed), a
 * blank line, the footer, a final line break. With html the body is
 * multipart/alternative: the plain part, then text/html whose footer is
 * added as `<p>escaped footer</p>` (line breaks as <br>) just before the
 * last `</body>`, or at the end when there is none.
 *
 * Header injection: a control character (C0, DEL, C1) in from_name or
 * subject becomes a space; in an address, a message id, references, the
 * unsubscribe token, mailto or URL it is MF_EINVAL. Addresses are a single
 * plain `local@domain` (dot-atom local part), checked here and by GMime's
 * parser. All text must be valid UTF-8 (MF_EINVAL otherwise).
 *
 * GMime is initialised on first use, once (pthread_once); a build keeps
 * its GMime objects to itself and releases them all before returning.
 *
 * Ownership: every input is borrowed for the call; nothing is retained.
 * mime_build appends to the caller's buffer (bounded by its max) and on
 * failure leaves it as it was. The other functions write into caller
 * arrays and never allocate.
 */
#ifndef MF_MAIL_MIME_H
#define MF_MAIL_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

/* An output array that always fits mime_message_id's result. */
#define MIME_MSGID_SIZE 300
/* Input bounds (octets); over them mime_build returns MF_ELIMIT. */
#define MIME_NAME_MAX 256           /* from_name */
#define MIME_SUBJECT_MAX 900        /* subject, so no line can pass 998 */
#define MIME_ID_MAX 250             /* one message id, with its <> */
#define MIME_REFS_MAX 4000          /* the references list */
#define MIME_TOKEN_MAX 200          /* unsub_token, before percent-encoding */
#define MIME_URL_MAX 300            /* unsub_url, the base */
#define MIME_TEXT_MAX (8u << 20)    /* body, html, footer each */

struct mime_out {
    const char *from_name;     /* display name, may be NULL or ""; UTF-8 */
    const char *from_addr;     /* the mailbox address (required) */
    const char *to_addr;       /* the lead's address (required) */
    const char *subject;       /* rendered, one line, UTF-8; NULL = "" */
    const char *body;          /* text/plain, UTF-8, LF or CRLF; NULL = "" */
    const char *html;          /* optional text/html alternative; NULL or "" =
                                * plain only */
    const char *message_id;    /* "<...@...>" (required): from mime_message_id,
                                * stored by the caller BEFORE sending */
    const char *in_reply_to;   /* optional "<id>" for follow-ups */
    const char *references;    /* optional "<id1> <id2>" (single spaces or
                                * runs of spaces between ids) */
    const char *unsub_mailto;  /* optional address for the mailto: part */
    const char *unsub_url;     /* optional http(s) base URL, no '#' */
    const char *unsub_token;   /* names lead+campaign; required when either
                                * unsubscribe part is given */
    const char *footer;        /* optional rendered footer (unsubscribe text,
                                * postal address), plain text, UTF-8 */
    int64_t date;              /* unix seconds for Date:; 0 = now */
};

/*
 * Builds the message (CRLF line ends) and appends it to out.
 * Errors: MF_EINVAL (a missing or malformed address / id / URL / token, a
 * control character where one is refused, text that is not UTF-8, a
 * negative date), MF_ELIMIT (an input over its bound, or the result over
 * out's max), MF_ENOMEM. err (may be NULL) names the offending field.
 */
enum mf_rc mime_build(const struct mime_out *m, struct mf_buf *out,
                      struct mf_err *err);

/*
 * Writes a fresh Message-ID, with its angle brackets:
 *   "<" 26 random base32 chars (a-z2-7, 130 bits from libsodium) "."
 *   unix time in base 36 "@" domain ">"
 * The domain is from_addr's (lowercased, IDN in its xn-- form); when that
 * is missing or unusable it is "localhost". Returns false, with out = ""
 * (when size > 0), when size is too small: MIME_MSGID_SIZE always fits.
 */
bool mime_message_id(const char *from_addr, char *out, size_t size);

/*
 * "Re: " + subject, unless subject already starts with "re:" in any case
 * (after leading spaces): then it is copied as it is, so there is never a
 * "Re: Re:". NULL reads as "". Truncated to fit size, never inside a UTF-8
 * character; out is always NUL-terminated when size > 0.
 */
void mime_reply_subject(const char *subject, char *out, size_t size);

#endif
