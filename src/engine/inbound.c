/* engine/inbound: classify, match, and apply what a message that came back
 * means, in one transaction with its event. See inbound.h. */
#include "engine/inbound.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "diag/providers.h"
#include "engine/campaign.h"
#include "engine/engine.h"
#include "engine/render.h"
#include "mail/returndate.h"
#include "util/log.h"
#include "util/tz.h"

/* Who and what a message was matched to. */
struct target {
    int64_t lead_id, campaign_id, outbox_id;
    int step;                       /* 1-based; 0 unknown */
    char mailbox[64];               /* the mailbox that sent it */
    char address[320];              /* the lead's address */
    char domain[256];
    char status[16];                /* the lead's status before any effect */
    char matched[16];
};

struct job {
    const struct inbound_cfg *cfg;
    struct store *st;
    const char *mailbox;
    int64_t now;
    const struct classify_result *cr;
    struct inbound_outcome *out;
    struct mf_err *err;
    char deferred[300];             /* what auto_reply: defer did, for the note; "" */
};

bool inbound_kind_parse(const char *s, enum classify_kind *kind)
{
    for (int k = 0; k < CLASSIFY_KIND_COUNT; k++)
        if (s && strcmp(s, classify_kind_name((enum classify_kind)k)) == 0) {
            *kind = (enum classify_kind)k;
            return true;
        }
    return false;
}

/* ---- identity ----------------------------------------------------------------------- */

/* The event's key: the Message-ID when there is one, else a hash of the
 * header block (the same bytes in every folder and after a rescan). */
static void source_key(const struct classify_result *cr, const char *raw, size_t len,
                       char *key, size_t size)
{
    if (cr->message_id[0]) {
        snprintf(key, size, "in:%s", cr->message_id);
        return;
    }
    size_t n = 0;
    while (n < len && n < INBOUND_RAW_MAX) {
        if (raw[n] == '\n' && (n + 1 == len || raw[n + 1] == '\n' ||
                               (raw[n + 1] == '\r' && n + 2 < len && raw[n + 2] == '\n')))
            break;
        n++;
    }
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)raw, n, NULL, 0);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(key, size, "in:h:%s", hex);
}

/* ---- matching ----------------------------------------------------------------------- */

static enum mf_rc load_lead(struct job *j, int64_t lead_id, struct target *t)
{
    struct store_lead l;
    enum mf_rc rc = store_lead_get(j->st, lead_id, &l, j->err);
    if (rc != MF_OK)
        return rc;
    t->lead_id = lead_id;
    snprintf(t->address, sizeof t->address, "%s", l.address);
    snprintf(t->domain, sizeof t->domain, "%s", l.domain);
    snprintf(t->status, sizeof t->status, "%s", l.status);
    store_lead_clear(&l);
    return MF_OK;
}

/* *t from an outbox message; MF_ENOTFOUND when its enrollment is gone. */
static enum mf_rc from_outbox(struct job *j, const struct store_outbox *ob, const char *how,
                              struct target *t)
{
    struct store_enrollment en;
    enum mf_rc rc = store_enrollment_get(j->st, ob->enrollment_id, &en, j->err);
    if (rc != MF_OK)
        return rc;
    memset(t, 0, sizeof *t);
    t->campaign_id = en.campaign_id;
    t->outbox_id = ob->id;
    t->step = ob->step + 1;
    snprintf(t->mailbox, sizeof t->mailbox, "%s", ob->mailbox);
    snprintf(t->matched, sizeof t->matched, "%s", how);
    return load_lead(j, en.lead_id, t);
}

/* Strict: a Message-ID the message names is one we sent. */
static enum mf_rc match_ids(struct job *j, struct target *t, bool *found)
{
    const struct classify_result *cr = j->cr;
    const char *ids[CLASSIFY_REFS_MAX + 2];
    size_t n = 0;
    if (cr->in_reply_to[0])
        ids[n++] = cr->in_reply_to;
    for (size_t i = cr->nreferences; i-- > 0 && n < CLASSIFY_REFS_MAX + 1;)
        ids[n++] = cr->references[i];
    if (cr->original_message_id[0])
        ids[n++] = cr->original_message_id;
    *found = false;
    for (size_t i = 0; i < n && !*found; i++) {
        struct store_outbox ob;
        enum mf_rc rc = store_outbox_by_message_id(j->st, ids[i], &ob, j->err);
        if (rc == MF_ENOTFOUND)
            continue;
        if (rc == MF_OK)
            rc = from_outbox(j, &ob, "strict", t);
        store_outbox_clear(&ob);
        if (rc == MF_ENOTFOUND)
            continue;
        if (rc != MF_OK)
            return rc;
        *found = true;
    }
    mf_err_clear(j->err);
    return MF_OK;
}

