/* mail/classify: the GMime walk, the decision and the JSON. See
 * classify.h for what is decided and classify_int.h for the file split. */
#include "mail/classify.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/classify_int.h"

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
    g_mime_init(); /* counted by GMime: other modules calling it too is fine */
}

static const char *const kind_names[] = {
#define CLASSIFY_KIND_NAME(code, name) name,
    CLASSIFY_KIND_LIST(CLASSIFY_KIND_NAME)
#undef CLASSIFY_KIND_NAME
};

const char *classify_kind_name(enum classify_kind kind)
{
    return (unsigned)kind < CLASSIFY_KIND_COUNT ? kind_names[kind] : "invalid";
}

bool classify_reason_known(const char *s)
{
    return cls_reason_known(s);
}

void classify_result_free(struct classify_result *r)
{
    if (!r)
        return;
    free(r->rcpts);
    free(r->references);
    memset(r, 0, sizeof *r);
}

/* ---- what the walk finds ------------------------------------------------------------ */

#define PARTS_PER_LEVEL 256

struct scan {
    struct classify_result *r;
    bool dsn, global, arf, mdn;        /* a report of that kind was seen */
    bool dsn_part, arf_part;           /* ...and its fields were read */
    char mta[128];                     /* Reporting-MTA */
    char feedback_type[64];
    char enclosed_to[CLASSIFY_ADDR_SIZE]; /* To of the enclosed message */
    char *text;                        /* the first text/plain (or HTML as text) */
    size_t text_len;
    bool text_from_html;
    enum mf_rc rc;
};

/* Whether a charset's octets 0x00-0x7f are ASCII (and not an escape of a
 * stateful encoding): text in it that is all ASCII is its own UTF-8. */
static bool ascii_charset(const char *cs)
{
    static const char *const names[] = {"us-ascii", "ascii", "utf-8", "utf8", "latin1"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!g_ascii_strcasecmp(cs, names[k]))
            return true;
    /* iso-8859-N, windows-125N */
    const char *d = !g_ascii_strncasecmp(cs, "iso-8859-", 9) ? cs + 9
                    : !g_ascii_strncasecmp(cs, "windows-125", 11) ? cs + 11 : NULL;
    if (!d || !*d)
        return false;
    while (*d >= '0' && *d <= '9')
        d++;
    return !*d;
}

static bool all_ascii(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 0x80)
            return false;
    return true;
}

/* A leaf part's decoded content, at most CLASSIFY_SCAN_MAX octets,
 * NUL-terminated; malloc'd (caller frees), NULL when empty or on ENOMEM
 * (then s->rc is set). */
static char *part_bytes(struct scan *s, GMimeObject *o, size_t *len)
{
    *len = 0;
    char *txt = NULL;
    const char *src = NULL;
    size_t n = 0;
    GMimeStream *mem = NULL;
    GMimeDataWrapper *w = g_mime_part_get_content(GMIME_PART(o));
    if (w) {
        mem = g_mime_stream_mem_new();
        g_mime_data_wrapper_write_to_stream(w, mem); /* decodes base64/QP */
        GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        src = (const char *)ba->data;
        n = ba->len;
    }
    if (w && GMIME_IS_TEXT_PART(o)) {
        /* text is converted to UTF-8 from its charset (and ends at a NUL), as
         * g_mime_text_part_get_text() does; without its charset filter when
         * that would copy the octets as they are: no charset, or an
         * ASCII-compatible one and nothing but ASCII */
        const char *cs = g_mime_object_get_content_type_parameter(o, "charset");
        if (!cs || (ascii_charset(cs) && all_ascii((const unsigned char *)src, n))) {
            n = src ? strnlen(src, n) : 0;
        } else {
            txt = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
            src = txt;
            n = txt ? strlen(txt) : 0;
        }
    }
    char *out = NULL;
    if (src && n) {
        if (n > CLASSIFY_SCAN_MAX)
            n = CLASSIFY_SCAN_MAX;
        out = malloc(n + 1);
        if (out) {
            memcpy(out, src, n);
            out[n] = '\0';
            *len = n;
        } else {
            s->rc = MF_ENOMEM;
        }
    }
    g_free(txt);
    if (mem)
        g_object_unref(mem);
    return out;
}

