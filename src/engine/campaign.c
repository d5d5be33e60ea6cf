/*
 * engine/campaign — validation of the YAML tree (campaign_yaml.c) into a
 * struct campaign_spec, file loading, and the weighted variant pick.
 */
#include "engine/campaign.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/campaign_int.h"

static const char *const ROOT_KEYS[] = {
    "name", "from_name", "timezone_field", "window", "gap", "stop_on",
    "stop_company_on_reply", "auto_reply", "unsubscribe", "postal_address", "html",
    "steps", "placement", NULL};
static const char *const PLACEMENT_KEYS[] = {"every", "seeds", "pause_below", "wait", NULL};
static const char *const WINDOW_KEYS[] = {"start", "end", "days", NULL};
static const char *const GAP_KEYS[] = {"min", "max", NULL};
static const char *const UNSUB_KEYS[] = {"text", "url", "mailto", NULL};
static const char *const STEP_KEYS[] = {"delay", "new_thread", "subject", "body",
                                        NULL};
static const char *const VARIANT_KEYS[] = {"text", "weight", NULL};
static const char *const STOP_NAMES[] = {"reply", "bounce", "unsubscribe",
                                         "auto_reply", "complaint", NULL};
static const char *const AUTO_REPLY_MODES[] = {"ignore", "defer", NULL};

/* [a-z0-9._-]{1,64}, plus A-Z when upper_ok (ASCII, whatever the locale). */
static bool name_ok(const char *s, bool upper_ok)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-' ||
              (upper_ok && *s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

/* ---- window, gap, stop_on, unsubscribe ------------------------------- */

/* "H:MM" or "HH:MM", 00:00..23:59 → minutes; -1 if malformed. */
static int parse_hhmm(const char *s)
{
    int h = 0, digits = 0;
    while (isdigit((unsigned char)*s) && digits < 2) {
        h = h * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || *s++ != ':' || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]) || s[2])
        return -1;
    int m = (s[0] - '0') * 10 + (s[1] - '0');
    if (h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

static enum mf_rc get_time(struct cy_ctx *c, const struct cy_node *n,
                           const char *what, int *out)
{
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, what);
    if (rc != MF_OK)
        return rc;
    int v = parse_hhmm(n->str);
    if (v < 0)
        return cy_fail(c, n, MF_ECONFIG,
                       "%s is '%.20s'; write a 24-hour time from 00:00 to 23:59 "
                       "as \"HH:MM\", e.g. \"09:00\"",
                       what, n->str);
    *out = v;
    return MF_OK;
}

#define WEEKDAYS 0x3eu
#define EVERYDAY 0x7fu

/* A day name, "weekdays" or "everyday" → bits; 0 if unknown. */
static unsigned day_bits(const char *s)
{
    static const char *const names[7][3] = {
        {"sun", "sunday", NULL},      {"mon", "monday", NULL},
        {"tue", "tuesday", "tues"},   {"wed", "wednesday", NULL},
        {"thu", "thursday", "thurs"}, {"fri", "friday", NULL},
        {"sat", "saturday", NULL}};
    for (unsigned d = 0; d < 7; d++)
        for (size_t i = 0; i < 3 && names[d][i]; i++)
            if (!strcasecmp(s, names[d][i]))
                return 1u << d;
    if (!strcasecmp(s, "weekdays"))
        return WEEKDAYS;
    if (!strcasecmp(s, "everyday") || !strcasecmp(s, "every day") ||
        !strcasecmp(s, "daily"))
        return EVERYDAY;
    return 0;
}

static enum mf_rc one_day(struct cy_ctx *c, const struct cy_node *n, unsigned *mask)
{
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, "a day in 'window.days'");
    if (rc != MF_OK)
        return rc;
    unsigned b = day_bits(n->str);
    if (!b)
        return cy_fail(c, n, MF_ECONFIG,
                       "'%.30s' is not a day; use mon, tue, wed, thu, fri, sat, "
                       "sun, weekdays or everyday%s",
                       n->str,
                       strchr(n->str, ',') ? " (as a list: [mon, tue])" : "");
    *mask |= b;
    return MF_OK;
}

