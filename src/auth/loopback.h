/*
 * auth/loopback — the one-shot redirect listener of the authorization code
 * flow (RFC 8252 section 7.3), on libmicrohttpd.
 *
 * It listens on 127.0.0.1 only, on a port the system picks, and waits for
 * one GET /callback: the first one decides the outcome. Its state must equal
 * the flow's (else the sign-in is aborted: a forged redirect); an error=...
 * answer is explained; a code is handed back. Other paths (a browser's
 * /favicon.ico) get 404 and change nothing. After the decisive request the
 * listening socket is closed, so a second redirect finds nobody.
 *
 * Ownership: struct loopback is the caller's (loopback_stop). The code from
 * loopback_wait is the caller's (mf_wipe_free_str).
 */
#ifndef MF_AUTH_LOOPBACK_H
#define MF_AUTH_LOOPBACK_H

#include "util/err.h"

struct loopback;

/* Starts listening. state is copied. */
struct loopback *loopback_start(const char *state, struct mf_err *err);
/* The port it listens on (for the redirect URI). */
int loopback_port(const struct loopback *lb);
/* Waits for the decisive request, at most timeout_s. MF_OK with *code;
 * MF_EAUTH (refused, wrong state), MF_ETIMEOUT (nobody came). */
enum mf_rc loopback_wait(struct loopback *lb, int timeout_s, char **code,
                         struct mf_err *err);
/* Stops listening and frees; lb may be NULL. */
void loopback_stop(struct loopback *lb);

#endif
