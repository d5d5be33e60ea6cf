/* engine/placement: the parts that need no loop — the pair rule, the
 * folder choice, the tally and threshold, the matrix text, and reading a
 * recorded run back. See placement.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/placement.h"

static const char *const result_names[] = {
    [PLACEMENT_PENDING] = "pending", [PLACEMENT_INBOX] = "inbox", [PLACEMENT_JUNK] = "junk",
    [PLACEMENT_MISSING] = "missing", [PLACEMENT_NOT_SENT] = "not_sent",
    [PLACEMENT_REFUSED] = "refused",
};

const char *placement_result_name(enum placement_result r)
{
    return (unsigned)r < sizeof result_names / sizeof *result_names ? result_names[r]
                                                                      : "unknown";
}

bool placement_result_parse(const char *name, enum placement_result *out)
{
    for (size_t i = 0; name && i < sizeof result_names / sizeof *result_names; i++)
        if (!strcmp(name, result_names[i])) {
            *out = (enum placement_result)i;
            return true;
        }
    return false;
}

/* ---- the pair rule ------------------------------------------------------------------ */

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at && at[1] ? at + 1 : "";
}

/* a is b, or a subdomain of b ("sales.contoso.com" of "contoso.com"). */
static bool within(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb)
        return strcasecmp(a, b) == 0;
    return la > lb && a[la - lb - 1] == '.' && strcasecmp(a + la - lb, b) == 0;
}

bool placement_pair_ok(const struct placement_party *sender, const struct placement_party *seed,
                       char *why, size_t why_size)
{
    const char *ds = domain_of(sender->address), *dd = domain_of(seed->address);
    if (!strcmp(sender->account, seed->account) ||
        (sender->address[0] && strcasecmp(sender->address, seed->address) == 0)) {
        snprintf(why, why_size, "the seed is the sender itself");
        return false;
    }
    if (ds[0] && dd[0] && (within(ds, dd) || within(dd, ds))) {
        snprintf(why, why_size, "same domain (%s%s%s): internal delivery says nothing about "
                 "placement", ds, strcasecmp(ds, dd) ? " / " : "",
                 strcasecmp(ds, dd) ? dd : "");
        return false;
    }
    if (sender->tenant[0] && strcmp(sender->tenant, seed->tenant) == 0) {
        snprintf(why, why_size, "same tenant (%s): internal delivery says nothing about "
                 "placement", sender->tenant);
        return false;
    }
    if (why_size)
        why[0] = '\0';
    return true;
}

/* ---- folders -------------------------------------------------------------------------- */

static const char *const junk_names[] = {
    "Junk", "Junk E-mail", "Junk Email", "Spam", "Bulk Mail", "[Gmail]/Spam",
    "[Google Mail]/Spam",
};

static bool is_junk_name(const struct imap_mailbox *m)
{
    const char *name = m->name;
    /* a child of INBOX (Courier, Cyrus): INBOX.Junk */
    if (m->delimiter && strncasecmp(name, "INBOX", 5) == 0 && name[5] == m->delimiter)
        name += 6;
    for (size_t i = 0; i < sizeof junk_names / sizeof *junk_names; i++)
        if (strcasecmp(name, junk_names[i]) == 0)
            return true;
    return false;
}

static bool pickable(const struct imap_mailbox *m)
{
    return m->name && m->name[0] && !(m->flags & IMAP_MB_NOSELECT) &&
           !strpbrk(m->name, "\"\\");
}

void placement_pick_folders(const struct imap_mailbox *mb, size_t n, char *inbox,
                            size_t inbox_size, char *junk, size_t junk_size)
{
    inbox[0] = junk[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (pickable(&mb[i]) && !junk[0] && (mb[i].flags & IMAP_MB_JUNK))
            snprintf(junk, junk_size, "%s", mb[i].name);
    for (size_t i = 0; i < n && !junk[0]; i++)
        if (pickable(&mb[i]) && is_junk_name(&mb[i]))
            snprintf(junk, junk_size, "%s", mb[i].name);
    for (size_t i = 0; i < n && !inbox[0]; i++)
        if (pickable(&mb[i]) && strcasecmp(mb[i].name, "INBOX") == 0)
            snprintf(inbox, inbox_size, "%s", mb[i].name);
    for (size_t i = 0; i < n && !inbox[0]; i++)
        if (pickable(&mb[i]) && (mb[i].flags & IMAP_MB_INBOX))
            snprintf(inbox, inbox_size, "%s", mb[i].name);
    if (!inbox[0]) /* every server has one, listed or not (RFC 3501 5.1) */
        snprintf(inbox, inbox_size, "INBOX");
    if (strcmp(junk, inbox) == 0)
        junk[0] = '\0';
}

/* ---- tally and threshold -------------------------------------------------------------- */

void placement_tally(const struct placement_pair *pairs, size_t n, const char *sender,
                     struct placement_tally *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        const struct placement_pair *x = &pairs[i];
        if (strcmp(x->sender, sender) != 0)
            continue;
        switch (x->result) {
        case PLACEMENT_INBOX: t->inbox++; break;
        case PLACEMENT_JUNK: t->junk++; break;
        case PLACEMENT_MISSING:
            if (x->seed_unread)
                t->unread++;
            else
                t->missing++;
            break;
        case PLACEMENT_NOT_SENT: t->not_sent++; break;
        case PLACEMENT_REFUSED: t->refused++; break;
        default: t->pending++; break;
        }
    }
    t->checked = t->inbox + t->junk + t->missing;
}

