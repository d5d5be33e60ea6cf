/*
 * engine/render — one campaign step for one lead, from one mailbox: picks
 * the subject and body variants, renders the templates with the lead's
 * fields, threads follow-ups, adds the unsubscribe footer and headers, and
 * builds the message (mail/mime) with a Message-ID the caller stores before
 * anything is sent. The same lead and step always render the same text (a
 * retry or a crash in between never changes what the lead receives).
 *
 * Ownership: out->raw is the caller's (mf_buf_free).
 */
#ifndef MF_ENGINE_RENDER_H
#define MF_ENGINE_RENDER_H

#include <stdint.h>

#include "engine/campaign.h"
#include "engine/store.h"
#include "util/buf.h"
#include "util/err.h"

struct render_in {
    const struct campaign_spec *campaign;   /* borrowed */
    int64_t campaign_id;
    int step;                                /* 0-based */
    int64_t lead_id;
    const char *lead_address;
    const char *lead_fields;                 /* JSON object text */
    const char *from_addr;                   /* the mailbox */
    const char *thread_id;                   /* follow-ups: first touch's Message-ID */
    const char *thread_subject;              /* ...and its subject */
    const char *last_message_id;             /* the previous step's Message-ID */
    const unsigned char *unsub_key;          /* 32 bytes: signs unsubscribe tokens */
    int64_t now;
};

struct render_out {
    char message_id[256];
    char subject[512];
    struct mf_buf raw;
};

/* MF_OK; MF_ENOTFOUND when a field the templates need (without a
 * fallback) is missing for this lead: detail names it, the lead is
 * skipped; MF_EINVAL on a template or header problem. */
enum mf_rc render_message(const struct render_in *in, struct render_out *out,
                          struct mf_err *err);
void render_out_free(struct render_out *out);

/* The unsubscribe token of (lead, campaign): both ids sealed with
 * XChaCha20-Poly1305 under the store's unsubscribe key and a random nonce,
 * base64url (75 characters): unforgeable, and no database id in clear.
 * out needs RENDER_TOKEN_SIZE bytes. */
#define RENDER_TOKEN_SIZE 96
void render_unsub_token(const unsigned char *key, int64_t lead_id, int64_t campaign_id,
                        char *out, size_t size);
/* Opens a token; fills the ids. false for anything forged or damaged. */
bool render_unsub_verify(const unsigned char *key, const char *token, int64_t *lead_id,
                         int64_t *campaign_id);
/* The store's unsubscribe key (32 bytes), made on first use. */
enum mf_rc render_unsub_key(struct store *st, unsigned char *key, struct mf_err *err);

#endif
