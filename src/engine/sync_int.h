/* engine/sync internals shared by sync.c (a mailbox's session: sign-in,
 * checks, IDLE, failures) and sync_fleet.c (the set of watched mailboxes,
 * started and stopped together). Everything here belongs to one struct
 * sync and is freed by sync_free(). */
#ifndef MF_ENGINE_SYNC_INT_H
#define MF_ENGINE_SYNC_INT_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/store.h"
#include "engine/sync.h"
#include "net/imap_drive.h"

#define MAX_FOLDERS 32            /* folders checked per mailbox */

enum wstate {
    W_OFF,        /* no session: waiting to (re)connect */
    W_CONNECTING, /* signing in, listing folders */
    W_CHECKING,   /* EXAMINE / SEARCH / FETCH in flight */
    W_IDLING,     /* IDLE on INBOX until mail arrives or the poll timer */
    W_WAITING,    /* connected, no IDLE: until the poll timer */
    W_LOGOUT,     /* logging out (once, or stopping) */
    W_DONE,       /* finished for good */
};

struct watch {
    struct sync *s;
    struct watch *next;
    struct store_imap imap;
    struct store_account acct;
    char *secret;
    bool is_token, force_refresh, refreshed_once;
    struct sasl_creds creds;
    struct imap_drive *drive;
    struct event *timer;
    enum wstate st;
    char *folders[MAX_FOLDERS];   /* owned; INBOX last */
    size_t nfolders, cur;
    bool inbox_only, want_check, idling, failing, checked_once;
    bool inbox_selected;          /* the last EXAMINE was INBOX's, and it is current */
    bool starting;                /* connected, its first check not done yet */
    bool queued;                  /* waiting for a place to start */
    struct watch *next_queued;
    struct mf_err fail;
    struct store_folder seen;
    uint32_t uidvalidity, uidnext;
    uint64_t modseq;
    uint32_t scan_from, scan_to;  /* UIDs still to search in this folder */
    uint32_t window_end;          /* of the search in flight; UINT32_MAX: "*" */
    bool since;                   /* a first scan: only mail since the first send */
    uint32_t *uids;
    size_t nuids, pos;
    int64_t last_ok;              /* clock time of the last complete check */
    int64_t first_send;           /* unix seconds; 0 never sent */
    int backoff_s;
    long new_msgs, new_events;    /* of the check in progress */
};

struct sync {
    struct sync_cfg cfg;
    struct watch *watches;
    struct sync_stats stats;
    bool stopping;
    int nstarting;                /* watches starting */
    struct watch *queue_head, *queue_tail; /* waiting for a place, first first */
    struct watch **by_name;       /* every watch, by mailbox (sync_start) */
    size_t nwatches;
};

/* sync.c */
struct imap *sync_core(struct watch *w);
void sync_arm(struct watch *w, int seconds);
/* A watch's timer: (re)connect, renew IDLE with a full check, or poll. */
void sync_on_timer(evutil_socket_t fd, short what, void *ctx);

#endif
