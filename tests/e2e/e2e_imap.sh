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

n=imap-no-user-no-login
check $n 0 "$MF" test imap --host "$H" --port "$MF_IMAPS_PORT" "${CA[@]}" &&
  expect $n 'not signed in: no --user' && refute $n 'BAD' && refute $n 'C: A[0-9]+ LIST' &&
  expect $n 'RESULT: OK  imap' && ok $n

n=pop3-no-user-no-login
check $n 0 "$MF" test pop3 --host "$H" --port "$MF_POP3S_PORT" "${CA[@]}" &&
  expect $n 'not signed in: no --user' && refute $n 'C: STAT' && expect $n 'RESULT: OK  pop3' &&
  ok $n

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

# Bearer tokens: REAL ones from the oidc peer (oidc-provider), got by its
# scripted user agent (auth code + PKCE); Dovecot's oauth2 passdb checks them
# at the provider's introspection endpoint. Passwords keep going to the
# passwd-file.
if [ -n "${MF_OIDC_ISSUER:-}" ]; then
  # agent token [options]: prints an access token (nothing else on stdout)
  agent() { MF_PEER_DIR="$PEERS_DIR" node "$MF_OIDC_AGENT" "$@" 2>>"$WORK/agent.log"; }
  token_or_fail() { # NAME VAR agent-options...: VAR := a token, or record a failure
    local name=$1 var=$2 t
    shift 2
    if t=$(agent token "$@") && [ -n "$t" ]; then
      printf -v "$var" '%s' "$t"
      return 0
    fi
    out=$(cat "$WORK/agent.log" 2>/dev/null || true)
    fail "$name" "the oidc agent could not get a token"
    return 1
  }
  # A user of its own (Dovecot's static userdb gives any user the provider
  # vouches for a mailbox), so a test that revokes MF_OIDC_USER's tokens at
  # the provider (e2e_oauth) cannot pull the rug from under a parallel run.
  TOKUSER="imap-e2e-$$@example.test"
  short_from=$SECONDS
  GOODTOK='' SHORTTOK='' REVTOK='' CCTOK=''
  token_or_fail oidc-token-short SHORTTOK --client "$MF_OIDC_SHORT_CLIENT" --user "$TOKUSER" || true
  token_or_fail oidc-token GOODTOK --user "$TOKUSER" || true
  # app-only token (client credentials, no sub), as a daemon would get it
  out=$(curl -s --cacert "$MF_PEER_CA" -u "$MF_OIDC_DAEMON_CLIENT:$MF_OIDC_DAEMON_SECRET" \
    -d grant_type=client_credentials -d scope=SMTP.Send "$MF_OIDC_ISSUER/token" 2>&1 || true)
  CCTOK=$(printf '%s' "$out" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$CCTOK" ] || fail oidc-client-credentials-token "no access_token from the token endpoint"
  export GOODTOK SHORTTOK CCTOK BADTOK=bad-token-e2e
  TOKEN=(--host "$H" --user "$TOKUSER" --oauth-token-env GOODTOK "${CA[@]}")
  BADTOKEN=(--host "$H" --user "$TOKUSER" --oauth-token-env BADTOK "${CA[@]}")

  n=imaps-xoauth2
  check $n 0 "$MF" test imap "${TOKEN[@]}" --port "$MF_IMAPS_PORT" &&
    expect $n 'auth +ok +XOAUTH2 accepted' && expect $n 'RESULT: OK  imap' &&
    refute $n "$GOODTOK" && ok $n

  # the test user's own mailbox, with a token got just now
  MAINTOK=''
  if token_or_fail imaps-xoauth2-test-user MAINTOK --user "$MF_SUB_USER"; then
    export MAINTOK
    n=imaps-xoauth2-test-user
    check $n 0 "$MF" test imap --host "$H" --user "$MF_SUB_USER" --oauth-token-env MAINTOK "${CA[@]}" \
      --port "$MF_IMAPS_PORT" && expect $n 'XOAUTH2 accepted' &&
      expect $n "INBOX: $((MF_MAILBOX_INBOX_COUNT + 1)) messages" && refute $n "$MAINTOK" && ok $n
  fi

  n=imaps-oauthbearer
  check $n 0 "$MF" test imap "${TOKEN[@]}" --port "$MF_IMAPS_PORT" --auth oauthbearer &&
    expect $n 'auth +ok +OAUTHBEARER accepted' && expect $n 'RESULT: OK  imap' &&
    refute $n "$GOODTOK" && ok $n

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
    expect $n 'refused XOAUTH2' && refute $n "$GOODTOK" && ok $n

  n=imaps-xoauth2-app-only-token-refused
  check $n 77 "$MF" test imap --host "$H" --user "$TOKUSER" --oauth-token-env CCTOK "${CA[@]}" \
    --port "$MF_IMAPS_PORT" --json &&
    expect $n '"layer": "auth"' && expect $n 'AUTHENTICATIONFAILED' && refute $n "$CCTOK" && ok $n

  n=pop3s-xoauth2
  check $n 0 "$MF" test pop3 "${TOKEN[@]}" --port "$MF_POP3S_PORT" &&
    expect $n 'auth +ok +XOAUTH2 accepted' && expect $n 'RESULT: OK  pop3' &&
    refute $n "$GOODTOK" && ok $n

  n=pop3s-oauthbearer
  check $n 0 "$MF" test pop3 "${TOKEN[@]}" --port "$MF_POP3S_PORT" --auth oauthbearer &&
    expect $n 'auth +ok +OAUTHBEARER accepted' && refute $n "$GOODTOK" && ok $n

  n=pop3s-xoauth2-bad-token
  check $n 77 "$MF" test pop3 "${BADTOKEN[@]}" --port "$MF_POP3S_PORT" --json &&
    expect $n '"layer": "auth"' && refute $n "$BADTOK" && ok $n

  n=pop3s-oauthbearer-bad-token
  check $n 77 "$MF" test pop3 "${BADTOKEN[@]}" --port "$MF_POP3S_PORT" --auth oauthbearer &&
    expect $n 'refused AUTH OAUTHBEARER' && refute $n "$BADTOK" && ok $n

  n=imaps-token-is-no-password
  check $n 77 "$MF" test imap --host "$H" --port "$MF_IMAPS_PORT" --user "$TOKUSER" \
    --password-env GOODTOK "${CA[@]}" &&
    expect $n 'refused' && refute $n "$GOODTOK" && ok $n

  # "The user revoked access": a token of its own account (Dovecot's static
  # userdb serves any user the provider vouches for), then /admin/revoke.
  revuser="revoked-e2e-$$@example.test"
  if token_or_fail imaps-xoauth2-revoked REVTOK --user "$revuser"; then
    export REVTOK
    n=imaps-xoauth2-before-revocation
    check $n 0 "$MF" test imap --host "$H" --user "$revuser" --oauth-token-env REVTOK "${CA[@]}" \
      --port "$MF_IMAPS_PORT" && expect $n 'XOAUTH2 accepted' && ok $n
    out=$(curl -s --cacert "$MF_PEER_CA" -X POST "$MF_OIDC_ISSUER/admin/revoke?sub=$revuser" 2>&1 || true)
    n=imaps-xoauth2-after-revocation
    if printf '%s' "$out" | grep -Eq '"revoked":[1-9]'; then
      check $n 77 "$MF" test imap --host "$H" --user "$revuser" --oauth-token-env REVTOK "${CA[@]}" \
        --port "$MF_IMAPS_PORT" && expect $n 'refused XOAUTH2' && refute $n "$REVTOK" && ok $n
    else
      fail $n "admin revoke did not revoke anything"
    fi
  fi

  # mailfleet-short's tokens live 8 s: the one got first is refused by now
  if [ -n "$SHORTTOK" ]; then
    n=imaps-xoauth2-short-token-works
    if (( SECONDS - short_from < 7 )); then
      check $n 0 "$MF" test imap --host "$H" --user "$TOKUSER" --oauth-token-env SHORTTOK "${CA[@]}" \
        --port "$MF_IMAPS_PORT" && expect $n 'XOAUTH2 accepted' && ok $n
    fi
    while (( SECONDS - short_from < 10 )); do sleep 0.5; done
    n=imaps-xoauth2-expired-token
    check $n 77 "$MF" test imap --host "$H" --user "$TOKUSER" --oauth-token-env SHORTTOK "${CA[@]}" \
      --port "$MF_IMAPS_PORT" && expect $n 'refused XOAUTH2' && refute $n "$SHORTTOK" && ok $n
  fi
else
  skip_peer oidc-peer "bearer-token checks need the oidc peer (MF_PEERS_SKIPPED=$MF_PEERS_SKIPPED)"
fi

PORTS=(--smtp-port "$MF_SUB_STARTTLS_PORT" --imap-port "$MF_IMAPS_PORT" --pop3-port "$MF_POP3S_PORT")
n=test-all-summary
check $n 0 "$MF" test all "${LOGIN[@]}" "${PORTS[@]}" &&
  expect $n 'PROTO +SERVER' && expect $n '^smtp .* ok ' && expect $n '^imap .* ok .*INBOX holds' &&
  expect $n '^pop3 .* ok .*maildrop holds' && ok $n

n=test-all-reports-failure
check $n 77 "$MF" test all --host "$H" --user "$MF_SUB_USER" --password-env BADPW "${CA[@]}" "${PORTS[@]}" &&
  expect $n '^smtp .* FAIL ' && expect $n '^imap .* FAIL ' && expect $n '^pop3 .* FAIL ' && ok $n

finish
