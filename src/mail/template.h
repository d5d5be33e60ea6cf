/*
 * mail/template — the merge language for subjects and bodies: fields with
 * fallbacks and deterministic spintax, in the syntax users bring from
 * hosted sequencers.
 *
 *   {{name}}            the lead's field `name`. Names are ASCII letters,
 *                       digits, `_`, `-` and `.`, at most TPL_NAME_MAX bytes,
 *                       case-insensitive: the lookup gets them lowercased.
 *                       Whitespace around the name is ignored.
 *   {{name|fallback}}   the fallback when the field is missing, empty or
 *                       whitespace-only. `{{name|}}` means "empty is fine".
 *                       The fallback is literal text, trimmed: no fields and
 *                       no spintax inside it. An unescaped `{`, `|` or a
 *                       lone `}` in a fallback is a syntax error rather than
 *                       text, so a misplaced brace never reaches a lead
 *                       (e.g. `{{RANDOM|a|b}}` from another tool).
 *   {a|b|c}             spintax: one option, chosen from the seed. Options
 *                       may be empty (`{|!}`) and may nest (`{Hi|Hello
 *                       {there|friend}}`) up to TPL_MAX_DEPTH levels. A group
 *                       needs at least two options: `{first_name}` is an
 *                       error, it is almost always a field written with one
 *                       brace. `{{{f}}|x}` is a group whose first option is
 *                       a field (a run of braces ends with the field's `{{`).
 *                       `{{` always opens a field, so an option that starts
 *                       with a group cannot be the first one: write
 *                       `{Hey|{Hi|Hello} there}`, not `{{Hi|Hello} there|Hey}`
 *                       (which is a syntax error, never silently a field).
 *   \{ \} \| \\         the literal character. A backslash before anything
 *                       else is an ordinary character (`¯\_(ツ)_/¯`); one at
 *                       the very end of the template is an error (truncated).
 *   |                   outside a group, an ordinary character.
 *
 * A field without a fallback whose value is missing, empty or
 * whitespace-only is MF_ENOTFOUND naming the field: the caller skips that
 * lead rather than sending "Hi ,". Values are inserted as data, never parsed
 * as template, with surrounding whitespace trimmed.
 *
 * Spintax choice is deterministic: group number k (counting every `{` group
 * in document order, including groups inside options that are not chosen,
 * from 0) takes option SipHash-2-4(key, LE64(seed) || LE64(k)) mod n, with a
 * fixed key. tpl_seed() is SipHash too. Both are pinned by a golden test:
 * changing them would change what already-running sequences send.
 *
 * Modes. TPL_HEADER (a subject): every run of control characters (C0,
 * TAB, CR, LF, DEL) — from the template or a value — together with spaces
 * next to it becomes one space, and leading and trailing spaces are
 * trimmed, so a value like "x\r\nBcc: y" cannot start a header.
 * TPL_BODY: LF, CRLF and TAB are kept as written; any other control
 * character (a bare CR included) is dropped, from values and template alike.
 * Bytes >= 0x80 pass unchanged (UTF-8 is the MIME layer's business).
 *
 * Ownership: nothing is retained between calls. `tpl` is borrowed for the
 * call; lookup results are borrowed until the lookup is called again or the
 * render returns. Rendered text is appended to a caller-owned mf_buf whose
 * max bounds it; on any error the buffer is left as it was.
 * Syntax errors are MF_EINVAL with "line L, column C: ..." in err->detail
 * (columns count UTF-8 characters, from 1).
 */
#ifndef MF_MAIL_TEMPLATE_H
#define MF_MAIL_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define TPL_NAME_MAX 64               /* bytes in a field name */
#define TPL_MAX_DEPTH 16              /* nested spintax groups */
#define TPL_MAX_SRC (1024u * 1024)    /* bytes of template */

enum tpl_mode {
    TPL_BODY,
    TPL_HEADER
};

/* Returns the field's value, or NULL when the lead has no such field.
 * The name is lowercased and NUL-terminated. Borrowed (see above). */
typedef const char *(*tpl_lookup_fn)(void *ctx, const char *lowercased_name);

/* Syntax check only. MF_OK, MF_EINVAL (line/column in the detail),
 * MF_ELIMIT (template longer than TPL_MAX_SRC). err may be NULL. */
enum mf_rc tpl_check(const char *tpl, size_t len, struct mf_err *err);

/* Calls cb once per distinct field name (lowercased, in order of first use)
 * that appears without a fallback anywhere, in any spintax option: a lead
 * with a non-blank value for each of them renders under every seed.
 * MF_OK, MF_EINVAL, MF_ELIMIT, MF_ENOMEM. The name is borrowed for the
 * call. Nothing is reported when the syntax is bad. */
enum mf_rc tpl_required_fields(const char *tpl, size_t len,
                               void (*cb)(void *ctx, const char *name),
                               void *ctx, struct mf_err *err);

/* Renders tpl, appending to out. Syntax is checked first, so a bad
 * template is MF_EINVAL for every lead and seed. Then MF_ENOTFOUND (a field
 * without fallback is missing or blank in the chosen text; the detail names
 * it), MF_ELIMIT (out's max), MF_ENOMEM. */
enum mf_rc tpl_render(const char *tpl, size_t len, tpl_lookup_fn lookup,
                      void *ctx, uint64_t seed, enum tpl_mode mode,
                      struct mf_buf *out, struct mf_err *err);

/* A seed from two strings: the engine passes the lead's address and
 * "campaign/step". NULL counts as "". The same strings give the same seed
 * on every machine and version. */
uint64_t tpl_seed(const char *a, const char *b);

#endif
