#!/usr/bin/env bash
# End to end: `mailfleet test smtp`, `send` and `sendmail` against real
# servers on 127.0.0.1 (Dovecot submission with TLS + AUTH relaying to
# Postfix's smtp-sink, the Exchange-like fault peer, smtp-sink itself).
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_smtp.sh
. "$(dirname "$0")/lib.sh"

H=127.0.0.1
CA=(--cafile "$MF_PEER_CA")
export SUBPW="$MF_SUB_PASS" GOODPW=good BADPW=wrong TOKEN=good-token
SUB=(--host "$H" --user "$MF_SUB_USER" --password-env SUBPW "${CA[@]}")
FAULT=(--host "$H" --port "$MF_FAULT_PORT" "${CA[@]}")

# --- Dovecot submission: STARTTLS, implicit TLS, AUTH -------------------------
n=dovecot-starttls-auth-plain
check $n 0 "$MF" test smtp "${SUB[@]}" --port "$MF_SUB_STARTTLS_PORT" &&
  expect $n 'starttls +ok +TLSv1\.[23]' && expect $n 'auth +ok +PLAIN accepted: 235' &&
  expect $n 'RESULT: OK' && refute $n "$MF_SUB_PASS" && ok $n

n=dovecot-implicit-tls-login
check $n 0 "$MF" test smtp "${SUB[@]}" --port "$MF_SUB_TLS_PORT" --security tls --auth login &&
  expect $n 'tls +ok +TLSv1\.[23]' && expect $n 'LOGIN accepted' && ok $n

n=dovecot-test-message-json
check $n 0 "$MF" test smtp "${SUB[@]}" --port "$MF_SUB_STARTTLS_PORT" --to rcpt@example.test --json &&
  expect $n '"ok": true' && expect $n '"messages_accepted": 1' &&
  expect $n '"verified": true' && refute $n "$MF_SUB_PASS" && ok $n

n=dovecot-wrong-password
check $n 77 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --user "$MF_SUB_USER" \
  --password-env BADPW "${CA[@]}" --json &&
  expect $n '"layer": "auth"' && expect $n '"reply_code": 535' && refute $n '"wrong"' && ok $n

n=untrusted-certificate
check $n 76 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --auth none &&
  expect $n 'certificate verify failed' && expect $n 'FAILED smtp at starttls \(layer: tls\)' &&
  expect $n 'fix' && ok $n

n=insecure-is-loud
check $n 0 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --auth none --insecure &&
  expect $n 'WARNING' && expect $n 'NOT VERIFIED' && ok $n

n=no-plaintext-fallback
check $n 76 "$MF" test smtp --host "$H" --port "$MF_SINK_PORT" --json &&
  expect $n '"layer": "tls"' && expect $n 'did not offer STARTTLS' && ok $n

n=plaintext-auth-refused
check $n 77 "$MF" test smtp --host "$H" --port "$MF_SINK_PORT" --security none \
  --user x@example.test --password-env GOODPW &&
  expect $n 'allow-plaintext-auth' && ok $n

n=connection-refused
closed_port=$((MF_SINK_PORT + 97))
check $n 69 "$MF" test smtp --host "$H" --port "$closed_port" --json &&
  expect $n '"layer": "tcp"' && expect $n 'Connection refused' && expect $n '"explanation"' && ok $n

# --- the Exchange-like fault peer ------------------------------------------
n=m365-smtp-auth-disabled
check $n 77 "$MF" test smtp "${FAULT[@]}" --user smtpauth-disabled@contoso.test --password-env GOODPW &&
  expect $n '535 5\.7\.139' && expect $n 'cause' && expect $n 'fix' && ok $n

n=m365-basic-auth-off
check $n 77 "$MF" test smtp "${FAULT[@]}" --user basic-off@contoso.test --password-env GOODPW --json &&
  expect $n '"enhanced": "5\.7\.30"' && expect $n '"explanation"' && ok $n

n=xoauth2-token
check $n 0 "$MF" test smtp "${FAULT[@]}" --user me@contoso.test --oauth-token-env TOKEN &&
  expect $n 'XOAUTH2 accepted' && refute $n 'good-token' && ok $n

n=blocked-recipient-5.7.708
check $n 69 "$MF" send "${FAULT[@]}" --user me@contoso.test --password-env GOODPW \
  --from me@contoso.test --to blocked@example.test --subject hi --body x &&
  expect $n '5\.7\.708' && ok $n

n=unknown-recipient-5.1.10
check $n 67 "$MF" send "${FAULT[@]}" --user me@contoso.test --password-env GOODPW \
  --from me@contoso.test --to unknown@example.test --subject hi --body x &&
  expect $n '5\.1\.10' && ok $n

n=daily-quota-5.2.0
check $n 69 "$MF" send "${FAULT[@]}" --user quota@contoso.test --password-env GOODPW \
  --from quota@contoso.test --to a@example.test --subject hi --body x &&
  expect $n '5\.2\.0' && ok $n

n=dropped-mid-data
check $n 75 "$MF" send "${FAULT[@]}" --user me@contoso.test --password-env GOODPW \
  --from me@contoso.test --to drop@example.test --subject hi --body "$(head -c 20000 /dev/zero | tr '\0' x)" &&
  expect $n 'closed' && ok $n

n=throttle-4.7.500
rate_user=rate-$$@contoso.test
for _ in $(seq 1 30); do
  "$MF" send "${FAULT[@]}" --user "$rate_user" --password-env GOODPW --from "$rate_user" \
    --to a@example.test --subject hi --body x >/dev/null 2>&1 || break
