/*
 * proto/imap_parse — the IMAP4rev1 response reader (RFC 3501 section 9),
 * bounded and resumable, with no I/O.
 *
 * Bytes go in as they arrive; a response is complete when a line ends that
 * does not announce a literal ({n} or {n+}). The reader collects the
 * literal's n bytes whatever they contain, then the rest of the line. A
 * complete response is tokenised into values: atoms, numbers, quoted
 * strings, literals, NIL, parenthesised lists (nested) and bracketed
 * sections kept whole inside atoms (BODY[HEADER.FIELDS (FROM)]).
 *
 * Limits (line, literal, response size, nesting, values) are set at init;
 * passing one is an error, never a truncation.
 *
 * Ownership: the parser owns everything; a response handed out by
 * imap_parse_next() is borrowed until the next call.
 */
#ifndef MF_PROTO_IMAP_PARSE_H
#define MF_PROTO_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

enum imap_val_type {
    IMAP_ATOM,      /* also numbers, flags (\Seen), sections */
    IMAP_STRING,    /* quoted (unescaped) or literal: may hold any byte */
    IMAP_NIL,
    IMAP_LIST,
};

struct imap_val {
    enum imap_val_type type;
    const char *s;             /* ATOM/STRING bytes, NUL-terminated copy */
    size_t len;
    struct imap_val *items;    /* LIST */
    size_t n;
};

enum imap_resp_kind {
    IMAP_RESP_UNTAGGED,        /* "* ..." */
    IMAP_RESP_CONTINUE,        /* "+ ..." */
    IMAP_RESP_TAGGED,          /* "A1 OK ..." */
};

struct imap_resp {
    enum imap_resp_kind kind;
    const char *tag;           /* TAGGED: the tag; else "" */
    /* Status responses (OK/NO/BAD/PREAUTH/BYE): status set, code is the
     * bracketed response code without brackets ("" if none), text the
     * human text. For other untagged data: status "" and vals holds the
     * tokens after "*" (e.g. "5" "EXISTS", or "LIST" (...) "/" "INBOX"). */
    const char *status;
    const char *code;
    const char *text;
    struct imap_val *vals;
    size_t nvals;
    const char *raw;           /* the whole response, literals inline */
    size_t raw_len;
};

struct imap_parse_limits {
    size_t max_line;           /* one line, without literals (default 16 KB) */
    size_t max_literal;        /* one literal (default 64 MB) */
    size_t max_response;       /* all of a response (default 72 MB) */
    size_t max_depth;          /* list nesting (default 16) */
    size_t max_values;         /* tokens in a response (default 100000) */
};

struct imap_parser;

/* NULL on ENOMEM. limits may be NULL (defaults). Free with imap_parse_free. */
struct imap_parser *imap_parse_new(const struct imap_parse_limits *limits);
void imap_parse_free(struct imap_parser *p);

/* Appends server bytes. MF_OK, MF_ELIMIT (a limit passed: err says which),
 * MF_ENOMEM. After an error the parser must not be used further. */
enum mf_rc imap_parse_feed(struct imap_parser *p, const char *data, size_t len,
                           struct mf_err *err);

/* The next complete response: MF_OK with *out set, MF_ENOTFOUND when none
 * is complete yet, MF_EPROTO for a malformed one (err says why). */
enum mf_rc imap_parse_next(struct imap_parser *p, struct imap_resp *out,
                           struct mf_err *err);

/* Bytes received and not yet taken as a complete response. */
size_t imap_parse_pending(const struct imap_parser *p);

/* Case-insensitive compare of an ATOM or STRING value with a C string. */
bool imap_val_is(const struct imap_val *v, const char *s);

#endif
