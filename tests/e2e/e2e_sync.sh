#!/usr/bin/env bash
# End to end: what comes back, against real Dovecot (and Postfix) on 127.0.0.1.
#  1. a reply stops the sequence: step 1 goes out through Dovecot's submission
#     service (relayed to the capturing smtp-sink), replies are delivered
#     into the mailbox with `doveadm save` (In-Reply-To only, References
#     only, both, one second after the send, a person quoting an
#     out-of-office), out-of-office replies with and without Auto-Submitted
#     and a stranger's mail arrive too; `mailfleet run` (sync beside the
#     sender, IDLE) must send step 2 to nobody who replied — checked at the
#     sink — and to everyone else
#  2. the mailbox is unchanged by the sync: UIDs and flags from `doveadm
#     fetch` before and after
#  3. a UIDVALIDITY reset (doveadm mailbox update) rescans without a single
#     new event
#  4. event reclassify undoes a reply's effects and applies the new kind's
#  5. bounces made by a real Postfix on loopback (unknown user, relay
#     refused) come back into the mailbox: the unknown user is bounced and
#     suppressed, the relay refusal counts as a soft bounce
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_sync.sh
. "$(dirname "$0")/lib.sh"
if [ -z "${MF_IMAP_PORT:-}" ] || [ -z "${MF_SINK_CAPTURE_DIR:-}" ]; then
  skip_peer peers "needs Dovecot and the capturing smtp-sink"
  finish
  exit $?
fi
H=127.0.0.1
USER_ADDR=$MF_SUB_USER2
CA=(--cafile "$MF_PEER_CA")
# lead addresses unique to this run: the mailbox keeps earlier runs' mail
LD=leads-$$-$RANDOM.test
db() { sqlite3 "$MAILFLEET_DB" "$@"; }
is() { # is NAME GOT WANT: a value the test reads itself
  [ "$2" = "$3" ] && return 0
  out="got '$2', wanted '$3'"
  fail "$1" "$out"
  return 1
}
deliver() { bash "$(dirname "$0")/../peers/peers.sh" deliver "$PEERS_DIR" "$USER_ADDR"; }
fetch_state() { # UID and flags of every message in INBOX and Junk
  local f
  for f in INBOX Junk; do
    doveadm -c "$MF_DOVECOT_CONF" fetch -u "$USER_ADDR" 'uid flags' mailbox "$f" 2>/dev/null |
      awk -v f="$f" '/^uid:/ {u=$2} /^flags:/ {sub(/^flags: ?/, ""); print f, u, $0}'
  done | sort
}

printf '%s\n' "$MF_SUB_PASS2" | "$MF" account add mb --host "$H" --port "$MF_SUB_STARTTLS_PORT" \
  --security starttls --user "$USER_ADDR" --from "$USER_ADDR" --password-stdin >/dev/null
n=mailbox-with-imap
check $n 0 "$MF" mailbox add mb --daily-cap 1000 --no-ramp --imap-host "$H" \
  --imap-port "$MF_IMAP_PORT" --imap-security starttls &&
  expect $n "replies read from imap $H:$MF_IMAP_PORT \(starttls\)" && ok $n

cat > "$WORK/seq.yaml" <<EOF
name: seq
window: { start: "00:00", end: "23:59", days: everyday }
gap: { min: 1, max: 1 }
unsubscribe:
  text: "Reply unsubscribe to stop."
postal_address: "Sync Test Ltd, 1 Loop St"
steps:
  - subject: "Quick question for {{first_name|you}}"
    body: "Hi {{first_name|there}}, a short note."
  - delay: 1 day
    body: "Following up on my note."
EOF
leads=(irt refs both fast quote ooo ooo2 plain stranger)
{ echo "email,first_name"; for l in "${leads[@]}"; do echo "$l@$LD,${l^}"; done; } > "$WORK/leads.csv"
"$MF" campaign create "$WORK/seq.yaml" --start >/dev/null
"$MF" leads import "$WORK/leads.csv" --campaign seq >/dev/null

