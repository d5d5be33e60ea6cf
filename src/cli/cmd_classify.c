/* `mailfleet classify FILE... [--json]`: what each saved message is (bounce,
 * complaint, auto-reply, unsubscribe, reply, other), why, and which outbox
 * message it answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "mail/classify.h"

static const char classify_usage[] =
    "usage: mailfleet classify [--json] FILE...\n"
    "\n"
    "Reads saved messages (one message per file, as .eml; - is standard input)\n"
    "and says what each one is: bounce, complaint, auto-reply, unsubscribe,\n"
    "reply or other, and the rule that decided. For a bounce: every failed or\n"
    "delayed recipient with its status, action, hard or soft, reason and the\n"
    "server's words. Hard means the address itself is bad (unknown user or\n"
    "domain, moved); a full mailbox, a block or a policy refusal is soft.\n"
    "\n"
    "matched: when the store exists (--db, else $MAILFLEET_DB, else the default\n"
    "path; classify never creates one) and holds an outbox message whose\n"
    "Message-ID is the message's In-Reply-To, one of its References or, for a\n"
    "bounce or complaint, the returned original's Message-ID: that Message-ID.\n"
    "\n"
    "  --json   one JSON object per FILE, one per line (JSON Lines), in the\n"
    "           order given, with exactly these keys:\n"
    "             {\"kind\": \"bounce\", \"recipients\": [{\"address\", \"status\",\n"
    "              \"action\", \"hard\", \"reason\", \"diagnostic\"}],\n"
    "              \"in_reply_to\": \"<id>\" or null, \"matched\": \"<id>\" or null}\n"
    "           (status, action and diagnostic are null when unknown). A FILE\n"
    "           that cannot be read gives the line null, so line N is FILE N.\n"
    "\n"
    "Exit status: 0; 66 when a FILE could not be read; 65 when a message could\n"
    "not be classified; 64 on bad usage.\n";

/* The store when its file exists (NULL and *why otherwise): classify only
 * reads, so it must not create one. */
static struct store *existing_store(const struct cli_global *g, char *why, size_t size)
{
    char buf[4096];
    const char *path = g->db_path ? g->db_path : store_default_path(buf, sizeof buf);
    struct stat sb;
    if (!path) {
        snprintf(why, size, "no store (HOME is not set)");
        return NULL;
    }
    if (stat(path, &sb) != 0) {
        snprintf(why, size, "no store at %s", path);
        return NULL;
    }
    struct cli_global copy = *g;
    copy.db_path = path;
    struct store *st = cli_open_store(&copy);
    if (!st)
        snprintf(why, size, "the store at %s could not be opened", path);
    return st;
}

/* The first candidate id that names an outbox message: In-Reply-To, the
 * References from the latest, then the returned original. */
static bool outbox_match(struct store *st, const struct classify_result *r,
                         char id[CLASSIFY_ID_SIZE], struct store_outbox *o)
{
    const char *cand[CLASSIFY_REFS_MAX + 2];
    size_t n = 0;
    if (r->in_reply_to[0])
        cand[n++] = r->in_reply_to;
    for (size_t i = r->nreferences; i-- > 0;)
        cand[n++] = r->references[i];
    if ((r->kind == CLASSIFY_BOUNCE || r->kind == CLASSIFY_COMPLAINT) &&
        r->original_message_id[0])
        cand[n++] = r->original_message_id;
    for (size_t i = 0; st && i < n; i++) {
        struct mf_err e;
        mf_err_clear(&e);
        if (store_outbox_by_message_id(st, cand[i], o, &e) == MF_OK) {
            snprintf(id, CLASSIFY_ID_SIZE, "%s", cand[i]);
            return true;
        }
    }
    return false;
}

static void print_human(const char *file, const struct classify_result *r,
                        const char *matched, const struct store_outbox *o,
                        const char *no_store)
{
    printf("%s: %s\n", file, classify_kind_name(r->kind));
    printf("  why         %s\n", r->why);
    if (r->from[0])
        printf("  from        %s\n", r->from);
    if (r->subject[0])
        printf("  subject     %s\n", r->subject);
    if (r->original_message_id[0])
        printf("  original    %s\n", r->original_message_id);
    if (r->in_reply_to[0])
        printf("  in-reply-to %s\n", r->in_reply_to);
    if (r->nreferences)
        printf("  references  %zu, the latest %s\n", r->nreferences,
               r->references[r->nreferences - 1]);
    if (r->unsubscribe_token[0])
        printf("  token       %s\n", r->unsubscribe_token);
    for (size_t i = 0; i < r->nrcpts; i++) {
        const struct classify_rcpt *c = &r->rcpts[i];
        if (!strcmp(c->reason, "feedback")) {
            printf("  complainer  %s\n", c->address);
            continue;
        }
        printf("  recipient   %s: %s %s, %s (%s)\n", c->address, c->action, c->status,
               c->hard ? "hard" : "soft", c->reason);
        if (c->diagnostic[0])
            printf("              %s\n", c->diagnostic);
    }
    if (r->rcpts_dropped)
        printf("  and %zu more recipients (not listed)\n", r->rcpts_dropped);
    if (matched)
        printf("  matched     %s (outbox message %lld: step %d to %s from %s, %s)\n", matched,
               (long long)o->id, o->step + 1, o->rcpt, o->mailbox, o->state);
    else if (no_store)
        printf("  matched     not looked up: %s\n", no_store);
    else
        printf("  matched     no outbox message\n");
}

int cmd_classify(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'j') {
            json = true;
        } else if (ch == 'h') {
            fputs(classify_usage, stdout);
            return CLI_OK;
        } else {
            fputs(classify_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind >= argc) {
        fputs(classify_usage, stderr);
        return CLI_USAGE;
    }
    char no_store[4200] = "";
    struct store *st = existing_store(g, no_store, sizeof no_store);
    int status = CLI_OK;
    for (int i = optind; i < argc; i++) {
        const char *file = argv[i];
        bool is_stdin = !strcmp(file, "-");
        FILE *f = is_stdin ? stdin : fopen(file, "rb");
        size_t len = 0;
        char *raw = NULL;
        if (!f)
            fprintf(stderr, "mailfleet: %s: %s\n", file, strerror(errno));
        else
            raw = cli_read_all(f, &len, false, (size_t)CLASSIFY_INPUT_MAX + 1);
        if (f && !is_stdin)
            fclose(f);
        struct classify_result r;
        struct mf_err e;
        mf_err_clear(&e);
        enum mf_rc rc = raw ? classify_message(raw, len, &r, &e) : MF_EIO;
        free(raw);
        if (rc != MF_OK) {
            if (raw)
                fprintf(stderr, "mailfleet: %s: %s\n", file, e.detail);
            status = raw ? CLI_DATAERR : CLI_NOINPUT;
            if (json)
                puts("null");
            continue;
        }
        char id[CLASSIFY_ID_SIZE];
        struct store_outbox o;
        memset(&o, 0, sizeof o);
        bool found = outbox_match(st, &r, id, &o);
        if (json) {
            json_t *j = classify_result_json(&r, found ? id : NULL);
            char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (s) {
                puts(s);
            } else {
                puts("null");
                fprintf(stderr, "mailfleet: %s: out of memory\n", file);
                status = CLI_SOFTWARE;
            }
            free(s);
            json_decref(j);
        } else {
            print_human(file, &r, found ? id : NULL, &o, st ? NULL : no_store);
        }
        store_outbox_clear(&o);
        classify_result_free(&r);
    }
    store_close(st);
    return status;
}
