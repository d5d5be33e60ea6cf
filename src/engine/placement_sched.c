/* engine/placement_sched: the campaigns' placement checks during a run.
 * See placement_sched.h. */
#include "engine/placement_sched.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/campaign.h"
#include "engine/placement.h"
#include "util/log.h"

struct placement_sched {
    struct placement_sched_cfg cfg;
    struct placement *run;        /* the check in flight, or NULL */
    int pause_below;              /* of the campaign whose check it is */
    char campaign[65];
    bool abandoned;
};

static void note(struct placement_sched *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct placement_sched *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mf_notev(ps->cfg.note, ps->cfg.note_ctx, fmt, ap);
    va_end(ap);
}

struct placement_sched *placement_sched_new(const struct placement_sched_cfg *cfg,
                                            struct mf_err *err)
{
    if (!cfg || !cfg->st || !cfg->base) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "placement_sched_new: no store or loop");
        return NULL;
    }
    struct placement_sched *ps = calloc(1, sizeof *ps);
    if (!ps)
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    else
        ps->cfg = *cfg;
    return ps;
}

void placement_sched_free(struct placement_sched *ps)
{
    if (!ps)
        return;
    placement_free(ps->run);
    free(ps);
}

bool placement_sched_running(const struct placement_sched *ps)
{
    return ps && ps->run && placement_running(ps->run);
}

void placement_sched_abandon(struct placement_sched *ps)
{
    if (ps && ps->run) {
        ps->abandoned = true;
        placement_stop(ps->run);
    }
}

/* ---- when ---------------------------------------------------------------------------- */

static void last_key(const char *campaign, char *key, size_t size)
{
    snprintf(key, size, "placement.last.%s", campaign);
}

static int64_t last_started(struct placement_sched *ps, const char *campaign)
{
    char key[128], v[32];
    size_t len = 0;
    struct mf_err e;
    last_key(campaign, key, sizeof key);
    if (store_meta_get(ps->cfg.st, key, v, sizeof v - 1, &len, &e) != MF_OK)
        return 0;
    v[len] = '\0';
    return strtoll(v, NULL, 10);
}

static enum mf_rc mark_started(struct placement_sched *ps, const char *campaign, int64_t now,
                               struct mf_err *err)
{
    char key[128], v[32];
    last_key(campaign, key, sizeof key);
    int n = snprintf(v, sizeof v, "%" PRId64, now);
    return store_meta_put(ps->cfg.st, key, v, (size_t)n, err);
}

/* ---- a check ------------------------------------------------------------------------- */

struct pair_ctx {
    struct placement_sched *ps;
    const struct campaign_spec *spec;
    int added;
    enum mf_rc rc;
    struct mf_err *err;
};

static int add_sender(void *ctx, const struct store_mailbox *m)
{
    struct pair_ctx *c = ctx;
    if (strcmp(m->status, "active") != 0)
        return 0;
    for (size_t i = 0; i < c->spec->placement.nseeds; i++) {
        struct mf_err e;
        enum mf_rc rc = placement_add(c->ps->run, m->account, c->spec->placement.seeds[i], &e);
        if (rc == MF_OK) {
            c->added++;
        } else if (rc == MF_ENOTFOUND) {
            note(c->ps, "placement for %s: %s", c->spec->name, e.detail);
        } else {
            c->rc = rc;
            *c->err = e;
            return 1;
        }
    }
    return 0;
}

static enum mf_rc start(struct placement_sched *ps, const struct campaign_spec *spec,
                        int64_t now, struct mf_err *err)
{
    struct placement_cfg pc = {.st = ps->cfg.st, .sec = ps->cfg.sec, .base = ps->cfg.base,
                               .dns = ps->cfg.dns, .tls = ps->cfg.tls,
                               .wait_s = spec->placement.wait_s, .note = ps->cfg.note,
                               .note_ctx = ps->cfg.note_ctx};
    ps->run = placement_new(&pc, err);
    if (!ps->run)
        return err->rc;
    struct pair_ctx c = {.ps = ps, .spec = spec, .err = err};
    enum mf_rc rc = store_mailbox_list(ps->cfg.st, add_sender, &c, err);
    if (rc == MF_OK)
        rc = c.rc;
    if (rc == MF_OK)
        rc = mark_started(ps, spec->name, now, err); /* a failed check is not retried at once */
    if (rc != MF_OK || !c.added) {
        placement_free(ps->run);
        ps->run = NULL;
        if (rc == MF_OK)
            note(ps, "placement for %s: no pair to check (active mailboxes x seeds)", spec->name);
        return rc;
    }
    snprintf(ps->campaign, sizeof ps->campaign, "%s", spec->name);
    ps->pause_below = spec->placement.pause_below;
    ps->abandoned = false;
    note(ps, "placement check for %s: %d pair%s, looking for %d s", spec->name, c.added,
         c.added == 1 ? "" : "s", spec->placement.wait_s > 0 ? spec->placement.wait_s : 300);
    return placement_start(ps->run, err);
}

static enum mf_rc finish(struct placement_sched *ps, struct mf_err *err)
{
    enum mf_rc rc = MF_OK;
    if (!ps->abandoned) {
        int64_t run_id = 0;
        rc = placement_save(ps->run, ps->pause_below, &run_id, err);
        size_t n = 0;
        const struct placement_pair *pairs = placement_pairs(ps->run, &n);
        struct placement_tally t = {0};
        for (size_t i = 0; i < n; i++)
            if (i == 0 || strcmp(pairs[i].sender, pairs[i - 1].sender) != 0) {
                placement_tally(pairs, n, pairs[i].sender, &t);
                note(ps, "placement %s: %s %d/%d in the inbox (%d junk, %d missing)",
                     ps->campaign, pairs[i].sender, t.inbox, t.checked, t.junk, t.missing);
            }
        if (rc == MF_OK)
            note(ps, "placement check %" PRId64 " saved: mailfleet placement report --run %"
                 PRId64, run_id, run_id);
    }
    placement_free(ps->run);
    ps->run = NULL;
    return rc;
}

struct due_ctx {
    struct placement_sched *ps;
    int64_t now;
    enum mf_rc rc;
    struct mf_err *err;
};

static int due_cb(void *ctx, const struct store_campaign *c)
{
    struct due_ctx *d = ctx;
    if (strcmp(c->status, "active") != 0)
        return 0;
    struct campaign_spec *spec = NULL;
    struct mf_err e;
    if (campaign_parse(c->spec, strlen(c->spec), c->name, &spec, &e) != MF_OK)
        return 0; /* the sender says why when it reads the campaign */
    bool due = spec->placement.every_days > 0 && spec->placement.nseeds > 0 &&
               d->now - last_started(d->ps, spec->name) >=
                   (int64_t)spec->placement.every_days * 86400;
    if (due)
        d->rc = start(d->ps, spec, d->now, d->err);
    campaign_free(spec);
    return due || d->rc != MF_OK; /* one check at a time */
}

enum mf_rc placement_sched_tick(struct placement_sched *ps, int64_t now, struct mf_err *err)
{
    if (ps->run)
        return placement_running(ps->run) ? MF_OK : finish(ps, err);
    struct due_ctx d = {.ps = ps, .now = now, .err = err};
    enum mf_rc rc = store_campaign_list(ps->cfg.st, due_cb, &d, err);
    return rc == MF_OK ? d.rc : rc;
}
