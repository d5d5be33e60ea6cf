#include "mail/msg.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void gmime_ready(void)
{
    static bool ready;
    if (!ready) {
        g_mime_init();
        ready = true;
    }
}

bool msg_address_ok(const char *a)
{
    if (!a || !*a || strlen(a) > 320)
        return false;
    const char *at = strrchr(a, '@');
    if (!at || at == a || !at[1])
        return false;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',')
            return false;
    return true;
}

/* ---- the header block ------------------------------------------------------ */

struct field {
    const char *start;   /* first byte of the field (name) */
    size_t len;          /* through the last line ending of the field */
    size_t name_len;
    size_t colon;        /* offset of the ':' (obsolete syntax allows WSP before it) */
};

/* Length of the line starting at p (including its LF), bounded by end. */
static size_t line_len(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
}

static bool is_blank_line(const char *p, size_t n)
{
    return (n == 1 && p[0] == '\n') || (n == 2 && p[0] == '\r' && p[1] == '\n');
}

/* A field name: printable ASCII except ':' (RFC 5322 2.2), then ':',
 * with the obsolete syntax's white space before the colon (4.5.3), which
 * readers such as GMime accept too. Returns the name's length, 0 if the
 * line is not a field; *colon receives the colon's offset. */
static size_t field_name_len(const char *p, size_t n, size_t *colon)
{
    size_t i = 0;
    while (i < n && p[i] > 32 && p[i] < 127 && p[i] != ':')
        i++;
    size_t name = i;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (name == 0 || i >= n || p[i] != ':')
        return 0;
    *colon = i;
    return name;
}

/* Calls fn for each header field; returns the header block's length (up to
 * and including the blank line), or 0 when the message starts with no
 * header at all. *separated tells whether a blank line ended the block: a
 * line that is not a field also ends it, and then the caller must insert
 * the blank line, or a reader would take later lines (a Bcc) as headers. */
static size_t walk_headers(const char *raw, size_t len,
                           void (*fn)(void *ctx, const struct field *f),
                           void *ctx, bool *separated)
{
    const char *p = raw, *end = raw + len;
    *separated = false;
    while (p < end) {
        size_t n = line_len(p, end);
        if (is_blank_line(p, n)) {
            *separated = true;
            return (size_t)(p + n - raw);
        }
        size_t colon = 0;
        size_t name = field_name_len(p, n, &colon);
        if (!name)
            return p == raw ? 0 : (size_t)(p - raw); /* body starts here */
        struct field f = {.start = p, .len = n, .name_len = name, .colon = colon};
        p += n;
        while (p < end && (*p == ' ' || *p == '\t')) { /* folded lines */
            size_t m = line_len(p, end);
            f.len += m;
            p += m;
        }
        if (fn)
            fn(ctx, &f);
    }
    return len;
}

static bool field_is(const struct field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->start, name, f->name_len) == 0;
}

/* The unfolded value (after "Name:"), malloc'd. */
static char *field_value(const struct field *f)
{
    char *v = malloc(f->len + 1);
    if (!v)
        return NULL;
    size_t o = 0;
    for (size_t i = f->colon + 1; i < f->len; i++)
        if (f->start[i] != '\r' && f->start[i] != '\n')
            v[o++] = f->start[i];
    v[o] = '\0';
    return v;
}

/* ---- recipients ----------------------------------------------------------- */

struct scan {
    struct msg_prepared *out;
    bool extract;
    bool have_date, have_msgid, have_from;
    char from_addr[321];
    enum mf_rc rc;
    struct mf_err *err;
};

static enum mf_rc add_rcpt(struct msg_prepared *m, const char *addr,
                           struct mf_err *err)
{
    if (!msg_address_ok(addr))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "not a valid recipient address: \"%.200s\"", addr);
    for (size_t i = 0; i < m->nrcpt; i++)
        if (strcasecmp(m->rcpts[i], addr) == 0)
            return MF_OK;
    if (m->nrcpt >= MSG_MAX_RCPTS)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_LOCAL,
                          "more than %d recipients", MSG_MAX_RCPTS);
    char **n = realloc(m->rcpts, (m->nrcpt + 1) * sizeof *n);
    if (!n)
        return MF_ENOMEM;
    m->rcpts = n;
    if (!(m->rcpts[m->nrcpt] = strdup(addr)))
        return MF_ENOMEM;
    m->nrcpt++;
    return MF_OK;
}

static enum mf_rc add_list(struct scan *sc, InternetAddressList *list);

static enum mf_rc add_address(struct scan *sc, InternetAddress *ia)
{
    if (INTERNET_ADDRESS_IS_GROUP(ia))
        return add_list(sc, internet_address_group_get_members(
                                INTERNET_ADDRESS_GROUP(ia)));
    if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
        return MF_OK;
    const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
    return add_rcpt(sc->out, addr ? addr : "", sc->err);
}

