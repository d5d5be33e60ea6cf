#!/usr/bin/env bash
# End to end: `mailfleet login` against a real OpenID provider (oidc-provider
# on 127.0.0.1) in every flow, then the testers signing in with XOAUTH2 with
# the provider's tokens at Dovecot (SMTP submission, IMAP, POP3) and at the
# fault peer (app-only). Expiry and silent refresh, rotation, revocation,
# refusal and retry, denied consent, forged state, a provider that is down,
# malformed answers, slow_down, a tampered store, key permissions, and that
# no token or secret ever shows in any output.
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_oauth.sh
. "$(dirname "$0")/lib.sh"

if [ -z "${MF_OIDC_ISSUER:-}" ]; then
  skip_peer oidc-peer "the OpenID provider peer is not running"
  finish
  exit $?
fi
export MAILFLEET_KEY_FILE="$WORK/config/mailfleet/key"
export NODE_EXTRA_CA_CERTS="$MF_PEER_CA"
unset MAILFLEET_KEY MAILFLEET_CLIENT_ID MAILFLEET_REFRESH_MARGIN
H=127.0.0.1
CA=(--cafile "$MF_PEER_CA")
SCOPE="openid offline_access SMTP.Send IMAP.AccessAsUser.All POP.AccessAsUser.All"
ALL=(--host "$H" --smtp-port "$MF_SUB_STARTTLS_PORT" --imap-port "$MF_IMAPS_PORT"
     --pop3-port "$MF_POP3S_PORT" "${CA[@]}")
LOGS="$WORK/all-output.log"

# Every output is kept, to look for secrets in all of it at the end.
keep() { printf '%s\n' "$out" >> "$LOGS"; }

admin() { # admin METHOD PATH: the provider's test-only admin routes
  curl -sS --cacert "$MF_PEER_CA" -X "$1" "$MF_OIDC_ISSUER$2"
}

"$MF" account add peer --host "$H" --port "$MF_SUB_STARTTLS_PORT" --security starttls \
  --user "$MF_OIDC_USER" >/dev/null

# ---- authorization code + PKCE, through a scripted browser -------------------
n=login-browser-pkce
check $n 0 env BROWSER="$MF_OIDC_BROWSER" "$MF" login peer --browser --issuer "$MF_OIDC_ISSUER" \
  --client-id "$MF_OIDC_NATIVE_CLIENT" --scope "$SCOPE" "${CA[@]}" --timeout 60 &&
  expect $n 'code_challenge_method=S256' && expect $n 'redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A[0-9]+%2Fcallback' &&
  expect $n 'signed in: peer \(oidc, browser flow; access token valid for [0-9]+ min; refresh token stored' &&
  ok $n
keep
[ -f "$MAILFLEET_KEY_FILE" ] && [ "$(stat -c %a "$MAILFLEET_KEY_FILE")" = 600 ] &&
  ok key-file-created-0600 || { out="mode $(stat -c %a "$MAILFLEET_KEY_FILE" 2>&1)"; fail key-file-created-0600 "not 0600"; }

n=store-file-private
out="db $(stat -c %a "$MAILFLEET_DB") dir $(stat -c %a "$(dirname "$MAILFLEET_DB")")"
[ "$(stat -c %a "$MAILFLEET_DB")" = 600 ] && ok $n || fail $n "the store is not 0600"

n=account-list-shows-expiry-not-token
check $n 0 "$MF" account list &&
  expect $n 'oauth oidc/browser, token [0-9]+ min \+ refresh' && ok $n
keep

n=test-all-xoauth2-with-provider-token
check $n 0 "$MF" test all peer "${ALL[@]}" &&
  expect $n 'smtp .*XOAUTH2 +ok' && expect $n 'imap .*XOAUTH2 +ok' && expect $n 'pop3 .*XOAUTH2 +ok' &&
  refute $n 'refreshed' && ok $n
keep

n=send-with-stored-token
check $n 0 "$MF" send peer --host "$H" --port "$MF_SUB_STARTTLS_PORT" "${CA[@]}" \
  --to "$MF_OIDC_USER" --subject "oauth e2e" --body "sent with a token" &&
  expect $n 'accepted|sent|queued' && ok $n