static bool is_type(GMimeContentType *ct, const char *type, const char *sub)
{
    return ct && g_mime_content_type_is_type(ct, type, sub);
}

static void first_mailbox(InternetAddressList *list, char addr[CLASSIFY_ADDR_SIZE],
                          char *name, size_t name_size)
{
    for (int i = 0; list && i < internet_address_list_length(list) && i < 64; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
            continue;
        const char *a = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
        if (!a || !cls_address(addr, a, strlen(a)))
            continue;
        const char *nm = internet_address_get_name(ia);
        if (name)
            cls_clean(name, name_size, nm ? nm : "", nm ? strlen(nm) : 0);
        return;
    }
}

static void enclosed(struct scan *s, GMimeMessagePart *mp)
{
    GMimeMessage *m = g_mime_message_part_get_message(mp);
    if (!m)
        return;
    if (!s->r->original_message_id[0])
        cls_msgid(s->r->original_message_id, g_mime_message_get_message_id(m));
    if (!s->enclosed_to[0])
        first_mailbox(g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO),
                      s->enclosed_to, NULL, 0);
}

static void leaf(struct scan *s, GMimeObject *o, GMimeContentType *ct)
{
    bool dsn = is_type(ct, "message", "delivery-status");
    bool gdsn = is_type(ct, "message", "global-delivery-status");
    bool arf = is_type(ct, "message", "feedback-report");
    bool hdrs = is_type(ct, "text", "rfc822-headers") || is_type(ct, "message", "global-headers");
    bool plain = is_type(ct, "text", "plain"), html = is_type(ct, "text", "html");
    if (is_type(ct, "message", "disposition-notification") ||
        is_type(ct, "message", "global-disposition-notification"))
        s->mdn = true;
    if ((dsn || gdsn) && s->dsn_part)
        return; /* one report per message */
    if (arf && s->arf_part)
        return;
    if (hdrs && s->r->original_message_id[0])
        return;
    if ((plain || html) && (s->text && !(plain && s->text_from_html)))
        return;
    if ((plain || html) && g_mime_object_get_content_disposition(o) &&
        g_mime_content_disposition_is_attachment(g_mime_object_get_content_disposition(o)))
        return;
    if (!dsn && !gdsn && !arf && !hdrs && !plain && !html)
        return;
    size_t n;
    char *b = part_bytes(s, o, &n);
    if (!b)
        return;
    if (dsn || gdsn) {
        s->dsn = s->dsn_part = true;
        s->global |= gdsn;
        s->rc = cls_dsn_parse(b, n, s->r, s->mta, sizeof s->mta, s->r->original_message_id);
    } else if (arf) {
        s->arf = s->arf_part = true;
        s->rc = cls_arf_parse(b, n, s->r, s->feedback_type, sizeof s->feedback_type);
    } else if (hdrs) {
        cls_msgid_in_headers(s->r->original_message_id, b, n);
    } else if (plain) {
        free(s->text);
        s->text = b, s->text_len = n, s->text_from_html = false;
        return;
    } else {
        char *t = malloc(n + 1);
        if (!t) {
            s->rc = MF_ENOMEM;
        } else {
            s->text_len = cls_html_text(t, n + 1, b, n);
            s->text = t, s->text_from_html = true;
        }
    }
    free(b);
}

