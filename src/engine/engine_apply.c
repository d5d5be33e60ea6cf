/* engine: what each SMTP outcome does to the outbox, the lead, the
 * enrollment and the mailbox — one transaction per outcome. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag/explain.h"
#include "engine/engine_int.h"
#include "engine/sched.h"
#include "util/tz.h"

/* Replies that mean the MAILBOX cannot send (not this message, not this
 * recipient): sign-in refused or disabled, sender blocked or over quota. */
static bool mailbox_problem(const struct mf_err *err)
{
    static const char *const enhanced[] = {"5.7.139", "5.7.57", "5.7.708", "5.7.705",
                                           "5.1.8", "5.2.0", "5.7.60", "5.7.3", "5.7.8",
                                           "5.7.30", "5.7.0"};
    if (err->layer == MF_LAYER_AUTH || err->reply_code == 530 || err->reply_code == 535)
        return true;
    if (err->reply_code < 500)
        return false;
    for (size_t i = 0; i < sizeof enhanced / sizeof *enhanced; i++)
        if (strcmp(err->enhanced, enhanced[i]) == 0)
            return true;
    return false;
}

/* The recipient does not exist or refuses: a bounce. */
static bool recipient_problem(const struct engine_outcome *o)
{
    return o->err.reply_code >= 500 &&
           (o->rcpt_refused || strncmp(o->err.enhanced, "5.1.", 4) == 0);
}

static void describe(const struct mf_err *err, char *out, size_t size)
{
    if (err->reply_code)
        snprintf(out, size, "%d %s%s%s", err->reply_code, err->enhanced,
                 err->enhanced[0] ? " " : "", err->reply);
    else
        snprintf(out, size, "%s", err->detail);
}

static void lead_zone_of(const struct campaign_spec *c, const char *fields, const char *own,
                         const char *fallback, char *out, size_t size)
{
    json_error_t je;
    json_t *f = json_loads(fields ? fields : "{}", 0, &je);
    const char *z = json_string_value(json_object_get(f, c->timezone_field));
    snprintf(out, size, "%s", z && mf_tz_valid(z) ? z : mf_tz_valid(own) ? own : fallback);
    json_decref(f);
}

static enum mf_rc on_sent(struct engine *e, struct store_outbox *ob,
                          struct store_enrollment *en, struct mf_err *err)
{
    struct store *st = e->cfg.st;
    int64_t now = engine_now(e);
    struct store_mailbox mb;
    enum mf_rc rc = store_mailbox_get(st, ob->mailbox, &mb, err);
    struct store_lead lead;
    memset(&lead, 0, sizeof lead);
    if (rc == MF_OK)
        rc = store_lead_get(st, en->lead_id, &lead, err);
    const struct campaign_spec *c = engine_campaign(e, en->campaign_id, NULL);
    if (rc == MF_OK)
        rc = store_outbox_set_state(st, ob->id, "sent", "", true, err);
    if (rc == MF_OK)
        rc = store_sendlog_add(st, mb.account, mb.tenant, engine_now_ms(e), 1, 1, ob->id, err);
    if (rc == MF_OK)
        rc = store_event_add(st, engine_now(e), "sent", en->lead_id, en->campaign_id, mb.account, ob->id,
                             ob->message_id, NULL, NULL, err);
    if (rc == MF_OK && mb.backoff_s) {
        rc = store_mailbox_set_backoff(st, mb.account, 0, 0, err);
        engine_hold_clear(e, mb.account);
    }
    if (rc == MF_OK) {
        if (ob->step == 0 || !en->thread_id[0]) {
            snprintf(en->thread_id, sizeof en->thread_id, "%s", ob->message_id);
            snprintf(en->thread_subject, sizeof en->thread_subject, "%s", ob->subject);
        }
        snprintf(en->mailbox, sizeof en->mailbox, "%s", mb.account);
        snprintf(en->last_message_id, sizeof en->last_message_id, "%s", ob->message_id);
        en->next_step = ob->step + 1;
        if (!c || (size_t)en->next_step >= c->nsteps) {
            snprintf(en->state, sizeof en->state, "done");
        } else {
            const struct campaign_step *next = &c->steps[en->next_step];
            char zone[64];
            lead_zone_of(c, lead.fields, lead.timezone, mb.timezone, zone, sizeof zone);
            en->next_due = sched_add_days(now, next->delay_days, next->business_days, zone);
            snprintf(en->state, sizeof en->state, "active");
        }
        rc = store_enrollment_update(st, en, err);
    }
    if (rc == MF_OK) {
        e->stats.sent++;
        engine_note(e, "sent %s step %d to %s from %s", c ? c->name : "?", ob->step + 1,
                    ob->rcpt, mb.account);
    }
    store_lead_clear(&lead);
    return rc;
}

