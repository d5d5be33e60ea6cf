/* `mailfleet classify FILE|DIR... [--files-from LIST] [--json]`: what each
 * saved message is (bounce, complaint, auto-reply, unsubscribe, reply,
 * other), why, and which outbox message it answers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "mail/classify.h"

static const char classify_usage[] =
    "usage: mailfleet classify [--json] [--files-from LIST] FILE|DIR...\n"
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
    "A DIR is a Maildir (its new/ then its cur/ messages) or else a directory\n"
    "of messages: its regular files whose names do not start with '.', in name\n"
    "order, not its subdirectories.\n"
    "\n"
    "  --files-from LIST  also the files named in LIST, one path per line (- is\n"
    "           standard input), after the FILE arguments: for more files than a\n"
    "           command line holds (find ... | mailfleet classify --files-from -)\n"
    "  --json   one JSON object per FILE, one per line (JSON Lines), in the\n"
    "           order given, with exactly these keys:\n"
    "             {\"kind\": \"bounce\", \"recipients\": [{\"address\", \"status\",\n"
    "              \"action\", \"hard\", \"reason\", \"diagnostic\"}],\n"
    "              \"in_reply_to\": \"<id>\" or null, \"matched\": \"<id>\" or null}\n"
    "           (status, action and diagnostic are null when unknown). A FILE\n"
    "           (or a DIR) that cannot be read gives the line null, so line N is\n"
    "           FILE N (a DIR's messages take one line each, in their order).\n"
    "\n"
    "Exit status: 0; 66 when a FILE, DIR or LIST could not be read; 65 when a\n"
    "message could not be classified; 64 on bad usage.\n";

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

/* ---- JSON Lines --------------------------------------------------------------------
 * The line of a result is what json_dumps(classify_result_json(r, matched),
 * JSON_COMPACT | JSON_PRESERVE_ORDER) gives, octet for octet, written straight
 * out: building and dumping jansson's objects for every message took as long
 * as classifying it did once GMime had parsed it (bench/classify.sh). A
 * string jansson would refuse (not UTF-8: classify.h promises it never is)
 * takes jansson's path, so the line is the same whatever the input. */

/* Whether s is UTF-8 as jansson's json_string() accepts it (no overlong
 * forms, surrogates or code points past U+10FFFF). */
static bool json_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char c = *p;
        size_t n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (n == 0)
            return false;
        unsigned long v = n == 1 ? c : n == 2 ? c & 0x1fu : n == 3 ? c & 0x0fu : c & 0x07u;
        for (size_t k = 1; k < n; k++) {
            if ((p[k] & 0xc0) != 0x80)
                return false;
            v = (v << 6) | (p[k] & 0x3fu);
        }
        if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xd800 && v <= 0xdfff) ||
            v > 0x10ffff)
            return false;
        p += n;
    }
    return true;
}

static bool json_strings_ok(const struct classify_result *r, const char *matched)
{
    if (!json_utf8(r->in_reply_to) || (matched && !json_utf8(matched)))
        return false;
    for (size_t i = 0; i < r->nrcpts; i++) {
        const struct classify_rcpt *c = &r->rcpts[i];
        if (!json_utf8(c->address) || !json_utf8(c->status) || !json_utf8(c->action) ||
            !json_utf8(c->reason ? c->reason : "undefined") || !json_utf8(c->diagnostic))
            return false;
    }
    return true;
}

/* A JSON string as jansson dumps it without flags: '"', '\\' and controls
 * escaped (\b \f \n \r \t, else \u00XX), everything else as it is. */
static void json_put_string(FILE *out, const char *s)
{
    putc('"', out);
    const char *run = s; /* written as it is up to p */
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (p > run)
            fwrite(run, 1, (size_t)(p - run), out);
        run = p + 1;
        if (!c)
            break;
        if (c == '"' || c == '\\')
            putc('\\', out), putc(c, out);
        else if (c == '\b')
            fputs("\\b", out);
        else if (c == '\f')
            fputs("\\f", out);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\t')
            fputs("\\t", out);
        else
            fprintf(out, "\\u%04X", c);
    }
    putc('"', out);
}

static void json_put_string_or_null(FILE *out, const char *s)
{
    if (s && *s)
        json_put_string(out, s);
    else
        fputs("null", out);
}