/* Walks the MIME tree, CLASSIFY_DEPTH_MAX levels, not into enclosed messages. */
static void walk(struct scan *s, GMimeObject *o, int depth)
{
    if (!o || depth > CLASSIFY_DEPTH_MAX || s->rc != MF_OK)
        return;
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    if (GMIME_IS_MULTIPART(o)) {
        if (is_type(ct, "multipart", "report")) {
            const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
            if (rt && !strcasecmp(rt, "delivery-status"))
                s->dsn = true;
            else if (rt && !strcasecmp(rt, "global-delivery-status"))
                s->dsn = s->global = true;
            else if (rt && !strcasecmp(rt, "feedback-report"))
                s->arf = true;
            else if (rt && (!strcasecmp(rt, "disposition-notification") ||
                            !strcasecmp(rt, "global-disposition-notification")))
                s->mdn = true;
        }
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && i < PARTS_PER_LEVEL; i++)
            walk(s, g_mime_multipart_get_part(mp, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(o)) {
        enclosed(s, GMIME_MESSAGE_PART(o));
    } else if (GMIME_IS_PART(o)) {
        leaf(s, o, ct);
    }
}

/* ---- the message's own headers ------------------------------------------------------- */

static const char *hdr(GMimeMessage *m, const char *name)
{
    return g_mime_object_get_header(GMIME_OBJECT(m), name);
}

/* A header's value cleaned and ASCII-lowercased into dst ("" if absent). */
static void hdr_lower(GMimeMessage *m, const char *name, char *dst, size_t size)
{
    const char *v = hdr(m, name);
    cls_clean(dst, size, v ? v : "", v ? strlen(v) : 0);
    cls_lower(dst);
}

static enum mf_rc thread_ids(struct classify_result *r, GMimeMessage *m)
{
    cls_msgid(r->message_id, g_mime_message_get_message_id(m));
    const char *irt = hdr(m, "In-Reply-To");
    GMimeReferences *refs = irt ? g_mime_references_parse(NULL, irt) : NULL;
    for (int i = 0; refs && i < g_mime_references_length(refs) && !r->in_reply_to[0]; i++)
        cls_msgid(r->in_reply_to, g_mime_references_get_message_id(refs, i));
    if (refs)
        g_mime_references_free(refs);
    /* GMime stops at an id it does not like ("<not-an-id> <real@id>"): then
     * the first <...> that is an id */
    for (const char *p = irt; p && !r->in_reply_to[0] && (p = strchr(p, '<'));) {
        const char *gt = strchr(p, '>');
        char id[CLASSIFY_ID_SIZE];
        if (!gt)
            break;
        if ((size_t)(gt - p) < sizeof id) {
            memcpy(id, p + 1, (size_t)(gt - p - 1));
            id[gt - p - 1] = '\0';
            cls_msgid(r->in_reply_to, id);
        }
        p = gt + 1;
    }
    const char *rv = hdr(m, "References");
    refs = rv ? g_mime_references_parse(NULL, rv) : NULL;
    int n = refs ? g_mime_references_length(refs) : 0;
    if (n > 0) {
        r->references = calloc(n < CLASSIFY_REFS_MAX ? (size_t)n : CLASSIFY_REFS_MAX,
                               sizeof *r->references);
        if (!r->references) {
            g_mime_references_free(refs);
            return MF_ENOMEM;
        }
    }
    /* more than fit: the first (the thread's root) and the latest ones */
    for (int i = 0; i < n; i++) {
        if (n > CLASSIFY_REFS_MAX && i > 0 && i < n - (CLASSIFY_REFS_MAX - 1))
            continue;
        if (cls_msgid(r->references[r->nreferences], g_mime_references_get_message_id(refs, i)))
            r->nreferences++;
    }
    if (refs)
        g_mime_references_free(refs);
    return MF_OK;
}

/* ---- the decision --------------------------------------------------------------------- */

struct facts {
    char subject[CLASSIFY_SUBJECT_SIZE];  /* lowercased */
    char name[128];                       /* From display name, lowercased */
    char auto_submitted[64], precedence[64], return_path[64];
    const char *daemon;                   /* why the sender is a mail system */
    bool null_sender, list;
    const char *list_why;
    char lines[CLS_FIRST_LINES][CLS_LINE_SIZE];
    size_t nlines;
};

static void set_why(struct classify_result *r, enum classify_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(struct classify_result *r, enum classify_kind kind, const char *fmt, ...)
{
    char w[CLASSIFY_WHY_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w, sizeof w, fmt, ap);
    va_end(ap);
    cls_clean(r->why, sizeof r->why, w, strlen(w));
    r->kind = kind;
}

static void gather(struct scan *s, GMimeMessage *m, struct facts *f)
{
    struct classify_result *r = s->r;
    char name[128] = "";
    first_mailbox(g_mime_message_get_from(m), r->from, name, sizeof name);
    if (!r->from[0]) /* Sender, or the envelope's Return-Path */
        first_mailbox(g_mime_message_get_sender(m), r->from, name, sizeof name);
    snprintf(f->name, sizeof f->name, "%s", name);
    cls_lower(f->name);
    const char *subj = g_mime_message_get_subject(m);
    cls_clean(r->subject, sizeof r->subject, subj ? subj : "", subj ? strlen(subj) : 0);
    memcpy(f->subject, r->subject, sizeof f->subject);
    cls_lower(f->subject);
    hdr_lower(m, "Auto-Submitted", f->auto_submitted, sizeof f->auto_submitted);
    hdr_lower(m, "Precedence", f->precedence, sizeof f->precedence);
    hdr_lower(m, "Return-Path", f->return_path, sizeof f->return_path);
    f->null_sender = !strcmp(f->return_path, "<>") || !strcmp(f->return_path, "< >");
    f->daemon = r->from[0] || f->name[0] ? cls_daemon_sender(r->from, f->name) : NULL;
    f->list_why = hdr(m, "List-Id")                    ? "list mail (List-Id)"
                  : hdr(m, "List-Unsubscribe")         ? "list mail (List-Unsubscribe)"
                  : !strcmp(f->precedence, "bulk")     ? "bulk mail (Precedence: bulk)"
                  : !strcmp(f->precedence, "list")     ? "list mail (Precedence: list)"
                  : !strcmp(f->precedence, "junk")     ? "bulk mail (Precedence: junk)"
                  : r->from[0] && cls_bulk_sender(r->from) ? "sent from a no-reply or list address"
                                                        : NULL;
    f->list = f->list_why != NULL;
    /* f->lines: only a person's mail needs them (decide_person) */
}

static bool failing(const struct classify_result *r)
{
    for (size_t i = 0; i < r->nrcpts; i++)
        if (strcmp(r->rcpts[i].reason, "delivered") != 0)
            return true;
    return r->nrcpts == 0;
}

/* Adds the addresses of an X-Failed-Recipients header (Exim). */
static enum mf_rc failed_header(struct classify_result *r, const char *v)
{
    enum mf_rc rc = MF_OK;
    for (const char *p = v; p && *p && rc == MF_OK;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        rc = cls_rcpt_add(r, p, n, "failed", 6, NULL, 0, NULL, 0);
        p = comma ? comma + 1 : NULL;
    }
    return rc;
}

static bool delayed_notice(const struct facts *f, const struct scan *s)
{
    static const char *const words[] = {"will be retried", "still being retried",
                                        "will keep trying", "will continue trying",
                                        "has been delayed", "is delayed"};
    if (strstr(f->subject, "delay") || strstr(f->subject, "warning"))
        return true;
    size_t n = s->text_len < 4096 ? s->text_len : 4096;
    return s->text && cls_find_any(s->text, n, words, sizeof words / sizeof *words);
}

static enum mf_rc decide_bounce(struct scan *s, GMimeMessage *m, const struct facts *f)
{
    struct classify_result *r = s->r;
    const char *xfr = hdr(m, "X-Failed-Recipients");
    const char *from = r->from[0] ? r->from : f->null_sender ? "a null sender" : "an unnamed sender";
    enum mf_rc rc = MF_OK;
    if (s->dsn) {
        if (r->nrcpts == 0 && s->text) /* a report without fields: its notice */
            rc = cls_text_rcpts(s->text, s->text_len, delayed_notice(f, s), r,
                                r->original_message_id);
        if (rc == MF_OK && xfr)
            rc = failed_header(r, xfr);
        if (rc == MF_OK && failing(r))
            set_why(r, CLASSIFY_BOUNCE, "%s delivery status report from %s",
                    s->global ? "RFC 6533 global" : "RFC 3464", s->mta[0] ? s->mta : from);
        else if (rc == MF_OK)
            set_why(r, CLASSIFY_OTHER, "a delivery status report of successful delivery");
        return rc;
    }
    const char *bsub = cls_bounce_subject(f->subject);
    const char *pre = s->text ? cls_bounce_preamble(s->text, s->text_len) : NULL;
    bool sender = f->daemon || f->null_sender;
    if (!((sender && (bsub || pre)) || xfr || (bsub && pre)))
        return MF_OK;
    if (s->text)
        rc = cls_text_rcpts(s->text, s->text_len, delayed_notice(f, s), r,
                            r->original_message_id);
    if (rc == MF_OK && xfr)
        rc = failed_header(r, xfr);
    if (rc == MF_OK) {
        if (pre)
            set_why(r, CLASSIFY_BOUNCE, "%s's bounce text from %s", pre, from);
        else if (bsub)
            set_why(r, CLASSIFY_BOUNCE, "a bounce subject (\"%s\") from %s", bsub, from);
        else
            set_why(r, CLASSIFY_BOUNCE, "an X-Failed-Recipients header (Exim) from %s", from);
    }
    return rc;
}

static void decide_person(struct scan *s, GMimeMessage *m, struct facts *f)
{
    struct classify_result *r = s->r;
    const char *hit;
    if (cls_unsub_token(r->subject, r->unsubscribe_token)) {
        set_why(r, CLASSIFY_UNSUBSCRIBE, "\"unsubscribe TOKEN\" sent to the List-Unsubscribe address");
        return;
    }
    char v[64];
    if (f->auto_submitted[0] && strncmp(f->auto_submitted, "no", 2) != 0) {
        if (!f->list || !strncmp(f->auto_submitted, "auto-replied", 12))
            set_why(r, CLASSIFY_AUTO_REPLY, "Auto-Submitted: %s (RFC 3834)", f->auto_submitted);
        else
            set_why(r, CLASSIFY_OTHER, "auto-generated %s", f->list_why);
        return;
    }
    hdr_lower(m, "X-Autoreply", v, sizeof v);
    if (v[0] && strcmp(v, "no") != 0) {
        set_why(r, CLASSIFY_AUTO_REPLY, "X-Autoreply: %s", v);
        return;
    }
    if (hdr(m, "X-Autorespond")) {
        set_why(r, CLASSIFY_AUTO_REPLY, "an X-Autorespond header");
        return;
    }
    if (!strcmp(f->precedence, "auto_reply")) {
        set_why(r, CLASSIFY_AUTO_REPLY, "Precedence: auto_reply");
        return;
    }
    if (s->mdn) {
        set_why(r, CLASSIFY_AUTO_REPLY, "a read receipt (RFC 8098 disposition notification)");
        return;
    }
    if ((hit = cls_auto_subject(f->subject))) {
        set_why(r, CLASSIFY_AUTO_REPLY, "an out-of-office subject (\"%s\")", hit);
        return;
    }
    f->nlines = s->text ? cls_first_lines(s->text, s->text_len, f->lines) : 0;
    if (s->text)
        cls_first_line(s->text, s->text_len, r->first_line);
    if ((hit = cls_auto_opening(f->lines, f->nlines))) {
        set_why(r, CLASSIFY_AUTO_REPLY, "an auto-responder's opening (\"%s\")", hit);
        return;
    }
    if ((hit = cls_unsub_request(f->subject, f->lines, f->nlines))) {
        set_why(r, CLASSIFY_UNSUBSCRIBE, "asks to unsubscribe (\"%s\")", hit);
        return;
    }
    if (f->list) {
        set_why(r, CLASSIFY_OTHER, "%s", f->list_why);
        return;
    }
    if (f->daemon) {
        set_why(r, CLASSIFY_OTHER, "from a mail system (%s) but not a bounce", f->daemon);
        return;
    }
    if (r->in_reply_to[0])
        set_why(r, CLASSIFY_REPLY, "a person's reply (In-Reply-To%s)",
                r->nreferences ? " and References" : "");
    else if (r->nreferences)
        set_why(r, CLASSIFY_REPLY, "a person's reply (References)");
    else
        set_why(r, CLASSIFY_REPLY, "a person's message outside any thread");
}

static enum mf_rc decide(struct scan *s, GMimeMessage *m)
{
    struct classify_result *r = s->r;
    struct facts *f = calloc(1, sizeof *f);
    if (!f)
        return MF_ENOMEM;
    gather(s, m, f);
    enum mf_rc rc = MF_OK;
    GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
    if (!hl || g_mime_header_list_get_count(hl) == 0) {
        set_why(r, CLASSIFY_OTHER, "not a message: no header fields");
        r->nrcpts = r->rcpts_dropped = 0;
    } else if (s->arf) {
        /* a delivery-status part beside the feedback report lists no
         * complainers: keep only the report's own */
        size_t kept = 0;
        for (size_t i = 0; i < r->nrcpts; i++)
            if (!strcmp(r->rcpts[i].reason, "feedback"))
                r->rcpts[kept++] = r->rcpts[i];
        if (kept < r->nrcpts)
            r->rcpts_dropped = 0; /* the count was of the mixture */
        r->nrcpts = kept;
        if (r->nrcpts == 0 && s->enclosed_to[0])
            rc = cls_rcpt_feedback(r, s->enclosed_to, strlen(s->enclosed_to),
                                   "the reported message's To", 26);
        set_why(r, CLASSIFY_COMPLAINT, "an ARF feedback report (RFC 5965), feedback type %s",
                s->feedback_type[0] ? s->feedback_type : "unknown");
    } else {
        rc = decide_bounce(s, m, f);
        if (rc == MF_OK && !r->why[0])
            decide_person(s, m, f);
    }
    /* only a bounce says an address is bad (a success-only report, or a
     * report in a complaint, keeps its recipients soft) */
    for (size_t i = 0; r->kind != CLASSIFY_BOUNCE && i < r->nrcpts; i++)
        r->rcpts[i].hard = false;
    free(f);
    return rc;
}

/* A header block over CLASSIFY_HEADER_MAX is cut at a line end before the
 * limit, the body kept: *copy (malloc'd) and *len describe the message to
 * parse; *copy stays NULL when nothing was cut. */
static enum mf_rc header_cut(const char *raw, size_t len, char **copy, size_t *out_len)
{
    *copy = NULL;
    if (len <= CLASSIFY_HEADER_MAX)
        return MF_OK;
    size_t end = 0; /* the blank line that ends the header block, or len */
    for (const char *p = raw, *e = raw + len; p < e;) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (!nl) {
            end = len;
            break;
        }
        bool blank = nl == p || (nl == p + 1 && *p == '\r');
        if (blank) {
            end = (size_t)(p - raw);
            break;
        }
        p = nl + 1;
        end = (size_t)(p - raw);
        if (end > CLASSIFY_HEADER_MAX)
            break;
    }
    if (end <= CLASSIFY_HEADER_MAX)
        return MF_OK;
    size_t keep = CLASSIFY_HEADER_MAX;
    while (keep > 0 && raw[keep - 1] != '\n')
        keep--;
    const char *body = raw + end; /* from the blank line on, if there is one */
    while (body < raw + len && *body != '\n' && !(body[0] == '\r' && body + 1 < raw + len &&
                                                  body[1] == '\n')) {
        const char *n2 = memchr(body, '\n', (size_t)(raw + len - body));
        body = n2 ? n2 + 1 : raw + len;
    }
    size_t rest = (size_t)(raw + len - body);
    char *c = malloc(keep + rest + 2);
    if (!c)
        return MF_ENOMEM;
    memcpy(c, raw, keep);
    size_t n = keep;
    if (rest == 0)
        c[n++] = '\n';
    memcpy(c + n, body, rest);
    *copy = c;
    *out_len = n + rest;
    return MF_OK;
}

enum mf_rc classify_message(const char *raw, size_t len, struct classify_result *out,
                            struct mf_err *err)
{
    if (!out)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no result to fill");
    memset(out, 0, sizeof *out);
    out->kind = CLASSIFY_OTHER;
    if (!raw && len)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "no message");
    if (len > CLASSIFY_INPUT_MAX)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_LOCAL,
                          "the message is larger than %u bytes", CLASSIFY_INPUT_MAX);
    pthread_once(&gmime_once, gmime_init_once);
    /* a saved mbox message starts with a "From " line: not a header */
    if (len > 5 && memcmp(raw, "From ", 5) == 0) {
        const char *nl = memchr(raw, '\n', len);
        size_t skip = nl ? (size_t)(nl - raw) + 1 : len;
        raw += skip, len -= skip;
    }
    char *cut = NULL;
    if (raw && header_cut(raw, len, &cut, &len) != MF_OK)
        return mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory");
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(cut ? cut : raw ? raw : "", len);
    free(cut);
    GMimeParser *p = g_mime_parser_new_with_stream(st);
    GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
    g_object_unref(p);
    g_object_unref(st);
    if (!m) {
        set_why(out, CLASSIFY_OTHER, "not a message: GMime could not read it");
        return MF_OK;
    }
    struct scan s = {.r = out, .rc = MF_OK};
    s.rc = thread_ids(out, m);
    if (s.rc == MF_OK)
        walk(&s, g_mime_message_get_mime_part(m), 0);
    if (s.rc == MF_OK)
        s.rc = decide(&s, m);
    free(s.text);
    g_object_unref(m);
    if (s.rc != MF_OK) {
        classify_result_free(out);
        out->kind = CLASSIFY_OTHER;
        return mf_err_set(err, s.rc, MF_LAYER_LOCAL, "classifying the message: %s",
                          mf_rc_message(s.rc));
    }
    return MF_OK;
}