keep

# ---- refresh: forced, rotation (the old refresh token is spent each time) ----
n=refresh-rotates-twice
check $n 0 "$MF" login peer --refresh && expect $n 'the refresh token rotated' && keep &&
  check $n 0 "$MF" login peer --refresh && expect $n 'the refresh token rotated' && ok $n
keep

# ---- the server refuses a stored token: one refresh, one retry ----------------
n=refused-token-refresh-and-retry
check $n 0 admin POST "/admin/revoke?sub=$MF_OIDC_USER&only=access" &&
  check $n 0 "$MF" test imap peer --host "$H" --port "$MF_IMAPS_PORT" "${CA[@]}" &&
  expect $n 'refused the OAuth access token; refreshing it and trying once more' &&
  expect $n 'RESULT: OK  imap' && ok $n
keep

# ---- device flow with 8-second tokens: expiry and silent refresh ----------------
n=login-device-short-tokens
"$MF" login peer --device --client-id "$MF_OIDC_SHORT_CLIENT" --scope "$SCOPE" \
  --timeout 60 > "$WORK/device.out" 2>&1 &
dev=$!
code=''
for _ in $(seq 50); do
  code=$(grep -o 'enter the code [A-Z0-9-]*' "$WORK/device.out" | awk '{print $4}')
  [ -n "$code" ] && break
  sleep 0.1
done
node "$MF_OIDC_AGENT" device --code "$code" --user "$MF_OIDC_USER" >/dev/null 2>&1 || true
status=0
wait $dev || status=$?
out=$(cat "$WORK/device.out")
[ "$status" -eq 0 ] && expect $n 'To sign in, open https://127\.0\.0\.1:[0-9]+/device and enter the code' &&
  expect $n 'signed in: peer \(oidc, device flow; access token valid for [0-9] s' && ok $n ||
  fail $n "exit status $status"
keep

n=expired-token-refreshed-silently
sleep 9
check $n 0 "$MF" test pop3 peer --host "$H" --port "$MF_POP3S_PORT" "${CA[@]}" &&
  expect $n 'refreshed the OAuth access token of peer \(the refresh token rotated\)' &&
  expect $n 'RESULT: OK  pop3' && ok $n
keep

# ---- revoked at the provider: "sign in again", with the command -----------------
n=revoked-refresh-token-sign-in-again
check $n 0 admin POST "/admin/revoke?sub=$MF_OIDC_USER" && sleep 9 &&
  check $n 77 "$MF" test smtp peer --host "$H" --port "$MF_SUB_STARTTLS_PORT" "${CA[@]}" &&
  expect $n 'sign in again: mailfleet login peer' && expect $n 'invalid_grant' && ok $n
keep

# ---- consent refused; a forged redirect ------------------------------------------
n=browser-consent-denied
check $n 77 env BROWSER="$MF_OIDC_BROWSER" MF_AGENT_FLAGS=--deny "$MF" login peer --browser \
  --issuer "$MF_OIDC_ISSUER" --client-id "$MF_OIDC_NATIVE_CLIENT" "${CA[@]}" --timeout 30 &&
  expect $n 'declined' && expect $n 'access_denied' && ok $n
keep

n=browser-wrong-state-refused
check $n 77 env BROWSER="$MF_OIDC_BROWSER" MF_AGENT_FLAGS=--tamper-state "$MF" login peer --browser \
  --issuer "$MF_OIDC_ISSUER" --client-id "$MF_OIDC_NATIVE_CLIENT" "${CA[@]}" --timeout 30 &&
  expect $n 'wrong state' && ok $n
keep

n=device-consent-denied
"$MF" login peer --device --issuer "$MF_OIDC_ISSUER" --client-id "$MF_OIDC_NATIVE_CLIENT" \
  "${CA[@]}" --timeout 60 > "$WORK/deny.out" 2>&1 &
