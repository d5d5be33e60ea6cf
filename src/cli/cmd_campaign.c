/* `mailfleet campaign ...`, `leads import`, `suppress ...`, `lead show`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/campaign.h"
#include "engine/csvin.h"
#include "mail/addr.h"
#include "mail/template.h"
#include "util/clock.h"

static const char campaign_usage[] =
    "usage: mailfleet campaign create FILE.yaml [--start]\n"
    "       mailfleet campaign check FILE.yaml\n"
    "       mailfleet campaign list\n"
    "       mailfleet campaign start|pause|resume NAME\n"
    "\n"
    "A campaign file (YAML) holds the steps, their delays, subject and body\n"
    "variants, the send window, the gap between sends and the unsubscribe\n"
    "footer: see examples/campaign.yaml. `create` validates it (every error\n"
    "with its line) and stores it as a draft; `start` lets `mailfleet run`\n"
    "send it. Re-creating a campaign of the same name updates its text.\n";

static const char leads_usage[] =
    "usage: mailfleet leads import FILE.csv --campaign NAME\n"
    "\n"
    "Streams the CSV (header row; an \"email\" column; every other column becomes\n"
    "a merge field, e.g. first_name, company, timezone), checks and normalises\n"
    "each address, skips duplicates (in the file and already in the store) and\n"
    "suppressed addresses, and enrols the rest in the campaign. Every rejected\n"
    "row is reported with its line number and reason. One transaction: after an\n"
    "error nothing is imported.\n";

/* Every template of the campaign parses (errors name the step). */
static enum mf_rc check_templates(const struct campaign_spec *c, struct mf_err *e)
{
    for (size_t i = 0; i < c->nsteps; i++) {
        const struct campaign_step *s = &c->steps[i];
        for (size_t k = 0; k < s->nsubjects + s->nbodies; k++) {
            const struct campaign_variant *v = k < s->nsubjects ? &s->subjects[k]
                                                                : &s->bodies[k - s->nsubjects];
            struct mf_err te;
            mf_err_clear(&te);
            if (tpl_check(v->text, strlen(v->text), &te) != MF_OK)
                return mf_err_set(e, MF_ECONFIG, MF_LAYER_LOCAL, "step %zu, %s at line %d: %s",
                                  i + 1, k < s->nsubjects ? "subject" : "body", v->line,
                                  te.detail);
        }
    }
    struct mf_err te;
    if (tpl_check(c->unsub_text, strlen(c->unsub_text), &te) != MF_OK)
        return mf_err_set(e, MF_ECONFIG, MF_LAYER_LOCAL, "unsubscribe text: %s", te.detail);
    return MF_OK;
}

static int campaign_create(const struct cli_global *g, const char *path, bool start,
                           bool check_only)
{
    struct mf_err e;
    mf_err_clear(&e);
    struct campaign_spec *c = NULL;
    if (campaign_load(path, &c, &e) != MF_OK || check_templates(c, &e) != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        campaign_free(c);
        return CLI_DATAERR;
    }
    if (check_only) {
        printf("%s: campaign %s is valid: %zu step%s\n", path, c->name, c->nsteps,
               c->nsteps == 1 ? "" : "s");
        campaign_free(c);
        return CLI_OK;
    }
    size_t len = 0;
    FILE *f = fopen(path, "r");
    char *text = f ? cli_read_all(f, &len, false, 1 << 20) : NULL;
    if (f)
        fclose(f);
    struct store *st = text ? cli_open_store(g) : NULL;
    int rc = CLI_IOERR;
    int64_t id = 0;
    if (st && store_campaign_put(st, c->name, text, (int)c->nsteps, &id, &e) == MF_OK &&
        (!start || store_campaign_set_status(st, id, "active", "", &e) == MF_OK)) {
        printf("campaign %s: %zu step%s, %s\n", c->name, c->nsteps, c->nsteps == 1 ? "" : "s",
               start ? "started" : "saved as a draft (mailfleet campaign start to send)");
        rc = CLI_OK;
    } else if (st) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    }
    store_close(st);
    free(text);
    campaign_free(c);
    return rc;
}

static int list_cb(void *ctx, const struct store_campaign *c)
{
    (void)ctx;
    printf("%-24s %-7s %d step%s  %s\n", c->name, c->status, c->nsteps,
           c->nsteps == 1 ? " " : "s", c->pause_reason);
    return 0;
}

