#include "engine/render.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mime.h"
#include "mail/template.h"

#define MSG_MAX (4u << 20)

struct lookup_ctx {
    json_t *fields;
    const char *email;
    const char *unsubscribe_url;
};

static const char *lookup(void *ctx, const char *name)
{
    struct lookup_ctx *l = ctx;
    if (strcmp(name, "email") == 0)
        return l->email;
    if (strcmp(name, "unsubscribe_url") == 0)
        return l->unsubscribe_url;
    const char *v = json_string_value(json_object_get(l->fields, name));
    return v;
}

#define UNSUB_AD "mailfleet unsubscribe v1"
#define UNSUB_KEY_META "engine.unsub_key"

enum mf_rc render_unsub_key(struct store *st, unsigned char *key, struct mf_err *err)
{
    size_t len = 0;
    enum mf_rc rc = store_meta_get(st, UNSUB_KEY_META, key, 32, &len, err);
    if (rc == MF_OK && len == 32)
        return MF_OK;
    if (rc != MF_OK && rc != MF_ENOTFOUND)
        return rc;
    mf_err_clear(err);
    randombytes_buf(key, 32);
    return store_meta_put(st, UNSUB_KEY_META, key, 32, err);
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void render_unsub_token(const unsigned char *key, int64_t lead_id, int64_t campaign_id,
                        char *out, size_t size)
{
    unsigned char ids[16], box[24 + 16 + 16];
    put_le64(ids, (uint64_t)lead_id);
    put_le64(ids + 8, (uint64_t)campaign_id);
    randombytes_buf(box, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + 24, NULL, ids, sizeof ids,
                                               (const unsigned char *)UNSUB_AD,
                                               strlen(UNSUB_AD), NULL, box, key);
    sodium_bin2base64(out, size, box, sizeof box, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

bool render_unsub_verify(const unsigned char *key, const char *token, int64_t *lead_id,
                         int64_t *campaign_id)
{
    unsigned char box[24 + 16 + 16], ids[16];
    size_t len = 0;
    if (!token || strlen(token) > 100 ||
        sodium_base642bin(box, sizeof box, token, strlen(token), NULL, &len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        len != sizeof box ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(ids, NULL, NULL, box + 24, sizeof box - 24,
                                                   (const unsigned char *)UNSUB_AD,
                                                   strlen(UNSUB_AD), box, key) != 0)
        return false;
    int64_t l = (int64_t)get_le64(ids), c = (int64_t)get_le64(ids + 8);
    if (l <= 0 || c <= 0)
        return false;
    *lead_id = l;
    *campaign_id = c;
    return true;
}

/* Renders a template into buf (reset first) as text. */
static enum mf_rc render_text(const char *tpl, struct lookup_ctx *l, uint64_t seed,
                              enum tpl_mode mode, struct mf_buf *buf, struct mf_err *err)
{
    mf_buf_reset(buf);
    return tpl_render(tpl, strlen(tpl), lookup, l, seed, mode, buf, err);
}

static void seed_key(char *buf, size_t size, const struct render_in *in, const char *part)
{
    snprintf(buf, size, "%" PRId64 "/%d/%s", in->campaign_id, in->step, part);
}

enum mf_rc render_message(const struct render_in *in, struct render_out *out,
                          struct mf_err *err)
{
    memset(out, 0, sizeof *out);
    mf_buf_init(&out->raw, MSG_MAX);
    const struct campaign_spec *c = in->campaign;
    if (in->step < 0 || (size_t)in->step >= c->nsteps)
        return mf_err_set(err, MF_EINVAL, MF_LAYER_LOCAL, "campaign %s has no step %d",
                          c->name, in->step + 1);
    const struct campaign_step *st = &c->steps[in->step];
    json_error_t je;
    struct lookup_ctx l = {.fields = json_loads(in->lead_fields ? in->lead_fields : "{}", 0, &je),
                           .email = in->lead_address};
    char token[RENDER_TOKEN_SIZE], url[1200] = "";
    render_unsub_token(in->unsub_key, in->lead_id, in->campaign_id, token, sizeof token);
    if (c->unsub_url) { /* as List-Unsubscribe's: <base without trailing '/'>/TOKEN[?query] */
        size_t q = strcspn(c->unsub_url, "?"), n = q;
        while (n > 0 && c->unsub_url[n - 1] == '/')
            n--;
        snprintf(url, sizeof url, "%.*s/%s%s", (int)n, c->unsub_url, token, c->unsub_url + q);
    }
    l.unsubscribe_url = url[0] ? url : NULL;
    char key[128];
    struct mf_buf subject, body, footer;
    mf_buf_init(&subject, 4096);
    mf_buf_init(&body, 1 << 20);
    mf_buf_init(&footer, 16384);
    enum mf_rc rc = MF_OK;
    if (st->nsubjects) {
        seed_key(key, sizeof key, in, "subject");
        size_t v = campaign_pick_variant(st->subjects, st->nsubjects, tpl_seed(in->lead_address, key));
        rc = render_text(st->subjects[v].text, &l, tpl_seed(in->lead_address, key), TPL_HEADER,
                         &subject, err);
        if (rc == MF_OK)
            snprintf(out->subject, sizeof out->subject, "%s", mf_buf_data(&subject));
    } else {
        mime_reply_subject(in->thread_subject ? in->thread_subject : "", out->subject,
                           sizeof out->subject);
    }
    if (rc == MF_OK) {
        seed_key(key, sizeof key, in, "body");
        size_t v = campaign_pick_variant(st->bodies, st->nbodies, tpl_seed(in->lead_address, key));
        rc = render_text(st->bodies[v].text, &l, tpl_seed(in->lead_address, key), TPL_BODY,
                         &body, err);
    }
    if (rc == MF_OK) {
        seed_key(key, sizeof key, in, "footer");
        rc = render_text(c->unsub_text, &l, tpl_seed(in->lead_address, key), TPL_BODY, &footer,
                         err);
        if (rc == MF_OK)
            rc = mf_buf_printf(&footer, "\n%s", c->postal_address);
    }
    bool follow_up = !st->new_thread && in->thread_id && *in->thread_id;
    char refs[600] = "";
    if (follow_up) {
        bool same = !in->last_message_id || !*in->last_message_id ||
                    strcmp(in->last_message_id, in->thread_id) == 0;
        snprintf(refs, sizeof refs, "%s%s%s", in->thread_id, same ? "" : " ",
                 same ? "" : in->last_message_id);
    }
    if (rc == MF_OK) {
        mime_message_id(in->from_addr, out->message_id, sizeof out->message_id);
        struct mime_out m = {
            .from_name = c->from_name,
            .from_addr = in->from_addr,
            .to_addr = in->lead_address,
            .subject = out->subject,
            .body = mf_buf_data(&body),
            .message_id = out->message_id,
            .in_reply_to = follow_up ? (in->last_message_id && *in->last_message_id
                                            ? in->last_message_id : in->thread_id)
                                     : NULL,
            .references = follow_up ? refs : NULL,
            .unsub_mailto = c->unsub_mailto,
            .unsub_url = c->unsub_url,
            .unsub_token = token,
            .footer = mf_buf_data(&footer),
            .date = in->now,
        };
        rc = mime_build(&m, &out->raw, err);
    }
    json_decref(l.fields);
    mf_buf_free(&subject);
    mf_buf_free(&body);
    mf_buf_free(&footer);
    if (rc != MF_OK)
        render_out_free(out);
    return rc;
}

void render_out_free(struct render_out *out)
{
    mf_buf_free(&out->raw);
}
