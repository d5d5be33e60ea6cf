/*
 * proto/smtp_reply — the SMTP reply and EHLO parsers, bounded, with no I/O.
 *
 * A reply is one or more lines "ddd-text" ... "ddd text" (RFC 5321 4.2).
 * The parser takes one line at a time (CRLF already removed) so the caller
 * controls line length; it checks that every line carries the same code,
 * bounds the number of lines and the total text, and sanitises the text.
 * The RFC 3463 enhanced status code is recognised only when it is well
 * formed and its class matches the reply code's first digit.
 */
#ifndef MF_PROTO_SMTP_REPLY_H
#define MF_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

#define SMTP_ENHANCED_MAX 16

struct smtp_reply_parser {
    size_t max_lines;
    size_t nlines;
    int code;
    char enhanced[SMTP_ENHANCED_MAX];
    struct mf_buf text;       /* owned: lines' text joined by '\n' */
};

/* A complete reply; text borrowed from the parser until its next reset. */
struct smtp_reply {
    int code;
    const char *enhanced;     /* "" if none */
    const char *text;         /* without code and enhanced code, '\n' between lines */
    size_t len;
    size_t nlines;
};

void smtp_reply_init(struct smtp_reply_parser *p, size_t max_lines,
                     size_t max_text);
void smtp_reply_free(struct smtp_reply_parser *p);
void smtp_reply_reset(struct smtp_reply_parser *p);

/*
 * Adds one line. *done is set when it was the last line of the reply; then
 * smtp_reply_get() returns it. MF_EPROTO for a malformed line or a code
 * change, MF_ELIMIT when there are too many lines or too much text.
 */
enum mf_rc smtp_reply_line(struct smtp_reply_parser *p, const char *line,
                           size_t len, bool *done, struct mf_err *err);
void smtp_reply_get(const struct smtp_reply_parser *p, struct smtp_reply *r);

/*
 * Recognises an RFC 3463 code ("5.7.139") at the start of text, whose class
 * must equal `klass` (2, 4 or 5). On success copies it to out (NUL-
 * terminated) and returns the bytes to skip (code plus following spaces);
 * returns 0 when there is none.
 */
size_t smtp_enhanced_parse(const char *text, size_t len, int klass,
                           char out[SMTP_ENHANCED_MAX]);

/* What an EHLO reply says the server can do. */
struct smtp_caps {
    bool esmtp;
    bool pipelining;
    bool starttls;
    bool eightbitmime;
    bool smtputf8;
    bool enhancedstatuscodes;
    bool chunking;
    bool dsn;
    bool size;
    unsigned long size_max;   /* 0: no limit announced */
    unsigned auth_mask;       /* SASL_BIT() of known mechanisms offered */
    char auth_list[256];      /* the mechanisms as the server listed them */
    char domain[256];         /* the first line: the server's name */
};

/* Parses an EHLO reply text (lines joined by '\n') into caps. Unknown
 * keywords are ignored; the result is bounded whatever the input. */
void smtp_caps_parse(struct smtp_caps *caps, const char *text, size_t len);

#endif