/* The JSON line of a result; false (nothing written) when only jansson
 * can say what it would write. */
static bool json_put_result(FILE *out, const struct classify_result *r, const char *matched)
{
    if (!json_strings_ok(r, matched))
        return false;
    fputs("{\"kind\":", out);
    json_put_string(out, classify_kind_name(r->kind));
    fputs(",\"recipients\":[", out);
    for (size_t i = 0; i < r->nrcpts; i++) {
        const struct classify_rcpt *c = &r->rcpts[i];
        fputs(i ? ",{\"address\":" : "{\"address\":", out);
        json_put_string(out, c->address);
        fputs(",\"status\":", out);
        json_put_string_or_null(out, c->status);
        fputs(",\"action\":", out);
        json_put_string_or_null(out, c->action);
        fputs(c->hard ? ",\"hard\":true,\"reason\":" : ",\"hard\":false,\"reason\":", out);
        json_put_string(out, c->reason ? c->reason : "undefined");
        fputs(",\"diagnostic\":", out);
        json_put_string_or_null(out, c->diagnostic);
        putc('}', out);
    }
    fputs("],\"in_reply_to\":", out);
    json_put_string_or_null(out, r->in_reply_to);
    fputs(",\"matched\":", out);
    json_put_string_or_null(out, matched);
    fputs("}\n", out);
    return true;
}

/* One run over many messages: the store looked up once, one read buffer. */
struct run {
    bool json;
    struct store *st;
    const char *no_store;
    int status;
    char *buf;              /* reused for every file */
    size_t cap;
};

/* The whole of file f into r->buf, at most CLASSIFY_INPUT_MAX octets; false
 * (said on stderr) when it cannot be read or is larger. */
static bool read_file(struct run *r, const char *file, int fd, size_t *len)
{
    size_t n = 0;
    for (;;) {
        if (n + 1 >= r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 65536;
            char *nb = realloc(r->buf, cap);
            if (!nb) {
                fprintf(stderr, "mailfleet: %s: out of memory\n", file);
                return false;
            }
            r->buf = nb, r->cap = cap;
        }
        ssize_t got = read(fd, r->buf + n, r->cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "mailfleet: %s: %s\n", file, strerror(errno));
            return false;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > CLASSIFY_INPUT_MAX) {
            fprintf(stderr, "mailfleet: %s: the message is larger than %u bytes\n", file,
                    CLASSIFY_INPUT_MAX);
            return false;
        }
    }
    *len = n;
    return true;
}

static void classify_raw(struct run *run, const char *file, const char *raw, size_t len)
{
    struct classify_result r;
    struct mf_err e;
    mf_err_clear(&e);
    enum mf_rc rc = raw ? classify_message(raw, len, &r, &e) : MF_EIO;
    if (rc != MF_OK) {
        if (raw)
            fprintf(stderr, "mailfleet: %s: %s\n", file, e.detail);
        run->status = raw ? CLI_DATAERR : CLI_NOINPUT;
        if (run->json)
            puts("null");
        return;
    }
    char id[CLASSIFY_ID_SIZE];
    struct store_outbox o;
    memset(&o, 0, sizeof o);
    bool found = outbox_match(run->st, &r, id, &o);
    if (run->json && json_put_result(stdout, &r, found ? id : NULL)) {
        /* written */
    } else if (run->json) {
        json_t *j = classify_result_json(&r, found ? id : NULL);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) {
            puts(s);
        } else {
            puts("null");
            fprintf(stderr, "mailfleet: %s: out of memory\n", file);
            run->status = CLI_SOFTWARE;
        }
        free(s);
        json_decref(j);
    } else {
        print_human(file, &r, found ? id : NULL, &o, run->st ? NULL : run->no_store);
    }
    store_outbox_clear(&o);
    classify_result_free(&r);
}