done
check $n 75 "$MF" send "${FAULT[@]}" --user "$rate_user" --password-env GOODPW \
  --from "$rate_user" --to a@example.test --subject hi --body x &&
  expect $n '4\.7\.500' && ok $n

n=fourth-concurrent-connection-4.3.2
conc_user=conc-$$@contoso.test
pids=()
for k in 1 2 3 4; do
  "$MF" send "${FAULT[@]}" --user "$conc_user" --password-env GOODPW --from "$conc_user" \
    --to a@example.test --subject "c$k" --body x >"$WORK/conc$k" 2>&1 &
  pids+=($!)
done
statuses=""
for p in "${pids[@]}"; do
  set +e; wait "$p"; statuses="$statuses $?"; set -e
done
out=$(cat "$WORK"/conc*)
if [ "$(printf '%s' "$statuses" | tr ' ' '\n' | grep -c '^75$')" -ge 1 ] && expect $n '432 4\.3\.2'; then
  ok $n
else
  fail $n "statuses:$statuses"
fi

n=password-file
printf '%s\n' "$MF_SUB_PASS" >"$WORK/pw"
chmod 600 "$WORK/pw"
check $n 0 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --user "$MF_SUB_USER" \
  --password-file "$WORK/pw" "${CA[@]}" --quiet && refute $n 'readable by other' && ok $n

n=no-secret-without-tty
check $n 78 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --user "$MF_SUB_USER" "${CA[@]}" </dev/null &&
  expect $n 'password-env' && ok $n

n=localhost-name-verified
check $n 0 "$MF" test smtp --host localhost --ipv4 --port "$MF_SUB_STARTTLS_PORT" --auth none "${CA[@]}" &&
  expect $n 'verified' && ok $n

n=wrong-host-certificate
check $n 76 "$MF" test smtp --host localhost --ipv4 --port "$MF_WRONGHOST_PORT" --auth none "${CA[@]}" &&
  expect $n 'certificate verify failed \(hostname mismatch\)' && ok $n

n=implicit-tls-on-starttls-port
check $n 76 "$MF" test smtp --host "$H" --port "$MF_SUB_STARTTLS_PORT" --security tls --auth none "${CA[@]}" &&
  expect $n 'FAILED smtp at tls' && expect $n 'wrong version number' && expect $n 'Port 587: security STARTTLS' && ok $n

# --- byte-level faults --------------------------------------------------------
RAW=(--host "$H" --port "$MF_FAULT_RAW_PORT")
n=starttls-response-injection
check $n 76 "$MF" test smtp "${RAW[@]}" --ehlo inject "${CA[@]}" &&
  expect $n 'response injection' && ok $n

n=server-silent-timeout
check $n 75 "$MF" test smtp "${RAW[@]}" --ehlo slow --timeout 2 &&
  expect $n 'timed out' && ok $n

n=garbage-reply
check $n 76 "$MF" test smtp "${RAW[@]}" --ehlo garbage --security none &&
  expect $n 'malformed reply' && ok $n

n=helo-fallback
check $n 0 "$MF" send "${RAW[@]}" --ehlo helo-only --security none --from a@example.test \
  --to b@example.test --subject hi --body x && ok $n

# --- accounts and sendmail ----------------------------------------------------
n=account-add-list
check $n 0 "$MF" account add fault --host "$H" --port "$MF_FAULT_PORT" --user me@contoso.test \
  --password-env GOODPW --from me@contoso.test &&
  check $n 0 "$MF" account list && expect $n 'fault +- +127\.0\.0\.1' && expect $n 'env:GOODPW' &&
  refute $n 'good$' && ok $n

n=sendmail-t-drops-bcc
mark="mf-$$-$RANDOM"
msg=$(printf 'From: Me <me@contoso.test>\nTo: to@example.test\nCc: cc@example.test\nBcc: hidden@example.test\nSubject: %s\n\nbody line\n.leading dot\n' "$mark")
set +e
out=$(printf '%s\n' "$msg" | MAILFLEET_ACCOUNT=fault SSL_CERT_FILE="$MF_PEER_CA" "$MF" sendmail -t -i 2>&1)
status=$?
set -e
if [ $status -ne 0 ]; then
  fail $n "exit status $status"
else
  line=$(grep -F "$mark" "$MF_FAULT_MAIL_LOG" | tail -n 1)
  if [ -z "$line" ]; then
    out="$line"; fail $n "message not in the fault peer's log"
  elif printf '%s' "$line" | grep -q 'Bcc:'; then
    out="$line"; fail $n "Bcc header reached the server"
  elif ! printf '%s' "$line" | grep -q 'hidden@example.test'; then
    out="$line"; fail $n "Bcc recipient missing from the envelope"
  elif ! printf '%s' "$line" | grep -q '\.leading dot'; then
    out="$line"; fail $n "dot line damaged"
  else
    ok $n
  fi
fi

n=sendmail-no-recipient
set +e
out=$(printf 'Subject: x\n\nbody\n' | MAILFLEET_ACCOUNT=fault "$MF" sendmail -t 2>&1)
status=$?
set -e
[ $status -eq 65 ] && printf '%s' "$out" | grep -q 'no recipient' && ok $n || fail $n "status $status"

n=account-remove
check $n 0 "$MF" account remove fault && check $n 65 "$MF" account remove fault && ok $n

finish