static enum mf_rc add_list(struct scan *sc, InternetAddressList *list)
{
    int n = list ? internet_address_list_length(list) : 0;
    for (int i = 0; i < n; i++) {
        enum mf_rc rc = add_address(sc, internet_address_list_get_address(list, i));
        if (rc != MF_OK)
            return rc;
    }
    return MF_OK;
}

/* The first mailbox of a From value, into dst. */
static void first_mailbox(const char *value, char *dst, size_t size)
{
    InternetAddressList *list = internet_address_list_parse(NULL, value);
    for (int i = 0; list && i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *a = internet_address_mailbox_get_addr(
                INTERNET_ADDRESS_MAILBOX(ia));
            snprintf(dst, size, "%s", a ? a : "");
            break;
        }
    }
    if (list)
        g_object_unref(list);
}

static void scan_field(void *ctx, const struct field *f)
{
    struct scan *sc = ctx;
    if (sc->rc != MF_OK)
        return;
    if (field_is(f, "Date"))
        sc->have_date = true;
    bool is_msgid = field_is(f, "Message-ID");
    bool is_from = field_is(f, "From");
    bool is_rcpt = sc->extract &&
                   (field_is(f, "To") || field_is(f, "Cc") || field_is(f, "Bcc"));
    if (!is_msgid && !is_from && !is_rcpt)
        return;
    char *v = field_value(f);
    if (!v) {
        sc->rc = MF_ENOMEM;
        return;
    }
    if (is_msgid) {
        sc->have_msgid = true;
        char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt)
            snprintf(sc->out->message_id, sizeof sc->out->message_id, "%.*s",
                     (int)(gt - lt - 1), lt + 1);
    } else if (is_from) {
        sc->have_from = true;
        first_mailbox(v, sc->from_addr, sizeof sc->from_addr);
    } else {
        InternetAddressList *list = internet_address_list_parse(NULL, v);
        sc->rc = add_list(sc, list);
        if (list)
            g_object_unref(list);
    }
    free(v);
}

/* ---- output ---------------------------------------------------------------- */

struct copy {
    struct mf_buf *out;
    const char *cursor;   /* next original byte not yet copied */
    enum mf_rc rc;
};

/* Copies everything up to a Bcc field, then skips the field. */
static void drop_bcc(void *ctx, const struct field *f)
{
    struct copy *c = ctx;
    if (!field_is(f, "Bcc") || c->rc != MF_OK)
        return;
    c->rc = mf_buf_add(c->out, c->cursor, (size_t)(f->start - c->cursor));
    c->cursor = f->start + f->len;
}

static void domain_of(const char *addr, char *dst, size_t size)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    if (at && at[1]) {
        snprintf(dst, size, "%s", at + 1);
        return;
    }
    if (gethostname(dst, size) != 0 || !dst[0])
        snprintf(dst, size, "localhost");
    dst[size - 1] = '\0';
}

static enum mf_rc add_headers(struct scan *sc, const struct msg_opts *o,
                              const char *eol, struct mf_err *err)
{
    struct mf_buf *b = &sc->out->data;
    enum mf_rc rc = MF_OK;
    if (!sc->have_from && o->default_from) {
        if (o->from_name && strpbrk(o->from_name, "\r\n"))
            return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                              "the sender's name contains a line break");
        if (o->from_name && *o->from_name) {
            InternetAddress *ia = internet_address_mailbox_new(o->from_name,
                                                               o->default_from);
            char *s = internet_address_to_string(ia, NULL, TRUE);
            rc = mf_buf_printf(b, "From: %s%s", s, eol);
            g_free(s);
            g_object_unref(ia);
        } else {
            rc = mf_buf_printf(b, "From: %s%s", o->default_from, eol);
        }
    }
    if (rc == MF_OK && !sc->have_date) {
        GDateTime *now = g_date_time_new_now_local();
        char *d = g_mime_utils_header_format_date(now);
        rc = mf_buf_printf(b, "Date: %s%s", d, eol);
        g_free(d);
        g_date_time_unref(now);
    }
    if (rc == MF_OK && !sc->have_msgid) {
        char dom[256];
        domain_of(sc->from_addr[0] ? sc->from_addr : o->default_from, dom, sizeof dom);
        char *id = g_mime_utils_generate_message_id(dom);
        snprintf(sc->out->message_id, sizeof sc->out->message_id, "%s", id);
        rc = mf_buf_printf(b, "Message-ID: <%s>%s", id, eol);
        g_free(id);
    }
    return rc;
}

