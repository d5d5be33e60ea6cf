#!/usr/bin/env bash
# End to end: RFC 8058 one-click unsubscribe.
#  1. a two-step campaign sends step 1 to three leads through the capturing
#     smtp-sink; lead 1's List-Unsubscribe URL is taken from the sink's file
#  2. `mailfleet serve` on 127.0.0.1, driven by curl exactly as Gmail does
#     (POST, application/x-www-form-urlencoded, List-Unsubscribe=One-Click,
#     no cookies, no redirects followed): 200, lead 1 suppressed, stopped,
#     one event; a second POST adds nothing; a GET only shows the button; a
#     forged token is 404; a wrong body is 400
#  3. the follow-up day (fast clock): step 2 reaches leads 2 and 3, never 1
# Usage: MF=build/mailfleet PEERS_DIR=dir tests/e2e/e2e_unsub.sh
. "$(dirname "$0")/lib.sh"
if [ -z "${MF_SINK_CAPTURE_PORT:-}" ]; then
  skip_peer sink-capture "the capturing smtp-sink is not running (MF_SINK_CAPTURE_PORT is empty)"
  finish
  exit $?
fi
export MAILFLEET_DB="$WORK/unsub.db"
H=127.0.0.1
PORT=$((MF_SINK_PORT + 17)) # BASE+17: reserved by peers.sh, never a peer's
BASE_URL=https://go.example.test/u
TAG="unsub-$$-$RANDOM"
L1="l1.$TAG@example.test" L2="l2.$TAG@example.test" L3="l3.$TAG@example.test"
db() { sqlite3 "$MAILFLEET_DB" "$@"; }
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# post PATH [BODY [CONTENT_TYPE]]: as Gmail - POST, the form, no cookies, no
# redirects followed; status in $code, body in $body, headers in $WORK/h.
post() {
  code=$(curl -sS --noproxy '*' --max-time 10 --max-redirs 0 -o "$WORK/b" -D "$WORK/h" \
    -w '%{http_code}' -X POST -H "Content-Type: ${3:-application/x-www-form-urlencoded}" \
    --data-binary "${2-List-Unsubscribe=One-Click}" "http://$H:$PORT$1") || code=000
  body=$(cat "$WORK/b" 2>/dev/null || true)
}
get() {
  code=$(curl -sS --noproxy '*' --max-time 10 --max-redirs 0 -o "$WORK/b" -D "$WORK/h" \
    -w '%{http_code}' "http://$H:$PORT$1") || code=000
  body=$(cat "$WORK/b" 2>/dev/null || true)
}
events() { db "select count(*) from events where kind = 'unsubscribe' and lead_id =
                 (select id from leads where address = '$1')"; }
# the sink's files for a recipient (each message is one file)
sink_files() { grep -rl -i "^To: $1" "$MF_SINK_CAPTURE_DIR" 2>/dev/null | sort || true; }

# ---- 1. step 1 to three leads ----------------------------------------------------
"$MF" account add unsubbox --host "$H" --port "$MF_SINK_CAPTURE_PORT" --security none \
  --user '' --from "sender@$TAG.e2e.test" >/dev/null
"$MF" mailbox add unsubbox --daily-cap 1000 --no-ramp >/dev/null
db "update mailboxes set per_minute = 100000, max_connections = 2"
cat > "$WORK/c.yaml" <<EOF
name: unsub
window: { start: "00:00", end: "23:59", days: everyday }
gap: { min: 1, max: 1 }
unsubscribe:
  text: "Not interested? {{unsubscribe_url}}"
  url: $BASE_URL
postal_address: "Unsub Test Ltd, 1 Loop St"
steps:
  - subject: "Hello {{first_name|there}}"
    body: "Hi {{first_name|there}}, a short note."
  - delay: 1 day
    body: "Follow-up."
EOF
{ echo "email,first_name"; echo "$L1,One"; echo "$L2,Two"; echo "$L3,Three"; } > "$WORK/leads.csv"
n=setup
check $n 0 "$MF" campaign create "$WORK/c.yaml" --start &&
  check $n 0 "$MF" leads import "$WORK/leads.csv" --campaign unsub && expect $n '3 enrolled' && ok $n
n=step-1-sent
# step 2 waits a day, so the run is never idle: a short --for
check $n 0 "$MF" run --for 5 --no-gap && expect $n 'run ended: 3 sent' && ok $n

n=list-unsubscribe-from-the-sink
f1=$(sink_files "$L1")
url=$(tr -d '\r' < "${f1:-/dev/null}" 2>/dev/null | grep -i -A1 '^List-Unsubscribe:' |
  grep -o "$BASE_URL/[A-Za-z0-9_-]*" | head -n 1)
out="file: ${f1:-none}; url: ${url:-none}
$(tr -d '\r' < "${f1:-/dev/null}" 2>/dev/null | grep -i '^List-Unsubscribe' || true)"
token=${url#"$BASE_URL/"}
# path style (no ?t=), one-click because https, and the same URL in the footer
# ({{unsubscribe_url}}; the body may be quoted-printable: join soft breaks)
footer=$(tr -d '\r' < "${f1:-/dev/null}" 2>/dev/null | sed -e ':a' -e '/=$/{N;s/=\n//;ba}' |
  grep -o "Not interested? $BASE_URL/[A-Za-z0-9_-]*" | head -n 1)
[ "$(printf '%s\n' "$f1" | grep -c .)" = 1 ] && [ ${#token} -ge 70 ] && [ ${#token} -le 100 ] &&
  expect $n "List-Unsubscribe: <$BASE_URL/$token>" &&
  expect $n 'List-Unsubscribe-Post: List-Unsubscribe=One-Click' && refute $n '\?t=' &&
  [ "$footer" = "Not interested? $BASE_URL/$token" ] && ok $n ||
  fail $n "no single path-style one-click URL for lead 1 (footer: ${footer:-none})"
printf 'lead 1: %s\n' "${url:-no URL}"
[ -n "$token" ] || token=missing
t2=$(tr -d '\r' < "$(sink_files "$L2" | head -n 1)" 2>/dev/null | grep -i -A1 '^List-Unsubscribe:' |
  grep -o "$BASE_URL/[A-Za-z0-9_-]*" | head -n 1)
t2=${t2#"$BASE_URL/"}
t3=$(db "select cast(raw as text) from outbox where rcpt = '$L3' and step = 0" |
  grep -o "$BASE_URL/[A-Za-z0-9_-]*" | head -n 1)
t3=${t3#"$BASE_URL/"}

# ---- 2. mailfleet serve, driven like Gmail -----------------------------------------
n=serve-starts
"$MF" serve --listen "$H:$PORT" > "$WORK/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 50); do
  get /u/x 2>/dev/null
  [ "$code" = 404 ] && break
  sleep 0.1
done
out=$(cat "$WORK/serve.log")
[ "$code" = 404 ] && expect $n "listening on http://$H:$PORT" && expect $n '/u/TOKEN' && ok $n ||
  fail $n "serve did not answer on $H:$PORT"

n=one-click-post
post "/u/$token"
out="$code $body
$(cat "$WORK/h")"
[ "$code" = 200 ] && expect $n '^200 You are unsubscribed\.' &&
  expect $n 'Content-Type: text/plain' && expect $n 'Cache-Control: no-store' &&
  expect $n 'Referrer-Policy: no-referrer' && expect $n 'X-Content-Type-Options: nosniff' &&
  refute $n 'Location:|Set-Cookie:' && ok $n || fail $n "wanted 200 text/plain, no redirect"
n=lead-1-unsubscribed
check $n 0 "$MF" lead show "$L1" && expect $n 'status unsubscribed' &&
  expect $n 'unsub +stopped .*unsubscribed \(one-click\)' &&
  expect $n 'is suppressed: unsubscribed \(one-click\)' && expect $n ' unsubscribe ' &&
  [ "$(events "$L1")" = 1 ] && ok $n || fail $n "events: $(events "$L1")"
n=lead-1-on-the-suppression-list
check $n 0 "$MF" suppress list && expect $n "$L1 .*unsubscribed \(one-click\)" && ok $n

n=second-post-adds-nothing
before=$(db "select count(*) from events")
post "/u/$token"
out="$code $body"
[ "$code" = 200 ] && expect $n 'You are unsubscribed\.' &&
  [ "$(db "select count(*) from events")" = "$before" ] && [ "$(events "$L1")" = 1 ] && ok $n ||
  fail $n "wanted 200 and no new event"

n=get-shows-the-button-only
get "/u/$t2"
out="$code $body"
[ "$code" = 200 ] && expect $n '<form method=post>' &&
  expect $n 'name=List-Unsubscribe value=One-Click' && refute $n "$L2" || fail $n "wanted the page"
check $n 0 "$MF" lead show "$L2" && expect $n 'status active' && refute $n 'suppressed' &&
  refute $n 'stopped' && [ "$(events "$L2")" = 0 ] && ok $n

n=forged-token-404
i=$(( ${#token} / 2 ))
c=${token:$i:1}
[ "$c" = A ] && r=B || r=A
forged="${token:0:$i}$r${token:$((i + 1))}"
post "/u/$forged"
out="$code $body"
forged_body=$body
get /u/not-a-token
[ "$out" != "${out#404 }" ] && [ "$code" = 404 ] && [ "$body" = "$forged_body" ] && ok $n ||
  fail $n "wanted the same 404 for a forged token and for junk"

n=wrong-body-400
post "/u/$t3" 'List-Unsubscribe=Yes'
out="$code $body"
c1=$code
post "/u/$t3" 'List-Unsubscribe=One-Click' 'application/json'
out="$out / $code $body"
[ "$c1" = 400 ] && [ "$code" = 400 ] && [ "$(events "$L3")" = 0 ] &&
  [ "$(db "select status from leads where address = '$L3'")" = active ] && ok $n ||
  fail $n "wanted 400 and no change"

n=other-methods-405
code=$(curl -sS --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' -X DELETE \
  "http://$H:$PORT/u/$t3") || code=000
out=$code
[ "$code" = 405 ] && ok $n || fail $n "wanted 405"

# ---- 3. the follow-up day: step 2 to leads 2 and 3 only ---------------------------
n=step-2-skips-lead-1
check $n 0 "$MF" run --for 3 --clock-speed 200000 --no-gap
out="$out
$(db "select rcpt || ' step ' || (step + 1) || ' ' || state from outbox order by rcpt, step")"
step2=$(db "select group_concat(rcpt, ' ') from (select rcpt from outbox where step = 1 and
              state = 'sent' order by rcpt)")
[ "$step2" = "$L2 $L3" ] && [ "$(db "select count(*) from outbox where rcpt = '$L1'")" = 1 ] &&
  ok $n || fail $n "step 2 went to: ${step2:-nobody}"
n=step-2-at-the-sink
out="sink files: $L1 $(sink_files "$L1" | wc -l), $L2 $(sink_files "$L2" | wc -l), $L3 $(sink_files "$L3" | wc -l)"
[ "$(sink_files "$L1" | wc -l)" = 1 ] && [ "$(sink_files "$L2" | wc -l)" = 2 ] &&
  [ "$(sink_files "$L3" | wc -l)" = 2 ] &&
  grep -q 'Follow-up\.' $(sink_files "$L2") && ok $n || fail $n "wanted 1, 2, 2 messages"

n=serve-stops
kill -TERM "$serve_pid"
st=0
wait "$serve_pid" || st=$?
serve_pid=
out="exit $st
$(cat "$WORK/serve.log")"
[ "$st" = 0 ] && expect $n "unsubscribed $L1" && expect $n "already unsubscribed: $L1" &&
  expect $n 'stopped \(SIGTERM\)' && ok $n || fail $n "serve did not stop cleanly"

finish