/* A bounce's failed recipient that this mailbox wrote to. */
static enum mf_rc match_rcpt(struct job *j, const char *address, struct target *t, bool *found)
{
    struct store_outbox ob;
    *found = false;
    enum mf_rc rc = store_outbox_latest_to(j->st, j->mailbox, address, &ob, j->err);
    if (rc == MF_OK)
        rc = from_outbox(j, &ob, "recipient", t);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(j->err);
        return MF_OK;
    }
    *found = rc == MF_OK;
    return rc;
}

/* The subject without reply and forward prefixes, for comparing threads. */
static const char *thread_core(const char *s)
{
    static const char *const prefixes[] = {"re:", "aw:", "sv:", "vs:", "antw:", "odp:",
                                           "r:", "rif:", "res:", "wg:", "fw:", "fwd:", "tr:"};
    bool again = true;
    while (again) {
        again = false;
        while (*s == ' ' || *s == '\t')
            s++;
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
            size_t n = strlen(prefixes[i]);
            if (strncasecmp(s, prefixes[i], n) == 0) {
                s += n;
                again = true;
                break;
            }
        }
    }
    return s;
}

static bool same_thread(const char *subject, const char *thread_subject)
{
    const char *a = thread_core(subject), *b = thread_core(thread_subject);
    return *b && strcasecmp(a, b) == 0;
}

/* Probable: the sender is a lead this mailbox wrote to, in the same thread. */
static enum mf_rc match_probable(struct job *j, struct target *t, bool *found)
{
    *found = false;
    struct store_lead l;
    enum mf_rc rc = store_lead_by_address(j->st, j->cr->from, &l, j->err);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(j->err);
        return MF_OK;
    }
    if (rc != MF_OK)
        return rc;
    int64_t lead_id = l.id;
    store_lead_clear(&l);
    struct store_enrollment en;
    rc = store_enrollment_probable(j->st, j->mailbox, lead_id, &en, j->err);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(j->err);
        return MF_OK;
    }
    if (rc != MF_OK || !same_thread(j->cr->subject, en.thread_subject))
        return rc;
    memset(t, 0, sizeof *t);
    t->campaign_id = en.campaign_id;
    t->step = en.next_step; /* the latest step sent, 1-based */
    snprintf(t->mailbox, sizeof t->mailbox, "%s", j->mailbox);
    snprintf(t->matched, sizeof t->matched, "probable");
    rc = load_lead(j, lead_id, t);
    *found = rc == MF_OK;
    return rc;
}

/* The mailto: unsubscribe: its subject carries the lead's sealed token. */
static enum mf_rc match_token(struct job *j, struct target *t, bool *found)
{
    *found = false;
    int64_t lead_id = 0, campaign_id = 0;
    if (!j->cfg->unsub_key || !j->cr->unsubscribe_token[0] ||
        !render_unsub_verify(j->cfg->unsub_key, j->cr->unsubscribe_token, &lead_id,
                             &campaign_id))
        return MF_OK;
    memset(t, 0, sizeof *t);
    t->campaign_id = campaign_id;
    snprintf(t->mailbox, sizeof t->mailbox, "%s", j->mailbox);
    snprintf(t->matched, sizeof t->matched, "token");
    enum mf_rc rc = load_lead(j, lead_id, t);
    if (rc == MF_ENOTFOUND) {
        mf_err_clear(j->err);
        return MF_OK;
    }
    *found = rc == MF_OK;
    return rc;
}

/* ---- effects ------------------------------------------------------------------------ */

