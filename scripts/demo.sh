#!/usr/bin/env bash
# mailfleet's main job on local defaults: build, start real mail servers on
# 127.0.0.1 (Dovecot submission with TLS + AUTH relaying to Postfix's
# smtp-sink, and an Exchange-like fault peer), prove the mailbox with a full
# `mailfleet test smtp`, send a message through a saved account, show that
# it arrived, check IMAP and POP3 of the same mailbox, show how a
# Microsoft 365 refusal is explained, then run a demo campaign (three
# mailboxes, fifty leads, three steps) on a fast clock and show its status,
# and last a reply and an out-of-office read over IMAP: the reply stops its
# lead's sequence, the out-of-office does not.
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

say "5. A campaign: 3 mailboxes, 50 leads, 3 steps, on a fast clock (1 second = 5.5 hours)"
for b in dana sam lee; do
  "$mf" account add "$b" --host 127.0.0.1 --port "$MF_SINK_CAPTURE_PORT" --security none \
    --from "$b@sender.test" --replace >/dev/null
  "$mf" mailbox add "$b" --daily-cap 25 --ramp 8:5 --timezone Europe/London
done
cat > "$peers/demo-campaign.yaml" <<'EOF'
name: demo-outreach
from_name: "Dana from Contoso"
timezone_field: timezone
window: { start: "09:00", end: "17:00", days: weekdays }
gap: { min: 60, max: 190 }
unsubscribe:
  text: "Not interested? Reply \"unsubscribe\" and I will not write again."
  mailto: unsubscribe@sender.test
postal_address: "Contoso Ltd, 1 Main St, Springfield"
steps:
  - subject:
      - "{Quick|Short} question, {{first_name|there}}"
      - "Idea for {{company|your team}}"
    body: |
      Hi {{first_name|there}},

      {Would|Could} {{company|your team}} use more booked meetings next quarter?

      Dana
  - delay: 1 business day
    body: "Hi {{first_name|there}}, bumping this in case it got buried."
  - delay: 2 days
    body: "Last note from me, {{first_name|there}}: shall I close the file?"
EOF
{ echo "email,first_name,company,timezone"
  zones=(Europe/Paris America/New_York Asia/Tokyo Europe/London)
  for i in $(seq 1 50); do
    echo "lead$i@example.org,Lead$i,Company $((i % 7)),${zones[$((i % 4))]}"
  done
  echo "not-an-address,Bad,Row,UTC"
  echo "lead7@example.org,Dup,Row,UTC"; } > "$peers/demo-leads.csv"
"$mf" campaign create "$peers/demo-campaign.yaml" --start
"$mf" suppress add lead50@example.org --reason "asked not to be contacted"
"$mf" leads import "$peers/demo-leads.csv" --campaign demo-outreach || true

say "5b. What will go out in the next 24 hours (mailfleet plan; nothing is sent)"
"$mf" plan --hours 24 | head -n 12

say "5c. mailfleet run: every limit, window, ramp and delay holds (simulated days in seconds)"
"$mf" run --until-idle --for 60 --clock-speed 20000 | tail -n 6

say "5d. mailfleet status"
"$mf" status
"$mf" lead show lead1@example.org

say "6. What comes back: a reply stops the sequence, an out-of-office does not"
# one mailbox whose replies land in the local Dovecot (SMTP to the sink
# without AUTH; IMAP signs in as the Dovecot user)
printf '%s\n' "$MF_SUB_PASS2" | "$mf" account add replies --host 127.0.0.1 \
  --port "$MF_SINK_CAPTURE_PORT" --security none --auth none --user "$MF_SUB_USER2" \
  --from "$MF_SUB_USER2" --password-stdin --replace >/dev/null
"$mf" mailbox add replies --no-ramp --imap-host 127.0.0.1 --imap-port "$MF_IMAP_PORT" \
  --imap-security starttls
"$mf" mailbox pause dana >/dev/null; "$mf" mailbox pause sam >/dev/null; "$mf" mailbox pause lee >/dev/null
tag=$$
cat > "$peers/demo-replies.yaml" <<EOF
name: demo-replies
window: { start: "00:00", end: "23:59", days: everyday }
gap: { min: 1, max: 1 }
unsubscribe: { text: "Reply unsubscribe to stop." }
postal_address: "Contoso Ltd, 1 Main St, Springfield"
steps:
  - subject: "Hello {{first_name|there}}"
    body: "Hi {{first_name|there}}, one question."
  - delay: 1 day
    body: "Following up."
EOF
{ echo "email,first_name"; for p in ann bob cy; do echo "$p-$tag@example.net,${p^}"; done; } > "$peers/demo-replies.csv"
"$mf" campaign create "$peers/demo-replies.yaml" --start >/dev/null
"$mf" leads import "$peers/demo-replies.csv" --campaign demo-replies >/dev/null
"$mf" run --no-sync --no-gap --for 3 | grep -E "sent demo-replies" || true
msgid() { grep -l -i "^To: $1-$tag@" "$MF_SINK_CAPTURE_DIR"/* | head -n 1 |
  xargs sed -n 's/^Message-ID: *//Ip' | head -n 1 | tr -d '\r'; }
deliver() { bash tests/peers/peers.sh deliver "$peers" "$MF_SUB_USER2"; }
printf 'From: Ann <ann-%s@example.net>\r\nTo: %s\r\nSubject: Re: Hello Ann\r\nIn-Reply-To: %s\r\nMessage-ID: <a-%s@example.net>\r\n\r\nYes, call me on Tuesday.\r\n' \
  "$tag" "$MF_SUB_USER2" "$(msgid ann)" "$tag" | deliver
printf 'From: Bob <bob-%s@example.net>\r\nTo: %s\r\nSubject: Automatic reply: Hello Bob\r\nAuto-Submitted: auto-replied\r\nIn-Reply-To: %s\r\nMessage-ID: <b-%s@example.net>\r\n\r\nI am out of the office until Monday.\r\n' \
  "$tag" "$MF_SUB_USER2" "$(msgid bob)" "$tag" | deliver
"$mf" sync --once --cafile "$MF_PEER_CA" replies
"$mf" inbox --all
say "6b. Step 2 comes due: Bob (out of office) and Cy get it, Ann (replied) does not"
"$mf" run --until-idle --for 30 --clock-speed 20000 --cafile "$MF_PEER_CA" |
  grep -E "sent demo-replies step 2|run ended" || true
"$mf" lead show "ann-$tag@example.net"

if [ $keep -eq 1 ]; then
  say "Servers left running (stop with: tests/peers/peers.sh stop $peers)"
  cat "$peers/peers.env"
fi
