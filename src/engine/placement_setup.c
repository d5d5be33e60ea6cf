/* engine/placement: a run's pairs from the store (the pair rule applied),
 * and recording a run with the threshold's pauses. See placement.h. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/placement_int.h"
#include "mail/msg.h"

struct placement *placement_new(const struct placement_cfg *cfg, struct mf_err *err)
{
    if (!cfg || !cfg->st || !cfg->base) {
        mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "placement_new: no store or event loop");
        return NULL;
    }
    struct placement *p = calloc(1, sizeof *p);
    if (!p || sodium_init() < 0) {
        free(p);
        mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    return p;
}

void placement_free(struct placement *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nseeds; i++) {
        struct seed *s = &p->seeds[i];
        if (s->drive)
            imap_drive_free(s->drive);
        if (s->timer)
            event_free(s->timer);
        mf_wipe_free_str(s->secret);
        free(s->looks);
    }
    for (size_t i = 0; i < p->nlinks; i++) {
        if (p->links[i].drive)
            smtp_drive_free(p->links[i].drive);
        mf_wipe_free_str(p->links[i].secret);
    }
    for (size_t i = 0; i < p->n; i++)
        mf_buf_free(&p->probes[i].raw);
    if (p->deadline)
        event_free(p->deadline);
    free(p->seeds);
    free(p->links);
    free(p->pairs);
    free(p->probes);
    free(p);
}

/* The party of an account: its From address (else its user) and tenant. */
static void party_of(const struct store_account *a, const struct store_mailbox *m,
                     struct placement_party *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->account, sizeof out->account, "%s", a->name);
    snprintf(out->address, sizeof out->address, "%s",
             a->from_addr[0] ? a->from_addr : strchr(a->user, '@') ? a->user : "");
    snprintf(out->tenant, sizeof out->tenant, "%s", m->tenant);
}

static size_t find_link(struct placement *p, const char *name)
{
    for (size_t i = 0; i < p->nlinks; i++)
        if (!strcmp(p->links[i].acct.name, name))
            return i;
    return (size_t)-1;
}

static size_t find_seed(struct placement *p, const char *name)
{
    for (size_t i = 0; i < p->nseeds; i++)
        if (!strcmp(p->seeds[i].acct.name, name))
            return i;
    return (size_t)-1;
}

static bool grow(void **arr, size_t n, size_t size)
{
    void *np = realloc(*arr, (n + 1) * size);
    if (!np)
        return false;
    *arr = np;
    memset((char *)np + n * size, 0, size);
    return true;
}