static void classify_file(struct run *run, const char *file)
{
    if (!strcmp(file, "-")) {
        size_t len = 0;
        char *raw = cli_read_all(stdin, &len, false, (size_t)CLASSIFY_INPUT_MAX + 1);
        classify_raw(run, file, raw, len);
        free(raw);
        return;
    }
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    bool ok = false;
    if (fd < 0) {
        fprintf(stderr, "mailfleet: %s: %s\n", file, strerror(errno));
    } else {
        ok = read_file(run, file, fd, &len);
        close(fd);
    }
    classify_raw(run, file, ok ? run->buf : NULL, len);
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* The regular files of dir, in name order; false when it cannot be read. */
static bool classify_dir(struct run *run, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, not_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "mailfleet: %s: %s\n", dir, strerror(errno));
        return false;
    }
    size_t dlen = strlen(dir);
    bool slash = dlen > 0 && dir[dlen - 1] == '/';
    for (int i = 0; i < n; i++) {
        size_t size = dlen + strlen(names[i]->d_name) + 2;
        char *path = malloc(size);
        struct stat sb;
        if (!path) {
            fprintf(stderr, "mailfleet: %s: out of memory\n", dir);
            run->status = CLI_SOFTWARE;
        } else {
            snprintf(path, size, "%s%s%s", dir, slash ? "" : "/", names[i]->d_name);
            unsigned char type = names[i]->d_type; /* saves a stat per message */
            if (type == DT_REG ||
                ((type == DT_UNKNOWN || type == DT_LNK) && stat(path, &sb) == 0 &&
                 S_ISREG(sb.st_mode)))
                classify_file(run, path);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return true;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* A FILE argument: a message, a Maildir (new/ then cur/) or a directory. */
static void classify_arg(struct run *run, const char *arg)
{
    if (strcmp(arg, "-") != 0 && is_dir(arg)) {
        char sub[2][4096];
        int ns = 0;
        for (int k = 0; k < 2; k++)
            if ((size_t)snprintf(sub[k], sizeof sub[k], "%s/%s", arg, k ? "cur" : "new") <
                    sizeof sub[k] && is_dir(sub[k]))
                ns++;
        bool ok = true;
        if (ns == 2) { /* both, even when new/ cannot be read */
            ok = classify_dir(run, sub[0]);
            ok = classify_dir(run, sub[1]) && ok;
        } else {
            ok = classify_dir(run, arg);
        }
        if (!ok) {
            run->status = CLI_NOINPUT;
            if (run->json)
                puts("null");
        }
        return;
    }
    classify_file(run, arg);
}

/* Every path named in list, one per line. False when it cannot be read. */
static bool classify_list(struct run *run, const char *list)
{
    bool is_stdin = !strcmp(list, "-");
    FILE *f = is_stdin ? stdin : fopen(list, "r");
    if (!f) {
        fprintf(stderr, "mailfleet: %s: %s\n", list, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        line[n] = '\0';
        if (is_stdin && !strcmp(line, "-")) { /* standard input is the list */
            fprintf(stderr, "mailfleet: -: standard input is the --files-from list\n");
            run->status = CLI_NOINPUT;
            if (run->json)
                puts("null");
        } else if (n) {
            classify_arg(run, line);
        }
    }
    bool ok = !ferror(f);
    if (!ok)
        fprintf(stderr, "mailfleet: %s: %s\n", list, strerror(errno));
    free(line);
    if (!is_stdin)
        fclose(f);
    return ok;
}

int cmd_classify(const struct cli_global *g, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"files-from", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct run run = {.status = CLI_OK};
    const char *list = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ch == 'j') {
            run.json = true;
        } else if (ch == 'f') {
            list = optarg;
        } else if (ch == 'h') {
            fputs(classify_usage, stdout);
            return CLI_OK;
        } else {
            fputs(classify_usage, stderr);
            return CLI_USAGE;
        }
    }
    bool dash = false;
    for (int i = optind; i < argc; i++)
        dash |= !strcmp(argv[i], "-");
    if ((optind >= argc && !list) || (dash && list && !strcmp(list, "-"))) {
        if (dash && list)
            fputs("mailfleet: classify: standard input cannot be both a message and the "
                  "--files-from list\n", stderr);
        fputs(classify_usage, stderr);
        return CLI_USAGE;
    }
    char no_store[4200] = "";
    run.st = existing_store(g, no_store, sizeof no_store);
    run.no_store = no_store;
    for (int i = optind; i < argc; i++)
        classify_arg(&run, argv[i]);
    if (list && !classify_list(&run, list))
        run.status = CLI_NOINPUT;
    free(run.buf);
    store_close(run.st);
    return run.status;
}
