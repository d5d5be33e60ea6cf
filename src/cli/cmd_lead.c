/* `mailfleet suppress ...`, `lead show`, `outbox list|resolve`. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "engine/engine.h"
#include "mail/addr.h"

static const char suppress_usage[] =
    "usage: mailfleet suppress add ADDRESS|@DOMAIN [--reason TEXT]\n"
    "       mailfleet suppress remove ADDRESS|@DOMAIN\n"
    "       mailfleet suppress list\n"
    "\n"
    "A suppressed address (or a whole @domain) is never sent to again: it is\n"
    "checked when leads are imported and again just before every send.\n";

static const char outbox_usage[] =
    "usage: mailfleet outbox list [STATE]\n"
    "       mailfleet outbox resolve ID sent|failed\n"
    "\n"
    "A message is `unknown` when the connection ended after it was sent and\n"
    "before the server answered: it may have been delivered. mailfleet never\n"
    "sends it again by itself; look in the mailbox's Sent folder, then resolve\n"
    "it: `sent` moves the sequence on, `failed` stops it for that lead.\n";

static void when(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%MZ", &tm);
}

/* "me@x.com" normalised, or "@domain" lowercased. */
static bool suppress_value(const char *in, char *out, size_t size)
{
    const char *why = NULL;
    if (in[0] == '@') {
        char probe[ADDR_BUFSIZE];
        snprintf(probe, sizeof probe, "x%s", in);
        if (!addr_normalize(probe, probe, sizeof probe, &why))
            return false;
        snprintf(out, size, "%s", probe + 1);
        return true;
    }
    return addr_normalize(in, out, size, &why);
}

static int print_suppressed(void *ctx, const char *value, const char *reason, int64_t at)
{
    (void)ctx;
    char w[32];
    when(at, w, sizeof w);
    printf("%-40s %s  %s\n", value, w, reason);
    return 0;
}

int cmd_suppress(const struct cli_global *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    char value[ADDR_BUFSIZE + 1] = "";
    bool add = !strcmp(sub, "add"), remove = !strcmp(sub, "remove");
    const char *reason = "added by the user";
    if ((add && (argc == 3 || (argc == 5 && !strcmp(argv[3], "--reason")))) ||
        (remove && argc == 3)) {
        if (!suppress_value(argv[2], value, sizeof value)) {
            fprintf(stderr, "mailfleet: \"%s\" is not an address or @domain\n", argv[2]);
            return CLI_USAGE;
        }
        if (argc == 5)
            reason = argv[4];
    } else if (strcmp(sub, "list") || argc != 2) {
        bool help = !strcmp(sub, "--help") || !strcmp(sub, "-h");
        fputs(suppress_usage, help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = add ? store_suppress_add(st, value, reason, &e)
                    : remove ? store_suppress_remove(st, value, &e)
                             : store_suppress_list(st, print_suppressed, NULL, &e);
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_ENOTFOUND ? CLI_DATAERR : CLI_IOERR;
    }
    if (add || remove)
        printf("%s %s the suppression list\n", value, add ? "is on" : "was removed from");
    return CLI_OK;
}

/* ---- lead show ------------------------------------------------------------------------ */

struct show_ctx {
    struct store *st;
};

static int show_enrollment(void *ctx, const struct store_enrollment *en)
{
    struct show_ctx *s = ctx;
    struct store_campaign c;
    struct mf_err e;
    char due[32] = "-";
    if (store_campaign_by_id(s->st, en->campaign_id, &c, &e) != MF_OK)
        return 0;
    if (!strcmp(en->state, "active") && en->next_due == 0) /* imported, never scheduled */
        snprintf(due, sizeof due, "now");
    else if (!strcmp(en->state, "active"))
        when(en->next_due, due, sizeof due);
    printf("  %-20s %-8s next step %d, due %s, mailbox %s%s%s\n", c.name, en->state,
           en->next_step + 1, due, en->mailbox[0] ? en->mailbox : "(not yet)",
           en->reason[0] ? " - " : "", en->reason);
    store_campaign_clear(&c);
    return 0;
}

static int show_event(void *ctx, int64_t at, const char *kind, int64_t campaign_id,
                      const char *mailbox, const char *detail)
{
    (void)ctx, (void)campaign_id;
    char w[32];
    when(at, w, sizeof w);
    printf("  %s  %-11s %-28s %s\n", w, kind, mailbox, detail);
    return 0;
}

static int lead_show(const struct cli_global *g, const char *address)
{
    char addr[ADDR_BUFSIZE];
    const char *why = NULL;
    if (!addr_normalize(address, addr, sizeof addr, &why)) {
        fprintf(stderr, "mailfleet: \"%s\" is not an address: %s\n", address, why);
        return CLI_USAGE;
    }
    struct store *st = cli_open_store(g);
    if (!st)
        return CLI_CONFIG;
    struct mf_err e;
    mf_err_clear(&e);
    struct store_lead l;
    enum mf_rc rc = store_lead_by_address(st, addr, &l, &e);
    if (rc == MF_OK) {
        printf("%s  status %s%s%s\n  fields %s\n", l.address, l.status,
               l.timezone[0] ? ", time zone " : "", l.timezone, l.fields);
        struct show_ctx s = {.st = st};
        printf("sequences:\n");
        rc = store_enrollments_of_lead(st, l.id, show_enrollment, &s, &e);
        printf("history:\n");
        if (rc == MF_OK)
            rc = store_events_of_lead(st, l.id, show_event, &s, &e);
        bool sup = false;
        char reason[400];
        if (rc == MF_OK && store_suppressed(st, l.address, l.domain, &sup, reason,
                                            sizeof reason, &e) == MF_OK && sup)
            printf("%s\n", reason);
        store_lead_clear(&l);
    }
    store_close(st);
    if (rc != MF_OK) {
        fprintf(stderr, "mailfleet: %s\n", e.detail);
        return rc == MF_ENOTFOUND ? CLI_DATAERR : CLI_IOERR;
    }
    return CLI_OK;
}

int cmd_lead(const struct cli_global *g, int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "show"))
        return lead_show(g, argv[2]);
    bool help = argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    fputs("usage: mailfleet lead show ADDRESS\n\nThe lead's fields, its sequences (state, "
          "next step, when, from which mailbox) and its whole history.\n",
          help ? stdout : stderr);
    return help ? CLI_OK : CLI_USAGE;
}

