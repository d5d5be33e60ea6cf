/*
 * proto/imap_req — the requests half of the IMAP core: the queue, the
 * commands they become, and the untagged data they bring back. Private to
 * proto/imap; the API is proto/imap.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/imap_int.h"

/* ---- requests ----------------------------------------------------------------------- */

static enum mf_rc queue_req(struct imap *s, enum imap_request kind, const char *a,
                            const char *b)
{
    for (const char *v = a; v; v = v == a ? b : NULL)
        if (strpbrk(v, "\r\n"))
            return MF_EINVAL;
    if (s->nreqs == s->capreqs) {
        size_t ncap = s->capreqs ? s->capreqs * 2 : 8;
        struct req *n = malloc(ncap * sizeof *n);
        if (!n)
            return MF_ENOMEM;
        for (size_t i = 0; i < s->nreqs; i++)
            n[i] = s->reqs[(s->req_head + i) % s->capreqs];
        free(s->reqs);
        s->reqs = n;
        s->capreqs = ncap;
        s->req_head = 0;
    }
    struct req r = {.kind = kind, .a = a ? strdup(a) : NULL, .b = b ? strdup(b) : NULL};
    if ((a && !r.a) || (b && !r.b)) {
        free(r.a);
        free(r.b);
        return MF_ENOMEM;
    }
    s->reqs[(s->req_head + s->nreqs++) % s->capreqs] = r;
    if (s->state == IMAP_ST_READY)
        imap_req_advance(s);
    return MF_OK;
}

enum mf_rc imap_request_list(struct imap *s)
{
    return queue_req(s, IMAP_REQ_LIST, NULL, NULL);
}

enum mf_rc imap_request_examine(struct imap *s, const char *mailbox, bool select)
{
    return queue_req(s, select ? IMAP_REQ_SELECT : IMAP_REQ_EXAMINE, mailbox, NULL);
}

enum mf_rc imap_request_uid_search(struct imap *s, const char *criteria)
{
    return queue_req(s, IMAP_REQ_UID_SEARCH, criteria, NULL);
}