# ---- 1. a reply stops the sequence ------------------------------------------------------
cap=$MF_SINK_CAPTURE_DIR
captured() { grep -l -i "^To: .*$1@$LD" "$cap"/* 2>/dev/null | sort || true; }
msgid_of() { # the Message-ID of step 1 to a lead, from the sink's copy
  local f
  f=$(captured "$1" | head -n 1)
  [ -z "$f" ] || sed -n 's/^[Mm]essage-[Ii][Dd]: *//p' "$f" | head -n 1 | tr -d '\r'
}
reply() { # reply LEAD HEADERS... (body on stdin)
  local lead=$1 h
  shift
  { printf 'From: %s <%s@%s>\r\nTo: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@%s>\r\n' \
      "${lead^}" "$lead" "$LD" "$USER_ADDR" "$(date -R)" "$lead" "$RANDOM$RANDOM" "$LD"
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf '\r\n'; sed 's/$/\r/'; } | deliver
}
before_state=$(fetch_state)
# step 2 is due one simulated day after step 1: 30 s at 2880x.
# --batch 1: Dovecot 2.3's submission service aborts on pipelined messages.
"$MF" run "${CA[@]}" --clock-speed 2880 --until-idle --for 150 --batch 1 > "$WORK/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 1 150); do
  [ "$(for l in "${leads[@]}"; do captured "$l"; done | wc -l)" -ge ${#leads[@]} ] && break
  sleep 0.2
done
# one second after the last send, the first reply
sleep 1
echo "Sure, send me more." | reply fast "Subject: Re: Quick question for Fast" "In-Reply-To: $(msgid_of fast)"
echo "Interested, call me." | reply irt "Subject: Re: Quick question for Irt" "In-Reply-To: $(msgid_of irt)"
echo "Tell me more." | reply refs "Subject: Re: Quick question for Refs" "References: $(msgid_of refs)"
echo "Yes." | reply both "Subject: RE: Quick question for Both" "In-Reply-To: $(msgid_of both)" \
  "References: <older.1@elsewhere.test> $(msgid_of both)"
printf 'Happy to talk next week.\n\n> I am out of the office until Monday with limited access to email.\n> This is an automatic reply.\n' |
  reply quote "Subject: Re: Quick question for Quote" "In-Reply-To: $(msgid_of quote)"
printf 'I am out of the office until Monday.\n' | reply ooo "Subject: Automatic reply: Quick question for Ooo" \
  "In-Reply-To: $(msgid_of ooo)" "Auto-Submitted: auto-replied" "X-Auto-Response-Suppress: All"
printf 'Thank you for your message. I am currently out of the office with no access to email.\n' |
  reply ooo2 "Subject: Out of Office: Quick question for Ooo2" "In-Reply-To: $(msgid_of ooo2)"
printf 'Who are you?\n' | reply stranger "Subject: hello" # no thread: not an answer
printf 'Buy now.\n' | { printf 'From: Spam <spam@elsewhere.test>\r\nTo: %s\r\nSubject: offer\r\nMessage-ID: <spam.%s@elsewhere.test>\r\n\r\n' "$USER_ADDR" "$RANDOM"; sed 's/$/\r/'; } | deliver
after_delivery_state=$(fetch_state)
wait "$run_pid" || true
out=$(cat "$WORK/run.log")
n=run-watches-and-ends
expect $n 'watching 1 mailbox over IMAP' && expect $n 'run ended' && ok $n
n=reply-one-second-after-send-stops
expect $n "reply from fast@$LD \\(strict match, step 1\\)" && ok $n
n=step2-only-to-those-who-did-not-reply
out=$(for l in "${leads[@]}"; do printf '%s=%s\n' "$l" "$(captured "$l" | wc -l)"; done)
printf '%s\n' "$out"
expect $n '^irt=1$' && expect $n '^refs=1$' && expect $n '^both=1$' && expect $n '^fast=1$' &&
  expect $n '^quote=1$' && expect $n '^ooo=2$' && expect $n '^ooo2=2$' && expect $n '^plain=2$' &&
  expect $n '^stranger=2$' && ok $n
n=step2-threads
f=$(captured plain | tail -n 1)
out=$(cat "$f")
expect $n "In-Reply-To: $(msgid_of plain)" && expect $n 'Subject: Re: Quick question for Plain' && ok $n
n=inbox-kinds
check $n 0 "$MF" inbox --all --json &&
  printf '%s\n' "$out" | LD=$LD python3 -c '
import json, os, sys
d = os.environ["LD"]
ev = {e["lead"]: (e["kind"], e["matched"]) for e in json.load(sys.stdin)}
want = {l + "@" + d: k for l, k in [("irt", "reply"), ("refs", "reply"), ("both", "reply"),
        ("fast", "reply"), ("quote", "reply"), ("ooo", "auto-reply"), ("ooo2", "auto-reply")]}
bad = {k: ev.get(k) for k, v in want.items() if not ev.get(k) or ev[k][0] != v or ev[k][1] != "strict"}
extra = sorted(set(ev) - set(want))
print("kinds:", ev, "wrong:", bad, "extra:", extra)
sys.exit(1 if bad or extra else 0)' > "$WORK/kinds.txt" 2>&1 && ok $n ||
  { out=$(cat "$WORK/kinds.txt"); fail $n "kinds differ"; }
n=inbox-shows-the-first-line
check $n 0 "$MF" inbox && expect $n "irt@$LD" && expect $n 'Interested, call me\.' &&
  refute $n 'out of the office until Monday' && ok $n
n=lead-show-reply
check $n 0 "$MF" lead show "irt@$LD" && expect $n 'replied' && expect $n "reply from irt@$LD" && ok $n

# ---- 2. read-only ---------------------------------------------------------------------
n=mailbox-unchanged-by-sync
after_state=$(fetch_state)
out=$(diff <(printf '%s\n' "$after_delivery_state") <(printf '%s\n' "$after_state") || true)
seen_before=$(printf '%s\n' "$before_state" | grep -c 'Seen' || true)
seen_after=$(printf '%s\n' "$after_state" | grep -c 'Seen' || true)
is $n "$after_state" "$after_delivery_state" && is $n "$seen_after" "$seen_before" &&
  [ "$(printf '%s\n' "$after_state" | wc -l)" -gt "$(printf '%s\n' "$before_state" | wc -l)" ] && ok $n

# ---- 3. UIDVALIDITY reset -------------------------------------------------------------
events_before=$(db "select count(*) from events where source_key like 'in:%'")
uv=$(doveadm -c "$MF_DOVECOT_CONF" mailbox status -u "$USER_ADDR" uidvalidity INBOX | sed 's/.*uidvalidity=//')
uv=$((uv + 1000))
doveadm -c "$MF_DOVECOT_CONF" mailbox update -u "$USER_ADDR" --uid-validity "$uv" INBOX
n=uidvalidity-reset-no-duplicates
check $n 0 "$MF" sync --once "${CA[@]}" && expect $n "UIDVALIDITY changed \\([0-9]+ -> $uv\\)" &&
  expect $n '[1-9][0-9]* seen before' && expect $n ' 0 new events' &&
  is $n "$(db "select count(*) from events where source_key like 'in:%'")" "$events_before" && ok $n

# ---- 4. reclassify ----------------------------------------------------------------------
lead_q="(select id from leads where address = 'quote@$LD')"
n=reclassify-reply-as-auto-reply
id=$(db "select id from events where kind = 'reply' and lead_id = $lead_q")
check $n 0 "$MF" event reclassify "$id" auto-reply && expect $n "reply -> auto-reply; 1 sequence" &&
  is $n "$(db "select status from leads where id = $lead_q")" active &&
  is $n "$(db "select state from enrollments where lead_id = $lead_q")" active && ok $n
n=reclassify-back-to-reply
check $n 0 "$MF" event reclassify "$id" reply &&
  is $n "$(db "select status from leads where id = $lead_q")" replied &&
  is $n "$(db "select state from enrollments where lead_id = $lead_q")" stopped && ok $n
n=reclassify-refuses-an-event-not-from-mail
sent_id=$(db "select id from events where kind = 'sent' limit 1")
check $n 65 "$MF" event reclassify "$sent_id" reply && expect $n 'was not made from mail' && ok $n

# ---- 4b. an unknown send resolved as sent keeps the follow-up's delay ---------------------
n=resolve-sent-keeps-the-delay
pq="(select id from leads where address = 'plain@$LD')"
ob=$(db "select o.id from outbox o join enrollments e on e.id = o.enrollment_id
         where e.lead_id = $pq and o.step = 0")
db "update outbox set state = 'unknown', updated_at = 1700000000 where id = $ob;
    update enrollments set next_step = 0, state = 'sending' where lead_id = $pq"
check $n 0 "$MF" outbox resolve "$ob" sent && expect $n "resolved as sent" &&
  is $n "$(db "select next_step, state, next_due from enrollments where lead_id = $pq")" \
    "1|active|$((1700000000 + 86400))" && ok $n

# ---- 5. bounces from a real Postfix ---------------------------------------------------
if [ -z "${MF_POSTFIX_PORT:-}" ]; then
  skip_peer postfix-peer "section 5 needs the Postfix peer"
else
  # SMTP without AUTH through Postfix (mynetworks), IMAP signs in as the user
  printf '%s\n' "$MF_SUB_PASS2" | "$MF" account add pf --host "$H" --port "$MF_POSTFIX_PORT" \
    --security none --auth none --user "$USER_ADDR" --from "$USER_ADDR" --password-stdin >/dev/null
  "$MF" mailbox add pf --daily-cap 1000 --no-ramp --imap-host "$H" --imap-port "$MF_IMAP_PORT" \
    --imap-security starttls >/dev/null
  "$MF" mailbox pause mb >/dev/null
  tag=$$-$RANDOM
  gone=gone-$tag@$MF_POSTFIX_UNKNOWN_DOMAIN far=far-$tag@$MF_POSTFIX_RELAY_DOMAIN
  sed -e 's/^name: seq/name: bounces/' -e '/- delay: 1 day/,$d' "$WORK/seq.yaml" > "$WORK/b.yaml"
  { echo "email,first_name"; echo "$gone,Gone"; echo "$far,Far"; } > "$WORK/b.csv"
  "$MF" campaign create "$WORK/b.yaml" --start >/dev/null
  "$MF" leads import "$WORK/b.csv" --campaign bounces >/dev/null
  n=postfix-accepts-both
  check $n 0 "$MF" run "${CA[@]}" --until-idle --for 60 --clock-speed 100 --batch 1 &&
    expect $n "sent bounces step 1 to $gone from pf" && expect $n "sent bounces step 1 to $far from pf" && ok $n
  run_out=$out
  # Postfix's bounce(8) DSNs reach the sender's INBOX through dovecot-lda
  for _ in $(seq 1 150); do
    got=$(doveadm -c "$MF_DOVECOT_CONF" search -u "$USER_ADDR" mailbox INBOX BODY "$tag" 2>/dev/null | wc -l)
    [ "$got" -ge 2 ] && break
    sleep 0.2
  done
  n=postfix-bounces-arrive
  is $n "$got" 2 && ok $n
  n=sync-reads-the-bounces
  # the run's own sync may have read them already, before it ended
  check $n 0 "$MF" sync --once "${CA[@]}" pf && out="$run_out$out" &&
    expect $n "hard bounce of $gone \\(strict match, step 1\\): suppressed" &&
    expect $n "soft-bounce of $far \\(strict match, step 1\\): counted" && ok $n
  n=unknown-user-bounced-and-suppressed
  is $n "$(db "select status from leads where address = '$gone'")" bounced &&
    is $n "$(db "select count(*) from suppression where value = '$gone'")" 1 &&
    is $n "$(db "select soft_bounces from leads where address = '$far'")" 1 &&
    is $n "$(db "select status from leads where address = '$far'")" active && ok $n
  n=bounce-classified-like-postfix-said
  check $n 0 "$MF" inbox --all --json && expect $n '"kind": "bounce"' && expect $n '5\.1\.1' &&
    expect $n '5\.7\.1' && ok $n
fi

# ---- the follow-up gate: a mailbox whose replies cannot be read holds its
# follow-ups (a reply may be waiting), while first touches and other
# mailboxes' follow-ups go
export MAILFLEET_DB="$WORK/gate.db"
for m in gated open; do
  "$MF" account add "$m" --host "$H" --port "$MF_SINK_PORT" --security none --user '' \
    --from "$m@gate.test" >/dev/null
done
# nothing listens there: the IMAP session never connects
"$MF" mailbox add gated --daily-cap 1000 --no-ramp --imap-host "$H" \
  --imap-port "$((MF_PEER_BASE + 59))" --imap-security none >/dev/null
"$MF" mailbox add open --daily-cap 1000 --no-ramp >/dev/null
cat > "$WORK/gate.yaml" <<EOF
name: gate
window: { start: "00:00", end: "23:59", days: everyday }
unsubscribe: { text: "Reply unsubscribe to stop." }
postal_address: "Gate Ltd"
steps:
  - subject: "First"
    body: "First."
  - delay: 1 day
    body: "Second."
EOF
printf 'email\ng1@gate-leads.test\no1@gate-leads.test\nf1@gate-leads.test\n' > "$WORK/gate.csv"
"$MF" campaign create "$WORK/gate.yaml" --start >/dev/null
"$MF" leads import "$WORK/gate.csv" --campaign gate >/dev/null
db "update enrollments set next_step = 1, thread_id = '<g' || id || '@gate.test>',
      last_message_id = '<g' || id || '@gate.test>', thread_subject = 'First',
      mailbox = CASE lead_id WHEN (SELECT id FROM leads WHERE address = 'g1@gate-leads.test')
                THEN 'gated' ELSE 'open' END
    where lead_id in (SELECT id FROM leads WHERE address IN ('g1@gate-leads.test', 'o1@gate-leads.test'))"
n=follow-ups-wait-for-unread-replies
check $n 0 "$MF" run --no-gap --for 5 &&
  expect $n 'sent gate step 2 to o1@gate-leads.test from open' &&
  expect $n 'sent gate step 1 to f1@gate-leads.test' && refute $n 'to g1@gate-leads.test' &&
  is $n "$(db "select state from enrollments e join leads l on l.id = e.lead_id where l.address = 'g1@gate-leads.test'")" active &&
  ok $n

# ---- a fleet's start: at most 32 mailboxes sign in at once, every one is checked
export MAILFLEET_DB="$WORK/fleet.db"
for i in $(seq 1 48); do
  printf '%s\n' "$MF_SUB_PASS2" | "$MF" account add "f$i" --host "$H" --port "$MF_SUB_STARTTLS_PORT" \
    --security starttls --user "$USER_ADDR" --from "f$i@example.test" --password-stdin >/dev/null
  "$MF" mailbox add "f$i" --daily-cap 1000 --no-ramp --imap-host "$H" --imap-port "$MF_IMAP_PORT" \
    --imap-security starttls >/dev/null
done
"$MF" sync --once "${CA[@]}" > "$WORK/fleet-sync.out" 2>&1 &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  c=$(ss -tnpH state established "( dport = :$MF_IMAP_PORT )" 2>/dev/null | grep -c "pid=$pid," || true)
  [ "$c" -gt "$peak" ] && peak=$c
  sleep 0.02
done
rc=0
wait "$pid" || rc=$?
n=fleet-sync-starts-in-turn
out="peak $peak IMAP connections; $(tail -n 1 "$WORK/fleet-sync.out")"
[ "$rc" -eq 0 ] && [ "$peak" -ge 1 ] && [ "$peak" -le 32 ] &&
  expect $n 'sync: 48 mailboxes, 48 checks, .* 0 failures' && ok $n ||
  fail $n "wanted every mailbox checked, at most 32 connections at once"
printf '%s\n' "$out"

finish
