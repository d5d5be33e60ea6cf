#!/usr/bin/env bash
# peers_smoke.sh DIR — prove the loopback peers started by
# `tests/peers/peers.sh start DIR` work, using real clients that are
# independent of mailfleet (swaks, openssl s_client, curl, bash /dev/tcp, and
# for the oidc peer its scripted user agent).
# Prints PASS/FAIL per check; exits non-zero if any check fails.
# A peer listed in MF_PEERS_SKIPPED is reported as SKIP (an error under CI=true).
set -euo pipefail

die() { echo "peers_smoke: error: $*" >&2; exit 2; }
[ $# -eq 1 ] || die "usage: $0 DIR   (DIR as given to tests/peers/peers.sh start)"
env_file="$1/peers.env"
[ -f "$env_file" ] || die "$env_file not found — start the peers first: tests/peers/peers.sh start $1"
# shellcheck disable=SC1090
. "$env_file"
command -v swaks >/dev/null || die "swaks not found (Debian package: swaks)"
command -v openssl >/dev/null || die "openssl not found"

pass=0 fail=0 skip=0
token="smoke-$$-$RANDOM"
OUT=""   # output of the last client run
RC=0     # its exit status

ok()  { echo "PASS  $1"; pass=$((pass + 1)); }
bad() {
  echo "FAIL  $1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 25 | sed 's/^/      | /'
  fail=$((fail + 1))
}
skipped() {
  if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then bad "$1 (peer skipped, CI=$CI)"; else echo "SKIP  $1"; skip=$((skip + 1)); fi
}
ready() { [[ " $MF_PEERS_READY " == *" $1 "* ]]; }

run() { # run CMD... capturing output and status, never failing the script
  set +e
  OUT=$("$@" 2>&1)
  RC=$?
  set -e
}

# expect NAME WANT_RC REGEX : the last run exited WANT_RC ("0", "!0" or a number)
# and its output matches REGEX (grep -E)
expect() {
  local name=$1 want=$2 re=$3 rc_ok=0
  case "$want" in
    '!0') [ "$RC" -ne 0 ] && rc_ok=1 ;;
    *)    [ "$RC" -eq "$want" ] && rc_ok=1 ;;
  esac
  if [ $rc_ok = 1 ] && grep -Eq -- "$re" <<<"$OUT"; then
    ok "$name"
  else
    bad "$name (exit $RC, wanted $want; output must match /$re/)" "$OUT"
  fi
}

swaks_() { swaks --timeout 10 --server 127.0.0.1 "$@"; }

