#!/usr/bin/env bash
# End to end: inbox-placement checks against real peers on 127.0.0.1. The
# senders' SMTP server is the capturing smtp-sink; the seeds are two Dovecot
# users read over IMAP (STARTTLS). The test plays the providers' filters:
# while `mailfleet placement run` waits, it takes the probes from the sink
# and puts them where a filter would.
#  1. the matrix: s1's probes delivered into both seeds' INBOX (inbox), s2's
#     into seed B's Junk (junk) and not at all for seed A (missing); s3 sends
#     from the seeds' own domain (refused: same domain), and so do the seeds
#     to each other; exit status 1; --pause-below 100 pauses s2 with the
#     numbers and leaves s1 active; the run is in the store (report, --json)
#  2. the seeds are unchanged by the search: UIDs and flags from `doveadm
#     fetch` after delivery and after the run, and no \Seen on any probe
#  3. all in the inbox: the run ends as soon as every probe is found, exit 0
#  4. a sender whose server cannot be reached: not sent, exit 75
#  5. on the campaign's schedule: `mailfleet run` starts the check the
#     campaign's placement: key asks for, waits for it, saves it and pauses
#     the sender below pause_below; a run within `every` days does not check
#     again
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_placement.sh
. "$(dirname "$0")/lib.sh"
if [ -z "${MF_IMAP_PORT:-}" ] || [ -z "${MF_SINK_CAPTURE_DIR:-}" ]; then
  skip_peer peers "needs Dovecot and the capturing smtp-sink"
  finish
  exit $?