/* ---- outbox ---------------------------------------------------------------------------- */

static int print_outbox(void *ctx, const struct store_outbox *o)
{
    (void)ctx;
    char w[32];
    when(o->updated_at, w, sizeof w);
    printf("%-6" PRId64 " %-9s %s  %-28s -> %-28s step %d  %s\n", o->id, o->state, w,
           o->mailbox, o->rcpt, o->step + 1, o->last_error);
    return 0;
}

int cmd_outbox(const struct cli_global *g, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    struct store *st = NULL;
    struct mf_err e;
    mf_err_clear(&e);
    int rc = CLI_USAGE;
    if (!strcmp(sub, "list") && argc <= 3 && (st = cli_open_store(g))) {
        rc = store_outbox_by_state(st, argc == 3 ? argv[2] : "unknown", NULL, 1000,
                                   print_outbox, NULL, &e) == MF_OK ? CLI_OK : CLI_IOERR;
    } else if (!strcmp(sub, "resolve") && argc == 4 &&
               (!strcmp(argv[3], "sent") || !strcmp(argv[3], "failed")) &&
               (st = cli_open_store(g))) {
        char *endp = NULL;
        int64_t id = strtoll(argv[2], &endp, 10);
        rc = CLI_DATAERR;
        if (id <= 0 || *endp)
            mf_err_set(&e, MF_EINVAL, MF_LAYER_LOCAL, "\"%s\" is not a message id", argv[2]);
        else if (engine_resolve_unknown(st, id, !strcmp(argv[3], "sent"), &e) == MF_OK) {
            printf("message %s resolved as %s\n", argv[2], argv[3]);
            rc = CLI_OK;
        }
    } else {
        bool help = !strcmp(sub, "--help") || !strcmp(sub, "-h");
        fputs(outbox_usage, help ? stdout : stderr);
        return help ? CLI_OK : CLI_USAGE;
    }
    if (rc != CLI_OK && e.detail[0])
        fprintf(stderr, "mailfleet: %s\n", e.detail);
    store_close(st);
    return rc;
}