enum mf_rc msg_prepare(const char *raw, size_t len, const struct msg_opts *o,
                       struct msg_prepared *out, struct mf_err *err)
{
    gmime_ready();
    memset(out, 0, sizeof *out);
    mf_buf_init(&out->data, MSG_MAX_SIZE + 4096);
    if (len > MSG_MAX_SIZE)
        return mf_err_set(err, MF_ELIMIT, MF_LAYER_LOCAL,
                          "the message is larger than %u bytes", MSG_MAX_SIZE);
    struct scan sc = {.out = out, .extract = o->extract_recipients, .err = err};
    bool separated;
    size_t hdr_len = walk_headers(raw, len, scan_field, &sc, &separated);
    if (sc.rc != MF_OK)
        return sc.rc == MF_ENOMEM
                   ? mf_err_set(err, MF_ENOMEM, MF_LAYER_INTERNAL, "out of memory")
                   : sc.rc;
    for (size_t i = 0; i < o->nrcpts; i++) {
        enum mf_rc rc = add_rcpt(out, o->rcpts[i], err);
        if (rc != MF_OK)
            return rc;
    }
    if (out->nrcpt == 0)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          o->extract_recipients
                              ? "no recipient: the message has no To, Cc or Bcc"
                              : "no recipient given (name one, or use -t)");
    const char *env = o->envelope_from ? o->envelope_from
                      : sc.from_addr[0] ? sc.from_addr
                      : o->default_from ? o->default_from : NULL;
    if (!env)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "no sender: give --from/-f or a From header");
    if (*env && !msg_address_ok(env))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "not a valid sender address: \"%.200s\"", env);
    if (!(out->from = strdup(env)))
        return MF_ENOMEM;

    /* added headers follow the message's own line endings */
    const char *nl = memchr(raw, '\n', len);
    const char *eol = nl && nl > raw && nl[-1] == '\r' ? "\r\n" : "\n";
    enum mf_rc rc = add_headers(&sc, o, eol, err);
    if (rc == MF_OK && hdr_len == 0 && len > 0)
        rc = mf_buf_adds(&out->data, eol); /* headers were added to a bare body */
    struct copy c = {.out = &out->data, .cursor = raw};
    if (rc == MF_OK && hdr_len > 0) {
        bool ignored;
        walk_headers(raw, hdr_len, drop_bcc, &c, &ignored);
        rc = c.rc;
        if (rc == MF_OK && !separated && hdr_len < len) {
            /* the header block ended at a line that is not a field: make
             * that explicit before the rest, as Postfix's cleanup does */
            rc = mf_buf_add(&out->data, c.cursor, (size_t)(raw + hdr_len - c.cursor));
            c.cursor = raw + hdr_len;
            if (rc == MF_OK)
                rc = mf_buf_adds(&out->data, eol);
        }
    }
    if (rc == MF_OK)
        rc = mf_buf_add(&out->data, c.cursor, len - (size_t)(c.cursor - raw));
    if (rc != MF_OK && rc != MF_EINVAL)
        return mf_err_set(err, rc, MF_LAYER_LOCAL, "building the message: %s",
                          mf_rc_message(rc));
    return rc;
}

void msg_prepared_free(struct msg_prepared *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nrcpt; i++)
        free(m->rcpts[i]);
    free(m->rcpts);
    free(m->from);
    mf_buf_free(&m->data);
    memset(m, 0, sizeof *m);
}

/* ---- building a simple message ------------------------------------------- */

static bool is_7bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

enum mf_rc msg_build_text(const char *from, const char *from_name,
                          const char *const *to, size_t nto,
                          const char *subject, const char *body,
                          struct mf_buf *out, struct mf_err *err)
{
    gmime_ready();
    if (!msg_address_ok(from))
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL,
                          "not a valid sender address: \"%.200s\"", from ? from : "");
    GMimeMessage *m = g_mime_message_new(TRUE);
    g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_FROM, from_name ? from_name : "", from);
    for (size_t i = 0; i < nto; i++)
        g_mime_message_add_mailbox(m, GMIME_ADDRESS_TYPE_TO, "", to[i]);
    g_mime_message_set_subject(m, subject ? subject : "", "utf-8");
    GDateTime *now = g_date_time_new_now_local();
    g_mime_message_set_date(m, now);
    g_date_time_unref(now);
    char dom[256];
    domain_of(from, dom, sizeof dom);
    char *id = g_mime_utils_generate_message_id(dom);
    g_mime_message_set_message_id(m, id);
    g_free(id);

    GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
    g_mime_text_part_set_text(part, body ? body : "");
    if (body && !is_7bit(body))
        g_mime_part_set_content_encoding(GMIME_PART(part),
                                         GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
    g_mime_message_set_mime_part(m, GMIME_OBJECT(part));
    g_object_unref(part);

    char *text = g_mime_object_to_string(GMIME_OBJECT(m), NULL);
    enum mf_rc rc = text ? mf_buf_adds(out, text) : MF_ENOMEM;
    g_free(text);
    g_object_unref(m);
    if (rc != MF_OK)
        return mf_err_set(err, rc, MF_LAYER_LOCAL, "building the message");
    return MF_OK;
}
