/* engine internals shared by engine.c (decisions, effects) and
 * engine_send.c (the SMTP side). */
#ifndef MF_ENGINE_ENGINE_INT_H
#define MF_ENGINE_ENGINE_INT_H

#include <openssl/ssl.h>

#include "engine/campaign.h"
#include "engine/engine.h"

struct event_base;
struct dns;

struct engine_campaign {
    int64_t id;
    struct campaign_spec *spec;   /* owned */
};

/* What one SMTP attempt at one message ended with. */
struct engine_outcome {
    bool ok;
    bool data_end;                /* the final dot had been queued */
    bool rcpt_refused;            /* the RCPT was refused */
    struct mf_err err;            /* the failure: reply code, enhanced, text */
};

/* An outcome the store does not hold yet (engine_apply.c). */
struct engine_pending {
    int64_t outbox_id;
    struct engine_outcome out;
    int tries;
    struct engine_stats counted; /* what recording it added to the run's counts */
};

/* A mailbox that could not send a due follow-up: its due follow-ups are
 * left unread until `until` (engine.c). */
struct engine_hold {
    char account[64];
    int64_t until;
};

struct engine {
    struct engine_cfg cfg;
    struct engine_stats stats;
    unsigned char unsub_key[32];
    struct engine_campaign *camps;
    size_t ncamps;
    /* the send side */
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    int drives;                   /* connections open now */
    struct event *commit_ev;      /* commits the group after this loop turn */
    /* outcomes in the open group, and outcomes to record again: their
     * transaction failed, or their group could not commit */
    struct engine_pending *grouped, *retry;
    size_t ngrouped, capgrouped, nretry, capretry;
    uint32_t rnd_state;
    struct engine_hold *holds; /* sorted by account */
    size_t nholds, capholds;
    int64_t data_version;      /* the store's, when the holds were last checked */
    char last_started[64];     /* the mailbox that opened the latest connection */
    /* the last tick found no mailbox able to send: until quiet_until
     * (engine clock) nothing can go unless an outcome is recorded or
     * another program changes the store, and engine_run skips its ticks */
    int64_t quiet_until, quiet_version;
    unsigned long outcomes, quiet_outcomes; /* outcomes recorded (engine_apply.c) */
};

/* A success ended the mailbox's backoff: its held follow-ups are read
 * again (engine.c). */
void engine_hold_clear(struct engine *e, const char *account);

int64_t engine_now(struct engine *e);
int64_t engine_now_ms(struct engine *e);
/* The parsed campaign, cached for the engine's life (NULL with *err). */
const struct campaign_spec *engine_campaign(struct engine *e, int64_t id, struct mf_err *err);
uint32_t engine_random(struct engine *e);
void engine_note(struct engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Applies the result of one message (engine_apply.c). One that cannot be
 * recorded now (a busy or failing store) is kept and tried again by
 * engine_retry_outcomes, each turn of the run, so nothing stays `sending`
 * once the store works again. engine_group_done tells whether the group
 * holding the latest outcomes committed; if not, they are tried again too. */
void engine_apply(struct engine *e, int64_t outbox_id, const struct engine_outcome *o);
void engine_retry_outcomes(struct engine *e);
void engine_group_done(struct engine *e, bool committed);
/* Open connections of a mailbox (engine_send.c). */
int engine_send_connections(struct engine *e, const char *mailbox);
/* Starts connections for queued mail (engine_send.c); false on a setup error. */
enum mf_rc engine_send_start(struct engine *e, struct mf_err *err);
void engine_send_close(struct engine *e);
/* Group commit. Inside the event loop the outcomes and data-sent marks of
 * all the messages in flight go into one store transaction (store_group_open)
 * committed once every ready callback of the turn has run, and before the
 * final dots those marks guard leave. engine_group joins it (opening it and
 * scheduling the commit); without an event loop it does nothing and each
 * write commits on its own. engine_group_commit commits now and releases the
 * held dots, or, when the commit fails, ends those connections unsent. */
enum mf_rc engine_group(struct engine *e, struct mf_err *err);
void engine_group_commit(struct engine *e);
/* Makes the event loop, resolver and TLS context on first use. */
enum mf_rc engine_send_env(struct engine *e, struct mf_err *err);

#endif