enum mf_rc placement_add(struct placement *p, const char *sender, const char *seed,
                         struct mf_err *err)
{
    if (p->started)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_INTERNAL, "placement_add after the start");
    struct store_account sa, da;
    struct store_mailbox sm, dm;
    struct store_imap di;
    enum mf_rc rc = store_account_get(p->cfg.st, sender, &sa, err);
    if (rc == MF_OK && (rc = store_mailbox_get(p->cfg.st, sender, &sm, err)) == MF_ENOTFOUND)
        mf_err_set(err, rc, MF_LAYER_LOCAL, "%s is not a sending mailbox (mailfleet mailbox add "
                   "%s)", sender, sender);
    if (rc != MF_OK)
        return rc;
    if ((rc = store_account_get(p->cfg.st, seed, &da, err)) != MF_OK)
        return rc;
    if ((rc = store_mailbox_get(p->cfg.st, seed, &dm, err)) == MF_OK)
        rc = store_imap_get(p->cfg.st, seed, &di, err);
    if (rc == MF_ENOTFOUND)
        mf_err_set(err, rc, MF_LAYER_LOCAL, "seed %s has no IMAP server to look into (mailfleet "
                   "mailbox add %s --imap-host HOST)", seed, seed);
    if (rc != MF_OK)
        return rc;
    struct placement_party ps, pd;
    party_of(&sa, &sm, &ps);
    party_of(&da, &dm, &pd);
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        struct placement_pair *np = realloc(p->pairs, ncap * sizeof *np);
        if (np)
            p->pairs = np;
        struct probe *nr = np ? realloc(p->probes, ncap * sizeof *nr) : NULL;
        if (!nr)
            return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        p->probes = nr;
        p->cap = ncap;
    }
    struct placement_pair *x = &p->pairs[p->n];
    struct probe *pr = &p->probes[p->n];
    memset(x, 0, sizeof *x);
    memset(pr, 0, sizeof *pr);
    snprintf(x->sender, sizeof x->sender, "%s", sender);
    snprintf(x->seed, sizeof x->seed, "%s", seed);
    snprintf(x->from, sizeof x->from, "%s", ps.address);
    snprintf(x->to, sizeof x->to, "%s", pd.address);
    x->delay_ms = -1;
    pr->link = pr->seed = (size_t)-1;
    char why[400];
    if (!placement_pair_ok(&ps, &pd, why, sizeof why)) {
        x->result = PLACEMENT_REFUSED;
        snprintf(x->detail, sizeof x->detail, "%s", why);
        p->n++;
        return MF_OK;
    }
    unsigned char rnd[PLACEMENT_TOKEN_HEX / 2];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(x->token, sizeof x->token, rnd, sizeof rnd);
    size_t li = find_link(p, sender), si = find_seed(p, seed);
    if (li == (size_t)-1) {
        if (!grow((void **)&p->links, p->nlinks, sizeof *p->links))
            return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        li = p->nlinks++;
        p->links[li].acct = sa;
    }
    if (si == (size_t)-1) {
        if (!grow((void **)&p->seeds, p->nseeds, sizeof *p->seeds))
            return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
        si = p->nseeds++;
        p->seeds[si].acct = da;
        p->seeds[si].imap = di;
    }
    pr->link = li;
    pr->seed = si;
    p->n++;
    if (!msg_address_ok(x->from))
        snprintf(x->detail, sizeof x->detail, "not sent: %s has no From address (mailfleet "
                 "account add %s --from ADDRESS --replace)", sender, sender);
    else if (!msg_address_ok(x->to))
        snprintf(x->detail, sizeof x->detail, "not sent: seed %s has no address (mailfleet "
                 "account add %s --from ADDRESS --replace)", seed, seed);
    if (x->detail[0])
        x->result = PLACEMENT_NOT_SENT;
    return MF_OK;
}

const struct placement_pair *placement_pairs(const struct placement *p, size_t *n)
{
    *n = p->n;
    return p->pairs;
}

enum mf_rc placement_save(struct placement *p, int pause_below, int64_t *run_id,
                          struct mf_err *err)
{
    struct store *st = p->cfg.st;
    int64_t run = 0;
    enum mf_rc rc = store_begin(st, err);
    if (rc == MF_OK)
        rc = store_placement_latest_run(st, &run, err);
    run++;
    for (size_t i = 0; rc == MF_OK && i < p->n; i++) {
        const struct placement_pair *x = &p->pairs[i];
        struct store_placement r;
        memset(&r, 0, sizeof r);
        r.run_id = run;
        snprintf(r.sender, sizeof r.sender, "%s", x->sender);
        snprintf(r.seed, sizeof r.seed, "%s", x->seed);
        snprintf(r.token, sizeof r.token, "%s", x->token);
        r.sent_at = x->sent_at;
        snprintf(r.result, sizeof r.result, "%s", placement_result_name(
            x->result == PLACEMENT_PENDING ? PLACEMENT_MISSING : x->result));
        snprintf(r.folder, sizeof r.folder, "%s", x->folder);
        r.delay_ms = x->delay_ms;
        snprintf(r.detail, sizeof r.detail, "%s", x->detail);
        rc = store_placement_add(st, &r, err);
    }
    if (rc != MF_OK) {
        store_rollback(st);
        return rc;
    }
    if ((rc = store_commit(st, err)) != MF_OK)
        return rc;
    if (run_id)
        *run_id = run;
    for (size_t i = 0; pause_below > 0 && i < p->nlinks; i++) {
        struct placement_tally t;
        char reason[512];
        const char *name = p->links[i].acct.name;
        placement_tally(p->pairs, p->n, name, &t);
        if (!placement_below(&t, pause_below, name, reason, sizeof reason))
            continue;
        if ((rc = store_mailbox_set_status(st, name, "paused", reason, err)) != MF_OK)
            return rc;
        placement_note(p, "paused %s: %s", name, reason);
    }
    return MF_OK;
}