enum mf_rc imap_request_uid_fetch_headers(struct imap *s, const char *uidset,
                                          const char *fields)
{
    for (const char *p = uidset; *p; p++)
        if (!strchr("0123456789:,*", *p))
            return MF_EINVAL;
    for (const char *p = fields; *p; p++)
        if (!(*p == ' ' || *p == '-' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return MF_EINVAL;
    return queue_req(s, IMAP_REQ_UID_FETCH, uidset, fields);
}

enum mf_rc imap_request_uid_fetch_body(struct imap *s, const char *uidset, size_t max_octets)
{
    for (const char *p = uidset; *p; p++)
        if (!strchr("0123456789:,*", *p))
            return MF_EINVAL;
    if (!*uidset || max_octets == 0 || max_octets > (1u << 30))
        return MF_EINVAL;
    char n[32];
    snprintf(n, sizeof n, "%zu", max_octets);
    return queue_req(s, IMAP_REQ_UID_FETCH_BODY, uidset, n);
}

enum mf_rc imap_request_idle(struct imap *s)
{
    return queue_req(s, IMAP_REQ_IDLE, NULL, NULL);
}

void imap_idle_done(struct imap *s)
{
    if (s->idling && !s->idle_done_sent) {
        s->idle_done_sent = true;
        imap_core_send_raw(s, "DONE", "DONE");
    }
}

bool imap_idling(const struct imap *s)
{
    return s->idling && !s->idle_done_sent;
}

void imap_logout(struct imap *s)
{
    s->logout_requested = true;
    if (s->state == IMAP_ST_READY)
        imap_req_advance(s);
}

/* Sends the next queued request, or LOGOUT when asked and nothing is left. */
void imap_req_advance(struct imap *s)
{
    if (s->state != IMAP_ST_READY || s->failed)
        return;
    if (!s->nreqs) {
        if (s->logout_requested && !s->logout_sent) {
            s->logout_sent = true;
            s->cur = (struct req){.kind = IMAP_REQ_LOGOUT};
            imap_core_send_tagged(s, C_REQUEST, "LOGOUT", NULL);
            imap_core_set_state(s, IMAP_ST_LOGOUT);
        }
        return;
    }
    s->cur = s->reqs[s->req_head];
    s->req_head = (s->req_head + 1) % s->capreqs;
    s->nreqs--;
    struct mf_buf line;
    mf_buf_init(&line, 8192);
    switch (s->cur.kind) {
    case IMAP_REQ_LIST:
        mf_buf_adds(&line, "LIST \"\" \"*\"");
        break;
    case IMAP_REQ_EXAMINE:
    case IMAP_REQ_SELECT:
        mf_buf_adds(&line, s->cur.kind == IMAP_REQ_SELECT ? "SELECT " : "EXAMINE ");
        if (!imap_core_quote(&line, s->cur.a))
            mf_buf_adds(&line, "\"INBOX\""); /* non-ASCII names need modified UTF-7 */
        if (imap_has_cap(s, "CONDSTORE"))
            mf_buf_adds(&line, " (CONDSTORE)");
        break;
    case IMAP_REQ_UID_SEARCH:
        mf_buf_printf(&line, "UID SEARCH %s", s->cur.a);
        break;
    case IMAP_REQ_UID_FETCH:
        mf_buf_printf(&line, "UID FETCH %s (UID BODY.PEEK[HEADER.FIELDS (%s)])",
                      s->cur.a, s->cur.b);
        break;
    case IMAP_REQ_UID_FETCH_BODY:
        mf_buf_printf(&line, "UID FETCH %s (UID BODY.PEEK[]<0.%s>)", s->cur.a, s->cur.b);
        break;
    case IMAP_REQ_IDLE:
        if (!imap_has_cap(s, "IDLE")) {
            struct imap_event ev = {.type = IMAP_EV_DONE, .request = IMAP_REQ_IDLE};
            mf_err_set(&ev.err, MF_EFEATURE, MF_LAYER_FEATURE,
                       "the server does not offer IDLE: poll instead");
            imap_core_push_event(s, ev, NULL, NULL);
            mf_buf_free(&line);
            imap_req_advance(s);
            return;
        }
        mf_buf_adds(&line, "IDLE");
        break;
    default:
        mf_buf_adds(&line, "NOOP");
    }
    imap_core_send_tagged(s, C_REQUEST, mf_buf_data(&line), NULL);
    mf_buf_free(&line);
    imap_core_set_state(s, IMAP_ST_BUSY);
}

/* ---- untagged data ------------------------------------------------------------------- */

static uint64_t num(const struct imap_val *v)
{
    uint64_t n = 0;
    if (!v || v->type != IMAP_ATOM)
        return 0;
    for (size_t i = 0; i < v->len && v->s[i] >= '0' && v->s[i] <= '9'; i++)
        n = n * 10 + (uint64_t)(v->s[i] - '0');
    return n;
}

static void grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * size);
    if (p) {
        *arr = p;
        *cap = ncap;
    }
}

static void on_list(struct imap *s, const struct imap_resp *r)
{
    /* LIST (flags) delimiter name */
    if (r->nvals < 4 || r->vals[1].type != IMAP_LIST)
        return;
    struct payload *a = &s->acc;
    grow((void **)&a->mb, &a->capmb, a->nmb, sizeof *a->mb);
    if (a->nmb >= a->capmb)
        return;
    static const struct { const char *flag; unsigned bit; } map[] = {
        {"\\Noselect", IMAP_MB_NOSELECT}, {"\\NonExistent", IMAP_MB_NOSELECT},
        {"\\Sent", IMAP_MB_SENT}, {"\\Junk", IMAP_MB_JUNK}, {"\\Drafts", IMAP_MB_DRAFTS},
        {"\\Trash", IMAP_MB_TRASH}, {"\\Archive", IMAP_MB_ARCHIVE}, {"\\All", IMAP_MB_ALL},
        {"\\Flagged", IMAP_MB_FLAGGED},
    };
    unsigned flags = 0;
    for (size_t i = 0; i < r->vals[1].n; i++)
        for (size_t k = 0; k < sizeof map / sizeof *map; k++)
            if (imap_val_is(&r->vals[1].items[i], map[k].flag))
                flags |= map[k].bit;
    const struct imap_val *name = &r->vals[3];
    if (imap_val_is(name, "INBOX"))
        flags |= IMAP_MB_INBOX;
    char *copy = strndup(name->s ? name->s : "", name->len);
    if (!copy)
        return;
    a->mb[a->nmb++] = (struct imap_mailbox){
        .name = copy,
        .delimiter = r->vals[2].type == IMAP_NIL || !r->vals[2].len ? 0 : r->vals[2].s[0],
        .flags = flags};
}