static enum mf_rc parse_window(struct cy_ctx *c, const struct cy_node *w,
                               struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, w, CY_MAP, "'window'");
    if (rc == MF_OK)
        rc = cy_check_keys(c, w, WINDOW_KEYS, "'window'");
    const struct cy_node *n;
    if (rc == MF_OK && (n = cy_get(w, "start")))
        rc = get_time(c, n, "'window.start'", &s->window_start_min);
    if (rc == MF_OK && (n = cy_get(w, "end")))
        rc = get_time(c, n, "'window.end'", &s->window_end_min);
    if (rc == MF_OK && s->window_end_min <= s->window_start_min) {
        n = cy_get(w, "end") ? cy_get(w, "end") : w;
        return cy_fail(c, n, MF_ECONFIG,
                       "'window.end' (%02d:%02d) must be after 'window.start' "
                       "(%02d:%02d); windows past midnight are not supported",
                       s->window_end_min / 60, s->window_end_min % 60,
                       s->window_start_min / 60, s->window_start_min % 60);
    }
    if (rc != MF_OK || !(n = cy_get(w, "days")))
        return rc;
    unsigned mask = 0;
    if (n->kind == CY_SEQ) {
        if (!n->nkids)
            return cy_fail(c, n, MF_ECONFIG,
                           "'window.days' is empty; list at least one day, e.g. "
                           "[mon, tue, wed, thu, fri]");
        for (size_t i = 0; i < n->nkids && rc == MF_OK; i++)
            rc = one_day(c, n->kids[i], &mask);
    } else if (n->kind == CY_SCALAR) {
        rc = one_day(c, n, &mask);
    } else {
        rc = cy_expect(c, n, CY_SEQ, "'window.days'");
    }
    if (rc == MF_OK)
        s->days_mask = mask;
    return rc;
}

static enum mf_rc parse_gap(struct cy_ctx *c, const struct cy_node *g,
                            struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, g, CY_MAP, "'gap'");
    if (rc == MF_OK)
        rc = cy_check_keys(c, g, GAP_KEYS, "'gap'");
    const struct cy_node *n;
    long v;
    if (rc == MF_OK && (n = cy_get(g, "min")) &&
        (rc = cy_int(c, n, "'gap.min'", 1, CAMPAIGN_MAX_GAP_S, &v)) == MF_OK)
        s->gap_min_s = (int)v;
    if (rc == MF_OK && (n = cy_get(g, "max")) &&
        (rc = cy_int(c, n, "'gap.max'", 1, CAMPAIGN_MAX_GAP_S, &v)) == MF_OK)
        s->gap_max_s = (int)v;
    if (rc == MF_OK && s->gap_min_s > s->gap_max_s)
        return cy_fail(c, cy_get(g, "min") ? cy_get(g, "min") : g, MF_ECONFIG,
                       "'gap.min' (%d s) is more than 'gap.max' (%d s); make min "
                       "<= max",
                       s->gap_min_s, s->gap_max_s);
    return rc;
}

static enum mf_rc parse_stop_on(struct cy_ctx *c, const struct cy_node *n,
                                struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, n, CY_SEQ, "'stop_on'");
    unsigned mask = 0;
    for (size_t i = 0; rc == MF_OK && i < n->nkids; i++) {
        const struct cy_node *e = n->kids[i];
        rc = cy_expect(c, e, CY_SCALAR, "an entry of 'stop_on'");
        if (rc != MF_OK)
            break;
        size_t k = 0;
        while (STOP_NAMES[k] && strcmp(e->str, STOP_NAMES[k]))
            k++;
        if (STOP_NAMES[k]) {
            mask |= 1u << k;
            continue;
        }
        const char *sug = cy_suggest(e->str, STOP_NAMES);
        char hint[64] = "";
        if (sug)
            snprintf(hint, sizeof hint, "did you mean '%s'? ", sug);
        return cy_fail(c, e, MF_ECONFIG,
                       "'%.30s' is not a stop event; %suse reply, bounce, "
                       "unsubscribe, auto_reply or complaint",
                       e->str, hint);
    }
    if (rc == MF_OK && !(mask & CAMPAIGN_STOP_UNSUBSCRIBE))
        return cy_fail(c, n, MF_ECONFIG,
                       "'stop_on' must include unsubscribe: an opt-out is always "
                       "honoured (CAN-SPAM, RFC 8058); add it to the list");
    if (rc == MF_OK)
        s->stop_mask = mask;
    return rc;
}