fi
H=127.0.0.1
A=$MF_SUB_USER
B=$MF_SUB_USER2
CA=(--cafile "$MF_PEER_CA")
cap=$MF_SINK_CAPTURE_DIR
# sender domains unique to this run: the seeds keep earlier runs' mail
RUN=$$-$RANDOM
D1=good-$RUN.test
D2=bad-$RUN.test
db() { sqlite3 "$MAILFLEET_DB" "$@"; }
is() { # is NAME GOT WANT: a value the test reads itself
  [ "$2" = "$3" ] && return 0
  out="got '$2', wanted '$3'"
  fail "$1" "$out"
  return 1
}
peers() { bash "$(dirname "$0")/../peers/peers.sh" "$@"; }
captured() { # captured FROM TO: the sink's file of the probe FROM -> TO
  grep -l -i "^From: $1" "$cap"/* 2>/dev/null | xargs -r grep -l -i "^To: $2" | head -n 1
}
token_of() { sed -n 's/^X-Mailfleet-Probe: *//p' "$1" | head -n 1 | tr -d '\r'; }
to_inbox() { peers deliver "$PEERS_DIR" "$2" < "$1"; }
to_junk() { doveadm -c "$MF_DOVECOT_CONF" save -u "$2" -m Junk < "$1"; }
wait_captured() { # wait_captured FROM TO...: until the sink has a probe for each
  local from=$1 to
  shift
  for _ in $(seq 1 100); do
    local all=1
    for to in "$@"; do [ -n "$(captured "$from" "$to")" ] || all=0; done
    [ $all = 1 ] && return 0
    sleep 0.2
  done
  return 1
}
fetch_state() { # UID and flags of every message in the seeds' INBOX and Junk
  local u f
  for u in "$A" "$B"; do
    for f in INBOX Junk; do
      doveadm -c "$MF_DOVECOT_CONF" fetch -u "$u" 'uid flags' mailbox "$f" 2>/dev/null |
        awk -v p="$u $f" '/^uid:/ {x=$2} /^flags:/ {sub(/^flags: ?/, ""); print p, x, $0}'
    done
  done | sort
}
probe_flags() { # probe_flags USER FOLDER TOKEN: the probe's flags ("" when absent)
  doveadm -c "$MF_DOVECOT_CONF" fetch -u "$1" 'flags' mailbox "$2" header X-Mailfleet-Probe "$3" \
    2>/dev/null | sed -n 's/^flags: *//p'
}
probe_count() {
  doveadm -c "$MF_DOVECOT_CONF" search -u "$1" mailbox "$2" header X-Mailfleet-Probe "$3" \
    2>/dev/null | wc -l
}

sink_sender() { # sink_sender NAME FROM
  "$MF" account add "$1" --host "$H" --port "$MF_SINK_CAPTURE_PORT" --security none --user '' \
    --from "$2" >/dev/null && "$MF" mailbox add "$1" --daily-cap 100 --no-ramp >/dev/null
}
seed() { # seed NAME USER PASSWORD
  printf '%s\n' "$3" | "$MF" account add "$1" --host "$H" --port "$MF_IMAP_PORT" \
    --security starttls --user "$2" --from "$2" --password-stdin >/dev/null &&
    "$MF" mailbox add "$1" --daily-cap 100 --no-ramp --imap-host "$H" --imap-port "$MF_IMAP_PORT" \
      --imap-security starttls >/dev/null
}
sink_sender s1 "s1@$D1"
sink_sender s2 "s2@$D2"
sink_sender s3 "s3-$RUN@example.test"   # the seeds' own domain
seed seed-a "$A" "$MF_SUB_PASS"
seed seed-b "$B" "$MF_SUB_PASS2"

n=help-teaches
check $n 0 "$MF" placement --help && expect $n 'internal delivery' &&
  expect $n 'never opens, flags, moves, answers or deletes' && expect $n 'Exit status' && ok $n
n=report-before-any-run
check $n 65 "$MF" placement report && expect $n 'no placement check has run yet' && ok $n
n=unknown-sender
check $n 65 "$MF" placement run --from nobody --wait 5 && expect $n 'nobody' && ok $n

# ---- 1. the matrix ---------------------------------------------------------------------
# default senders: every active mailbox (s1, s2, s3, seed-a, seed-b); default
# seeds: every mailbox with an IMAP server but the sender (seed-a, seed-b)
"$MF" placement run --wait 20 --pause-below 100 "${CA[@]}" > "$WORK/run.out" 2> "$WORK/run.err" &
run_pid=$!
n=probes-reach-the-sink
if wait_captured "s1@$D1" "$A" "$B" && wait_captured "s2@$D2" "$A" "$B"; then
  ok $n
else
  out=$(cat "$WORK/run.err")
  fail $n "the sink has not every probe"
fi
s1a=$(captured "s1@$D1" "$A") s1b=$(captured "s1@$D1" "$B")
s2a=$(captured "s2@$D2" "$A") s2b=$(captured "s2@$D2" "$B")
n=probe-carries-token
out=$(cat "$s1a")
tok=$(token_of "$s1a")
expect $n "^Subject: Placement check $tok" && expect $n "^From: s1@$D1" && expect $n "^To: $A" &&
  expect $n 'never opens' && is $n "${#tok}" 32 && ok $n
n=refused-pairs-not-sent
out=$(grep -l -i "^From: s3-$RUN@" "$cap"/* 2>/dev/null || true)
is $n "$out" "" && ok $n
# the filters: s1 -> both inboxes, s2 -> seed B's Junk, s2 -> seed A nowhere
to_inbox "$s1a" "$A"
to_inbox "$s1b" "$B"
to_junk "$s2b" "$B"
after_delivery_state=$(fetch_state)
set +e
wait "$run_pid"
status=$?
set -e
out=$(cat "$WORK/run.out" "$WORK/run.err")
printf '%s\n' "$out"
n=run-exit-1-when-junk-or-missing
is $n "$status" 1 && ok $n
n=matrix
expect $n '^SENDER \\ SEED +seed-a +seed-b$' &&
  expect $n '^s1 +inbox [0-9.]+s +inbox [0-9.]+s$' &&
  expect $n '^s2 +missing +junk [0-9.]+s$' &&
  expect $n '^s3 +refused +refused$' &&
  expect $n '^seed-a +- +refused$' && expect $n '^seed-b +refused +-$' && ok $n
n=rates-and-reasons
expect $n '^s1: 2/2 in the inbox \(100%\)$' &&
  expect $n '^s2: 0/2 in the inbox \(0%\): 1 junk, 1 missing$' &&
  expect $n '^s3: nothing checked: 2 refused$' &&
  expect $n '^s3 -> seed-a: refused: same domain \(example.test\): internal delivery says nothing about placement$' &&
  expect $n '^s2 -> seed-a: missing: not found in INBOX or Junk$' && ok $n
n=pause-below-100
expect $n 'paused s2: placement 0/2 inbox \(1 junk, 1 missing\) is below 100%' &&
  refute $n 'paused s1' &&
  is $n "$(db "select status from mailboxes where account = 's2'")" paused &&
  is $n "$(db "select status from mailboxes where account = 's1'")" active &&
  is $n "$(db "select status from mailboxes where account = 's3'")" active &&
  is $n "$(db "select pause_reason from mailboxes where account = 's2'")" \
    "placement 0/2 inbox (1 junk, 1 missing) is below 100%: look at the domain's SPF/DKIM/DMARC and content, then mailfleet mailbox resume s2" &&
  ok $n
n=recorded
is $n "$(db "select group_concat(sender || '>' || seed || '=' || result || ':' || folder, ' ')
  from (select * from placement_checks where run_id = 1 and sender in ('s1', 's2') order by sender, seed)")" \
  "s1>seed-a=inbox:INBOX s1>seed-b=inbox:INBOX s2>seed-a=missing: s2>seed-b=junk:Junk" &&
  is $n "$(db "select count(*) from placement_checks where run_id = 1 and result = 'refused'")" 4 &&
  is $n "$(db "select count(*) from placement_checks where run_id = 1 and delay_ms > 0 and sent_at > 0")" 3 &&
  is $n "$(db "select token from placement_checks where sender = 's1' and seed = 'seed-a'")" "$tok" && ok $n
n=report-latest
check $n 0 "$MF" placement report && expect $n '^placement run 1 ' &&
  expect $n '^s2 +missing +junk [0-9.]+s$' && expect $n '^s1: 2/2 in the inbox' && ok $n

# ---- 2. read-only ------------------------------------------------------------------------
n=seeds-unchanged-by-the-search
after_state=$(fetch_state)
is $n "$after_state" "$after_delivery_state" && ok $n
n=probes-not-seen-not-moved
bad=''
for x in "$A INBOX $s1a" "$B INBOX $s1b" "$B Junk $s2b"; do
  read -r u f file <<<"$x"
  t=$(token_of "$file")
  [ "$(probe_count "$u" "$f" "$t")" = 1 ] || bad="$bad $u/$f:count"
  case "$(probe_flags "$u" "$f" "$t")" in *Seen*) bad="$bad $u/$f:seen" ;; esac
done
# the probe left undelivered is nowhere in seed A
t=$(token_of "$s2a")
[ "$(probe_count "$A" INBOX "$t")$(probe_count "$A" Junk "$t")" = 00 ] || bad="$bad s2a:found"
is $n "$bad" "" && ok $n

# ---- 3. everything in the inbox: exit 0, and no need to wait ----------------------------
"$MF" placement run --from s1 --seed seed-a --seed seed-b --wait 60 --json "${CA[@]}" \
  > "$WORK/run2.out" 2> "$WORK/run2.err" &
run_pid=$!
started=$(date +%s)
newer() { # newer FROM TO OLD: the sink's probe FROM -> TO other than the file OLD
  grep -l -i "^From: $1" "$cap"/* 2>/dev/null | xargs -r grep -l -i "^To: $2" |
    grep -v -x -F "$3" | head -n 1 || true
}
for _ in $(seq 1 100); do
  n1=$(newer "s1@$D1" "$A" "$s1a") n2=$(newer "s1@$D1" "$B" "$s1b")
  [ -n "$n1" ] && [ -n "$n2" ] && break
  sleep 0.2
done
to_inbox "$n1" "$A"
to_inbox "$n2" "$B"
n=all-inbox
set +e
wait "$run_pid"
status=$?
set -e
took=$(( $(date +%s) - started ))
out=$(cat "$WORK/run2.out" "$WORK/run2.err")
if is $n "$status" 0 && [ "$took" -lt 40 ] &&
  printf '%s' "$(cat "$WORK/run2.out")" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["run"] == 2, d["run"]
r = sorted((p["sender"], p["seed"], p["result"], p["folder"]) for p in d["pairs"])
assert r == [("s1", "seed-a", "inbox", "INBOX"), ("s1", "seed-b", "inbox", "INBOX")], r
assert all(p["delay_ms"] is not None and len(p["token"]) == 32 for p in d["pairs"])
s = d["senders"][0]
assert (s["sender"], s["inbox"], s["checked"], s["inbox_percent"], s["paused"]) == ("s1", 2, 2, 100, False), s
' > "$WORK/json.txt" 2>&1; then
  ok $n
else
  out="$out $(cat "$WORK/json.txt") took ${took}s"
  fail $n "not all in the inbox, or the run did not end early"
fi
n=report-by-run
check $n 0 "$MF" placement report --run 1 && expect $n '^placement run 1 ' &&
  expect $n '^s3 +refused +refused$' && ok $n

# ---- 4. a sender that cannot send ------------------------------------------------------
dead_port=$((MF_PEER_BASE + 19)) # reserved: nothing listens there
"$MF" account add dead --host "$H" --port "$dead_port" --security none --user '' \
  --from "dead@down-$RUN.test" >/dev/null
"$MF" mailbox add dead --daily-cap 100 --no-ramp >/dev/null
n=not-sent-exit-75
check $n 75 "$MF" placement run --from dead --seed seed-a --wait 10 "${CA[@]}" &&
  expect $n '^dead +not sent$' && expect $n "dead -> seed-a: not sent: SMTP $H:$dead_port" &&
  expect $n 'dead: nothing checked: 1 not sent' && ok $n
n=unknown-option
check $n 64 "$MF" placement run --wait 1 && ok $n

# ---- 5. on the campaign's schedule ---------------------------------------------------------
export MAILFLEET_DB="$WORK/sched.db"
D5=sched-$RUN.test
sink_sender s5 "s5@$D5"
seed seed-a "$A" "$MF_SUB_PASS"
seed seed-b "$B" "$MF_SUB_PASS2"
"$MF" mailbox pause seed-a >/dev/null # seeds only: they send nothing here
"$MF" mailbox pause seed-b >/dev/null
{ echo 'name: sched'
  echo 'window: { start: "00:00", end: "23:59", days: everyday }'
  echo 'gap: { min: 1, max: 1 }'
  echo 'unsubscribe: { text: "Reply unsubscribe to stop." }'
  echo 'postal_address: "Placement Test Ltd, 1 Loop St"'
  echo 'placement: { every: 7, seeds: [seed-a, seed-b], pause_below: 60, wait: 20 }'
  echo 'steps:'
  echo '  - subject: "Hello"'
  echo '    body: "Hi."'; } > "$WORK/sched.yaml"
n=campaign-placement-key
check $n 0 "$MF" campaign create "$WORK/sched.yaml" --start && ok $n
{ echo email; echo "lead-$RUN@leads.test"; } > "$WORK/sched.csv"
"$MF" leads import "$WORK/sched.csv" --campaign sched >/dev/null
"$MF" run --until-idle --for 90 --no-sync "${CA[@]}" > "$WORK/sched.out" 2>&1 &
run_pid=$!
n=scheduled-probes-sent
if wait_captured "s5@$D5" "$A" "$B"; then ok $n; else out=$(cat "$WORK/sched.out"); fail $n "no probes"; fi
# the filters: seed A's into the inbox, seed B's into junk -> 1/2 = 50% < 60%
to_inbox "$(captured "s5@$D5" "$A")" "$A"
to_junk "$(captured "s5@$D5" "$B")" "$B"
wait "$run_pid" || true
out=$(cat "$WORK/sched.out")
n=run-saves-the-scheduled-check
expect $n 'placement check for sched: 2 pairs' &&
  expect $n 'placement sched: s5 1/2 in the inbox \(1 junk, 0 missing\)' &&
  expect $n 'placement check [0-9]+ saved' && expect $n 'sent sched step 1 to' && ok $n
n=scheduled-check-pauses-below-threshold
check $n 0 "$MF" mailbox list && expect $n 's5 +paused .*placement 1/2 inbox' && ok $n
n=scheduled-check-in-the-report
check $n 0 "$MF" placement report && expect $n '^s5 +inbox [0-9.]+s +junk [0-9.]+s' && ok $n
n=not-again-within-every-days
"$MF" mailbox resume s5 >/dev/null
check $n 0 "$MF" run --until-idle --for 30 --no-sync "${CA[@]}" &&
  refute $n 'placement check for sched' && ok $n

finish