/* Bounce protection: a mailbox whose bounces over the last 7 days pass the
 * threshold, over a minimum sample, pauses until a person resumes it. */
#define BOUNCE_WINDOW (7 * 86400)
#define BOUNCE_MIN_SAMPLE 20
#define BOUNCE_MAX_PERCENT 5
/* A campaign with this many refused messages in an hour pauses itself. */
#define CAMPAIGN_MAX_ERRORS_HOUR 10

enum mf_rc engine_bounce_protect(struct store *st, const char *mailbox, int64_t now,
                                 bool *paused, char *why, size_t why_size, struct mf_err *err)
{
    *paused = false;
    int64_t bounces = 0, sent = 0, rcpts = 0;
    enum mf_rc rc = store_events_count(st, "bounce", mailbox, 0, now - BOUNCE_WINDOW, &bounces,
                                       err);
    if (rc == MF_OK)
        rc = store_sendlog_mailbox(st, mailbox, (now - BOUNCE_WINDOW) * 1000, &sent, &rcpts, err);
    /* refused at RCPT time: not in the send log. A bounce that came back by
     * mail is in both, which only makes the rate a little lower. */
    int64_t sample = sent + bounces;
    struct store_mailbox mb;
    if (rc == MF_OK && (store_mailbox_get(st, mailbox, &mb, err) != MF_OK ||
                        strcmp(mb.status, "active") != 0)) {
        mf_err_clear(err);
        return MF_OK; /* already paused, or gone */
    }
    if (rc != MF_OK || sample < BOUNCE_MIN_SAMPLE || bounces * 100 < sample * BOUNCE_MAX_PERCENT)
        return rc;
    snprintf(why, why_size, "bounce rate %lld%% (%lld of %lld in 7 days) is over %d%%: "
             "clean the lead list, then mailfleet mailbox resume %s",
             (long long)(bounces * 100 / sample), (long long)bounces, (long long)sample,
             BOUNCE_MAX_PERCENT, mailbox);
    rc = store_mailbox_set_status(st, mailbox, "paused", why, err);
    *paused = rc == MF_OK;
    return rc;
}

static enum mf_rc check_bounce_rate(struct engine *e, const char *mailbox, struct mf_err *err)
{
    bool paused = false;
    char why[300];
    enum mf_rc rc = engine_bounce_protect(e->cfg.st, mailbox, engine_now(e), &paused, why,
                                          sizeof why, err);
    if (paused) {
        e->stats.paused++;
        engine_note(e, "paused mailbox %s: %s", mailbox, why);
    }
    return rc;
}

static enum mf_rc check_campaign_errors(struct engine *e, int64_t campaign_id,
                                        struct mf_err *err)
{
    int64_t n = 0;
    enum mf_rc rc = store_events_count(e->cfg.st, "error", "", campaign_id,
                                       engine_now(e) - 3600, &n, err);
    if (rc != MF_OK || n < CAMPAIGN_MAX_ERRORS_HOUR)
        return rc;
    char why[200];
    snprintf(why, sizeof why, "%lld messages refused in the last hour: look at "
             "mailfleet status and the events, then mailfleet campaign resume", (long long)n);
    rc = store_campaign_set_status(e->cfg.st, campaign_id, "paused", why, err);
    if (rc == MF_OK)
        engine_note(e, "paused campaign %lld: %s", (long long)campaign_id, why);
    return rc;
}

static enum mf_rc on_bounce(struct engine *e, struct store_outbox *ob,
                            struct store_enrollment *en, const char *what,
                            struct mf_err *err)
{
    struct store *st = e->cfg.st;
    char reason[600];
    snprintf(reason, sizeof reason, "bounced at send: %.500s", what);
    enum mf_rc rc = store_outbox_set_state(st, ob->id, "failed", what, true, err);
    if (rc == MF_OK)
        rc = store_lead_set_status(st, en->lead_id, "bounced", err);
    if (rc == MF_OK)
        rc = store_suppress_add(st, ob->rcpt, reason, err);
    if (rc == MF_OK)
        rc = store_enrollments_stop_lead(st, en->lead_id, 0, reason, err);
    if (rc == MF_OK)
        rc = store_event_add(st, engine_now(e), "bounce", en->lead_id, en->campaign_id, ob->mailbox, ob->id,
                             what, NULL, NULL, err);
    if (rc == MF_OK) {
        e->stats.bounced++;
        engine_note(e, "bounced: %s (%s); suppressed, its sequences stop", ob->rcpt, what);
        rc = check_bounce_rate(e, ob->mailbox, err);
    }
    return rc;
}

