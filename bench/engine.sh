#!/usr/bin/env bash
# The sending engine's benchmarks, each against a named peer in the same run
# (ratios of medians: these machines are noisy):
#  1. lead import: `mailfleet leads import` of a ROWS-row CSV against
#     `sqlite3 .import` of the same file (targets: >= 0.5x its speed and
#     >= 100k rows/s);
#  2. planning: `mailfleet plan --hours 24` over MAILBOXES mailboxes and
#     LEADS enrollments (target for 10,000 x 1,000,000: < 2 s, < 300 MB);
#  3. the whole engine with limits lifted sending MSGS messages to smtp-sink
#     over 4 connections against Postfix's `smtp-source -d` with the same
#     connection count (target >= 0.3x: the outbox commits are the price of
#     crash safety).
# usage: bench/engine.sh [ROWS] [MAILBOXES] [LEADS] [MSGS] [ROUNDS]
#        (defaults 1000000 1000 100000 2000 3; the plan target's sizes:
#        bench/engine.sh 1000000 10000 1000000)
# environment: MF_BENCH_PARTS  the parts to run (default "import plan engine")
#              MF_BENCH_BUILD  the build directory (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ROWS=${1:-1000000}
MAILBOXES=${2:-1000}
LEADS=${3:-100000}
MSGS=${4:-2000}
rounds=${5:-3}
bash scripts/deps.sh test
parts=" ${MF_BENCH_PARTS:-import plan engine} "
part() { [[ $parts == *" $1 "* ]]; }
build=${MF_BENCH_BUILD:-$root/build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mailfleet >/dev/null
mf=$build/mailfleet
work=$(mktemp -d "${TMPDIR:-/tmp}/mailfleet-bench-engine.XXXXXX")
chmod 755 "$work"   # the peers run as nobody and must reach their directory
peers=$work/peers
export MF_PEER_BASE=${MF_PEER_BASE:-44600}
trap 'bash tests/peers/peers.sh stop "$peers" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export MAILFLEET_KEY_FILE=$work/key

now() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# peak RSS in MB of a command (GNU time is not on a minimal Debian: /proc)
run_ms() { local t0; t0=$(now); "$@" >/dev/null 2>&1; echo $((($(now) - t0) / 1000000)); }
campaign() {
  cat <<EOF
name: $1
window: { start: "00:00", end: "23:59", days: everyday }
gap: { min: 1, max: 1 }
unsubscribe: { text: "Reply unsubscribe to stop." }
postal_address: "Bench Ltd"
steps:
  - subject: "Hello {{first_name|there}}"
    body: "Hi {{first_name|there}} at {{company|your company}}."
EOF
}

csv=$work/leads.csv
rows=$ROWS
part import || rows=$(( LEADS > MSGS ? LEADS : MSGS ))
awk -v n="$rows" 'BEGIN { print "email,first_name,company,timezone";
  split("Europe/Paris America/New_York Asia/Tokyo UTC", z, " ");
  for (i = 1; i <= n; i++) printf "lead%d@example%d.test,First%d,Company %d,%s\n", i, i % 97, i, i % 1000, z[i % 4 + 1] }' > "$csv"

if part import; then
echo "== 1. lead import: $ROWS rows, $rounds rounds, medians"
ours=() theirs=()
for r in $(seq "$rounds"); do
  export MAILFLEET_DB=$work/import-$r.db
  campaign bench > "$work/c.yaml"
  "$mf" campaign create "$work/c.yaml" >/dev/null
  ours+=("$(run_ms "$mf" leads import "$csv" --campaign bench)")
  theirs+=("$(run_ms sqlite3 "$work/sqlite-$r.db" ".import --csv $csv leads")")
  rm -f "$work/import-$r.db"* "$work/sqlite-$r.db"
done
o=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
echo "mailfleet leads import: ${o} ms ($(awk -v n="$ROWS" -v ms="$o" 'BEGIN {printf "%.0f", n / ms * 1000}') rows/s, parse + check + dedupe + enrol)"
echo "sqlite3 .import:        ${t} ms (raw rows, no checks)"
echo "speed ratio mailfleet/sqlite3 = $(ratio "$t" "$o")x (target >= 0.5x)"
echo
fi

if part plan; then
echo "== 2. plan --hours 24: $MAILBOXES mailboxes x $LEADS enrollments"
export MAILFLEET_DB=$work/plan.db
for i in $(seq "$MAILBOXES"); do echo "m$i@bench.test,127.0.0.1,25,none,,100000,0,UTC"; done |
  { echo "email,host,port,security,secret,daily_cap,ramp_start,timezone"; cat; } > "$work/mb.csv"
"$mf" mailbox import "$work/mb.csv" >/dev/null
campaign plan > "$work/p.yaml"
"$mf" campaign create "$work/p.yaml" --start >/dev/null
head -n $((LEADS + 1)) "$csv" > "$work/plan-leads.csv"
"$mf" leads import "$work/plan-leads.csv" --campaign plan >/dev/null
t0=$(now)
"$mf" plan --hours 24 > "$work/plan.out" &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  [ "${rss:-0}" -gt "$peak" ] && peak=$rss
  sleep 0.05
done
wait "$pid"
echo "plan: $((($(now) - t0) / 1000000)) ms, peak RSS $((peak / 1024)) MB, $(tail -n 1 "$work/plan.out")"
echo
fi

if part engine; then
echo "== 3. the engine, limits lifted, $MSGS messages to smtp-sink over 4 connections"
bash tests/peers/peers.sh start "$peers" >/dev/null
# shellcheck disable=SC1091
. "$peers/peers.env"
source_bin=$(command -v smtp-source || echo /usr/sbin/smtp-source)
ours=() theirs=()
for r in $(seq "$rounds"); do
  export MAILFLEET_DB=$work/send-$r.db
  "$mf" account add sink --host 127.0.0.1 --port "$MF_SINK_PORT" --security none \
    --from bench@engine.test >/dev/null
  "$mf" mailbox add sink --daily-cap 100000 --no-ramp >/dev/null
  sqlite3 "$MAILFLEET_DB" "update mailboxes set per_minute = 1000000, rcpt_per_day = 1000000, max_connections = 4"
  campaign send > "$work/s.yaml"
  "$mf" campaign create "$work/s.yaml" --start >/dev/null
  head -n $((MSGS + 1)) "$csv" > "$work/send-leads.csv"
  "$mf" leads import "$work/send-leads.csv" --campaign send >/dev/null
  ours+=("$(run_ms "$mf" run --until-idle --no-gap --for 600)")
  sent=$(sqlite3 "$MAILFLEET_DB" "select count(*) from outbox where state = 'sent'")
  [ "$sent" -eq "$MSGS" ] || { echo "the engine sent $sent of $MSGS" >&2; exit 1; }
  theirs+=("$(run_ms "$source_bin" -d -s 4 -m "$MSGS" -l 300 -f bench@engine.test \
    -t sink@example.test "127.0.0.1:$MF_SINK_PORT")")
done
o=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
echo "mailfleet run (render, outbox, limits, send log): ${o} ms ($(awk -v n="$MSGS" -v ms="$o" 'BEGIN {printf "%.0f", n / ms * 1000}') msg/s)"
echo "smtp-source -d -s 4:                              ${t} ms"
echo "speed ratio mailfleet/smtp-source = $(ratio "$t" "$o")x (target >= 0.3x)"
fi