/* ---- JSON ------------------------------------------------------------------------------- */

/* A string or, when s is empty or NULL, null; NULL on failure. */
static json_t *str_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

static bool put(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

json_t *classify_result_json(const struct classify_result *r, const char *matched)
{
    if (!r)
        return NULL;
    json_t *o = json_object(), *list = json_array();
    bool ok = o && list;
    for (size_t i = 0; ok && i < r->nrcpts; i++) {
        const struct classify_rcpt *c = &r->rcpts[i];
        json_t *e = json_object();
        ok = e && put(e, "address", json_string(c->address)) &&
             put(e, "status", str_or_null(c->status)) &&
             put(e, "action", str_or_null(c->action)) &&
             put(e, "hard", json_boolean(c->hard)) &&
             put(e, "reason", json_string(c->reason ? c->reason : "undefined")) &&
             put(e, "diagnostic", str_or_null(c->diagnostic));
        if (!ok)
            json_decref(e);
        else
            ok = json_array_append_new(list, e) == 0; /* takes e, even when failing */
    }
    ok = ok && put(o, "kind", json_string(classify_kind_name(r->kind)));
    if (ok) {
        ok = json_object_set_new(o, "recipients", list) == 0;
        list = NULL;
    }
    ok = ok && put(o, "in_reply_to", str_or_null(r->in_reply_to)) &&
         put(o, "matched", str_or_null(matched));
    json_decref(list);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