static enum mf_rc on_mailbox_problem(struct engine *e, struct store_outbox *ob,
                                     struct store_enrollment *en,
                                     const struct engine_outcome *o, const char *what,
                                     struct mf_err *err)
{
    struct store *st = e->cfg.st;
    const struct explain_entry *x = explain_err(&o->err, EXPLAIN_SMTP, 0, 0);
    char reason[512];
    snprintf(reason, sizeof reason, "%.200s%s%.290s", what, x ? " - fix: " : "", x ? x->fix : "");
    enum mf_rc rc = store_mailbox_set_status(st, ob->mailbox, "paused", reason, err);
    if (rc == MF_OK && ob->step == 0) {
        /* never sent: the first touch goes to another mailbox */
        rc = store_outbox_delete(st, ob->id, err);
        en->mailbox[0] = '\0';
        snprintf(en->state, sizeof en->state, "active");
        if (rc == MF_OK)
            rc = store_enrollment_update(st, en, err);
    } else if (rc == MF_OK) {
        rc = store_outbox_set_state(st, ob->id, "queued", what, true, err); /* waits */
    }
    if (rc == MF_OK)
        rc = store_event_add(st, engine_now(e), "paused", 0, 0, ob->mailbox, 0, reason, NULL, NULL, err);
    if (rc == MF_OK) {
        e->stats.paused++;
        engine_note(e, "paused mailbox %s: %s", ob->mailbox, reason);
    }
    return rc;
}

static enum mf_rc on_deferred(struct engine *e, struct store_outbox *ob, const char *what,
                              struct mf_err *err)
{
    struct store *st = e->cfg.st;
    struct store_mailbox mb;
    enum mf_rc rc = store_mailbox_get(st, ob->mailbox, &mb, err);
    /* one step per failure of the mailbox, not per message of the batch
     * that failed with it */
    int step = mb.backoff_s;
    int wait = 0;
    if (rc == MF_OK && mb.backoff_until <= engine_now(e)) {
        wait = sched_backoff(&step, engine_random(e));
        rc = store_mailbox_set_backoff(st, ob->mailbox, engine_now(e) + wait, step, err);
    } else if (rc == MF_OK) {
        wait = (int)(mb.backoff_until - engine_now(e));
    }
    if (rc == MF_OK)
        rc = store_outbox_set_state(st, ob->id, "queued", what, true, err);
    if (rc == MF_OK) {
        e->stats.deferred++;
        engine_note(e, "deferred %s from %s (%s); the mailbox backs off %d s", ob->rcpt,
                    ob->mailbox, what, wait);
    }
    return rc;
}

static enum mf_rc on_unknown(struct engine *e, struct store_outbox *ob,
                             struct store_enrollment *en, const char *what,
                             struct mf_err *err)
{
    struct store *st = e->cfg.st;
    char why[600];
    snprintf(why, sizeof why, "the connection ended after the message was sent, before the "
                              "server answered (%.300s): it may have been delivered; never resent "
                              "automatically (mailfleet outbox resolve)", what);
    enum mf_rc rc = store_outbox_set_state(st, ob->id, "unknown", why, true, err);
    if (rc == MF_OK)
        rc = store_event_add(st, engine_now(e), "unknown", en->lead_id, en->campaign_id, ob->mailbox, ob->id,
                             what, NULL, NULL, err);
    if (rc == MF_OK) {
        e->stats.unknown++;
        engine_note(e, "unknown: %s from %s (%s)", ob->rcpt, ob->mailbox, what);
    }
    return rc;
}

