/*
 * engine/inbound — what one message that came back to a sending mailbox
 * means, and its effects, in one transaction with its event.
 *
 * The message is classified (mail/classify), then matched to what was sent:
 *   strict      In-Reply-To / References (newest first) name an outbox
 *               Message-ID, or — for bounces and complaints — the original
 *               message's Message-ID in the report does;
 *   recipient   a bounce's failed recipient is an address this mailbox sent
 *               to (the latest such message);
 *   probable    the sender is a lead this mailbox has written to and the
 *               subject threads ("Re: " + the thread's subject); marked as
 *               such wherever it is shown;
 *   token       an explicit unsubscribe: the List-Unsubscribe mailto: whose
 *               subject carries the lead's sealed token. The only mail acted
 *               on without a match.
 * Unmatched mail is never acted on and never stored (it is a stranger's).
 *
 * Effects (reasons carry "(event ID)" so a correction can undo them):
 *   reply        the lead becomes `replied`, its sequences stop (campaign
 *                stop_on: reply); stop_company_on_reply stops the other leads
 *                at the same domain in that campaign (never for a public
 *                mail provider's domain).
 *   auto-reply   recorded; stops that campaign's sequence when its stop_on has it.
 *   bounce       per failed recipient: hard → the lead is `bounced`,
 *                suppressed, its sequences stop, and the mailbox's bounce
 *                rate is checked (engine_bounce_protect); soft → counted,
 *                and at soft_bounce_limit soft bounces handled like a hard
 *                one; delayed → recorded only.
 *   complaint    suppressed, `complained`, sequences stop; the event keeps
 *                the mailbox, and status shows complaints per mailbox.
 *   unsubscribe  suppressed, `unsubscribed`, sequences stop.
 *   other        nothing.
 * Idempotent: the event's source key is the message's Message-ID (or a
 * hash of its header block), so the same message seen twice — in two
 * folders, after a UIDVALIDITY change — is one event and one set of effects.
 * The event keeps the raw message cut at INBOUND_RAW_MAX octets.
 *
 * Ownership: everything is borrowed for the call; nothing is kept.
 */
#ifndef MF_ENGINE_INBOUND_H
#define MF_ENGINE_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/store.h"
#include "mail/classify.h"
#include "util/err.h"

#define INBOUND_RAW_MAX (64u * 1024)   /* octets of a message kept with its event */
#define INBOUND_SOFT_LIMIT 3           /* soft bounces before a lead is suppressed */

struct inbound_cfg {
    struct store *st;
    const unsigned char *unsub_key;    /* 32 bytes (render_unsub_key); NULL: no
                                        * mailto: unsubscribe tokens */
    int soft_bounce_limit;             /* 0: INBOUND_SOFT_LIMIT */
};

struct inbound_outcome {
    enum classify_kind kind;
    char matched[16];                  /* strict, recipient, probable, token, "" */
    bool duplicate;                    /* seen before: nothing was done */
    int64_t event_id;                  /* the (first) event; 0 when none */
    int64_t lead_id;                   /* 0 when unmatched */
    bool paused;                       /* the mailbox paused (bounce rate) */
    char note[600];                    /* one line for people: what was done */
};

/*
 * Handles one message (raw, len octets; any size: classify reads its own
 * bounded share) that arrived in mailbox at unix time now. Errors:
 * MF_EINVAL (bad arguments), MF_ESTORE (nothing was changed: the
 * transaction rolled back), MF_ENOMEM.
 */
enum mf_rc inbound_process(const struct inbound_cfg *cfg, const char *mailbox,
                           const char *raw, size_t len, int64_t now,
                           struct inbound_outcome *out, struct mf_err *err);

/*
 * Corrects an event made from mail to another kind (reply, auto-reply,
 * bounce — hard —, complaint, unsubscribe, other): the effects of the old
 * kind are undone (sequences it stopped resume, its suppressions go, the
 * lead's status it set goes back to active) and the new kind's are applied,
 * in one transaction. MF_ENOTFOUND for an unknown event, MF_EINVAL for an
 * event that was not made from mail or a kind that cannot be chosen.
 */
enum mf_rc inbound_reclassify(const struct inbound_cfg *cfg, int64_t event_id,
                              enum classify_kind kind, int64_t now,
                              struct inbound_outcome *out, struct mf_err *err);

/* The kind named s ("reply", "auto-reply", ...); false when unknown. */
bool inbound_kind_parse(const char *s, enum classify_kind *kind);

#endif
