/*
 * mail/classify_int.h — the pieces mail/classify's files share; not an API.
 *
 *   classify.c       GMime walk, the decision, JSON
 *   classify_dsn.c   RFC 3464 / RFC 6533 / RFC 5965 field parsers, and the
 *                    recipient's status, reason and hard/soft (tables in
 *                    classify_table.inc)
 *   classify_text.c  text helpers: cleaning, addresses and ids, the
 *                    plain-text bounce scanner, the first lines of a body
 *                    and the phrase look-ups (classify_phrases.inc)
 *
 * Every function here is bounded by its arguments and never allocates,
 * except cls_rcpt_add (grows the result's array).
 */
#ifndef MF_MAIL_CLASSIFY_INT_H
#define MF_MAIL_CLASSIFY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/classify.h"

#define CLS_LINE_SIZE 320     /* one first line kept, cleaned */
#define CLS_FIRST_LINES 5     /* non-quoted lines looked at */

/* ---- classify_text.c ------------------------------------------------------- */

/* Copies src[0..len) into dst (size > 0; always NUL-terminated) keeping the
 * header's promises: white space runs become one space, leading/trailing
 * space is trimmed, control characters, bidi overrides and bytes that are
 * not UTF-8 become '?', the cut never splits a character. Returns strlen. */
size_t cls_clean(char *dst, size_t size, const char *src, size_t len);

/* Lowercases ASCII letters in place. */
void cls_lower(char *s);

/* ASCII case-insensitive substring search over hay[0..n) (needle lowercase,
 * NUL-terminated). Returns the match or NULL. */
const char *cls_find(const char *hay, size_t n, const char *needle);

/* Whether any of needles[0..count) (as for cls_find) is in hay[0..n). */
bool cls_find_any(const char *hay, size_t n, const char *const *needles, size_t count);

/* The octet pairs of a text, hashed into 1024 bits: a needle with a pair
 * that is not in the set is not in the text, found without searching. */
struct cls_pairs {
    uint64_t bits[16];
};
void cls_pairs_of(const char *s, size_t n, struct cls_pairs *set);
/* False when needle (NUL-terminated) cannot be in the text of set. */
bool cls_pairs_may_hold(const struct cls_pairs *set, const char *needle);

/* An address from src[0..len): trimmed, one pair of <> and a "type;" prefix
 * ("rfc822;", "utf-8;", with \x{HEX} escapes decoded) removed, ASCII
 * lowercased. False (dst "") when it is not local@domain, has white space
 * or control characters, or does not fit CLASSIFY_ADDR_SIZE. */
bool cls_address(char dst[CLASSIFY_ADDR_SIZE], const char *src, size_t len);

/* "<id>" from a bare id (as GMime gives it). False (dst "") when the id is
 * empty, too long, has no '@', or holds white space, controls, '<' or '>'. */
bool cls_msgid(char dst[CLASSIFY_ID_SIZE], const char *id);

/* The Message-ID in a block of header lines (text/rfc822-headers, or the
 * copy after a bounce notice): the first "Message-ID:" field at a line
 * start within text[0..len), unfolded. */
bool cls_msgid_in_headers(char dst[CLASSIFY_ID_SIZE], const char *text, size_t len);

/* The line at p (without its CR LF) and, in *next, where the next starts. */
size_t cls_line_at(const char *p, const char *end, const char **next);
/* Up to CLS_FIRST_LINES non-blank lines of a body, before anything that
 * starts a quote or a signature; each cleaned and ASCII-lowercased. */
size_t cls_first_lines(const char *text, size_t len,
                       char lines[CLS_FIRST_LINES][CLS_LINE_SIZE]);

/* Plain text from HTML into dst (size > 0): tags dropped, block ends and
 * <br> become line breaks, a few entities decoded. Returns strlen. */
size_t cls_html_text(char *dst, size_t size, const char *html, size_t len);

/* Phrase look-ups. subject and lines are cleaned and ASCII-lowercased.
 * Each returns the matched table entry (static) or NULL. */
const char *cls_daemon_sender(const char *addr, const char *name_lower);
const char *cls_bulk_sender(const char *addr);
const char *cls_bounce_subject(const char *subject);
const char *cls_bounce_preamble(const char *text, size_t len); /* MTA name */
const char *cls_auto_subject(const char *subject);
/* The first non-blank line of a body as written (cleaned, case kept), or ""
 * when the body opens with a quote. */
void cls_first_line(const char *text, size_t len, char out[CLASSIFY_LINE_SIZE]);
const char *cls_auto_opening(char lines[][CLS_LINE_SIZE], size_t n);
const char *cls_unsub_request(const char *subject, char lines[][CLS_LINE_SIZE],
                              size_t n);
/* "unsubscribe TOKEN" (the whole subject, any case): copies the token. */
bool cls_unsub_token(const char *subject, char token[CLASSIFY_TOKEN_SIZE]);

/* Scans the text of a plain-text bounce (text[0..len), at most
 * CLASSIFY_SCAN_MAX read) for recipient lines and their diagnostics, adding
 * each through cls_rcpt_add (action "delayed" when delayed, else "failed");
 * copies the Message-ID of the returned copy into orig_id when one is
 * found. MF_OK or MF_ENOMEM. */
enum mf_rc cls_text_rcpts(const char *text, size_t len, bool delayed,
                          struct classify_result *r,
                          char orig_id[CLASSIFY_ID_SIZE]);

/* ---- classify_dsn.c -------------------------------------------------------- */

/*
 * Adds (or merges into an existing entry for the same address) a recipient
 * with raw fields: addr as in a DSN ("rfc822; x@y"), action and status as
 * written (may be NULL), diag (may be NULL). Works out status, action,
 * reason and hard. Over CLASSIFY_RCPTS_MAX the recipient is counted in
 * r->rcpts_dropped. A recipient without a usable address is skipped.
 * MF_OK or MF_ENOMEM.
 */
enum mf_rc cls_rcpt_add(struct classify_result *r, const char *addr, size_t alen,
                        const char *action, size_t aclen, const char *status,
                        size_t stlen, const char *diag, size_t dlen);

/* A complainer (reason "feedback", no status, soft). */
enum mf_rc cls_rcpt_feedback(struct classify_result *r, const char *addr, size_t alen,
                             const char *diag, size_t dlen);

/* Parses the fields of a message/delivery-status (or global-) part,
 * adding its recipients. reporting_mta receives the Reporting-MTA name,
 * orig_id an X-Original-Message-ID when there is one. MF_OK or MF_ENOMEM. */
enum mf_rc cls_dsn_parse(const char *data, size_t len, struct classify_result *r,
                         char *reporting_mta, size_t mta_size,
                         char orig_id[CLASSIFY_ID_SIZE]);

/* Parses a message/feedback-report: each Original-Rcpt-To becomes a
 * recipient; feedback_type receives Feedback-Type. MF_OK or MF_ENOMEM. */
enum mf_rc cls_arf_parse(const char *data, size_t len, struct classify_result *r,
                         char *feedback_type, size_t ft_size);

/* The reason name for a result (static), by index; used by the public
 * classify_reason_known(). */
bool cls_reason_known(const char *name);

#endif
