#!/usr/bin/env bash
# mailfleet's main job on local defaults: build, start real mail servers on
# 127.0.0.1 (Dovecot submission with TLS + AUTH relaying to Postfix's
# smtp-sink, and an Exchange-like fault peer), prove the mailbox with a full
# `mailfleet test smtp`, send a message through a saved account, show that
# it arrived, check IMAP and POP3 of the same mailbox, and show how a
# Microsoft 365 refusal is explained.
#   scripts/demo.sh           run and stop the servers afterwards
#   scripts/demo.sh --keep    leave the servers running (stop: tests/peers/peers.sh stop DIR)
# With MAILFLEET_DEMO_ACCOUNT=NAME (a saved account) the test runs against
# that real mailbox instead of the local server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bash scripts/deps.sh test
if [ ! -d tests/peers/fault/node_modules ]; then
  (cd tests/peers/fault && npm ci --no-audit --no-fund --loglevel=error)
fi
build=$root/build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mailfleet >/dev/null
mf=$build/mailfleet

if [ -n "${MAILFLEET_DEMO_ACCOUNT:-}" ]; then
  exec "$mf" test smtp "$MAILFLEET_DEMO_ACCOUNT"
fi

peers=$(mktemp -d "${TMPDIR:-/tmp}/mailfleet-demo.XXXXXX")
export MF_PEER_BASE=${MF_PEER_BASE:-43500}
stop() { [ $keep -eq 1 ] || bash tests/peers/peers.sh stop "$peers" >/dev/null 2>&1 || true; }
trap stop EXIT
bash tests/peers/peers.sh start "$peers" >/dev/null
# shellcheck disable=SC1091
. "$peers/peers.env"
export MAILFLEET_DB=$peers/demo.db
export DEMO_PASSWORD=$MF_SUB_PASS

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Prove the mailbox: every step of SMTP submission (Dovecot, STARTTLS + AUTH)"
"$mf" test smtp --host 127.0.0.1 --port "$MF_SUB_STARTTLS_PORT" --user "$MF_SUB_USER" \
  --password-env DEMO_PASSWORD --cafile "$MF_PEER_CA"

say "1b. Prove replies can be read: IMAP (folders, Junk, INBOX) and POP3"
"$mf" test imap --host 127.0.0.1 --port "$MF_IMAPS_PORT" --user "$MF_SUB_USER" \
  --password-env DEMO_PASSWORD --cafile "$MF_PEER_CA" --quiet
"$mf" test pop3 --host 127.0.0.1 --port "$MF_POP3S_PORT" --user "$MF_SUB_USER" \
  --password-env DEMO_PASSWORD --cafile "$MF_PEER_CA" --quiet

say "2. Save the account (settings and where the password comes from, never the password)"
"$mf" account add demo --host 127.0.0.1 --port "$MF_SUB_STARTTLS_PORT" \
  --user "$MF_SUB_USER" --password-env DEMO_PASSWORD --from "$MF_SUB_USER" --replace
"$mf" account list

say "3. Send a message through it"
SSL_CERT_FILE=$MF_PEER_CA "$mf" send demo --to lead@example.org \
  --subject "Hello from mailfleet" --body "This message went through Dovecot submission over TLS."
sleep 0.3
arrived=$(grep -l "Hello from mailfleet" "$MF_SINK_CAPTURE_DIR"/* 2>/dev/null | head -n 1 || true)
if [ -n "$arrived" ]; then
  echo "arrived at the sink: $arrived"
  sed -n '1,12p' "$arrived"
else
  echo "the message did not reach the sink" >&2
  exit 1
fi

say "4. What a Microsoft 365 refusal looks like (fault peer answering like Exchange Online)"
export DEMO_GOOD=good
set +e
"$mf" test smtp --host 127.0.0.1 --port "$MF_FAULT_PORT" --cafile "$MF_PEER_CA" \
  --user smtpauth-disabled@contoso.test --password-env DEMO_GOOD --quiet
echo "(exit status $? = authentication failed, see README)"
set -e

if [ $keep -eq 1 ]; then
  say "Servers left running (stop with: tests/peers/peers.sh stop $peers)"
  cat "$peers/peers.env"
fi