/* The campaign's stop_on and company rule (defaults when it cannot be read). */
static void campaign_rules(struct job *j, int64_t campaign_id, unsigned *mask, bool *company)
{
    *mask = CAMPAIGN_STOP_REPLY | CAMPAIGN_STOP_BOUNCE | CAMPAIGN_STOP_UNSUBSCRIBE |
            CAMPAIGN_STOP_COMPLAINT;
    *company = false;
    struct store_campaign c;
    struct mf_err e;
    if (!campaign_id || store_campaign_by_id(j->st, campaign_id, &c, &e) != MF_OK)
        return;
    struct campaign_spec *spec = NULL;
    if (campaign_parse(c.spec, strlen(c.spec), c.name, &spec, &e) == MF_OK) {
        *mask = spec->stop_mask | CAMPAIGN_STOP_COMPLAINT;
        *company = spec->stop_company_on_reply;
    }
    campaign_free(spec);
    store_campaign_clear(&c);
}

/* Suppresses the lead, sets its status (bounced and complained say more
 * than unsubscribed: they stay) and stops every sequence of it. */
static enum mf_rc shut_out(struct job *j, const struct target *t, int64_t event_id,
                           const char *status, const char *why)
{
    char reason[400];
    snprintf(reason, sizeof reason, "%.300s (event %" PRId64 ")", why, event_id);
    enum mf_rc rc = store_suppress_add(j->st, t->address, reason, j->err);
    bool weaker = strcmp(status, "unsubscribed") == 0 &&
                  (strcmp(t->status, "bounced") == 0 || strcmp(t->status, "complained") == 0);
    if (rc == MF_OK && !weaker)
        rc = store_lead_set_status(j->st, t->lead_id, status, j->err);
    if (rc == MF_OK)
        rc = store_enrollments_stop_lead(j->st, t->lead_id, 0, reason, j->err);
    return rc;
}

static enum mf_rc on_reply(struct job *j, const struct target *t, int64_t event_id,
                           unsigned mask, bool company)
{
    if (!(mask & CAMPAIGN_STOP_REPLY))
        return MF_OK;
    char reason[200];
    snprintf(reason, sizeof reason, "replied (event %" PRId64 ")", event_id);
    enum mf_rc rc = MF_OK;
    if (strcmp(t->status, "active") == 0)
        rc = store_lead_set_status(j->st, t->lead_id, "replied", j->err);
    if (rc == MF_OK)
        rc = store_enrollments_stop_lead(j->st, t->lead_id, 0, reason, j->err);
    /* a colleague's reply speaks for the company, a freemail domain does not */
    if (rc == MF_OK && company && t->domain[0] && !providers_for_address(t->domain)) {
        int n = 0;
        snprintf(reason, sizeof reason, "a colleague at %.100s replied (event %" PRId64 ")",
                 t->domain, event_id);
        rc = store_enrollments_stop_domain(j->st, t->campaign_id, t->domain, t->lead_id,
                                           reason, &n, j->err);
    }
    return rc;
}

/* ---- auto_reply: defer ---------------------------------------------------------------- */

/* The lead's zone as the engine reads it: the campaign's timezone_field in
 * its fields, else its own, else the sending mailbox's, else UTC. */
static void defer_zone(struct job *j, const struct campaign_spec *spec, const struct target *t,
                       char *out, size_t size)
{
    struct store_lead l;
    struct store_mailbox m;
    struct mf_err e;
    snprintf(out, size, "UTC");
    if (t->mailbox[0] && store_mailbox_get(j->st, t->mailbox, &m, &e) == MF_OK &&
        mf_tz_valid(m.timezone))
        snprintf(out, size, "%s", m.timezone);
    if (store_lead_get(j->st, t->lead_id, &l, &e) != MF_OK)
        return;
    json_error_t je;
    json_t *f = l.fields ? json_loads(l.fields, 0, &je) : NULL;
    const char *z = json_string_value(json_object_get(f, spec->timezone_field));
    if (z && mf_tz_valid(z))
        snprintf(out, size, "%s", z);
    else if (mf_tz_valid(l.timezone))
        snprintf(out, size, "%s", l.timezone);
    json_decref(f);
    store_lead_clear(&l);
}