static enum mf_rc on_rejected(struct engine *e, struct store_outbox *ob,
                              struct store_enrollment *en, const char *what,
                              struct mf_err *err)
{
    struct store *st = e->cfg.st;
    enum mf_rc rc = store_outbox_set_state(st, ob->id, "failed", what, true, err);
    snprintf(en->state, sizeof en->state, "stopped");
    snprintf(en->reason, sizeof en->reason, "the server refused step %d: %.180s", ob->step + 1,
             what);
    if (rc == MF_OK)
        rc = store_enrollment_update(st, en, err);
    if (rc == MF_OK)
        rc = store_event_add(st, engine_now(e), "error", en->lead_id, en->campaign_id, ob->mailbox, ob->id,
                             what, NULL, NULL, err);
    if (rc == MF_OK) {
        e->stats.failed++;
        engine_note(e, "refused: %s from %s (%s)", ob->rcpt, ob->mailbox, what);
        rc = check_campaign_errors(e, en->campaign_id, err);
    }
    return rc;
}

static enum mf_rc apply_outcome(struct engine *e, int64_t outbox_id, const struct engine_outcome *o,
                                struct mf_err *errp)
{
    struct store *st = e->cfg.st;
    struct mf_err err;
    mf_err_clear(&err);
    struct store_outbox ob;
    struct store_enrollment en;
    if (store_outbox_get(st, outbox_id, &ob, &err) != MF_OK)
        goto fail;
    if (store_enrollment_get(st, ob.enrollment_id, &en, &err) != MF_OK) {
        store_outbox_clear(&ob);
        goto fail;
    }
    char what[600];
    describe(&o->err, what, sizeof what);
    if (engine_group(e, &err) != MF_OK) /* then a transaction of its own */
        mf_err_clear(&err);
    enum mf_rc rc = store_begin(st, &err);
    if (rc == MF_OK) {
        if (o->ok)
            rc = on_sent(e, &ob, &en, &err);
        else if (o->data_end && o->err.reply_code == 0)
            rc = on_unknown(e, &ob, &en, what, &err);
        else if (recipient_problem(o))
            rc = on_bounce(e, &ob, &en, what, &err);
        else if (mailbox_problem(&o->err))
            rc = on_mailbox_problem(e, &ob, &en, o, what, &err);
        else if (o->err.reply_code >= 500)
            rc = on_rejected(e, &ob, &en, what, &err);
        else
            rc = on_deferred(e, &ob, what, &err);
        rc = rc == MF_OK ? store_commit(st, &err) : (store_rollback(st), rc);
    }
    store_outbox_clear(&ob);
    if (rc == MF_OK)
        return MF_OK;
fail:
    *errp = err;
    return err.rc ? err.rc : MF_ESTORE;
}

static void pending_push(struct engine_pending **v, size_t *n, size_t *cap, int64_t outbox_id,
                         const struct engine_outcome *o, int tries,
                         const struct engine_stats *counted)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct engine_pending *nv = realloc(*v, ncap * sizeof *nv);
        if (!nv)
            return; /* then the next start settles it (requeued or unknown) */
        *v = nv;
        *cap = ncap;
    }
    (*v)[(*n)++] = (struct engine_pending){.outbox_id = outbox_id, .out = *o, .tries = tries,
                                           .counted = counted ? *counted
                                                              : (struct engine_stats){0}};
}

static void stats_sub(struct engine_stats *a, const struct engine_stats *b)
{
    a->queued -= b->queued;
    a->sent -= b->sent;
    a->deferred -= b->deferred;
    a->failed -= b->failed;
    a->unknown -= b->unknown;
    a->bounced -= b->bounced;
    a->skipped -= b->skipped;
    a->paused -= b->paused;
}

static void apply_try(struct engine *e, int64_t outbox_id, const struct engine_outcome *o,
                      int tries)
{
    struct mf_err err;
    mf_err_clear(&err);
    struct engine_stats before = e->stats;
    e->outcomes++;
    if (apply_outcome(e, outbox_id, o, &err) != MF_OK) {
        if (tries == 0)
            engine_note(e, "could not record the outcome of message %" PRId64 ": %s; trying "
                        "again", outbox_id, err.detail);
        pending_push(&e->retry, &e->nretry, &e->capretry, outbox_id, o, tries + 1, NULL);
    } else if (store_group_active(e->cfg.st)) {
        /* counted now, taken back if the group does not commit: the retry
         * counts it again */
        struct engine_stats counted = e->stats;
        stats_sub(&counted, &before);
        pending_push(&e->grouped, &e->ngrouped, &e->capgrouped, outbox_id, o, tries, &counted);
    }
}

void engine_apply(struct engine *e, int64_t outbox_id, const struct engine_outcome *o)
{
    apply_try(e, outbox_id, o, 0);
}