dev=$!
code=''
for _ in $(seq 50); do
  code=$(grep -o 'enter the code [A-Z0-9-]*' "$WORK/deny.out" | awk '{print $4}')
  [ -n "$code" ] && break
  sleep 0.1
done
node "$MF_OIDC_AGENT" device --code "$code" --deny >/dev/null 2>&1 || true
status=0
wait $dev || status=$?
out=$(cat "$WORK/deny.out")
[ "$status" -eq 77 ] && expect $n 'declined' && ok $n || fail $n "exit status $status"
keep

# ---- app-only (client credentials): Exchange-like fault peer yes, Dovecot no -------
"$MF" account add daemon --host "$H" --port "$MF_FAULT_PORT" --security starttls \
  --user "sender@example.test" >/dev/null
export DAEMON_SECRET="$MF_OIDC_DAEMON_SECRET"
n=login-client-credentials
check $n 0 "$MF" login daemon --client-credentials --issuer "$MF_OIDC_ISSUER" \
  --client-id "$MF_OIDC_DAEMON_CLIENT" --client-secret-env DAEMON_SECRET --scope SMTP.Send "${CA[@]}" &&
  expect $n 'signed in: daemon \(oidc, client_credentials flow' && ok $n
keep

n=app-only-token-accepted-by-fault-peer
check $n 0 "$MF" test smtp daemon "${CA[@]}" && expect $n 'XOAUTH2 accepted' && ok $n
keep

n=app-only-token-refused-by-dovecot
check $n 77 "$MF" test imap daemon --host "$H" --port "$MF_IMAPS_PORT" "${CA[@]}" &&
  expect $n 'refreshing it and trying once more' && ok $n
keep

n=client-credentials-wrong-secret
export WRONG_SECRET=not-the-secret
check $n 78 "$MF" login daemon --client-credentials --issuer "$MF_OIDC_ISSUER" \
  --client-id "$MF_OIDC_DAEMON_CLIENT" --client-secret-env WRONG_SECRET "${CA[@]}" &&
  expect $n 'invalid_client' && refute $n 'not-the-secret' && ok $n
keep

# ---- providers that misbehave ---------------------------------------------------
dead_port=$((MF_OIDC_PORT + 6))
n=provider-down
check $n 69 "$MF" login peer --device --issuer "https://127.0.0.1:$dead_port" \
  --client-id x "${CA[@]}" && expect $n 'Could not connect|Connection refused|connect' && ok $n
keep

n=malformed-discovery-json
check $n 76 "$MF" login peer --device --issuer "$MF_OIDC_BROKEN_BASE/malformed" \
  --client-id x "${CA[@]}" && expect $n 'malformed JSON' && ok $n
keep

n=malformed-token-json
check $n 76 "$MF" login peer --device --issuer "$MF_OIDC_BROKEN_BASE/badtoken" \
  --client-id x "${CA[@]}" --timeout 30 && expect $n 'not a JSON object' && ok $n
keep

n=html-500-token-endpoint
check $n 76 "$MF" login peer --client-credentials --issuer "$MF_OIDC_BROKEN_BASE/html500" \
  --client-id x --client-secret-env DAEMON_SECRET "${CA[@]}" &&
  expect $n 'HTTP 500 with text/html' && ok $n
keep

n=device-code-expired
check $n 77 "$MF" login peer --device --issuer "$MF_OIDC_BROKEN_BASE/expired" \
  --client-id x "${CA[@]}" --timeout 30 && expect $n 'expired' && ok $n
keep

n=device-slow-down-obeyed
check $n 0 "$MF" login peer --device --issuer "$MF_OIDC_BROKEN_BASE/slowdown" \
  --client-id x "${CA[@]}" --timeout 60 &&
  expect $n 'poll more slowly: every 6 s' && keep &&
  gaps=$(curl -sS --cacert "$MF_PEER_CA" "$MF_OIDC_BROKEN_BASE/slowdown/polls") &&
  node -e 'const g = JSON.parse(process.argv[1]);
    // interval 1 s; after the slow_down (2nd poll) every gap >= 6 s
    if (g.length < 3 || g[0] < 950 || g.slice(1).some(x => x < 5950)) process.exit(1);' "$gaps" &&
  ok $n || { out="$out / gaps: ${gaps:-none}"; fail $n "poll gaps wrong"; }