struct active_in {
    int64_t campaign_id;
    struct store_enrollment en;
    bool found;
};

static int active_in_campaign(void *ctx, const struct store_enrollment *e)
{
    struct active_in *a = ctx;
    if (e->campaign_id != a->campaign_id || strcmp(e->state, "active") != 0)
        return 0;
    a->en = *e;
    a->found = true;
    return 1;
}

/* auto_reply: defer. When the auto-reply says when its writer is back
 * (mail/returndate, read from the message kept with the event, so a
 * correction to auto-reply by hand defers too) and that day is later than
 * the next_due of the lead's active enrollment in the campaign, the
 * enrollment waits until then (00:00 in the lead's zone; the send window
 * moves it to its opening). The event's detail and j->deferred say what
 * was done. Not deferring changes nothing: the sequence goes on. */
static enum mf_rc defer_auto_reply(struct job *j, const struct target *t, int64_t event_id)
{
    struct store_campaign c;
    struct mf_err e;
    if (!t->campaign_id || store_campaign_by_id(j->st, t->campaign_id, &c, &e) != MF_OK)
        return MF_OK;
    struct campaign_spec *spec = NULL;
    bool defer = campaign_parse(c.spec, strlen(c.spec), c.name, &spec, &e) == MF_OK &&
                 spec->defer_on_auto_reply;
    store_campaign_clear(&c);
    char zone[64];
    if (defer)
        defer_zone(j, spec, t, zone, sizeof zone);
    campaign_free(spec);
    if (!defer)
        return MF_OK;
    struct store_event ev;
    char *raw = NULL;
    size_t len = 0;
    struct active_in a = {.campaign_id = t->campaign_id};
    enum mf_rc rc = store_event_get(j->st, event_id, &ev, j->err);
    if (rc == MF_OK)
        rc = store_event_raw(j->st, event_id, &raw, &len, j->err);
    if (rc == MF_OK)
        rc = store_enrollments_of_lead(j->st, t->lead_id, active_in_campaign, &a, j->err);
    struct returndate rd;
    enum mf_rc found = rc == MF_OK ? returndate_find(raw, len, ev.at, zone, &rd, &e) : rc;
    free(raw);
    if (rc != MF_OK)
        return rc;
    if (found == MF_ENOMEM)
        return mf_err_set(j->err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    if (found != MF_OK) {
        snprintf(j->deferred, sizeof j->deferred, "; no return date to wait for: %.200s",
                 e.detail);
        return MF_OK;
    }
    char back[16];
    snprintf(back, sizeof back, "%04d-%02d-%02d", rd.year, rd.month, rd.day);
    if (!a.found) {
        snprintf(j->deferred, sizeof j->deferred,
                 "; back %s (\"%.100s\"), but its sequence is not active", back, rd.phrase);
        return MF_OK;
    }
    if (rd.at <= a.en.next_due) {
        snprintf(j->deferred, sizeof j->deferred,
                 "; back %s (\"%.100s\"): step %d is due after that anyway", back, rd.phrase,
                 a.en.next_step + 1);
        return MF_OK;
    }
    a.en.next_due = rd.at;
    rc = store_enrollment_update(j->st, &a.en, j->err);
    snprintf(j->deferred, sizeof j->deferred,
             "; back %s (\"%.100s\"): step %d waits until then (%s)", back, rd.phrase,
             a.en.next_step + 1, zone);
    char detail[sizeof ev.detail];
    snprintf(detail, sizeof detail, "%.700s%s", ev.detail, j->deferred);
    if (rc == MF_OK)
        rc = store_event_set_kind(j->st, event_id, ev.kind, detail, j->err);
    return rc;
}

/* Applies kind to the lead of t; hard only matters for a bounce. */
static enum mf_rc apply_kind(struct job *j, const struct target *t, enum classify_kind kind,
                             bool hard, int64_t event_id)
{
    unsigned mask;
    bool company;
    campaign_rules(j, t->campaign_id, &mask, &company);
    switch (kind) {
    case CLASSIFY_REPLY:
        return on_reply(j, t, event_id, mask, company);
    case CLASSIFY_AUTO_REPLY:
        if (!(mask & CAMPAIGN_STOP_AUTO_REPLY)) /* auto_reply: ignore, or defer */
            return defer_auto_reply(j, t, event_id);
        char reason[120];
        snprintf(reason, sizeof reason, "auto-reply (event %" PRId64 ")", event_id);
        /* that campaign's rule: the lead's other sequences go on */
        return store_enrollments_stop_lead(j->st, t->lead_id, t->campaign_id, reason, j->err);
    case CLASSIFY_BOUNCE:
        return hard ? shut_out(j, t, event_id, "bounced", "bounced") : MF_OK;
    case CLASSIFY_COMPLAINT:
        return shut_out(j, t, event_id, "complained", "complained (spam report)");
    case CLASSIFY_UNSUBSCRIBE:
        return shut_out(j, t, event_id, "unsubscribed", "unsubscribed by mail");
    default:
        return MF_OK;
    }
}

/* ---- recording ---------------------------------------------------------------------- */

static enum mf_rc record(struct job *j, const struct target *t, const char *kind,
                         const char *detail, const char *key, const char *raw, size_t len,
                         int64_t *id, bool *inserted)
{
    const struct classify_result *cr = j->cr;
    struct store_inbound ev = {
        .at = j->now, .kind = kind, .mailbox = t->mailbox[0] ? t->mailbox : j->mailbox,
        .detail = detail, .source_key = key, .lead_id = t->lead_id,
        .campaign_id = t->campaign_id, .outbox_id = t->outbox_id, .step = t->step,
        .sender = cr->from, .subject = cr->subject, .summary = cr->first_line,
        .matched = t->matched, .raw = raw, .raw_len = len > INBOUND_RAW_MAX ? INBOUND_RAW_MAX : len,
    };
    return store_inbound_add(j->st, &ev, id, inserted, j->err);
}

static void note(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct job *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->out->note, sizeof j->out->note, fmt, ap);
    va_end(ap);
}

