/*
 * mail/addr — syntax check and normalisation of one email address, as it
 * comes from a lead list (a CSV cell, a command-line argument). The result
 * is the lead's dedupe key and the address mail is sent to.
 *
 * Accepted: `local@domain`, bare or wrapped in one pair of <>. Surrounding
 * white space is trimmed first (ASCII white space and the Unicode spaces a
 * spreadsheet leaves behind: U+00A0, U+2000..U+200B, U+202F, U+205F,
 * U+3000, U+FEFF), and again inside the <>.
 *
 * - local part: an RFC 5322 dot-atom — letters, digits and
 *   ! # $ % & ' * + - / = ? ^ _ ` { | } ~, separated by single dots (no
 *   leading, trailing or double dot), 1..64 octets, ASCII only. Quoted local
 *   parts ("john doe"@x.com) are refused, as are non-ASCII local parts
 *   (RFC 6531 needs SMTPUTF8 end to end).
 * - domain: at least two dot-separated labels of letters, digits and
 *   hyphens, none starting or ending with a hyphen, each 1..63 octets; the
 *   top-level label is not all digits (no IP addresses, no [literals]); at
 *   most 253 octets; no trailing root dot. Labels with non-ASCII characters
 *   (IDN U-labels) are accepted as they are, not converted to punycode: they
 *   must be valid UTF-8 and may not contain spaces, invisible format
 *   characters or the ideographic / full-width dots. The 63/253 limits are
 *   counted in UTF-8 octets.
 * - the whole address: valid UTF-8, at most 254 octets.
 *
 * Display names are NOT parsed: `Bob <bob@x.com>` is refused ("bad
 * character in local part"), because a lead list cell holds one address
 * and guessing would make two spellings of one lead.
 *
 * Output: the trimmed address with ASCII letters lowercased (both parts,
 * as every large provider treats local parts case-insensitively); other
 * bytes are copied unchanged, so two U-labels that differ only in
 * non-ASCII case are different keys.
 *
 * No allocation; all strings are the caller's. `why` strings are static.
 */
#ifndef MF_MAIL_ADDR_H
#define MF_MAIL_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_MAX 254            /* octets of a whole address */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 253
#define ADDR_LABEL_MAX 63
#define ADDR_BUFSIZE (ADDR_MAX + 1)   /* an output buffer that always fits */

/*
 * Checks `in` (NUL-terminated; NULL reads as "") and writes the normalised
 * address to out (always NUL-terminated when outsize > 0). out may be NULL
 * (with outsize 0) to check only.
 *
 * Returns true when accepted; then *why (if why is not NULL) is NULL.
 * Returns false when refused, with *why one of these static strings:
 *   "empty", "too long", "not UTF-8",
 *   "quoted local parts are not supported", "no @", "two @",
 *   "empty local part", "bad character in local part",
 *   "local part too long", "bad domain", "domain has no dot",
 *   "numeric top-level domain",
 *   "output buffer too small" (a caller bug: pass ADDR_BUFSIZE).
 * On refusal out holds "".
 */
bool addr_normalize(const char *in, char *out, size_t outsize, const char **why);

/*
 * Points *domain at the part after the last '@' of `normalized` (borrowed:
 * it points into `normalized`). Returns false, with *domain = NULL, when
 * there is no '@' or nothing after it.
 */
bool addr_domain(const char *normalized, const char **domain);

#endif