keep

# ---- the store: tampered rows, key permissions -----------------------------------
n=tampered-store-clear-error
cp "$MAILFLEET_DB" "$WORK/before.db"
sqlite3 "$MAILFLEET_DB" "UPDATE secrets SET ciphertext = zeroblob(length(ciphertext)) WHERE account='daemon' AND kind='access_token'"
check $n 74 "$MF" test smtp daemon "${CA[@]}" &&
  expect $n 'does not decrypt: it was damaged or altered; nothing was changed' && ok $n
keep
n=tampered-store-nothing-lost
check $n 0 "$MF" account list && expect $n '^peer ' && expect $n '^daemon ' && ok $n

n=key-file-readable-by-others-refused
chmod 644 "$MAILFLEET_KEY_FILE"
check $n 78 "$MF" login peer --refresh && expect $n 'chmod 600' && ok $n
chmod 600 "$MAILFLEET_KEY_FILE"
keep

# ---- logout revokes at the provider and forgets -----------------------------------
n=logout
check $n 0 env BROWSER="$MF_OIDC_BROWSER" "$MF" login peer --browser --issuer "$MF_OIDC_ISSUER" \
  --client-id "$MF_OIDC_NATIVE_CLIENT" --scope "$SCOPE" "${CA[@]}" --timeout 60 && keep &&
  check $n 0 "$MF" logout peer && expect $n 'revoked the refresh token at the provider' &&
  expect $n 'signed out: peer' && keep &&
  check $n 0 "$MF" account list && expect $n '^peer .* prompt$' && ok $n
keep

# ---- a password kept in the encrypted store ---------------------------------------
n=stored-password
check $n 0 bash -c 'printf "%s\n" "$MF_SUB_PASS" | "$MF" account add pw --host 127.0.0.1 \
    --port "$MF_SUB_STARTTLS_PORT" --user "$MF_SUB_USER" --password-stdin' &&
  expect $n 'password stored encrypted' && keep &&
  check $n 0 "$MF" test smtp pw "${CA[@]}" && expect $n 'PLAIN accepted' && keep &&
  check $n 0 "$MF" account list && expect $n '^pw .*stored password' && ok $n
keep
if grep -qF -- "$MF_SUB_PASS" "$MAILFLEET_DB" "$LOGS"; then
  out=''; fail stored-password-not-in-clear "the password is in the store file or an output"
else
  ok stored-password-not-in-clear
fi

# ---- no token or secret anywhere ---------------------------------------------------
n=no-secret-in-any-output
leaked=0
for v in $(admin GET "/admin/tokens?all=1" | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      for (const t of JSON.parse(s).tokens || []) console.log(t); });') \
    "$MF_OIDC_DAEMON_SECRET"; do
  if grep -qF -- "$v" "$LOGS"; then leaked=$((leaked + 1)); fi
done
seen=$(admin GET "/admin/tokens?all=1" | node -e '
  let s = ""; process.stdin.on("data", d => s += d).on("end", () => console.log((JSON.parse(s).tokens || []).length));')
out="checked $seen token values and the daemon secret against $(wc -l < "$LOGS") lines"
[ "$leaked" -eq 0 ] && [ "${seen:-0}" -gt 5 ] && ok $n || fail $n "$leaked secret(s) found in the output"
sqlite3 "$MAILFLEET_DB" .dump > "$WORK/dump.sql"
n=no-secret-in-the-store-in-clear
leaked=0
for v in $(admin GET "/admin/tokens?all=1" | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      for (const t of JSON.parse(s).tokens || []) console.log(t); });') \
    "$MF_OIDC_DAEMON_SECRET"; do
  if grep -qF -- "$v" "$WORK/dump.sql" "$MAILFLEET_DB"; then leaked=$((leaked + 1)); fi
done
[ "$leaked" -eq 0 ] && ok $n || fail $n "$leaked secret(s) in the store in clear"

finish