/* One failed recipient of a bounce: its lead, event and effects. */
static enum mf_rc bounce_rcpt(struct job *j, const struct classify_rcpt *r, struct target *t,
                              const char *key, const char *raw, size_t len)
{
    bool delayed = strcasecmp(r->action, "delayed") == 0;
    const char *kind = delayed ? "delay" : r->hard ? "bounce" : "soft-bounce";
    char detail[900];
    snprintf(detail, sizeof detail, "%s %s %s: %.600s", r->address, r->status[0] ? r->status : "-",
             r->reason, r->diagnostic);
    int64_t id = 0;
    bool inserted = false;
    enum mf_rc rc = record(j, t, kind, detail, key, raw, len, &id, &inserted);
    if (rc != MF_OK || !inserted)
        return rc;
    if (!j->out->event_id)
        j->out->event_id = id;
    bool hard = r->hard;
    if (!delayed && !hard) {
        int count = 0;
        int limit = j->cfg->soft_bounce_limit > 0 ? j->cfg->soft_bounce_limit : INBOUND_SOFT_LIMIT;
        rc = store_lead_soft_bounce(j->st, t->lead_id, &count, j->err);
        hard = rc == MF_OK && count >= limit; /* too many soft failures: give up on it */
    }
    if (rc == MF_OK && hard) {
        rc = apply_kind(j, t, CLASSIFY_BOUNCE, true, id);
        if (rc == MF_OK && strcmp(kind, "soft-bounce") == 0) /* counted as a bounce from here */
            rc = store_event_set_kind(j->st, id, "bounce", detail, j->err);
    }
    if (rc == MF_OK && hard) {
        char why[300];
        rc = engine_bounce_protect(j->st, t->mailbox, j->now, &j->out->paused, why, sizeof why,
                                   j->err);
    }
    note(j, "%s of %s (%s match, step %d): %s", hard ? "hard bounce" : kind, t->address,
         t->matched, t->step, hard ? "suppressed, its sequences stop" : "counted");
    return rc;
}

