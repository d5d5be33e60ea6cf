/*
 * util/log — leveled logging to stderr, and the redaction helper.
 *
 * Secrets are redacted at the source (the protocol cores never emit an AUTH
 * payload in clear). As a second line of defence, a process registers every
 * secret it holds with mf_secret_register(); every log line and every
 * transcript line that passes through mf_redact() has those secrets, and
 * their base64 forms, replaced by "<redacted>". Registered strings are
 * copied and wiped at mf_secret_clear_all().
 */
#ifndef MF_UTIL_LOG_H
#define MF_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "util/buf.h"

enum mf_log_level { MF_LOG_ERROR, MF_LOG_WARN, MF_LOG_INFO, MF_LOG_DEBUG };

void mf_log_set_level(enum mf_log_level level);
enum mf_log_level mf_log_get_level(void);
void mf_log(enum mf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A module's progress notes (engine, sync, placement): one line each,
 * formatted here, then handed to the caller's fn with ctx. fn NULL: none.
 * Lines are cut at 1023 octets. */
typedef void (*mf_note_fn)(void *ctx, const char *line);
void mf_notev(mf_note_fn fn, void *ctx, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#define MF_REDACTED "<redacted>"

/* Remembers a secret (copied) so mf_redact() hides it. Secrets shorter than
 * 4 bytes are not registered (they would redact ordinary words).
 * MF_OK, MF_ELIMIT (registry full), MF_ENOMEM. */
enum mf_rc mf_secret_register(const char *secret);
void mf_secret_clear_all(void);

/* Appends src to out with every registered secret replaced by MF_REDACTED. */
enum mf_rc mf_redact(struct mf_buf *out, const char *src, size_t len);

#endif