/* auto_reply: ignore | defer. Stopping is stop_on's: both at once is an error. */
static enum mf_rc parse_auto_reply(struct cy_ctx *c, const struct cy_node *n,
                                   const struct cy_node *stop_on,
                                   struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, n, CY_SCALAR, "'auto_reply'");
    if (rc == MF_OK && !strcasecmp(n->str, "stop"))
        return cy_fail(c, n, MF_ECONFIG,
                       "to stop a sequence on an out-of-office, list auto_reply in "
                       "'stop_on' (e.g. stop_on: [reply, bounce, unsubscribe, "
                       "auto_reply]); 'auto_reply' is ignore or defer");
    if (rc == MF_OK && strcasecmp(n->str, "ignore") && strcasecmp(n->str, "defer")) {
        const char *sug = cy_suggest(n->str, AUTO_REPLY_MODES);
        return cy_fail(c, n, MF_ECONFIG,
                       "'auto_reply' is '%.30s'; %s%s%suse ignore (the sequence goes "
                       "on) or defer (the next step waits for the return date the "
                       "out-of-office states)",
                       n->str, sug ? "did you mean '" : "", sug ? sug : "",
                       sug ? "'? " : "");
    }
    if (rc != MF_OK)
        return rc;
    s->defer_on_auto_reply = !strcasecmp(n->str, "defer");
    for (size_t i = 0; s->defer_on_auto_reply && stop_on && i < stop_on->nkids; i++) {
        const struct cy_node *e = stop_on->kids[i];
        if (e->kind == CY_SCALAR && !strcmp(e->str, "auto_reply"))
            return cy_fail(c, n, MF_ECONFIG,
                           "'auto_reply: defer' waits for the out-of-office's return "
                           "date, but 'stop_on' lists auto_reply (line %d), which ends "
                           "the sequence; keep one: remove auto_reply from 'stop_on', "
                           "or write auto_reply: ignore",
                           e->line);
    }
    return MF_OK;
}