bool placement_below(const struct placement_tally *t, int pct, const char *sender,
                     char *reason, size_t reason_size)
{
    if (pct <= 0 || t->checked <= 0 || (long)t->inbox * 100 >= (long)pct * t->checked)
        return false;
    snprintf(reason, reason_size, "placement %d/%d inbox (%d junk, %d missing) is below %d%%: "
             "look at the domain's SPF/DKIM/DMARC and content, then mailfleet mailbox resume %s",
             t->inbox, t->checked, t->junk, t->missing, pct, sender);
    return true;
}

/* ---- the matrix ----------------------------------------------------------------------- */

const char *placement_delay_text(int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        snprintf(buf, size, "?");
    else if (ms < 10000)
        snprintf(buf, size, "%lld.%llds", (long long)(ms / 1000), (long long)(ms % 1000 / 100));
    else if (ms < 60000)
        snprintf(buf, size, "%llds", (long long)((ms + 500) / 1000));
    else if (ms < 3600000)
        snprintf(buf, size, "%lldm%02llds", (long long)(ms / 60000),
                 (long long)(ms % 60000 / 1000));
    else
        snprintf(buf, size, "%lldh%02lldm", (long long)(ms / 3600000),
                 (long long)(ms % 3600000 / 60000));
    return buf;
}

static void cell_text(const struct placement_pair *x, char *buf, size_t size)
{
    char d[32];
    switch (x->result) {
    case PLACEMENT_INBOX:
    case PLACEMENT_JUNK:
        snprintf(buf, size, "%s %s", x->result == PLACEMENT_INBOX ? "inbox" : "junk",
                 placement_delay_text(x->delay_ms, d, sizeof d));
        break;
    case PLACEMENT_MISSING: snprintf(buf, size, "%s", x->seed_unread ? "unread" : "missing"); break;
    case PLACEMENT_NOT_SENT: snprintf(buf, size, "not sent"); break;
    case PLACEMENT_REFUSED: snprintf(buf, size, "refused"); break;
    default: snprintf(buf, size, "pending"); break;
    }
}

/* Distinct values of one field (sender or seed), in first-seen order. */
static size_t distinct(const struct placement_pair *pairs, size_t n, bool seeds,
                       const char **out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = seeds ? pairs[i].seed : pairs[i].sender;
        size_t j = 0;
        while (j < k && strcmp(out[j], v) != 0)
            j++;
        if (j == k)
            out[k++] = v;
    }
    return k;
}

static const struct placement_pair *find_pair(const struct placement_pair *pairs, size_t n,
                                              const char *sender, const char *seed)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pairs[i].sender, sender) && !strcmp(pairs[i].seed, seed))
            return &pairs[i];
    return NULL;
}

static int width_of(const char *s, int min)
{
    int w = (int)strlen(s);
    return w > min ? w : min;
}

static enum mf_rc sender_line(const struct placement_pair *pairs, size_t n, const char *sender,
                              struct mf_buf *out)
{
    struct placement_tally t;
    placement_tally(pairs, n, sender, &t);
    enum mf_rc rc;
    if (t.checked)
        rc = mf_buf_printf(out, "%s: %d/%d in the inbox (%d%%)", sender, t.inbox, t.checked,
                           t.inbox * 100 / t.checked);
    else
        rc = mf_buf_printf(out, "%s: nothing checked", sender);
    const struct { int n; const char *what; } extra[] = {
        {t.junk, "junk"}, {t.missing, "missing"}, {t.unread, "unread"},
        {t.not_sent, "not sent"}, {t.refused, "refused"}, {t.pending, "pending"},
    };
    bool first = true;
    for (size_t i = 0; rc == MF_OK && i < sizeof extra / sizeof *extra; i++)
        if (extra[i].n) {
            rc = mf_buf_printf(out, "%s%d %s", first ? ": " : ", ", extra[i].n, extra[i].what);
            first = false;
        }
    return rc == MF_OK ? mf_buf_adds(out, "\n") : rc;
}