int cmd_campaign(const struct cli_global *g, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(campaign_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "create") && (argc == 3 || (argc == 4 && !strcmp(argv[3], "--start"))))
        return campaign_create(g, argv[2], argc == 4, false);
    if (!strcmp(sub, "check") && argc == 3)
        return campaign_create(g, argv[2], false, true);
    struct store *st = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    int rc = CLI_USAGE;
    if (!strcmp(sub, "list") && argc == 2 && (st = cli_open_store(g))) {
        rc = store_campaign_list(st, list_cb, NULL, &e) == MF_OK ? CLI_OK : CLI_IOERR;
    } else if ((!strcmp(sub, "start") || !strcmp(sub, "pause") || !strcmp(sub, "resume")) &&
               argc == 3 && (st = cli_open_store(g))) {
        struct store_campaign c;
        const char *status = !strcmp(sub, "pause") ? "paused" : "active";
        rc = store_campaign_get(st, argv[2], &c, &e) == MF_OK &&
                     store_campaign_set_status(st, c.id, status,
                                               *status == 'p' ? "paused by the user" : "",
                                               &e) == MF_OK
                 ? CLI_OK : CLI_DATAERR;
        if (rc == CLI_OK)
            printf("campaign %s %s\n", argv[2], *status == 'p' ? "paused" : "active");
        store_campaign_clear(&c);
    } else {
        fprintf(stderr, "mailfleet: campaign: bad arguments\n%s", campaign_usage);
    }
    if (rc != CLI_OK && e.detail[0])
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    store_close(st);
    return rc;
}

/* ---- leads import ------------------------------------------------------------------ */

struct lead_import {
    struct store_import *imp;
    char **names;                 /* the header, copied */
    size_t ncols, email_col, tz_col;
    size_t *order;                /* the merge-field columns, by name (JSON key order) */
    size_t norder;
    bool plain_names;             /* every name needs no JSON escaping */
    char *json;                   /* a row's fields, reused */
    size_t json_cap;
    long ok, rejected, dup_file, dup_store, suppressed;
    bool tty, failed;
    struct mf_err *err;
};

/* Text that JSON carries as it is: printable ASCII but '"' and '\\'. */
static bool json_plain(const char *s, size_t *len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    for (; p[n]; n++)
        if (p[n] < 0x20 || p[n] > 0x7e || p[n] == '"' || p[n] == '\\')
            return false;
    *len = n;
    return true;
}

static int leads_header(void *ctx, const struct csvin_header *h)
{
    struct lead_import *im = ctx;
    im->email_col = csvin_column(h, "email");
    im->tz_col = csvin_column(h, "timezone");
    if (im->email_col == CSVIN_NO_COLUMN) {
        fprintf(stderr, "mailfleet: line %ld: the header has no \"email\" column\n", h->line);
        im->failed = true;
        return 1;
    }
    im->ncols = h->ncols;
    im->names = calloc(h->ncols, sizeof *im->names);
    im->order = calloc(h->ncols, sizeof *im->order);
    if (!im->names || !im->order)
        return 1;
    im->plain_names = true;
    for (size_t i = 0; i < h->ncols; i++) {
        size_t len;
        if (!(im->names[i] = strdup(h->names[i])))
            return 1;
        if (i != im->email_col) {
            im->order[im->norder++] = i;
            im->plain_names &= json_plain(im->names[i], &len);
        }
    }
    /* by name, as JSON_SORT_KEYS orders them (at most 256 columns) */
    for (size_t k = 1; k < im->norder; k++)
        for (size_t j = k; j > 0 && strcmp(im->names[im->order[j - 1]],
                                           im->names[im->order[j]]) > 0; j--) {
            size_t t = im->order[j];
            im->order[j] = im->order[j - 1];
            im->order[j - 1] = t;
        }
    return 0;
}

/* The row's merge fields as jansson writes them (compact, keys sorted,
 * empty values left out), without building a JSON tree for the usual
 * plain-ASCII row. NULL: a value needs escaping (the caller asks jansson). */