static enum mf_rc parse_placement(struct cy_ctx *c, const struct cy_node *p,
                                  struct campaign_placement *out)
{
    enum mf_rc rc = cy_expect(c, p, CY_MAP, "'placement'");
    if (rc == MF_OK)
        rc = cy_check_keys(c, p, PLACEMENT_KEYS, "'placement'");
    const struct cy_node *n = rc == MF_OK ? cy_get(p, "every") : NULL;
    long v = 0;
    if (rc == MF_OK && !n)
        return cy_fail(c, p, MF_ECONFIG, "'placement' needs 'every: 7' (days between checks)");
    if (rc == MF_OK && (rc = cy_int(c, n, "'placement.every' (days)", 1, 365, &v)) == MF_OK)
        out->every_days = (int)v;
    if (rc == MF_OK && (n = cy_get(p, "pause_below")) && !cy_is_null(n) &&
        (rc = cy_int(c, n, "'placement.pause_below' (percent)", 0, 100, &v)) == MF_OK)
        out->pause_below = (int)v;
    if (rc == MF_OK && (n = cy_get(p, "wait")) && !cy_is_null(n) &&
        (rc = cy_int(c, n, "'placement.wait' (seconds)", 10, 3600, &v)) == MF_OK)
        out->wait_s = (int)v;
    n = rc == MF_OK ? cy_get(p, "seeds") : NULL;
    if (rc == MF_OK && (!n || cy_is_null(n)))
        return cy_fail(c, p, MF_ECONFIG, "'placement' needs 'seeds: [gmail-seed, "
                       "outlook-seed]': your mailboxes outside this sender's domain");
    if (rc == MF_OK)
        rc = cy_expect(c, n, CY_SEQ, "'placement.seeds'");
    if (rc == MF_OK && (n->nkids == 0 || n->nkids > 32))
        return cy_fail(c, n, MF_ECONFIG, "'placement.seeds' lists 1 to 32 mailboxes");
    if (rc == MF_OK && !(out->seeds = calloc(n->nkids, sizeof *out->seeds)))
        return mf_err_set(c->err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    for (size_t i = 0; rc == MF_OK && i < n->nkids; i++) {
        rc = cy_text(c, n->kids[i], "a seed of 'placement.seeds'", CY_ONE_LINE, 63,
                     &out->seeds[i]);
        out->nseeds += rc == MF_OK;
    }
    return rc;
}

static bool https_url_ok(const char *u)
{
    if (strncasecmp(u, "https://", 8))
        return false;
    const char *host = u + 8;
    if (!*host || strchr("/?#:@", *host))
        return false;
    return !strpbrk(u, " <>\"");
}

static bool mailto_ok(const char *a)
{
    const char *at = strchr(a, '@');
    return at && at != a && at[1] && !strchr(at + 1, '@') &&
           !strpbrk(a, " <>,;:()[]\\\"");
}

static enum mf_rc parse_unsubscribe(struct cy_ctx *c, const struct cy_node *u,
                                    struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, u, CY_MAP, "'unsubscribe'");
    if (rc == MF_OK)
        rc = cy_check_keys(c, u, UNSUB_KEYS, "'unsubscribe'");
    if (rc != MF_OK)
        return rc;
    const struct cy_node *t = cy_get(u, "text");
    if (!t)
        return cy_fail(c, u, MF_ECONFIG,
                       "'unsubscribe' has no 'text'; add the footer, e.g. text: "
                       "\"Reply 'unsubscribe' and I won't write again.\"");
    rc = cy_text(c, t, "'unsubscribe.text'", CY_MULTI_LINE, CAMPAIGN_MAX_TEXT,
                 &s->unsub_text);
    if (rc == MF_OK)
        rc = cy_opt_text(c, u, "url", "'unsubscribe.url'", CY_ONE_LINE,
                         CAMPAIGN_MAX_URL, &s->unsub_url);
    if (rc == MF_OK && s->unsub_url && !https_url_ok(s->unsub_url))
        return cy_fail(c, cy_get(u, "url"), MF_ECONFIG,
                       "'unsubscribe.url' must be an https:// URL with a host "
                       "and no spaces (one-click unsubscribe, RFC 8058), not "
                       "'%.60s'",
                       s->unsub_url);
    if (rc == MF_OK)
        rc = cy_opt_text(c, u, "mailto", "'unsubscribe.mailto'", CY_ONE_LINE, 254,
                         &s->unsub_mailto);
    if (rc == MF_OK && s->unsub_mailto && !mailto_ok(s->unsub_mailto))
        return cy_fail(c, cy_get(u, "mailto"), MF_ECONFIG,
                       "'unsubscribe.mailto' must be a bare address like "
                       "unsubscribe@example.com%s, not '%.60s'",
                       strncasecmp(s->unsub_mailto, "mailto:", 7)
                           ? ""
                           : " (without 'mailto:')",
                       s->unsub_mailto);
    return rc;
}

/* ---- steps ----------------------------------------------------------- */

/* "N days", "N day", "N business days", "N business day", "Nd", "Nbd". */
static bool parse_delay(const char *s, long *days, bool *business)
{
    long n = 0;
    int digits = 0;
    while (isdigit((unsigned char)*s) && digits < 4) {
        n = n * 10 + (*s++ - '0');
        digits++;
    }
    if (!digits || isdigit((unsigned char)*s))
        return false;
    while (*s == ' ')
        s++;
    *business = false;
    if (!*s && n == 0) { /* a bare 0: "no delay" */
        *days = 0;
        return true;
    }
    if (!strcasecmp(s, "d") || !strcasecmp(s, "day") || !strcasecmp(s, "days")) {
        *days = n;
        return true;
    }
    if (!strcasecmp(s, "bd")) {
        *business = true;
        *days = n;
        return true;
    }
    if (strncasecmp(s, "business", 8) || s[8] != ' ')
        return false;
    s += 8;
    while (*s == ' ')
        s++;
    if (strcasecmp(s, "day") && strcasecmp(s, "days"))
        return false;
    *business = true;
    *days = n;
    return true;
}

