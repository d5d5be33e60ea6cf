/*
 * diag/explain — the reply-code knowledge base: from what a server said (or
 * how the transport failed) to the cause in plain words and the fix.
 *
 * The knowledge is one static table (diag/explain.c), one entry a row, most
 * specific rows first; a lookup returns the first row that matches. Every
 * row names the documentation it was checked against. All pointers handed
 * out point into that static table: borrowed, never freed, valid forever.
 */
#ifndef MF_DIAG_EXPLAIN_H
#define MF_DIAG_EXPLAIN_H

#include "util/err.h"

/* Which protocol the reply came from; EXPLAIN_ANY matches every protocol. */
enum explain_proto {
    EXPLAIN_ANY = 0,
    EXPLAIN_SMTP,
    EXPLAIN_IMAP,
    EXPLAIN_POP3,
};

struct explain_entry {
    const char *id;          /* stable short name, e.g. "m365-smtp-auth-disabled" */
    enum explain_proto proto;
    enum mf_layer layer;     /* MF_LAYER_NONE matches any layer */
    int code;                /* reply code to match, 0 = any */
    const char *enhanced;    /* enhanced status code prefix ("5.7.139"), NULL = any */
    const char *pattern;     /* case-insensitive substring of the reply, NULL = any */
    const char *cause;       /* what it means, one or two sentences */
    const char *fix;         /* what to do, concrete */
    const char *source;      /* the documentation it was checked against */
};

/* What to look up. Any field may be 0/NULL/"" when unknown. */
struct explain_query {
    enum explain_proto proto;
    enum mf_layer layer;
    int code;
    const char *enhanced;
    const char *text;        /* the server's reply or the transport's error */
    int port;                /* the port that was used, 0 if unknown */
    int is_microsoft;        /* the host is Microsoft 365 / Outlook.com */
};

/* The best matching entry, or NULL when nothing matches (borrowed). */
const struct explain_entry *explain_lookup(const struct explain_query *q);

/* Convenience: fills q from an mf_err and looks it up (borrowed or NULL). */
const struct explain_entry *explain_err(const struct mf_err *err,
                                        enum explain_proto proto, int port,
                                        int is_microsoft);

/*
 * Parses free text as a user pastes it ("535 5.7.139 Authentication
 * unsuccessful, ..."; also with "S: " or "<- " prefixes, multi-line "535-"
 * continuations) into code / enhanced / text and looks it up. enhanced_out
 * (at least 16 bytes) receives the enhanced code found, "" if none;
 * code_out the reply code, 0 if none. Either out pointer may be NULL.
 */
const struct explain_entry *explain_text(const char *text, int *code_out,
                                         char *enhanced_out);

/* The whole table, for `mailfleet explain --list` and tests (borrowed). */
const struct explain_entry *explain_table(size_t *count);

#endif