static enum mf_rc handle_bounce(struct job *j, const char *key, const char *raw, size_t len)
{
    const struct classify_result *cr = j->cr;
    struct target strict;
    bool have_strict = false;
    enum mf_rc rc = match_ids(j, &strict, &have_strict);
    for (size_t i = 0; rc == MF_OK && i < cr->nrcpts; i++) {
        const struct classify_rcpt *r = &cr->rcpts[i];
        if (strcasecmp(r->action, "delivered") == 0 || strcasecmp(r->action, "relayed") == 0 ||
            strcasecmp(r->action, "expanded") == 0)
            continue;
        struct target t;
        bool found = false;
        if (have_strict && strcasecmp(strict.address, r->address) == 0) {
            t = strict;
            found = true;
        } else {
            rc = match_rcpt(j, r->address, &t, &found);
        }
        if (rc != MF_OK || !found)
            continue;
        char k[700];
        if (j->out->lead_id)
            snprintf(k, sizeof k, "%s#%s", key, r->address);
        else
            snprintf(k, sizeof k, "%s", key);
        j->out->lead_id = j->out->lead_id ? j->out->lead_id : t.lead_id;
        snprintf(j->out->matched, sizeof j->out->matched, "%s", t.matched);
        rc = bounce_rcpt(j, r, &t, k, raw, len);
    }
    if (rc == MF_OK && !cr->nrcpts && have_strict) {
        /* a bounce that names no recipient still answers our message */
        struct classify_rcpt r = {.reason = "undefined"};
        snprintf(r.address, sizeof r.address, "%s", strict.address);
        snprintf(r.action, sizeof r.action, "failed");
        j->out->lead_id = strict.lead_id;
        snprintf(j->out->matched, sizeof j->out->matched, "%s", strict.matched);
        rc = bounce_rcpt(j, &r, &strict, key, raw, len);
    }
    if (rc == MF_OK && !j->out->lead_id)
        note(j, "a bounce for nobody this mailbox wrote to: ignored");
    return rc;
}

static enum mf_rc handle_other(struct job *j, const char *key, const char *raw, size_t len)
{
    const struct classify_result *cr = j->cr;
    enum classify_kind kind = cr->kind;
    struct target t;
    bool found = false;
    enum mf_rc rc = match_token(j, &t, &found);
    if (rc == MF_OK && found)
        kind = CLASSIFY_UNSUBSCRIBE;
    if (rc == MF_OK && !found)
        rc = match_ids(j, &t, &found);
    if (rc == MF_OK && !found && kind != CLASSIFY_COMPLAINT)
        rc = match_probable(j, &t, &found);
    if (rc != MF_OK)
        return rc;
    if (!found || kind == CLASSIFY_OTHER) {
        note(j, "%s from %s: %s", classify_kind_name(kind), cr->from[0] ? cr->from : "?",
             found ? "nothing to do" : "matches nothing sent: ignored");
        return MF_OK;
    }
    char detail[900];
    snprintf(detail, sizeof detail, "%s from %.320s (%s match): %.400s", classify_kind_name(kind),
             cr->from, t.matched, cr->why);
    int64_t id = 0;
    bool inserted = false;
    rc = record(j, &t, classify_kind_name(kind), detail, key, raw, len, &id, &inserted);
    j->out->lead_id = t.lead_id;
    snprintf(j->out->matched, sizeof j->out->matched, "%s", t.matched);
    if (rc != MF_OK || !inserted) {
        j->out->duplicate = rc == MF_OK;
        return rc;
    }
    j->out->event_id = id;
    j->out->kind = kind;
    rc = apply_kind(j, &t, kind, true, id);
    note(j, "%s from %s (%s match, step %d)%s", classify_kind_name(kind), t.address, t.matched,
         t.step, j->deferred);
    return rc;
}

