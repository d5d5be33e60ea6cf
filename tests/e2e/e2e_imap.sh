#!/usr/bin/env bash
# End to end: `mailfleet test imap`, `test pop3` and `test all` against
# Dovecot on 127.0.0.1 (STARTTLS/STLS and implicit TLS, SPECIAL-USE folders).
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_imap.sh
. "$(dirname "$0")/lib.sh"

H=127.0.0.1
CA=(--cafile "$MF_PEER_CA")
export SUBPW="$MF_SUB_PASS" BADPW=wrong-password
LOGIN=(--host "$H" --user "$MF_SUB_USER" --password-env SUBPW "${CA[@]}")

# a message in the INBOX, so EXAMINE has something to count
printf 'From: a@example.test\r\nTo: %s\r\nSubject: hello\r\nMessage-ID: <e2e-1@example.test>\r\n\r\nhi\r\n' \
  "$MF_SUB_USER" | bash "$(dirname "$0")/../peers/peers.sh" deliver "$PEERS_DIR" "$MF_SUB_USER" >/dev/null 2>&1 || true

n=imaps-plain-list-examine
check $n 0 "$MF" test imap "${LOGIN[@]}" --port "$MF_IMAPS_PORT" &&
  expect $n 'tls +ok +TLSv1\.[23]' && expect $n 'auth +ok +PLAIN accepted' &&
  expect $n 'Junk: Junk' && expect $n "INBOX: $((MF_MAILBOX_INBOX_COUNT + 1)) messages" &&
  expect $n 'RESULT: OK  imap' &&
  refute $n "$MF_SUB_PASS" && ok $n

n=imap-starttls-json
check $n 0 "$MF" test imap "${LOGIN[@]}" --port "$MF_IMAP_PORT" --security starttls --json &&
  expect $n '"protocol": "imap"' && expect $n '"junk": "Junk"' && expect $n '"verified": true' &&
  expect $n '"uidvalidity": [1-9]' && refute $n "$MF_SUB_PASS" && ok $n

n=imap-login-command
check $n 0 "$MF" test imap "${LOGIN[@]}" --port "$MF_IMAPS_PORT" --auth login &&
  expect $n 'LOGIN accepted' && ok $n

n=imap-wrong-password
check $n 77 "$MF" test imap --host "$H" --port "$MF_IMAPS_PORT" --user "$MF_SUB_USER" \
  --password-env BADPW "${CA[@]}" --json &&
  expect $n '"layer": "auth"' && expect $n 'AUTHENTICATIONFAILED' && expect $n '"explanation"' &&
  refute $n 'wrong-password' && ok $n

n=imap-untrusted-certificate
check $n 76 "$MF" test imap --host "$H" --port "$MF_IMAPS_PORT" --auth none &&
  expect $n 'certificate verify failed' && ok $n

n=imap-plaintext-login-refused
check $n 77 "$MF" test imap --host "$H" --port "$MF_IMAP_PORT" --security none \
  --user "$MF_SUB_USER" --password-env SUBPW &&
  expect $n 'allow-plaintext-auth' && ok $n

n=pop3s-stat
check $n 0 "$MF" test pop3 "${LOGIN[@]}" --port "$MF_POP3S_PORT" &&
  expect $n 'auth +ok +PLAIN accepted' && expect $n "stat +ok +$((MF_MAILBOX_INBOX_COUNT + 1)) messages" &&
  expect $n 'RESULT: OK  pop3' && refute $n "$MF_SUB_PASS" && ok $n

n=pop3-stls-user-pass
check $n 0 "$MF" test pop3 "${LOGIN[@]}" --port "$MF_POP3_PORT" --security starttls --json &&
  expect $n '"protocol": "pop3"' && expect $n '"verified": true' && expect $n '"messages": [1-9]' &&
  ok $n

n=pop3-wrong-password
check $n 77 "$MF" test pop3 --host "$H" --port "$MF_POP3S_PORT" --user "$MF_SUB_USER" \
  --password-env BADPW "${CA[@]}" --json &&
  expect $n '"layer": "auth"' && refute $n 'wrong-password' && ok $n