void engine_group_done(struct engine *e, bool committed)
{
    for (size_t i = 0; !committed && i < e->ngrouped; i++) {
        stats_sub(&e->stats, &e->grouped[i].counted);
        pending_push(&e->retry, &e->nretry, &e->capretry, e->grouped[i].outbox_id,
                     &e->grouped[i].out, e->grouped[i].tries + 1, NULL);
    }
    e->ngrouped = 0;
}

void engine_retry_outcomes(struct engine *e)
{
    struct engine_pending *v = e->retry;
    size_t n = e->nretry;
    e->retry = NULL;
    e->nretry = e->capretry = 0;
    for (size_t i = 0; i < n; i++)
        apply_try(e, v[i].outbox_id, &v[i].out, v[i].tries);
    free(v);
}


/* The due time of the step after a message sent at `at`, or 0 when that
 * message was the last step. */
static enum mf_rc next_due_after(struct store *st, const struct store_enrollment *en, int step,
                                 const char *mailbox, int64_t at, int64_t *due,
                                 struct mf_err *err)
{
    *due = 0;
    struct store_campaign c;
    enum mf_rc rc = store_campaign_by_id(st, en->campaign_id, &c, err);
    if (rc != MF_OK)
        return rc;
    struct campaign_spec *spec = NULL;
    rc = campaign_parse(c.spec, strlen(c.spec), c.name, &spec, err);
    struct store_lead lead;
    struct store_mailbox mb;
    memset(&lead, 0, sizeof lead);
    if (rc == MF_OK)
        rc = store_lead_get(st, en->lead_id, &lead, err);
    if (rc == MF_OK && store_mailbox_get(st, mailbox, &mb, err) != MF_OK) {
        mf_err_clear(err);
        snprintf(mb.timezone, sizeof mb.timezone, "UTC");
    }
    if (rc == MF_OK && (size_t)step + 1 < spec->nsteps) {
        const struct campaign_step *next = &spec->steps[step + 1];
        char zone[64];
        lead_zone_of(spec, lead.fields, lead.timezone, mb.timezone, zone, sizeof zone);
        *due = sched_add_days(at, next->delay_days, next->business_days, zone);
    }
    store_lead_clear(&lead);
    campaign_free(spec);
    store_campaign_clear(&c);
    return rc;
}

enum mf_rc engine_resolve_unknown(struct store *st, int64_t outbox_id, bool sent,
                                  struct mf_err *err)
{
    struct store_outbox o;
    struct store_enrollment en;
    enum mf_rc rc = store_outbox_get(st, outbox_id, &o, err);
    if (rc != MF_OK)
        return rc;
    if (strcmp(o.state, "unknown") != 0) {
        rc = mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "message %" PRId64 " is %s, not unknown",
                        outbox_id, o.state);
    } else if ((rc = store_enrollment_get(st, o.enrollment_id, &en, err)) == MF_OK) {
        int64_t due = 0;
        if (sent) /* the follow-up keeps its delay, counted from the attempt */
            rc = next_due_after(st, &en, o.step, o.mailbox, o.updated_at, &due, err);
        if (rc == MF_OK && sent) {
            en.next_step = o.step + 1;
            snprintf(en.mailbox, sizeof en.mailbox, "%s", o.mailbox);
            snprintf(en.last_message_id, sizeof en.last_message_id, "%s", o.message_id);
            if (o.step == 0 || !en.thread_id[0]) {
                snprintf(en.thread_id, sizeof en.thread_id, "%s", o.message_id);
                snprintf(en.thread_subject, sizeof en.thread_subject, "%s", o.subject);
            }
            en.next_due = due;
            snprintf(en.state, sizeof en.state, "%s", due ? "active" : "done");
            en.reason[0] = '\0';
        } else if (rc == MF_OK) {
            snprintf(en.state, sizeof en.state, "stopped");
            snprintf(en.reason, sizeof en.reason, "the user resolved an unknown send as failed");
        }
        if (rc == MF_OK)
            rc = store_begin(st, err);
        if (rc == MF_OK) {
            rc = store_outbox_set_state(st, outbox_id, sent ? "sent" : "failed",
                                        "resolved by the user", false, err);
            if (rc == MF_OK)
                rc = store_enrollment_update(st, &en, err);
            rc = rc == MF_OK ? store_commit(st, err) : (store_rollback(st), rc);
        }
    }
    store_outbox_clear(&o);
    return rc;
}