static void on_fetch(struct imap *s, const struct imap_resp *r)
{
    /* n FETCH (UID u BODY[HEADER.FIELDS (...)] {len}bytes) */
    if (r->nvals < 3 || r->vals[2].type != IMAP_LIST)
        return;
    struct payload *a = &s->acc;
    grow((void **)&a->f, &a->capf, a->nf, sizeof *a->f);
    if (a->nf >= a->capf)
        return;
    struct imap_fetched f = {.seq = (uint32_t)num(&r->vals[0])};
    const struct imap_val *it = r->vals[2].items;
    for (size_t i = 0; i + 1 < r->vals[2].n; i += 2) {
        if (imap_val_is(&it[i], "UID"))
            f.uid = (uint32_t)num(&it[i + 1]);
        else if (it[i].type == IMAP_ATOM && strncasecmp(it[i].s, "BODY[", 5) == 0 &&
                 it[i + 1].type == IMAP_STRING) {
            char *h = malloc(it[i + 1].len + 1);
            if (!h)
                return;
            memcpy(h, it[i + 1].s, it[i + 1].len);
            h[it[i + 1].len] = '\0';
            free((char *)f.headers);
            f.headers = h;
            f.headers_len = it[i + 1].len;
        }
    }
    a->f[a->nf++] = f;
}

void imap_req_on_untagged(struct imap *s, const struct imap_resp *r)
{
    struct payload *a = &s->acc;
    if (r->status[0]) {
        if (imap_core_code_is(r->code, "CAPABILITY"))
            imap_core_caps_from_code(s, r->code);
        else if (imap_core_code_is(r->code, "UIDVALIDITY"))
            a->sel.uidvalidity = (uint32_t)strtoul(r->code + 12, NULL, 10);
        else if (imap_core_code_is(r->code, "UIDNEXT"))
            a->sel.uidnext = (uint32_t)strtoul(r->code + 8, NULL, 10);
        else if (imap_core_code_is(r->code, "HIGHESTMODSEQ"))
            a->sel.highestmodseq = strtoull(r->code + 14, NULL, 10);
        else if (imap_core_code_is(r->code, "ALERT")) {
            struct imap_event ev = {.type = IMAP_EV_ALERT};
            imap_core_push_event(s, ev, r, NULL);
        }
        return;
    }
    if (!r->nvals)
        return;
    const struct imap_val *v = r->vals;
    if (imap_val_is(&v[0], "CAPABILITY"))
        imap_core_caps_from_vals(s, v + 1, r->nvals - 1);
    else if (imap_val_is(&v[0], "LIST"))
        on_list(s, r);
    else if (imap_val_is(&v[0], "SEARCH")) {
        for (size_t i = 1; i < r->nvals; i++) {
            grow((void **)&a->uids, &a->capuids, a->nuids, sizeof *a->uids);
            if (a->nuids < a->capuids)
                a->uids[a->nuids++] = (uint32_t)num(&v[i]);
        }
    } else if (imap_val_is(&v[0], "ID") && r->nvals > 1 && v[1].type == IMAP_LIST) {
        struct mf_buf b;
        mf_buf_init(&b, 2048);
        for (size_t i = 0; i + 1 < v[1].n; i += 2)
            mf_buf_printf(&b, "%s%.*s=%.*s", i ? "; " : "", (int)v[1].items[i].len,
                          v[1].items[i].s ? v[1].items[i].s : "",
                          (int)v[1].items[i + 1].len,
                          v[1].items[i + 1].s ? v[1].items[i + 1].s : "");
        free(a->server_id);
        char clean[2048];
        mf_sanitize(clean, sizeof clean, mf_buf_data(&b), mf_buf_len(&b), 0);
        a->server_id = strdup(clean);
        mf_buf_free(&b);
    } else if (r->nvals >= 2 && imap_val_is(&v[1], "EXISTS")) {
        a->sel.exists = (uint32_t)num(&v[0]);
        if (s->idling) {
            struct imap_event ev = {.type = IMAP_EV_EXISTS, .ok = true};
            struct payload pl = {.sel = {.exists = a->sel.exists}};
            imap_core_push_event(s, ev, NULL, &pl);
        }
    }
    else if (r->nvals >= 2 && imap_val_is(&v[1], "RECENT"))
        a->sel.recent = (uint32_t)num(&v[0]);
    else if (r->nvals >= 2 && imap_val_is(&v[1], "FETCH"))
        on_fetch(s, r);
}

