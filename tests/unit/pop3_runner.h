/*
 * tests/unit/pop3_runner — replays a recorded POP3 transcript against the
 * sans-I/O core, in the format of tests/unit/script_runner (SMTP):
 *
 *   S: line        server line, CRLF added      S+ bytes   raw, no CRLF
 *   C: line        the exact line the client must have written
 *   E: event       the next event, rendered (see render_event)
 *   !tls !quit !eof !transport-fail !state NAME
 *   !caps SUMMARY  pop3_caps() rendered      !mech NAME  mechanism used
 *   !data ESC      bytes of the last TOP/RETR (escapes \r \n \t \\ \xHH)
 *   !text S        text of the last event    !code S     its response code
 *   !detail SUB    the last event's err.detail contains SUB
 *   !reply S       the last event's err.reply equals S
 *   @security stls|tls|none  @user U  @secret S  @token T  @mech M
 *   @user-pass  @allow-plaintext-auth  @no-ir  @max-line N  @max-response N
 *   @host H  @port N   (OAUTHBEARER's host/port)
 *   @stat  @list  @uidl  @top N L  @retr N   (queue a request)
 *
 * Nothing may be left over at the end (client bytes or events), and the
 * secret must appear nowhere in the trace, in clear or base64.
 */
#ifndef MF_TEST_POP3_RUNNER_H
#define MF_TEST_POP3_RUNNER_H

/* Runs one script file; on mismatch fails the current cmocka test with the
 * file's line number and the trace so far. */
void pop3_script_run_file(const char *path);

/* Runs a script given as text (for inline tests). */
void pop3_script_run_text(const char *name, const char *text);

#endif
