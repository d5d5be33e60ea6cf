/*
 * engine/campaign internals: the small YAML tree campaign_yaml.c builds
 * from libyaml's events, and the typed accessors (also in campaign_yaml.c)
 * campaign.c validates it with. Only campaign_yaml.c includes yaml.h.
 *
 * The tree is bounded while it is built: one document, no anchors, aliases
 * or custom tags, no NUL in a scalar, at most CY_MAX_DEPTH levels,
 * CY_MAX_NODES nodes and CY_MAX_ITEMS entries per list or mapping; mapping
 * keys are scalars and unique. Every node carries its 1-based line and
 * column.
 *
 * Ownership: cy_load() hands out a tree the caller frees with cy_free();
 * every node owns its string and its children.
 */
#ifndef MF_ENGINE_CAMPAIGN_INT_H
#define MF_ENGINE_CAMPAIGN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define CY_MAX_DEPTH 16
#define CY_MAX_NODES 20000
#define CY_MAX_ITEMS 1000

enum cy_kind { CY_SCALAR, CY_SEQ, CY_MAP };

struct cy_node {
    enum cy_kind kind;
    int line, col;              /* 1-based position of the node's start */
    /* CY_SCALAR */
    char *str;                  /* owned, NUL-terminated, no NUL inside */
    size_t len;
    bool plain;                 /* plain style and no !!str tag */
    /* CY_SEQ: items; CY_MAP: key, value, key, value, ... (nkids even) */
    struct cy_node **kids;      /* owned */
    size_t nkids, cap;
};

/* Parses text (len bytes, UTF-8/16 as libyaml detects it) into *root.
 * An empty stream gives *root == NULL and MF_OK.
 * MF_ECONFIG (syntax error, anchor/alias, tag, several documents,
 * duplicate or non-scalar key), MF_ELIMIT (depth, nodes, items),
 * MF_ENOMEM. err->detail is "FILE:LINE:COL: what and how to fix". */
enum mf_rc cy_load(const char *text, size_t len, const char *file,
                   struct cy_node **root, struct mf_err *err);
void cy_free(struct cy_node *n);

/* Fills err with "FILE:LINE:COL: " + the message (line 0: "FILE: ").
 * Returns rc. file NULL reads as "<campaign>". */
enum mf_rc cy_error(struct mf_err *err, enum mf_rc rc, const char *file,
                    int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* ---- typed accessors (campaign_yaml.c) ---- */

/* Validation context: the file name for messages, the caller's error, and
 * the bytes of text kept so far (bounded by CAMPAIGN_MAX_TOTAL). */
struct cy_ctx {
    const char *file;
    struct mf_err *err;
    size_t total;
};

/* cy_error at n's position (1:1 when n is NULL). Returns rc. */
enum mf_rc cy_fail(struct cy_ctx *c, const struct cy_node *n, enum mf_rc rc,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The entry of the NULL-terminated list known that s is a likely typo of
 * (case-insensitive edit distance 1 for names of up to 4 letters, else 2),
 * or NULL. */
const char *cy_suggest(const char *s, const char *const *known);
bool cy_in_list(const char *s, const char *const *list);
/* MF_ECONFIG on the first key of map not in known, with a "did you mean"
 * or the list of keys; where names the mapping ("step 2"). */
enum mf_rc cy_check_keys(struct cy_ctx *c, const struct cy_node *map,
                         const char *const *known, const char *where);
/* The value for key in map, or NULL (borrowed). */
const struct cy_node *cy_get(const struct cy_node *map, const char *key);
/* The key node for key in map (for positions), or map itself. */
const struct cy_node *cy_key(const struct cy_node *map, const char *key);
/* MF_ECONFIG "WHAT must be KIND, not ..." unless n is of kind. */
enum mf_rc cy_expect(struct cy_ctx *c, const struct cy_node *n,
                     enum cy_kind kind, const char *what);

enum cy_text_mode { CY_ONE_LINE, CY_MULTI_LINE };
/* A non-blank text of at most max bytes without NUL or control characters
 * (CY_MULTI_LINE allows TAB and LF); *out is a copy the caller frees.
 * MF_ECONFIG, MF_ELIMIT (max, or the campaign's total), MF_ENOMEM. */
enum mf_rc cy_text(struct cy_ctx *c, const struct cy_node *n, const char *what,
                   enum cy_text_mode mode, size_t max, char **out);
/* As cy_text for map[key]; absent or null leaves *out NULL. */
enum mf_rc cy_opt_text(struct cy_ctx *c, const struct cy_node *map,
                       const char *key, const char *what,
                       enum cy_text_mode mode, size_t max, char **out);
/* true/yes/on, false/no/off (any case). */
enum mf_rc cy_bool(struct cy_ctx *c, const struct cy_node *n, const char *what,
                   bool *out);
/* Decimal digits only, lo..hi. */
enum mf_rc cy_int(struct cy_ctx *c, const struct cy_node *n, const char *what,
                  long lo, long hi, long *out);

/* "a string", "a list", "a mapping" — for messages. */
const char *cy_kind_name(enum cy_kind k);
/* A plain scalar YAML reads as null: "", "~", "null", "Null", "NULL". */
bool cy_is_null(const struct cy_node *n);

#endif