static enum mf_rc one_variant(struct cy_ctx *c, const struct cy_node *n,
                              const char *what, bool subject,
                              struct campaign_variant *v)
{
    enum cy_text_mode mode = subject ? CY_ONE_LINE : CY_MULTI_LINE;
    size_t max = subject ? CAMPAIGN_MAX_SUBJECT : CAMPAIGN_MAX_TEXT;
    v->weight = 1;
    if (n->kind != CY_MAP) {
        v->line = n->line;
        return cy_text(c, n, what, mode, max, &v->text);
    }
    enum mf_rc rc = cy_check_keys(c, n, VARIANT_KEYS, what);
    if (rc != MF_OK)
        return rc;
    const struct cy_node *t = cy_get(n, "text"), *w = cy_get(n, "weight");
    if (!t)
        return cy_fail(c, n, MF_ECONFIG, "%s has no 'text'; add text: \"...\"",
                       what);
    long weight = 1;
    if (w && (rc = cy_int(c, w, "a variant's 'weight'", 1, CAMPAIGN_MAX_WEIGHT,
                          &weight)) != MF_OK)
        return rc;
    v->weight = (unsigned)weight;
    v->line = t->line;
    return cy_text(c, t, what, mode, max, &v->text);
}

/* A string or a list of variants (strings or {text, weight}). */
static enum mf_rc parse_variants(struct cy_ctx *c, const struct cy_node *n,
                                 const char *what, bool subject,
                                 struct campaign_variant **out, size_t *nout)
{
    if (n->kind == CY_MAP)
        return cy_fail(c, n, MF_ECONFIG,
                       "%s must be a string or a list of variants, not a "
                       "mapping; for one weighted variant write '- { text: ..., "
                       "weight: 2 }'",
                       what);
    size_t count = n->kind == CY_SEQ ? n->nkids : 1;
    if (count == 0)
        return cy_fail(c, n, MF_ECONFIG,
                       "%s is an empty list; give at least one text", what);
    if (count > CAMPAIGN_MAX_VARIANTS)
        return cy_fail(c, n, MF_ELIMIT, "%s has %zu variants; the limit is %d",
                       what, count, CAMPAIGN_MAX_VARIANTS);
    *out = calloc(count, sizeof **out);
    if (!*out)
        return mf_err_set(c->err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    *nout = count;
    if (n->kind == CY_SCALAR)
        return one_variant(c, n, what, subject, &(*out)[0]);
    for (size_t i = 0; i < count; i++) {
        const struct cy_node *item = n->kids[i];
        char vwhat[80];
        snprintf(vwhat, sizeof vwhat, "%s variant %zu", what, i + 1);
        if (item->kind == CY_SEQ)
            return cy_expect(c, item, CY_SCALAR, vwhat);
        enum mf_rc rc = one_variant(c, item, vwhat, subject, &(*out)[i]);
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

static enum mf_rc parse_step(struct cy_ctx *c, const struct cy_node *n, size_t idx,
                             struct campaign_step *st)
{
    char where[32], what[64];
    snprintf(where, sizeof where, "step %zu", idx + 1);
    st->line = n->line;
    enum mf_rc rc = cy_expect(c, n, CY_MAP, where);
    if (rc == MF_OK)
        rc = cy_check_keys(c, n, STEP_KEYS, where);
    if (rc != MF_OK)
        return rc;

    const struct cy_node *d = cy_get(n, "delay");
    if (d && cy_is_null(d))
        d = NULL;
    if (d) {
        snprintf(what, sizeof what, "the 'delay' of %s", where);
        long days;
        bool bd;
        if ((rc = cy_expect(c, d, CY_SCALAR, what)) != MF_OK)
            return rc;
        if (!parse_delay(d->str, &days, &bd))
            return cy_fail(c, d, MF_ECONFIG,
                           "%s is '%.30s'; write 'N days' or 'N business days' "
                           "(N from 1 to %d), e.g. '3 business days'",
                           what, d->str, CAMPAIGN_MAX_DELAY_DAYS);
        if (idx == 0 && days != 0)
            return cy_fail(c, d, MF_ECONFIG,
                           "step 1 is sent at enrolment and takes no delay; "
                           "remove 'delay' (each later step counts from the one "
                           "before)");
        if (idx > 0 && (days < 1 || days > CAMPAIGN_MAX_DELAY_DAYS))
            return cy_fail(c, d, MF_ECONFIG,
                           "%s must be from 1 to %d days, not %ld", what,
                           CAMPAIGN_MAX_DELAY_DAYS, days);
        st->delay_days = (int)days;
        st->business_days = bd;
    } else if (idx > 0) {
        return cy_fail(c, n, MF_ECONFIG,
                       "%s has no 'delay'; add e.g. 'delay: 3 days' or 'delay: 3 "
                       "business days' (counted from the step before)",
                       where);
    }

    const struct cy_node *t = cy_get(n, "new_thread");
    if (t && !cy_is_null(t)) {
        snprintf(what, sizeof what, "'new_thread' of %s", where);
        if ((rc = cy_bool(c, t, what, &st->new_thread)) != MF_OK)
            return rc;
    }
    if (idx == 0)
        st->new_thread = true;

    const struct cy_node *s = cy_get(n, "subject");
    snprintf(what, sizeof what, "the 'subject' of %s", where);
    if (!st->new_thread) {
        if (s && !cy_is_null(s))
            return cy_fail(c, cy_key(n, "subject"), MF_ECONFIG,
                           "%s follows up in the thread of the step before "
                           "and takes no subject ('Re: ' + the first one); "
                           "remove 'subject', or add 'new_thread: true'",
                           where);
    } else if (!s) {
        if (idx == 0)
            return cy_fail(c, n, MF_ECONFIG,
                           "step 1 has no 'subject'; add e.g. subject: "
                           "\"Quick question\"");
        return cy_fail(c, n, MF_ECONFIG,
                       "%s starts a new thread (new_thread: true) and needs a "
                       "'subject'; add one, or remove new_thread",
                       where);
    } else if ((rc = parse_variants(c, s, what, true, &st->subjects,
                                    &st->nsubjects)) != MF_OK) {
        return rc;
    }

    const struct cy_node *b = cy_get(n, "body");
    if (!b)
        return cy_fail(c, n, MF_ECONFIG,
                       "%s has no 'body'; add 'body: |' and the text indented on "
                       "the lines below",
                       where);
    snprintf(what, sizeof what, "the 'body' of %s", where);
    return parse_variants(c, b, what, false, &st->bodies, &st->nbodies);
}

static enum mf_rc parse_steps(struct cy_ctx *c, const struct cy_node *n,
                              struct campaign_spec *s)
{
    enum mf_rc rc = cy_expect(c, n, CY_SEQ, "'steps'");
    if (rc != MF_OK)
        return rc;
    if (!n->nkids)
        return cy_fail(c, n, MF_ECONFIG,
                       "'steps' is empty; add at least one step with a subject "
                       "and a body");
    if (n->nkids > CAMPAIGN_MAX_STEPS)
        return cy_fail(c, n->kids[CAMPAIGN_MAX_STEPS], MF_ELIMIT,
                       "a campaign has at most %d steps; this is step %d",
                       CAMPAIGN_MAX_STEPS, CAMPAIGN_MAX_STEPS + 1);
    s->steps = calloc(n->nkids, sizeof *s->steps);
    if (!s->steps)
        return mf_err_set(c->err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    s->nsteps = n->nkids;
    for (size_t i = 0; i < n->nkids && rc == MF_OK; i++)
        rc = parse_step(c, n->kids[i], i, &s->steps[i]);
    return rc;
}

/* ---- the whole file -------------------------------------------------- */

static enum mf_rc required(struct cy_ctx *c, const struct cy_node *root,
                           const char *key, const char *example,
                           const struct cy_node **out)
{
    *out = cy_get(root, key);
    if (!*out)
        return cy_fail(c, root, MF_ECONFIG,
                       "the required key '%s' is missing; "
                       "add e.g. %s",
                       key, example);
    return MF_OK;
}

static enum mf_rc parse_root(struct cy_ctx *c, const struct cy_node *root,
                             struct campaign_spec *s)
{
    for (size_t i = 0; i < root->nkids; i += 2)
        if (cy_in_list(root->kids[i]->str, STEP_KEYS))
            return cy_fail(c, root->kids[i], MF_ECONFIG,
                           "'%s' belongs to a step: indent it under 'steps:' "
                           "as part of a '- ' item",
                           root->kids[i]->str);
    enum mf_rc rc = cy_check_keys(c, root, ROOT_KEYS, "the campaign");
    const struct cy_node *n;
    if (rc == MF_OK)
        rc = required(c, root, "name", "'name: q4-outreach'", &n);
    if (rc == MF_OK)
        rc = cy_text(c, n, "'name'", CY_ONE_LINE, 64, &s->name);
    if (rc == MF_OK && !name_ok(s->name, false))
        return cy_fail(c, n, MF_ECONFIG,
                       "'name' may only hold a-z, 0-9, '.', '_' and '-' (1 to 64 "
                       "characters), e.g. q4-outreach");
    if (rc == MF_OK)
        rc = cy_opt_text(c, root, "from_name", "'from_name'", CY_ONE_LINE,
                         CAMPAIGN_MAX_FROM_NAME, &s->from_name);
    if (rc == MF_OK)
        rc = cy_opt_text(c, root, "timezone_field", "'timezone_field'", CY_ONE_LINE,
                         64, &s->timezone_field);
    if (rc == MF_OK && s->timezone_field && !name_ok(s->timezone_field, true))
        return cy_fail(c, cy_get(root, "timezone_field"), MF_ECONFIG,
                       "'timezone_field' names a lead field: letters, digits, "
                       "'.', '_' or '-' only, e.g. timezone");
    if (rc == MF_OK && !s->timezone_field &&
        !(s->timezone_field = strdup("timezone")))
        return mf_err_set(c->err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    if (rc == MF_OK && (n = cy_get(root, "window")) && !cy_is_null(n))
        rc = parse_window(c, n, s);
    if (rc == MF_OK && (n = cy_get(root, "gap")) && !cy_is_null(n))
        rc = parse_gap(c, n, s);
    if (rc == MF_OK && (n = cy_get(root, "stop_on")) && !cy_is_null(n))
        rc = parse_stop_on(c, n, s);
    if (rc == MF_OK && (n = cy_get(root, "stop_company_on_reply")) &&
        !cy_is_null(n))
        rc = cy_bool(c, n, "'stop_company_on_reply'", &s->stop_company_on_reply);
    if (rc == MF_OK && (n = cy_get(root, "auto_reply")) && !cy_is_null(n))
        rc = parse_auto_reply(c, n, cy_get(root, "stop_on"), s);
    if (rc == MF_OK && (n = cy_get(root, "html")) && !cy_is_null(n))
        rc = cy_bool(c, n, "'html'", &s->html);
    if (rc == MF_OK && (n = cy_get(root, "placement")) && !cy_is_null(n))
        rc = parse_placement(c, n, &s->placement);
    if (rc == MF_OK)
        rc = required(c, root, "unsubscribe",
                      "'unsubscribe:' with 'text: ...' "
                      "indented below",
                      &n);
    if (rc == MF_OK)
        rc = parse_unsubscribe(c, n, s);
    if (rc == MF_OK)
        rc = required(c, root, "postal_address",
                      "'postal_address: \"Contoso Ltd, 1 Main St, Springfield\"' "
                      "(CAN-SPAM)",
                      &n);
    if (rc == MF_OK)
        rc = cy_text(c, n, "'postal_address'", CY_MULTI_LINE, CAMPAIGN_MAX_TEXT,
                     &s->postal_address);
    if (rc == MF_OK)
        rc = required(c, root, "steps",
                      "'steps:' with '- subject: ...' and "
                      "'body: ...' below",
                      &n);
    if (rc == MF_OK)
        rc = parse_steps(c, n, s);
    return rc;
}

enum mf_rc campaign_parse(const char *text, size_t len, const char *filename,
                          struct campaign_spec **out, struct mf_err *err)
{
    if (!out)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "campaign_parse: out is NULL");
    *out = NULL;
    if (!text)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "campaign_parse: text is NULL");
    struct cy_ctx c = {.file = filename ? filename : "<campaign>", .err = err};
    if (len > CAMPAIGN_MAX_FILE)
        return cy_error(err, MF_ELIMIT, c.file, 0, 0,
                        "the file is %zu bytes; a campaign file may be at most "
                        "%u — is this the right file?",
                        len, CAMPAIGN_MAX_FILE);
    struct cy_node *root;
    enum mf_rc rc = cy_load(text, len, c.file, &root, err);
    if (rc != MF_OK)
        return rc;
    if (!root || cy_is_null(root)) {
        cy_free(root);
        return cy_error(err, MF_ECONFIG, c.file, 1, 1,
                        "the file is empty; start from examples/campaign.yaml");
    }
    struct campaign_spec *s = calloc(1, sizeof *s);
    if (!s) {
        cy_free(root);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    }
    s->window_start_min = 9 * 60;
    s->window_end_min = 17 * 60;
    s->days_mask = WEEKDAYS;
    s->gap_min_s = 60;
    s->gap_max_s = 190;
    s->stop_mask =
        CAMPAIGN_STOP_REPLY | CAMPAIGN_STOP_BOUNCE | CAMPAIGN_STOP_UNSUBSCRIBE;
    rc = root->kind == CY_MAP
             ? parse_root(&c, root, s)
             : cy_fail(&c, root, MF_ECONFIG,
                       "a campaign file is a mapping of keys (name:, steps:, ...), "
                       "not %s; start from examples/campaign.yaml",
                       cy_kind_name(root->kind));
    cy_free(root);
    if (rc != MF_OK) {
        campaign_free(s);
        return rc;
    }
    *out = s;
    return MF_OK;
}

enum mf_rc campaign_load(const char *path, struct campaign_spec **out,
                         struct mf_err *err)
{
    if (!out || !path)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "campaign_load: path or out is NULL");
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cy_error(err, MF_EIO, path, 0, 0,
                        "cannot open the campaign file: %s; check the path",
                        strerror(errno));
    size_t cap = CAMPAIGN_MAX_FILE + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_LOCAL, "out of memory");
    }
    size_t got;
    while (len < cap && (got = fread(buf + len, 1, cap - len, f)) > 0)
        len += got;
    int read_error = ferror(f);
    int saved = errno;
    fclose(f);
    enum mf_rc rc;
    if (read_error)
        rc = cy_error(err, MF_EIO, path, 0, 0, "cannot read the campaign file: %s",
                      strerror(saved));
    else if (len > CAMPAIGN_MAX_FILE)
        rc = cy_error(err, MF_ELIMIT, path, 0, 0,
                      "the file is over %u bytes; a campaign file is far "
                      "smaller — is this the right file?",
                      CAMPAIGN_MAX_FILE);
    else
        rc = campaign_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static void free_variants(struct campaign_variant *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].text);
    free(v);
}

void campaign_free(struct campaign_spec *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->steps && i < c->nsteps; i++) {
        free_variants(c->steps[i].subjects, c->steps[i].nsubjects);
        free_variants(c->steps[i].bodies, c->steps[i].nbodies);
    }
    free(c->steps);
    free(c->name);
    free(c->from_name);
    free(c->timezone_field);
    free(c->unsub_text);
    free(c->unsub_url);
    free(c->unsub_mailto);
    free(c->postal_address);
    for (size_t i = 0; i < c->placement.nseeds; i++)
        free(c->placement.seeds[i]);
    free(c->placement.seeds);
    free(c);
}

/* splitmix64: consecutive seeds give well-spread values. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

size_t campaign_pick_variant(const struct campaign_variant *v, size_t n,
                             uint64_t seed)
{
    if (!v || n == 0)
        return 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += v[i].weight;
    uint64_t r = mix64(seed);
    if (total == 0)
        return (size_t)(r % n);
    r %= total;
    for (size_t i = 0; i < n; i++) {
        if (r < v[i].weight)
            return i;
        r -= v[i].weight;
    }
    return n - 1;
}