enum mf_rc inbound_process(const struct inbound_cfg *cfg, const char *mailbox,
                           const char *raw, size_t len, int64_t now,
                           struct inbound_outcome *out, struct mf_err *err)
{
    if (!cfg || !cfg->st || !mailbox || !out || (!raw && len))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "inbound_process: bad arguments");
    memset(out, 0, sizeof *out);
    struct classify_result cr;
    enum mf_rc rc = classify_message(raw, len, &cr, err);
    if (rc != MF_OK)
        return rc;
    out->kind = cr.kind;
    char key[300];
    source_key(&cr, raw, len, key, sizeof key);
    struct job j = {.cfg = cfg, .st = cfg->st, .mailbox = mailbox, .now = now, .cr = &cr,
                    .out = out, .err = err};
    bool seen = false;
    rc = store_begin(cfg->st, err);
    if (rc == MF_OK)
        rc = store_event_exists(cfg->st, key, &seen, err);
    if (rc == MF_OK && seen) {
        out->duplicate = true;
        note(&j, "%s seen before: nothing to do", cr.message_id[0] ? cr.message_id : "message");
    } else if (rc == MF_OK) {
        rc = cr.kind == CLASSIFY_BOUNCE ? handle_bounce(&j, key, raw, len)
                                        : handle_other(&j, key, raw, len);
    }
    rc = rc == MF_OK ? store_commit(cfg->st, err) : (store_rollback(cfg->st), rc);
    classify_result_free(&cr);
    return rc;
}

/* ---- corrections -------------------------------------------------------------------- */

static const char *status_set_by(const char *kind)
{
    if (!strcmp(kind, "reply"))
        return "replied";
    if (!strcmp(kind, "bounce"))
        return "bounced";
    if (!strcmp(kind, "complaint"))
        return "complained";
    if (!strcmp(kind, "unsubscribe"))
        return "unsubscribed";
    return NULL;
}

static enum mf_rc undo_and_apply(struct job *j, const struct store_event *ev,
                                 enum classify_kind kind, struct target *t)
{
    int resumed = 0;
    enum mf_rc rc = store_suppress_remove_event(j->st, ev->id, j->err);
    const char *was = status_set_by(ev->kind);
    if (rc == MF_OK && was)
        rc = store_lead_restore(j->st, ev->lead_id, was, j->err);
    if (rc == MF_OK)
        rc = store_enrollments_resume_event(j->st, ev->id, &resumed, j->err);
    if (rc == MF_OK)
        rc = load_lead(j, ev->lead_id, t);
    if (rc == MF_OK)
        rc = apply_kind(j, t, kind, true, ev->id);
    char detail[1200];
    snprintf(detail, sizeof detail, "%s (corrected from %s by hand; was: %.900s)",
             classify_kind_name(kind), ev->kind, ev->detail);
    if (rc == MF_OK)
        rc = store_event_set_kind(j->st, ev->id, classify_kind_name(kind), detail, j->err);
    if (rc == MF_OK)
        note(j, "event %" PRId64 ": %s -> %s; %d sequence(s) resumed before applying %s%s",
             ev->id, ev->kind, classify_kind_name(kind), resumed, classify_kind_name(kind),
             j->deferred);
    return rc;
}

enum mf_rc inbound_reclassify(const struct inbound_cfg *cfg, int64_t event_id,
                              enum classify_kind kind, int64_t now,
                              struct inbound_outcome *out, struct mf_err *err)
{
    if (!cfg || !cfg->st || !out || kind < 0 || kind >= CLASSIFY_KIND_COUNT)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "inbound_reclassify: bad arguments");
    memset(out, 0, sizeof *out);
    struct classify_result none;
    memset(&none, 0, sizeof none);
    struct job j = {.cfg = cfg, .st = cfg->st, .now = now, .cr = &none, .out = out, .err = err};
    enum mf_rc rc = store_begin(cfg->st, err);
    struct store_event ev;
    if (rc == MF_OK)
        rc = store_event_get(cfg->st, event_id, &ev, err);
    if (rc == MF_OK && (!ev.inbound || !ev.lead_id))
        rc = mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                        "event %" PRId64 " (%s) was not made from mail: only events that "
                        "mailfleet sync recorded can be corrected", event_id, ev.kind);
    if (rc == MF_OK) {
        struct target t = {0};
        t.campaign_id = ev.campaign_id;
        snprintf(t.mailbox, sizeof t.mailbox, "%s", ev.mailbox);
        snprintf(t.matched, sizeof t.matched, "%s", ev.matched);
        out->kind = kind;
        out->event_id = ev.id;
        out->lead_id = ev.lead_id;
        rc = undo_and_apply(&j, &ev, kind, &t);
    }
    return rc == MF_OK ? store_commit(cfg->st, err) : (store_rollback(cfg->st), rc);
}
