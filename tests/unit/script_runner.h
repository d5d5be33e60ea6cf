/*
 * tests/unit/script_runner — replays a recorded SMTP transcript against the
 * sans-I/O core: "S:" lines are fed as the server, "C:" lines are the exact
 * bytes the client must write, "E:" lines the events it must raise, in
 * order. Nothing may be left over at the end. The format is described in
 * the README's testing section; tests/transcripts/smtp has examples.
 */
#ifndef MF_TEST_SCRIPT_RUNNER_H
#define MF_TEST_SCRIPT_RUNNER_H

/* Runs one script file; on mismatch fails the current cmocka test with the
 * file's line number. */
void script_run_file(const char *path);

/* Runs a script given as text (for inline tests). */
void script_run_text(const char *name, const char *text);

/* "\r", "\n", "\t", "\\", "\xHH" escapes; returns malloc'd text, *len
 * its length (it may hold NUL bytes). */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "proto/sasl.h"
#include "util/buf.h"

char *script_unescape(const char *s, size_t *len);

/* NULL when the transcript holds the secret neither in clear nor in
 * base64 at any alignment; else why (static text). */
const char *script_secret_leak(const char *transcript, const char *secret);

/* The set-up lines every protocol's transcripts share: @security
 * starttls|tls|none, @user, @secret, @token, @mech, @allow-plaintext-auth. */
struct script_login {
    int security;            /* 0 upgrade, 1 implicit TLS, 2 none: the order of
                                every core's security enum (asserted there) */
    char user[4096], secret[4096];
    bool token, allow_plaintext;
    enum sasl_mech mech;
};
/* True when key was one of the shared directives (applied to l). */
bool script_login_directive(struct script_login *l, const char *key, const char *val);

/* Fails the current cmocka test with the file position and the transcript. */
void script_vfail(const char *name, int lineno, const struct mf_buf *transcript,
                  const char *fmt, va_list ap);
/* Takes the client's next CRLF line from out when it equals want; false
 * (and why) when it does not. */
bool script_take_line(struct mf_buf *out, const char *want, size_t want_len, char *why,
                      size_t whysize);

#endif
