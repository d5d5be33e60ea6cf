/*
 * engine/campaign — reads a campaign file (YAML, see examples/campaign.yaml)
 * into a struct campaign_spec: the sequence of steps with their subject and
 * body variants, the send window, the gap between sends, when to stop, and
 * the unsubscribe footer and postal address every message must carry.
 *
 * The file is parsed with libyaml's event API into a bounded tree and then
 * validated. Every error names the place and the fix, in err->detail:
 * "FILE:LINE:COL: what is wrong and how to fix it". Refused: YAML syntax
 * errors, several documents, anchors and aliases (no billion laughs), tags,
 * duplicate keys, unknown keys (with "did you mean" when one is close),
 * values of the wrong type, missing required keys, out-of-range values,
 * and texts over the limits below. Templates ({{field|fallback}},
 * {spin|tax}) are NOT checked here: the text is kept byte for byte.
 *
 * Values: an optional key with no value (or ~ / null) counts as absent;
 * booleans are true/false/yes/no/on/off; numbers are plain decimals; the
 * only tags accepted are !!str, !!map and !!seq (e.g. "name: !!str 2024").
 *
 * Defaults: timezone_field "timezone", window 09:00-17:00 Mon-Fri, gap
 * 60-190 s, stop_on reply+bounce+unsubscribe, stop_company_on_reply false,
 * auto_reply ignore, html false, variant weight 1. stop_on must include
 * unsubscribe (an opt-out is always honoured). auto_reply says what an
 * out-of-office does to the sequence: "ignore" (it goes on), or "defer"
 * (the next step waits for the return date the auto-reply states, see
 * mail/returndate.h); stopping is said by listing auto_reply in stop_on,
 * and stop_on with auto_reply together with "auto_reply: defer" is an
 * error. Step 1 always starts a thread
 * (new_thread is true there); a later step without new_thread is a
 * same-thread follow-up and has no subject ("Re: " + step 1's subject).
 *
 * Ownership: campaign_parse()/campaign_load() hand out a spec the caller
 * frees with campaign_free(); every string and array in it belongs to the
 * spec. The module keeps no state of its own.
 */
#ifndef MF_ENGINE_CAMPAIGN_H
#define MF_ENGINE_CAMPAIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CAMPAIGN_MAX_FILE (1024u * 1024)   /* bytes of YAML */
#define CAMPAIGN_MAX_TEXT (64u * 1024)     /* bytes per text / variant */
#define CAMPAIGN_MAX_TOTAL (1024u * 1024)  /* bytes of all texts together */
#define CAMPAIGN_MAX_SUBJECT 998           /* bytes: one header line */
#define CAMPAIGN_MAX_FROM_NAME 256         /* bytes */
#define CAMPAIGN_MAX_URL 1024              /* bytes of unsubscribe.url */
#define CAMPAIGN_MAX_STEPS 10
#define CAMPAIGN_MAX_VARIANTS 10           /* per subject / body */
#define CAMPAIGN_MAX_WEIGHT 1000
#define CAMPAIGN_MAX_DELAY_DAYS 365
#define CAMPAIGN_MAX_GAP_S 86400

struct campaign_variant {
    char *text;        /* owned; a subject is one line, a body may span many */
    unsigned weight;   /* 1..CAMPAIGN_MAX_WEIGHT, default 1 */
    int line;          /* where the text starts in the file */
};

struct campaign_step {
    int delay_days;         /* 0 for step 1; 1..365 after */
    bool business_days;     /* delay counts Mon-Fri only */
    bool new_thread;        /* true for step 1 and "new_thread: true" */
    struct campaign_variant *subjects;  /* owned; NULL when nsubjects == 0 */
    size_t nsubjects;       /* 0 exactly for a same-thread follow-up */
    struct campaign_variant *bodies;    /* owned; nbodies >= 1 */
    size_t nbodies;
    int line;               /* where the step starts in the file */
};

enum {
    CAMPAIGN_STOP_REPLY = 1,
    CAMPAIGN_STOP_BOUNCE = 2,
    CAMPAIGN_STOP_UNSUBSCRIBE = 4,
    CAMPAIGN_STOP_AUTO_REPLY = 8,
    CAMPAIGN_STOP_COMPLAINT = 16
};

/* Scheduled inbox-placement checks (engine/placement_sched). */
struct campaign_placement {
    int every_days;         /* 1..365; 0: no scheduled checks */
    char **seeds;           /* owned; seed mailboxes (account names), 1..32 */
    size_t nseeds;
    int pause_below;        /* percent in the inbox, 0..100; 0 never pauses */
    int wait_s;             /* seconds to look for the probes, 10..3600; 0: 300 */
};

struct campaign_spec {
    char *name;             /* [a-z0-9._-]{1,64} */
    char *from_name;        /* NULL when not given; one line, <= 256 bytes */
    char *timezone_field;   /* lead field with an IANA zone; [A-Za-z0-9_.-]{1,64} */
    char *unsub_text;       /* the footer; never NULL */
    char *unsub_url;        /* NULL or "https://..." (RFC 8058 one-click base) */
    char *unsub_mailto;     /* NULL or a bare address */
    char *postal_address;   /* never NULL (CAN-SPAM) */
    int window_start_min;   /* minutes after local midnight, 0..1439 */
    int window_end_min;     /* > window_start_min, <= 1439 */
    unsigned days_mask;     /* bit 0 = Sunday .. bit 6 = Saturday (tm_wday) */
    int gap_min_s, gap_max_s;  /* 1 <= min <= max <= 86400 */
    unsigned stop_mask;     /* CAMPAIGN_STOP_*; always has UNSUBSCRIBE */
    bool stop_company_on_reply;
    bool defer_on_auto_reply;  /* "auto_reply: defer"; never with
                                * CAMPAIGN_STOP_AUTO_REPLY in stop_mask */
    bool html;
    struct campaign_placement placement;
    struct campaign_step *steps;  /* owned; 1..CAMPAIGN_MAX_STEPS */
    size_t nsteps;
};

/*
 * Parses len bytes of YAML. filename (borrowed, may be NULL) only names the
 * file in messages. On success *out is the caller's (campaign_free).
 * On failure *out is NULL and err says where and why:
 * MF_ECONFIG (syntax, structure or a value is wrong), MF_ELIMIT (the text,
 * a list or the nesting is too big), MF_EINVAL (NULL text/out),
 * MF_ENOMEM.
 */
enum mf_rc campaign_parse(const char *text, size_t len, const char *filename,
                          struct campaign_spec **out, struct mf_err *err);

/* Reads path (at most CAMPAIGN_MAX_FILE bytes) and parses it. As
 * campaign_parse, plus MF_EIO when the file cannot be read. */
enum mf_rc campaign_load(const char *path, struct campaign_spec **out,
                         struct mf_err *err);

/* Frees the spec and everything in it; NULL is fine. */
void campaign_free(struct campaign_spec *c);

/*
 * Weighted pick: the index of the variant to use for a 64-bit seed (for
 * example a hash of lead id and step). Deterministic: the same seed always
 * gives the same index; over many seeds each variant comes up in proportion
 * to its weight. v is borrowed; returns 0 when n == 0 or v is NULL (callers
 * must not index an empty list). Weights of 0 are never picked unless all
 * are 0 (then the pick is uniform).
 */
size_t campaign_pick_variant(const struct campaign_variant *v, size_t n,
                             uint64_t seed);

#endif