# Bearer tokens: Dovecot's oauth2 passdb asks the introspection peer
# (tests/peers/introspect.js); passwords keep going to the passwd-file.
export GOODTOK="$MF_OAUTH_GOOD_TOKEN" BADTOK=bad-token-e2e
TOKEN=(--host "$H" --user "$MF_SUB_USER" --oauth-token-env GOODTOK "${CA[@]}")
BADTOKEN=(--host "$H" --user "$MF_SUB_USER" --oauth-token-env BADTOK "${CA[@]}")

n=imaps-xoauth2
check $n 0 "$MF" test imap "${TOKEN[@]}" --port "$MF_IMAPS_PORT" &&
  expect $n 'auth +ok +XOAUTH2 accepted' && expect $n 'RESULT: OK  imap' &&
  refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

n=imaps-oauthbearer
check $n 0 "$MF" test imap "${TOKEN[@]}" --port "$MF_IMAPS_PORT" --auth oauthbearer &&
  expect $n 'auth +ok +OAUTHBEARER accepted' && expect $n 'RESULT: OK  imap' &&
  refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

n=imaps-xoauth2-bad-token
check $n 77 "$MF" test imap "${BADTOKEN[@]}" --port "$MF_IMAPS_PORT" --json &&
  expect $n '"layer": "auth"' && expect $n 'AUTHENTICATIONFAILED' &&
  refute $n "$BADTOK" && ok $n

n=imaps-oauthbearer-bad-token
check $n 77 "$MF" test imap "${BADTOKEN[@]}" --port "$MF_IMAPS_PORT" --auth oauthbearer &&
  expect $n 'refused OAUTHBEARER' && refute $n "$BADTOK" && ok $n

n=imaps-xoauth2-token-of-other-user
check $n 77 "$MF" test imap --host "$H" --user "$MF_SUB_USER2" --oauth-token-env GOODTOK "${CA[@]}" \
  --port "$MF_IMAPS_PORT" &&
  expect $n 'refused XOAUTH2' && refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

n=pop3s-xoauth2
check $n 0 "$MF" test pop3 "${TOKEN[@]}" --port "$MF_POP3S_PORT" &&
  expect $n 'auth +ok +XOAUTH2 accepted' && expect $n 'RESULT: OK  pop3' &&
  refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

n=pop3s-oauthbearer
check $n 0 "$MF" test pop3 "${TOKEN[@]}" --port "$MF_POP3S_PORT" --auth oauthbearer &&
  expect $n 'auth +ok +OAUTHBEARER accepted' && refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

n=pop3s-xoauth2-bad-token
check $n 77 "$MF" test pop3 "${BADTOKEN[@]}" --port "$MF_POP3S_PORT" --json &&
  expect $n '"layer": "auth"' && refute $n "$BADTOK" && ok $n

n=pop3s-oauthbearer-bad-token
check $n 77 "$MF" test pop3 "${BADTOKEN[@]}" --port "$MF_POP3S_PORT" --auth oauthbearer &&
  expect $n 'refused AUTH OAUTHBEARER' && refute $n "$BADTOK" && ok $n

n=imaps-token-is-no-password
check $n 77 "$MF" test imap --host "$H" --port "$MF_IMAPS_PORT" --user "$MF_SUB_USER" \
  --password-env GOODTOK "${CA[@]}" &&
  expect $n 'refused' && refute $n "$MF_OAUTH_GOOD_TOKEN" && ok $n

PORTS=(--smtp-port "$MF_SUB_STARTTLS_PORT" --imap-port "$MF_IMAPS_PORT" --pop3-port "$MF_POP3S_PORT")
n=test-all-summary
check $n 0 "$MF" test all "${LOGIN[@]}" "${PORTS[@]}" &&
  expect $n 'PROTO +SERVER' && expect $n '^smtp .* ok ' && expect $n '^imap .* ok .*INBOX holds' &&
  expect $n '^pop3 .* ok .*maildrop holds' && ok $n

n=test-all-reports-failure
check $n 77 "$MF" test all --host "$H" --user "$MF_SUB_USER" --password-env BADPW "${CA[@]}" "${PORTS[@]}" &&
  expect $n '^smtp .* FAIL ' && expect $n '^imap .* FAIL ' && expect $n '^pop3 .* FAIL ' && ok $n

finish