static const char *fields_fast(struct lead_import *im, const char *const *v)
{
    if (!im->plain_names)
        return NULL;
    size_t need = 3, len[CSVIN_COLS_MAX];
    for (size_t k = 0; k < im->norder; k++) {
        size_t i = im->order[k];
        if (v[i][0] && !json_plain(v[i], &len[k]))
            return NULL;
        need += v[i][0] ? strlen(im->names[i]) + len[k] + 6 : 0;
    }
    if (need > im->json_cap) {
        char *bigger = realloc(im->json, need);
        if (!bigger)
            return NULL;
        im->json = bigger;
        im->json_cap = need;
    }
    char *p = im->json;
    *p++ = '{';
    for (size_t k = 0; k < im->norder; k++) {
        size_t i = im->order[k], n = strlen(im->names[i]);
        if (!v[i][0])
            continue;
        if (p > im->json + 1)
            *p++ = ',';
        *p++ = '"';
        memcpy(p, im->names[i], n);
        p += n;
        memcpy(p, "\":\"", 3);
        p += 3;
        memcpy(p, v[i], len[k]);
        p += len[k];
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return im->json;
}

/* The same through jansson, for values with quotes, controls or UTF-8
 * (caller frees). */
static char *fields_jansson(const struct lead_import *im, size_t n, const char *const *v)
{
    json_t *fields = json_object();
    for (size_t i = 0; i < n; i++)
        if (i != im->email_col && v[i][0])
            json_object_set_new(fields, im->names[i], json_string(v[i]));
    char *text = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(fields);
    return text;
}

static void lead_reject(struct lead_import *im, long line, const char *why, const char *addr)
{
    im->rejected++;
    fprintf(stderr, "line %ld: rejected%s%s: %s\n", line, addr ? " " : "", addr ? addr : "",
            why);
}

static int leads_row(void *ctx, long line, size_t n, const char *const *v)
{
    struct lead_import *im = ctx;
    if (n != im->ncols) {
        lead_reject(im, line, "wrong number of columns", NULL);
        return 0;
    }
    char addr[ADDR_BUFSIZE];
    const char *why = NULL, *domain = NULL;
    if (!addr_normalize(v[im->email_col], addr, sizeof addr, &why) ||
        !addr_domain(addr, &domain)) {
        lead_reject(im, line, why ? why : "not an address", v[im->email_col]);
        return 0;
    }
    const char *fields = fields_fast(im, v);
    char *slow = fields ? NULL : fields_jansson(im, n, v);
    const char *tz = im->tz_col != CSVIN_NO_COLUMN ? v[im->tz_col] : "";
    enum store_import_outcome out = STORE_IMPORT_ENROLLED;
    char reason[400];
    enum mf_rc rc = fields || slow ? store_import_row(im->imp, addr, domain, fields ? fields : slow,
                                                      tz, &out, reason, sizeof reason, im->err)
                                   : mf_err_set(im->err, MF_ENOMEM, MF_LAYER_INTERNAL,
                                                "out of memory");
    free(slow);
    if (rc != MF_OK) {
        fprintf(stderr, "line %ld: %s\n", line, im->err->detail);
        im->failed = true;
        return 1;
    }
    switch (out) {
    case STORE_IMPORT_SUPPRESSED:
        im->suppressed++;
        lead_reject(im, line, reason, NULL);
        return 0;
    case STORE_IMPORT_DUP_FILE:
        im->dup_file++;
        lead_reject(im, line, "duplicate of an earlier row", addr);
        return 0;
    case STORE_IMPORT_DUP_CAMPAIGN:
        im->dup_store++;
        lead_reject(im, line, "already in this campaign", addr);
        return 0;
    case STORE_IMPORT_ENROLLED:
        break;
    }
    im->ok++;
    if (im->tty && (im->ok + im->rejected) % 10000 == 0)
        fprintf(stderr, "\r%ld rows: %ld enrolled, %ld rejected", im->ok + im->rejected,
                im->ok, im->rejected);
    return 0;
}

static void lead_import_free(struct lead_import *im)
{
    for (size_t i = 0; im->names && i < im->ncols; i++)
        free(im->names[i]);
    free(im->names);
    free(im->order);
    free(im->json);
}

static int leads_import(const struct cli_global *g, const char *path, const char *campaign)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mailfleet: cannot open %s\n", path);
        return CLI_NOINPUT;
    }
    struct store *st = cli_open_store(g);
    struct mf_err e;
    mf_err_clear(&e);
    struct store_campaign c;
    memset(&c, 0, sizeof c);
    if (!st || store_campaign_get(st, campaign, &c, &e) != MF_OK) {
        if (st)
            fprintf(stderr, "mailfleet: %s\n", e.detail);
        store_close(st);
        fclose(f);
        return CLI_CONFIG;
    }
    struct lead_import im = {.err = &e, .tty = isatty(STDERR_FILENO)};
    struct csvin_result res;
    double t0 = mf_now_ms();
    /* one transaction: leads as rows come, enrollments at the end */
    enum mf_rc rc = store_import_begin(st, c.id, &im.imp, &e);
    store_campaign_clear(&c);
    if (rc == MF_OK)
        rc = csvin_read(f, path, 0, leads_header, leads_row, &im, &res, &e);
    if (im.tty && (im.ok || im.rejected))
        fprintf(stderr, "\r%ld rows: %ld enrolled, %ld rejected; enrolling...",
                im.ok + im.rejected, im.ok, im.rejected);
    if (im.imp) {
        enum mf_rc end = store_import_finish(im.imp, rc == MF_OK && !im.failed, &e);
        if (rc == MF_OK && !im.failed)
            rc = end;
    }
    fclose(f);
    store_close(st);
    lead_import_free(&im);
    if (im.tty)
        fputc('\n', stderr);
    if (rc != MF_OK || im.failed) {
        if (rc != MF_OK)
            fprintf(stderr, "mailfleet: %s\n", e.detail);
        fprintf(stderr, "mailfleet: nothing was imported (one transaction)\n");
        return CLI_DATAERR;
    }
    double secs = (mf_now_ms() - t0) / 1000.0;
    printf("%s: %ld rows: %ld enrolled in %s, %ld rejected (%ld duplicates in the file, %ld "
           "already in the campaign, %ld suppressed) in %.1f s\n", path, res.rows, im.ok,
           campaign, im.rejected, im.dup_file, im.dup_store, im.suppressed, secs);
    return CLI_OK;
}

int cmd_leads(const struct cli_global *g, int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "import") && !strcmp(argv[3], "--campaign"))
        return leads_import(g, argv[2], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "import") && !strcmp(argv[2], "--campaign"))
        return leads_import(g, argv[4], argv[3]);
    bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    fputs(leads_usage, help ? stdout : stderr);
    return help ? CLI_OK : CLI_USAGE;
}