enum mf_rc placement_matrix_text(const struct placement_pair *pairs, size_t n,
                                 struct mf_buf *out)
{
    if (!n)
        return mf_buf_adds(out, "(no pairs)\n");
    const char **senders = calloc(n, sizeof *senders), **seeds = calloc(n, sizeof *seeds);
    int *w = calloc(n, sizeof *w);
    if (!senders || !seeds || !w) {
        free(senders), free(seeds), free(w);
        return MF_ENOMEM;
    }
    size_t ns = distinct(pairs, n, false, senders), nd = distinct(pairs, n, true, seeds);
    const char *corner = "SENDER \\ SEED";
    int w0 = width_of(corner, 0);
    for (size_t i = 0; i < ns; i++)
        w0 = width_of(senders[i], w0);
    char cell[64];
    for (size_t j = 0; j < nd; j++) {
        w[j] = width_of(seeds[j], 8);
        for (size_t i = 0; i < ns; i++) {
            const struct placement_pair *x = find_pair(pairs, n, senders[i], seeds[j]);
            if (x) {
                cell_text(x, cell, sizeof cell);
                w[j] = width_of(cell, w[j]);
            }
        }
    }
    enum mf_rc rc = mf_buf_printf(out, "%-*s", w0, corner);
    for (size_t j = 0; rc == MF_OK && j < nd; j++)
        rc = mf_buf_printf(out, "  %-*s", j + 1 < nd ? w[j] : 0, seeds[j]);
    if (rc == MF_OK)
        rc = mf_buf_adds(out, "\n");
    for (size_t i = 0; rc == MF_OK && i < ns; i++) {
        rc = mf_buf_printf(out, "%-*s", w0, senders[i]);
        for (size_t j = 0; rc == MF_OK && j < nd; j++) {
            const struct placement_pair *x = find_pair(pairs, n, senders[i], seeds[j]);
            if (x)
                cell_text(x, cell, sizeof cell);
            else
                snprintf(cell, sizeof cell, "-");
            rc = mf_buf_printf(out, "  %-*s", j + 1 < nd ? w[j] : 0, cell);
        }
        if (rc == MF_OK)
            rc = mf_buf_adds(out, "\n");
    }
    if (rc == MF_OK)
        rc = mf_buf_adds(out, "\n");
    for (size_t i = 0; rc == MF_OK && i < ns; i++)
        rc = sender_line(pairs, n, senders[i], out);
    bool heading = false;
    for (size_t i = 0; rc == MF_OK && i < n; i++) {
        const struct placement_pair *x = &pairs[i];
        if (!x->detail[0] || x->result == PLACEMENT_INBOX || x->result == PLACEMENT_JUNK)
            continue;
        if (!heading) {
            rc = mf_buf_adds(out, "\n");
            heading = true;
        }
        cell_text(x, cell, sizeof cell);
        bool said = !strncmp(x->detail, cell, strlen(cell)); /* "not sent: ..." */
        if (rc == MF_OK)
            rc = mf_buf_printf(out, "%s -> %s: %s%s%s\n", x->sender, x->seed, said ? "" : cell,
                               said ? "" : ": ", x->detail);
    }
    free(senders);
    free(seeds);
    free(w);
    return rc;
}

/* ---- a recorded run ------------------------------------------------------------------- */

struct load_ctx {
    struct placement_pair *pairs;
    size_t n, cap;
    bool nomem;
};

static int load_cb(void *ctx, const struct store_placement *r)
{
    struct load_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        struct placement_pair *np = realloc(c->pairs, ncap * sizeof *np);
        if (!np) {
            c->nomem = true;
            return 1;
        }
        c->pairs = np;
        c->cap = ncap;
    }
    struct placement_pair *x = &c->pairs[c->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->sender, sizeof x->sender, "%s", r->sender);
    snprintf(x->seed, sizeof x->seed, "%s", r->seed);
    snprintf(x->token, sizeof x->token, "%.*s", PLACEMENT_TOKEN_HEX, r->token);
    if (!placement_result_parse(r->result, &x->result))
        x->result = PLACEMENT_PENDING;
    snprintf(x->folder, sizeof x->folder, "%s", r->folder);
    x->sent_at = r->sent_at;
    x->delay_ms = r->delay_ms;
    snprintf(x->detail, sizeof x->detail, "%s", r->detail);
    x->seed_unread = x->result == PLACEMENT_MISSING && !strncmp(x->detail, "not looked for", 14);
    return 0;
}

enum mf_rc placement_load(struct store *st, int64_t run_id, struct placement_pair **pairs,
                          size_t *n, int64_t *run_out, struct mf_err *err)
{
    *pairs = NULL;
    *n = 0;
    if (run_id <= 0) {
        enum mf_rc rc = store_placement_latest_run(st, &run_id, err);
        if (rc != MF_OK)
            return rc;
        if (!run_id)
            return mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL,
                              "no placement check has run yet (mailfleet placement run)");
    }
    struct load_ctx c = {0};
    enum mf_rc rc = store_placement_list(st, run_id, load_cb, &c, err);
    if (rc == MF_OK && c.nomem)
        rc = mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    if (rc == MF_OK && !c.n)
        rc = mf_err_set(err, MF_ENOTFOUND, MF_LAYER_LOCAL, "no placement run %lld",
                        (long long)run_id);
    if (rc != MF_OK) {
        free(c.pairs);
        return rc;
    }
    *pairs = c.pairs;
    *n = c.n;
    if (run_out)
        *run_out = run_id;
    return MF_OK;
}
