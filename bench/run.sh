#!/usr/bin/env bash
# Benchmarks against named peers, measured in the same run, printed as
# ratios of medians (these machines are noisy):
#  1. throughput: 10,000 ~4 KB messages to Postfix's smtp-sink, mailfleet
#     (bench/smtp_blast: the real transport and SMTP core) against
#     Postfix's smtp-source -d, over 1 and over 20 connections;
#  2. one full tester run (connect, STARTTLS, AUTH, one message, QUIT)
#     against Dovecot submission: `mailfleet test smtp` vs swaks vs curl.
# usage: bench/run.sh [ROUNDS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rounds=${1:-5}
bash scripts/deps.sh test
[ -d tests/peers/fault/node_modules ] || (cd tests/peers/fault && npm ci --no-audit --no-fund --loglevel=error)
build=$root/build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mailfleet smtp_blast >/dev/null

peers=$(mktemp -d "${TMPDIR:-/tmp}/mailfleet-bench.XXXXXX")
export MF_PEER_BASE=${MF_PEER_BASE:-44500}
trap 'bash tests/peers/peers.sh stop "$peers" >/dev/null 2>&1 || true; rm -rf "$peers"' EXIT
bash tests/peers/peers.sh start "$peers" >/dev/null
# shellcheck disable=SC1091
. "$peers/peers.env"
source_bin=$(command -v smtp-source || echo /usr/sbin/smtp-source)

N=10000
SIZE=4096
now() { date +%s%N; }
# time_ms CMD...: wall time of one run in ms
time_ms() {
  local t0 t1
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "benchmark command failed: $*" >&2; exit 1; }
  t1=$(now)
  echo $(((t1 - t0) / 1000000))
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "== throughput: $N messages of $SIZE bytes to smtp-sink, $rounds rounds, medians"
for conns in 1 20; do
  src=() ours=()
  for _ in $(seq "$rounds"); do
    src+=("$(time_ms "$source_bin" -d -s "$conns" -m "$N" -l "$SIZE" -f bench@example.com \
      -t sink@example.com "127.0.0.1:$MF_SINK_PORT")")
    ours+=("$(time_ms "$build/smtp_blast" 127.0.0.1 "$MF_SINK_PORT" "$conns" "$N" "$SIZE")")
  done
  ms_src=$(median "${src[@]}")
  ms_ours=$(median "${ours[@]}")
  target=$([ "$conns" = 1 ] && echo 2.0 || echo 0.9)
  r=$(ratio "$ms_src" "$ms_ours")
  verdict=$(awk -v r="$r" -v t="$target" 'BEGIN {print (r >= t) ? "met" : "NOT met"}')
  printf '%2d connection(s): smtp-source %6s ms, mailfleet %6s ms -> mailfleet is %sx smtp-source (target >= %sx: %s)\n' \
    "$conns" "$ms_src" "$ms_ours" "$r" "$target" "$verdict"
done

echo "== one tester run against Dovecot submission (connect, STARTTLS, AUTH PLAIN, one message, QUIT), $((rounds * 4)) runs, medians"
export BENCH_PW=$MF_SUB_PASS
msg=$peers/msg.txt
printf 'From: %s\r\nTo: x@example.test\r\nSubject: bench\r\n\r\nbench\r\n' "$MF_SUB_USER" >"$msg"
P=$MF_SUB_STARTTLS_PORT
mf_run() { "$build/mailfleet" test smtp --host 127.0.0.1 --port "$P" --user "$MF_SUB_USER" \
  --password-env BENCH_PW --cafile "$MF_PEER_CA" --to x@example.test --quiet --ehlo bench; }
swaks_run() { swaks --server "127.0.0.1:$P" --tls --tls-verify --tls-ca-path "$MF_PEER_CA" \
  --auth PLAIN --auth-user "$MF_SUB_USER" --auth-password "$MF_SUB_PASS" \
  --from "$MF_SUB_USER" --to x@example.test --helo bench --silent 2; }
curl_run() { curl -s --url "smtp://127.0.0.1:$P" --ssl-reqd --cacert "$MF_PEER_CA" \
  --user "$MF_SUB_USER:$MF_SUB_PASS" --login-options AUTH=PLAIN --mail-from "$MF_SUB_USER" \
  --mail-rcpt x@example.test --upload-file "$msg"; }
a=() b=() c=()
for _ in $(seq $((rounds * 4))); do
  a+=("$(time_ms mf_run)")
  b+=("$(time_ms swaks_run)")
  c+=("$(time_ms curl_run)")
done
ma=$(median "${a[@]}") mb=$(median "${b[@]}") mc=$(median "${c[@]}")
r_swaks=$(ratio "$mb" "$ma")
r_curl=$(ratio "$ma" "$mc")
printf 'mailfleet %s ms, swaks %s ms, curl %s ms\n' "$ma" "$mb" "$mc"
printf 'mailfleet is %sx faster than swaks (target >= 2.5x: %s)\n' "$r_swaks" \
  "$(awk -v r="$r_swaks" 'BEGIN {print (r >= 2.5) ? "met" : "NOT met"}')"
printf 'mailfleet takes %sx curl'"'"'s time (target <= 1.1x: %s)\n' "$r_curl" \
  "$(awk -v r="$r_curl" 'BEGIN {print (r <= 1.1) ? "met" : "NOT met"}')"
