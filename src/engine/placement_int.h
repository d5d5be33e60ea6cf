/*
 * engine/placement internals shared by its files (placement.c: the run on
 * the loop — probes out over SMTP, looks over IMAP; placement_setup.c:
 * pairs from the store, recording a run; placement_report.c: the parts
 * that need no loop). Not for other modules.
 */
#ifndef MF_ENGINE_PLACEMENT_INT_H
#define MF_ENGINE_PLACEMENT_INT_H

#include <event2/event.h>

#include "engine/placement.h"
#include "net/imap_drive.h"
#include "net/smtp_drive.h"
#include "util/buf.h"

enum pstate { P_QUEUED, P_SENDING, P_SENT };

struct probe {                    /* the run's side of pairs[i] */
    size_t link, seed;            /* indexes; (size_t)-1 for a refused pair */
    enum pstate st;
    bool retry;                   /* the token was refused: again after a refresh */
    bool looked;                  /* searched for in the inbox after the send */
    double sent_ms;               /* monotonic time of the 250 */
    struct mf_buf raw;
    const char *rcpt[1];
    struct smtp_msg msg;
};

struct link {                     /* one sender's SMTP session */
    struct placement *p;
    size_t idx;
    struct store_account acct;
    char *secret;
    bool is_token, retried, done;
    struct sasl_creds creds;
    struct smtp_drive *drive;
};

enum sstate { S_OFF, S_CONNECTING, S_WAITING, S_LOOKING, S_LOGOUT, S_DONE };

struct look {                     /* one request of a round, in order */
    bool search;                  /* else EXAMINE */
    int folder;                   /* 0 inbox, 1 junk */
    size_t probe;
};

struct seed {                     /* one seed's IMAP session */
    struct placement *p;
    size_t idx;
    struct store_account acct;
    struct store_imap imap;
    char *secret;
    bool is_token, force_refresh, refreshed, failing, last_round;
    struct sasl_creds creds;
    struct imap_drive *drive;
    struct event *timer;
    enum sstate st;
    char folders[2][256];         /* INBOX, junk ("" when none) */
    struct look *looks;
    size_t nlooks, pos;
    bool folder_ok;               /* the folder being searched was examined */
    int backoff_ms;
    struct mf_err fail;
    char error[700];              /* the last failure, described */
};

struct placement {
    struct placement_cfg cfg;
    struct placement_pair *pairs;
    struct probe *probes;
    size_t n, cap;
    struct link *links;
    size_t nlinks;
    struct seed *seeds;
    size_t nseeds;
    struct event *deadline;
    bool started, deadline_passed, stopping, settled;
};

/* A progress line through cfg.note (when set). */
void placement_note(struct placement *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
