/* engine/sync: the set of watched mailboxes, started and stopped together.
 * See sync.h. */
#include <stdlib.h>
#include <string.h>

#include "engine/sync.h"
#include "engine/sync_int.h"
#include "util/buf.h"

struct sync *sync_new(const struct sync_cfg *cfg, struct mf_err *err)
{
    if (!cfg || !cfg->st || !cfg->base) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "sync_new: no store or event loop");
        return NULL;
    }
    struct sync *s = calloc(1, sizeof *s);
    if (!s) {
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    return s;
}

static void watch_free(struct watch *w)
{
    if (w->drive)
        imap_drive_free(w->drive);
    if (w->timer)
        event_free(w->timer);
    mf_wipe_free_str(w->secret);
    for (size_t i = 0; i < w->nfolders; i++)
        free(w->folders[i]);
    free(w->uids);
    free(w);
}

void sync_free(struct sync *s)
{
    if (!s)
        return;
    while (s->watches) {
        struct watch *w = s->watches;
        s->watches = w->next;
        watch_free(w);
    }
    free(s->by_name);
    free(s);
}

static bool wanted(const struct sync *s, const char *mailbox)
{
    if (!s->cfg.only)
        return true;
    for (size_t i = 0; i < s->cfg.nonly; i++)
        if (strcmp(s->cfg.only[i], mailbox) == 0)
            return true;
    return false;
}

struct start_ctx {
    struct sync *s;
    int n;
    enum mf_rc rc;
    struct mf_err *err;
};

static int start_cb(void *ctx, const struct store_imap *m)
{
    struct start_ctx *c = ctx;
    if (!wanted(c->s, m->mailbox))
        return 0;
    struct watch *w = calloc(1, sizeof *w);
    if (!w || !(w->timer = evtimer_new(c->s->cfg.base, sync_on_timer, w))) {
        free(w);
        c->rc = mf_err_set(c->err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return 1;
    }
    w->s = c->s;
    w->imap = *m;
    w->next = c->s->watches;
    c->s->watches = w;
    c->n++;
    return 0;
}

static int by_mailbox(const void *a, const void *b)
{
    const struct watch *x = *(struct watch *const *)a, *y = *(struct watch *const *)b;
    return strcmp(x->imap.mailbox, y->imap.mailbox);
}

static int mailbox_cmp(const void *key, const void *elem)
{
    return strcmp(key, (*(struct watch *const *)elem)->imap.mailbox);
}

/* The follow-up gate asks by mailbox for every follow-up a tick considers:
 * a sorted index instead of a walk of thousands of watches. */
static enum mf_rc index_watches(struct sync *s, struct mf_err *err)
{
    size_t n = 0;
    for (struct watch *w = s->watches; w; w = w->next)
        n++;
    free(s->by_name);
    s->nwatches = 0;
    if (!(s->by_name = malloc((n ? n : 1) * sizeof *s->by_name)))
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    for (struct watch *w = s->watches; w; w = w->next)
        s->by_name[s->nwatches++] = w;
    qsort(s->by_name, s->nwatches, sizeof *s->by_name, by_mailbox);
    return MF_OK;
}

enum mf_rc sync_start(struct sync *s, int *watched, struct mf_err *err)
{
    struct start_ctx c = {.s = s, .err = err};
    enum mf_rc rc = store_imap_list(s->cfg.st, start_cb, &c, err);
    if (rc == MF_OK)
        rc = c.rc;
    if (rc == MF_OK)
        rc = index_watches(s, err);
    for (struct watch *w = s->watches; rc == MF_OK && w; w = w->next)
        sync_arm(w, 0);
    if (watched)
        *watched = c.n;
    return rc;
}

int sync_active(const struct sync *s)
{
    int n = 0;
    for (const struct watch *w = s->watches; w; w = w->next)
        n += w->st != W_DONE;
    return n;
}

void sync_stop(struct sync *s)
{
    s->stopping = true;
    for (struct watch *w = s->watches; w; w = w->next) {
        evtimer_del(w->timer);
        if (!w->drive) {
            w->st = W_DONE;
            continue;
        }
        if (w->idling)
            imap_idle_done(sync_core(w));
        w->idling = false;
        if (w->st != W_CHECKING && w->st != W_CONNECTING) {
            w->st = W_LOGOUT;
            imap_logout(sync_core(w));
        }
        imap_drive_kick(w->drive);
    }
}

bool sync_followups_ok(void *ctx, const char *mailbox, int64_t now)
{
    const struct sync *s = ctx;
    int stale = s->cfg.stale_s > 0 ? s->cfg.stale_s : 300;
    struct watch *const *found = s->nwatches ? bsearch(mailbox, s->by_name, s->nwatches,
                                                       sizeof *s->by_name, mailbox_cmp)
                                             : NULL;
    if (!found)
        return true; /* not watched: never held */
    const struct watch *w = *found;
    return w->idling || (w->last_ok && now - w->last_ok <= stale);
}

const struct sync_stats *sync_stats(const struct sync *s)
{
    return &s->stats;
}