# wait_for_file_with DIR TEXT: a file under DIR containing TEXT appears within 10 s
wait_for_file_with() {
  local _
  for _ in $(seq 100); do
    if grep -rlqF -- "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# raw_talk PORT LINE... : read the banner, then send each LINE and read the
# reply lines up to the last one ("NNN " or a line without a code); OUT gets
# everything read. Pure bash, so the bytes are exactly what the server sent.
raw_talk() {
  local port=$1 line reply
  shift
  OUT=""
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { RC=1; return; }
  IFS= read -r -t 5 reply <&3 && OUT+="$reply"$'\n'
  for line in "$@"; do
    printf '%s\r\n' "$line" >&3
    while IFS= read -r -t 5 reply <&3; do
      OUT+="$reply"$'\n'
      [[ $reply =~ ^[0-9]{3}- ]] || break
    done
  done
  # anything else the server sent unasked (multi-line POP3 replies, injections)
  while IFS= read -r -t 0.5 reply <&3; do OUT+="$reply"$'\n'; done
  exec 3<&- 3>&-
  RC=0
}

echo "== smtp-sink (MF_SINK_PORT=${MF_SINK_PORT:-}) =="
if ready sink; then
  run swaks_ --port "$MF_SINK_PORT" --from a@example.test --to b@example.test \
    --header "Subject: $token sink"
  expect "sink: plain send via swaks" 0 '<-  250 2\.0\.0 Ok'
  run swaks_ --port "$MF_SINK_PORT" --quit-after EHLO
  expect "sink: EHLO offers PIPELINING" 0 '250[- ]PIPELINING'
else
  skipped "sink"
fi

echo "== Dovecot (submission $MF_SUB_STARTTLS_PORT/$MF_SUB_TLS_PORT, IMAP, POP3) =="
if ready dovecot; then
  # Dovecot 2.3 counts a connection whose remote IP equals its local IP
  # (127.0.0.1 -> 127.0.0.1) as "secured", so on loopback it offers AUTH
  # before STARTTLS despite ssl=required. Use the fault peer for that check.
  run swaks_ --port "$MF_SUB_STARTTLS_PORT" --quit-after EHLO
  expect "dovecot submission: STARTTLS offered" 0 '250[- ]STARTTLS'

  run swaks_ --port "$MF_SUB_STARTTLS_PORT" -tls --tls-verify --tls-ca-path "$MF_PEER_CA" \
    --auth PLAIN --auth-user "$MF_SUB_USER" --auth-password "$MF_SUB_PASS" \
    --from "$MF_SUB_USER" --to rcpt@example.test --header "Subject: $token starttls"
  expect "dovecot submission: STARTTLS (verified against test CA) + AUTH PLAIN + send" 0 '235 2\.7\.0'
  if ready sink && wait_for_file_with "$MF_SINK_CAPTURE_DIR" "$token starttls"; then
    ok "dovecot submission relayed the STARTTLS message to smtp-sink (captured)"
  else
    bad "dovecot submission relayed the STARTTLS message to smtp-sink (captured)" \
      "$(tail -n 20 "$MF_PEER_DIR/logs/dovecot.log" 2>/dev/null)"
  fi

  run swaks_ --port "$MF_SUB_TLS_PORT" -tlsc --tls-verify --tls-ca-path "$MF_PEER_CA" \
    --auth LOGIN --auth-user "$MF_SUB_USER" --auth-password "$MF_SUB_PASS" \
    --from "$MF_SUB_USER" --to rcpt@example.test --header "Subject: $token implicit"
  expect "dovecot submissions: implicit TLS (verified) + AUTH LOGIN + send" 0 '235 2\.7\.0'
  if ready sink && wait_for_file_with "$MF_SINK_CAPTURE_DIR" "$token implicit"; then
    ok "dovecot submissions relayed the implicit-TLS message to smtp-sink (captured)"
  else
    bad "dovecot submissions relayed the implicit-TLS message to smtp-sink (captured)"
  fi

  run swaks_ --port "$MF_SUB_STARTTLS_PORT" -tls --tls-verify --tls-ca-path "$MF_PEER_CA" \
    --auth PLAIN --auth-user "$MF_SUB_USER" --auth-password wrong-password \
    --from "$MF_SUB_USER" --to rcpt@example.test
  expect "dovecot submission: wrong password is refused" 28 '535 5\.7\.8'

  run bash -c "printf 'a LOGIN %s %s\r\nb SELECT INBOX\r\nc LOGOUT\r\n' '$MF_SUB_USER' '$MF_SUB_PASS' |
    timeout 10 openssl s_client -quiet -connect 127.0.0.1:$MF_IMAPS_PORT -CAfile '$MF_PEER_CA' \
      -verify_return_error -verify_hostname localhost"
  expect "dovecot IMAPS: verified TLS + LOGIN + SELECT" 0 '^b OK'

  run bash -c "timeout 10 openssl s_client -brief -starttls imap -connect 127.0.0.1:$MF_IMAP_PORT \
      -CAfile '$MF_PEER_CA' -verify_return_error -verify_ip 127.0.0.1 </dev/null"
  expect "dovecot IMAP: STARTTLS verified (IP SAN 127.0.0.1)" 0 'Verification: OK'

  run bash -c "timeout 10 openssl s_client -brief -starttls pop3 -connect 127.0.0.1:$MF_POP3_PORT \
      -CAfile '$MF_PEER_CA' -verify_return_error -verify_hostname localhost </dev/null"
  expect "dovecot POP3: STLS verified (DNS SAN localhost)" 0 'Verification: OK'

  run bash -c "printf 'USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n' '$MF_SUB_USER' '$MF_SUB_PASS' |
    timeout 10 openssl s_client -quiet -connect 127.0.0.1:$MF_POP3S_PORT -CAfile '$MF_PEER_CA' \
      -verify_return_error -verify_hostname localhost"
  expect "dovecot POP3S: verified TLS + USER/PASS + STAT" 0 '\+OK Logged in'

else
  skipped "dovecot"
fi

echo "== Postfix (MF_POSTFIX_PORT=${MF_POSTFIX_PORT:-}): real bounces into Dovecot =="
if ready postfix; then
  # The bounces go to the envelope sender. Send as MF_SUB_USER2, not
  # MF_SUB_USER: e2e_imap (run in parallel by ctest) counts MF_SUB_USER's
  # INBOX exactly (MF_MAILBOX_INBOX_COUNT + 1).
  pf_user=$MF_SUB_USER2
  pf_nouser="$token@$MF_POSTFIX_UNKNOWN_DOMAIN"
  pf_relay="$token@$MF_POSTFIX_RELAY_DOMAIN"
  pf_t0=$(date +%s%N)
  run swaks_ --port "$MF_POSTFIX_PORT" --from "$pf_user" --to "$pf_nouser" --header "Subject: $token postfix nouser"
  expect "postfix: accepts mail for an unknown user at $MF_POSTFIX_UNKNOWN_DOMAIN (bounced later)" 0 '<-  250 2\.0\.0 Ok: queued as'
  run swaks_ --port "$MF_POSTFIX_PORT" --from "$pf_user" --to "$pf_relay" --header "Subject: $token postfix relay"
  expect "postfix: accepts mail for $MF_POSTFIX_RELAY_DOMAIN (relayed to a refusing next hop)" 0 '<-  250 2\.0\.0 Ok: queued as'
  run swaks_ --port "$MF_POSTFIX_PORT" --from "$pf_user" --to "$token@elsewhere.test"
  expect "postfix: refuses any other domain at RCPT" 24 '<\*\* +554 5\.7\.1 '
  run swaks_ --port "$MF_POSTFIX_REFUSE_PORT" --from "$pf_user" --to "$pf_relay"
  expect "postfix relay refuser: 554 5.7.1 Relay access denied" 24 '<\*\* +554 5\.7\.1 <[^>]*>: Relay access denied'

  # pf_uid ADDRESS: UID of the message in pf_user's INBOX whose text
  # mentions ADDRESS (a bounce quotes the failed recipient), or nothing
  pf_uid() {
    doveadm -c "$MF_DOVECOT_CONF" search -u "$pf_user" mailbox INBOX body "$1" 2>/dev/null |
      awk 'NR == 1 { print $2 }'
  }
  pf_uid_nouser='' pf_uid_relay='' pf_ms=''
  for _ in $(seq 300); do   # up to 30 s
    [ -n "$pf_uid_nouser" ] || pf_uid_nouser=$(pf_uid "$pf_nouser")
    [ -n "$pf_uid_relay" ] || pf_uid_relay=$(pf_uid "$pf_relay")
    if [ -n "$pf_uid_nouser" ] && [ -n "$pf_uid_relay" ]; then
      pf_ms=$(( ($(date +%s%N) - pf_t0) / 1000000 ))
      break
    fi
    sleep 0.1
  done
  if [ -n "$pf_ms" ]; then
    ok "postfix: both bounces are in $pf_user's INBOX ${pf_ms} ms after the first send"
  else
    bad "postfix: both bounces are in $pf_user's INBOX within 30 s (unknown user: uid '${pf_uid_nouser}', relay: uid '${pf_uid_relay}')" \
      "$(tail -n 25 "$MF_POSTFIX_LOG" 2>/dev/null; tail -n 5 "$MF_PEER_DIR/logs/dovecot-lda.log" 2>/dev/null)"
  fi

  # pf_dsn NAME UID STATUS ADDRESS DIAGNOSTIC-REGEX: the message is Postfix's
  # bounce(8) DSN: multipart/report; report-type=delivery-status with a
  # message/delivery-status part whose recipient block has this Status
  pf_dsn() {
    local name=$1 uid=$2 status=$3 addr=$4 diag=$5 msg
    if [ -z "$uid" ]; then bad "$name (no such bounce)"; return; fi
    # CRs out, folded (header and DSN) fields unfolded onto one line
    msg=$(doveadm -c "$MF_DOVECOT_CONF" fetch -u "$pf_user" text mailbox INBOX uid "$uid" 2>&1 |
      tr -d '\r' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n[ \t]\+/ /g')
    if grep -q '^From: Mail Delivery System <MAILER-DAEMON@' <<<"$msg" &&
       grep -q '^Return-Path: <MAILER-DAEMON>' <<<"$msg" &&
       grep -Eq '^Content-Type: multipart/report; report-type=delivery-status;' <<<"$msg" &&
       grep -q '^Content-Type: message/delivery-status' <<<"$msg" &&
       grep -q '^X-Postfix-Queue-ID: ' <<<"$msg" &&
       grep -qxF "Final-Recipient: rfc822; $addr" <<<"$msg" &&
       grep -qx 'Action: failed' <<<"$msg" &&
       grep -qxF "Status: $status" <<<"$msg" &&
       grep -Eq "$diag" <<<"$msg"; then
      ok "$name"
    else
      bad "$name" "$msg"
    fi
  }
  pf_dsn "postfix: unknown user -> multipart/report DSN, Status: 5.1.1" "$pf_uid_nouser" 5.1.1 "$pf_nouser" \
    "^Diagnostic-Code: X-Postfix; unknown user: \"$pf_nouser\"\$"
  pf_dsn "postfix: relay refused -> multipart/report DSN, Status: 5.7.1" "$pf_uid_relay" 5.7.1 "$pf_relay" \
    "^Diagnostic-Code: smtp; 554 5\\.7\\.1 <$pf_relay>: Relay access denied\$"

  run "$(command -v postqueue || echo /usr/sbin/postqueue)" -c "$MF_POSTFIX_CONF" -p
  expect "postfix: queue is empty afterwards (postqueue -c \$MF_POSTFIX_CONF -p)" 0 '^Mail queue is empty'
else
  skipped "postfix"
fi

echo "== fault peer (MF_FAULT_PORT=${MF_FAULT_PORT:-}, raw ${MF_FAULT_RAW_PORT:-}) =="
if ready fault; then
  fs() { swaks_ --port "$MF_FAULT_PORT" "$@"; }
  fs_tls() { fs -tls --tls-verify --tls-ca-path "$MF_PEER_CA" "$@"; }

  run fs --quit-after EHLO
  if [ $RC -eq 0 ] && grep -q 'STARTTLS' <<<"$OUT" && ! grep -q '250[- ]AUTH' <<<"$OUT"; then
    ok "fault: STARTTLS offered, AUTH not offered before TLS"
  else
    bad "fault: STARTTLS offered, AUTH not offered before TLS" "$OUT"
  fi

  run fs --from a@example.test --to b@example.test
  expect "fault: MAIL before STARTTLS -> 530 5.7.0" 23 '530 5\.7\.0 Must issue a STARTTLS command first'

  run fs_tls --quit-after EHLO
  expect "fault: after STARTTLS, AUTH LOGIN PLAIN XOAUTH2 offered" 0 '250[- ]AUTH LOGIN PLAIN XOAUTH2'

  run fs_tls --from a@example.test --to b@example.test
  expect "fault: MAIL without AUTH -> 530 5.7.57" 23 '530 5\.7\.57 Client not authenticated to send mail\.'

  run fs_tls --auth LOGIN --auth-user smtpauth-disabled@example.test --auth-password good \
    --from smtpauth-disabled@example.test --to b@example.test
  expect "fault: smtpauth-disabled -> 535 5.7.139" 28 '535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant'

  run fs_tls --auth PLAIN --auth-user basic-off@example.test --auth-password good \
    --from basic-off@example.test --to b@example.test
  expect "fault: basic-off -> 550 5.7.30" 28 '550 5\.7\.30 Basic authentication is not supported for Client Submission\.'

  run fs_tls --auth LOGIN --auth-user someone@example.test --auth-password not-good \
    --from someone@example.test --to b@example.test
  expect "fault: wrong password -> 535 5.7.3" 28 '535 5\.7\.3 Authentication unsuccessful'

  run fs_tls --auth LOGIN --auth-user "good-$token@example.test" --auth-password good \
    --from "good-$token@example.test" --to b@example.test --header "Subject: $token fault"
  expect "fault: good AUTH LOGIN + send -> 235 2.7.0 / 250 2.0.0" 0 '250 2\.0\.0 OK <'
  if grep -qF "$token fault" "$MF_FAULT_MAIL_LOG" 2>/dev/null; then
    ok "fault: accepted message recorded in MF_FAULT_MAIL_LOG"
  else
    bad "fault: accepted message recorded in MF_FAULT_MAIL_LOG"
  fi

  run fs_tls --auth PLAIN --auth-user "good-$token@example.test" --auth-password good \
    --from "good-$token@example.test" --to unknown@example.test
  expect "fault: unknown@ recipient -> 550 5.1.10" 24 '550 5\.1\.10 RESOLVER\.ADR\.RecipientNotFound'

  run fs_tls --auth PLAIN --auth-user quota@example.test --auth-password good \
    --from quota@example.test --to b@example.test
  expect "fault: quota@ -> 554 5.2.0 at end of DATA" 26 '554 5\.2\.0 STOREDRV\.Submission\.Exception:SubmissionQuotaExceededException'

  run swaks_ --port "$MF_WRONGCA_STARTTLS_PORT" -tls --tls-verify --tls-ca-path "$MF_PEER_CA" --quit-after TLS
  expect "wrong-CA STARTTLS port fails verification against the test CA" 29 '.'
  run swaks_ --port "$MF_WRONGCA_TLS_PORT" -tlsc --tls-verify --tls-ca-path "$MF_PEER_CA" --quit-after TLS
  expect "wrong-CA implicit-TLS port fails verification against the test CA" 29 '.'

  run bash -c "timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$MF_WRONGHOST_PORT \
      -CAfile '$MF_PEER_CA' -verify_return_error -verify_hostname localhost </dev/null"
  expect "wrong-host port fails hostname verification for localhost" '!0' 'verify error|hostname mismatch'
  run bash -c "timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$MF_WRONGHOST_PORT \
      -CAfile '$MF_PEER_CA' -verify_return_error -verify_hostname wrong.example.test </dev/null"
  expect "wrong-host port verifies for wrong.example.test (chain is fine)" 0 'Verify return code: 0 \(ok\)'

  run swaks_ --port "$MF_FAULT_RAW_PORT" --helo helo-only --from a@example.test --to b@example.test \
    --header "Subject: $token raw"
  if [ $RC -eq 0 ] && grep -q '502 ' <<<"$OUT" && grep -q '<~  250 2.0.0 OK queued\|<-  250 2.0.0 OK queued' <<<"$OUT"; then
    ok "fault raw helo-only: 502 to EHLO, HELO fallback, plain send"
  else
    bad "fault raw helo-only: 502 to EHLO, HELO fallback, plain send" "$OUT"
  fi

  raw_talk "$MF_FAULT_RAW_PORT" "EHLO inject" "STARTTLS"
  if grep -q '^220 raw.fault.test ESMTP' <<<"$OUT" && grep -q '^220 2.0.0 Ready' <<<"$OUT" \
     && grep -q '^250 injected' <<<"$OUT"; then
    ok "fault raw inject: STARTTLS answered with 220 + injected 250 line"
  else
    bad "fault raw inject: STARTTLS answered with 220 + injected 250 line" "$OUT"
  fi
else
  skipped "fault"
fi

echo "== oidc peer (MF_OIDC_ISSUER=${MF_OIDC_ISSUER:-}, broken issuers ${MF_OIDC_BROKEN_BASE:-}) =="
if ready oidc; then
  command -v curl >/dev/null || die "curl not found (Debian package: curl)"
  ISS=$MF_OIDC_ISSUER
  BRK=$MF_OIDC_BROKEN_BASE
  curl_() { curl -sS --max-time 10 --cacert "$MF_PEER_CA" "$@"; }
  # json_ok: stdin parses as JSON
  json_ok() { node -e 'JSON.parse(require("fs").readFileSync(0, "utf8"))' 2>/dev/null; }
  # field NAME: the string NAME of the JSON object on stdin
  field() { node -e 'const o = JSON.parse(require("fs").readFileSync(0, "utf8")); process.stdout.write(String(o[process.argv[1]] ?? ""))' "$1"; }
  agent_() { MF_PEER_DIR="$MF_PEER_DIR" node "$MF_OIDC_AGENT" "$@"; }
  introspect() { curl_ -u "$MF_OIDC_INTROSPECT_CLIENT:$MF_OIDC_INTROSPECT_SECRET" --data-urlencode "token=$1" "$ISS/token/introspection"; }

  # has_metadata: OUT is the provider's metadata with the endpoints a client uses
  has_metadata() {
    local k
    grep -qF "\"issuer\":\"$ISS\"" <<<"$OUT" || return 1
    for k in authorization_endpoint token_endpoint device_authorization_endpoint introspection_endpoint revocation_endpoint; do
      grep -qF "\"$k\":\"$ISS/" <<<"$OUT" || return 1
    done
    grep -qF '"code_challenge_methods_supported":["S256"]' <<<"$OUT"
  }
  run curl_ "$ISS/.well-known/openid-configuration"
  if [ $RC -eq 0 ] && has_metadata; then
    ok "oidc: discovery over HTTPS (test CA): issuer, the five endpoints, PKCE S256 only"
  else
    bad "oidc: discovery over HTTPS (test CA): issuer, the five endpoints, PKCE S256 only" "$OUT"
  fi

  run curl -sS --max-time 10 "$ISS/.well-known/openid-configuration"
  expect "oidc: certificate does not verify without the test CA" 60 'certificate'

  run curl_ -d client_id="$MF_OIDC_NATIVE_CLIENT" --data-urlencode "scope=openid offline_access SMTP.Send" "$ISS/device/auth"
  expect "oidc: device authorization answers a user_code" 0 '"user_code":"[A-Z]{4}-[A-Z]{4}"'
  dev_json=$OUT
  user_code=$(field user_code <<<"$dev_json" 2>/dev/null || true)
  device_code=$(field device_code <<<"$dev_json" 2>/dev/null || true)
  run agent_ device --code "$user_code" --user "smoke-device-$$@example.test"
  expect "oidc: agent approves the device code" 0 '^approved'
  run curl_ -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d client_id="$MF_OIDC_NATIVE_CLIENT" \
    --data-urlencode "device_code=$device_code" "$ISS/token"
  if [ $RC -eq 0 ] && grep -q '"access_token":"' <<<"$OUT" && grep -q '"refresh_token":"' <<<"$OUT"; then
    ok "oidc: device flow: access and refresh token after approval"
  else
    bad "oidc: device flow: access and refresh token after approval" "$(sed 's/"[a-z_]*token":"[^"]*"/"…token":"<hidden>"/g' <<<"$OUT")"
  fi

  smoke_user="smoke-$$@example.test"
  tok=$(agent_ token --user "$smoke_user" 2>/dev/null || true)
  run introspect "$tok"
  expect "oidc: agent token (auth code + PKCE) is active at introspection, sub = the user" 0 \
    "\"active\":true,\"sub\":\"$smoke_user\""
  run curl_ -X POST "$ISS/admin/revoke?sub=$smoke_user"
  expect "oidc: admin revoke of the user" 0 '"revoked":[1-9]'
  run introspect "$tok"
  expect "oidc: after admin revoke the token is inactive" 0 '^\{"active":false\}$'
  run curl_ "$ISS/admin/tokens?sub=$smoke_user"
  expect "oidc: admin tokens: none live for the user after revoke" 0 '^\{"tokens":\[\]\}$'
  run curl_ "$ISS/admin/tokens?all=1&sub=$smoke_user"
  if [ $RC -eq 0 ] && grep -qF "\"$tok\"" <<<"$OUT"; then
    ok "oidc: admin tokens?all=1 still lists the revoked token (leak checks)"
  else
    bad "oidc: admin tokens?all=1 still lists the revoked token (leak checks)" "$(sed 's/"[A-Za-z0-9_-]\{20,\}"/"<value>"/g' <<<"$OUT")"
  fi

  if ready fault; then
    # fault_xoauth2 USER TOKEN: the fault peer's reply to AUTH XOAUTH2 after STARTTLS
    fault_xoauth2() {
      local xo
      xo=$(printf 'user=%s\001auth=Bearer %s\001\001' "$1" "$2" | base64 -w0)
      printf 'EHLO smoke\r\nAUTH XOAUTH2 %s\r\nQUIT\r\n' "$xo" |
        timeout 10 openssl s_client -quiet -ign_eof -starttls smtp -connect "127.0.0.1:$MF_FAULT_PORT" \
          -CAfile "$MF_PEER_CA" -verify_return_error 2>/dev/null | grep -E '^(235|535)'
    }
    tok=$(agent_ token --user "fault-$smoke_user" 2>/dev/null || true)
    run fault_xoauth2 "Fault-$smoke_user" "$tok"
    expect "fault: XOAUTH2 with a provider token of that user (any case) -> 235" 0 '^235 2\.7\.0'
    run fault_xoauth2 "other-$smoke_user" "$tok"
    expect "fault: XOAUTH2 with another user's provider token -> 535 5.7.3" 0 '^535 5\.7\.3'
    app=$(curl_ -u "$MF_OIDC_DAEMON_CLIENT:$MF_OIDC_DAEMON_SECRET" -d grant_type=client_credentials \
      -d scope=SMTP.Send "$ISS/token" 2>/dev/null | field access_token 2>/dev/null || true)
    run fault_xoauth2 "mailbox-$$@example.test" "$app"
    expect "fault: XOAUTH2 with an app-only token (client credentials, no sub) -> 235" 0 '^235 2\.7\.0'
  fi

  # misbehaving issuers
  run curl_ "$BRK/malformed/.well-known/openid-configuration"
  if [ $RC -eq 0 ] && grep -q '^{"issuer"' <<<"$OUT" && ! json_ok <<<"$OUT"; then
    ok "broken /malformed: discovery is truncated JSON"
  else
    bad "broken /malformed: discovery is truncated JSON" "$OUT"
  fi
  run curl_ "$BRK/badtoken/.well-known/openid-configuration"
  if [ $RC -eq 0 ] && json_ok <<<"$OUT" && grep -qF "\"issuer\":\"$BRK/badtoken\"" <<<"$OUT"; then
    ok "broken /badtoken: discovery is valid"
  else
    bad "broken /badtoken: discovery is valid" "$OUT"
  fi
  run curl_ -w '\n%{http_code}' -d grant_type=authorization_code -d code=x "$BRK/badtoken/token"
  if [ $RC -eq 0 ] && [ "$(tail -n1 <<<"$OUT")" = 200 ] && ! head -n1 <<<"$OUT" | json_ok; then
    ok "broken /badtoken: token endpoint answers 200 with malformed JSON"
  else
    bad "broken /badtoken: token endpoint answers 200 with malformed JSON" "$OUT"
  fi
  run curl_ -w '\n%{http_code} %{content_type}' -d grant_type=authorization_code -d code=x "$BRK/html500/token"
  expect "broken /html500: token endpoint answers 500 text/html" 0 '^500 text/html'
  run curl_ -d client_id=x "$BRK/expired/device/auth"
  expired_dc=$(field device_code <<<"$OUT" 2>/dev/null || true)
  run curl_ -d grant_type=urn:ietf:params:oauth:grant-type:device_code --data-urlencode "device_code=$expired_dc" "$BRK/expired/token"
  expect "broken /expired: token endpoint answers expired_token" 0 '"error":"expired_token"'

  run curl_ -d client_id=x "$BRK/slowdown/device/auth"
  slow_dc=$(field device_code <<<"$OUT" 2>/dev/null || true)
  if grep -q '"interval":1' <<<"$OUT" && grep -q '"verification_uri_complete":"' <<<"$OUT"; then
    seq_out=""
    for _ in 1 2 3 4; do
      seq_out+=$(curl_ -d grant_type=urn:ietf:params:oauth:grant-type:device_code \
        --data-urlencode "device_code=$slow_dc" "$BRK/slowdown/token" 2>&1 |
        sed -n 's/.*"\(error\|access_token\)":"\([^"]*\)".*/\2/p' || true)" "
    done
    run curl_ "$BRK/slowdown/polls"
    if [ "$seq_out" = "authorization_pending slow_down authorization_pending slowdown-at " ] &&
       grep -Eq '^\[[0-9]+,[0-9]+,[0-9]+\]$' <<<"$OUT"; then
      ok "broken /slowdown: pending, slow_down, pending, token; /slowdown/polls lists 3 gaps"
    else
      bad "broken /slowdown: pending, slow_down, pending, token; /slowdown/polls lists 3 gaps" "$seq_out / $OUT"
    fi
  else
    bad "broken /slowdown: device authorization with interval 1" "$OUT"
  fi
else
  skipped "oidc"
fi

echo "== $pass passed, $fail failed, $skip skipped =="
[ "$fail" -eq 0 ]
