#!/usr/bin/env bash
# `mailfleet classify` against named peers over the same messages, in one run
# (medians of ROUNDS; ratios of medians: these machines are noisy):
#   - a bare GMime parse (bench/gmime_parse.c: parse each file, walk its MIME
#     tree, nothing else): the ceiling while GMime parses. Target: mailfleet
#     takes <= 1.5x its time;
#   - Sisimai (Debian's libsisimai-perl; bench/sisimai_bench.pl: Sisimai->make
#     or ->rise on the Maildir). Target: mailfleet >= 8x its speed;
#   - Mailman's flufl.bounce (python3-flufl.bounce; bench/flufl_bench.py:
#     the stdlib email parser + scan_message per file). No target, printed.
# The corpus: N messages (~4 KB on average, ~80% bounces of the common
# shapes, then auto-replies, replies, complaints, unsubscribes) made from
# tests/fixtures/mail by bench/classify_corpus.pl into a Maildir in a
# temporary directory. Before timing, the kinds mailfleet finds in it must
# be exactly the kinds of the fixtures each message was made from.
# usage: bench/classify.sh [N] [ROUNDS]   (defaults 20000 3)
#        MF_BUILD=DIR  the build directory (default build/; configured
#                      RelWithDebInfo and built here, as bench/engine.sh does)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
N=${1:-20000}
rounds=${2:-3}
bash scripts/deps.sh bench
build=${MF_BUILD:-$root/build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mailfleet >/dev/null
mf=$build/mailfleet
python=/usr/bin/python3 # Debian's, where python3-flufl.bounce is; not a pyenv one
work=$(mktemp -d "${TMPDIR:-/tmp}/mailfleet-bench-classify.XXXXXX")
trap 'rm -rf "$work"' EXIT
export MAILFLEET_DB=$work/none.db # classify never creates a store: no matching
# the ceiling, built like the RelWithDebInfo build
read -r -a gmime_flags <<<"$(pkg-config --cflags --libs gmime-3.0)"
cc -std=c11 -O2 -g -Wall -Wextra -Werror bench/gmime_parse.c "${gmime_flags[@]}" -o "$work/gmime_parse"

now() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
rate() { awk -v n="$N" -v ms="$1" 'BEGIN {printf "%.0f", n / ms * 1000}'; }
# run_ms OUT CMD...: wall-clock ms of CMD, its stdout in OUT
run_ms() {
  local out=$1 t0
  shift
  t0=$(now)
  "$@" >"$out" 2>"$out.err" || { echo "failed: $* ($(tail -n 3 "$out.err"))" >&2; exit 1; }
  echo $((($(now) - t0) / 1000000))
}
kinds() { # JSON Lines of classify on stdin -> "bounce 123, reply 45, ..."
  perl -MJSON::PP -ne 'my $j = JSON::PP->new->decode($_); $c{ $j ? $j->{kind} : "null" }++;
    END { print join(", ", map { "$_ $c{$_}" } sort { $c{$b} <=> $c{$a} || $a cmp $b } keys %c) }'
}

md=$work/Maildir
perl bench/classify_corpus.pl tests/fixtures/mail "$md" "$N" 1 >"$work/made" 2>"$work/made.err"
bytes=$(find "$md/cur" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
# what each message must be: the kind of the fixture it was made from
(cd tests/fixtures/mail && awk '{print $1}' "$work/made" | "$mf" classify --json --files-from -) |
  paste -d ' ' "$work/made" - |
  perl -MJSON::PP -ne '/^(\S+) (\d+) (.*)$/ or die; $c{ JSON::PP->new->decode($3)->{kind} } += $2;
    END { print join(", ", map { "$_ $c{$_}" } sort { $c{$b} <=> $c{$a} || $a cmp $b } keys %c) }' \
  >"$work/want"
"$mf" classify --json "$md" >"$work/got.jsonl"
got=$(kinds <"$work/got.jsonl")
if [ "$got" != "$(cat "$work/want")" ]; then
  echo "the corpus' kinds are not the fixtures': mailfleet says $got, the fixtures $(cat "$work/want")" >&2
  exit 1
fi
sisimai_v=$(perl -MSisimai -e 'print Sisimai->version')
flufl_v=$($python -c 'import flufl.bounce; print(flufl.bounce.__version__)')
echo "== classify: $N messages, $(awk -v b="$bytes" -v n="$N" 'BEGIN {printf "%.0f", b / n}') bytes on average, $rounds rounds, medians"
echo "corpus: $got"

gm=() ours=() sis=() fl=()
for _ in $(seq "$rounds"); do
  cat "$md"/cur/* >/dev/null # the same warm page cache for everyone
  gm+=("$(run_ms "$work/gmime.out" "$work/gmime_parse" "$md/cur")")
  ours+=("$(run_ms "$work/ours.out" "$mf" classify --json "$md")")
  sis+=("$(run_ms "$work/sisimai.out" perl bench/sisimai_bench.pl "$md/cur")")
  fl+=("$(run_ms "$work/flufl.out" "$python" bench/flufl_bench.py "$md/cur")")
done
g=$(median "${gm[@]}"); o=$(median "${ours[@]}"); s=$(median "${sis[@]}"); f=$(median "${fl[@]}")
[ "$(kinds <"$work/ours.out")" = "$got" ] || { echo "mailfleet's output changed between runs" >&2; exit 1; }
row() { printf '%-40s %7s ms %7s msg/s   %s\n' "$1" "$2" "$(rate "$2")" "$3"; }
row "bare GMime parse + MIME walk (ceiling)" "$g" "$(cat "$work/gmime.out")"
row "mailfleet classify --json" "$o" "$(wc -l <"$work/ours.out") JSON lines"
row "Sisimai $sisimai_v ($(perl -MSisimai -e 'print Sisimai->can("rise") ? "rise" : "make"'))" "$s" \
  "$(cat "$work/sisimai.out")"
row "flufl.bounce $flufl_v (scan_message)" "$f" "$(cat "$work/flufl.out")"
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {print ((op == ">=" ? v >= t : v <= t) ? "PASS" : "MISS")}'; }
vs=$(ratio "$s" "$o"); vf=$(ratio "$f" "$o"); vg=$(ratio "$o" "$g")
echo "speed ratio mailfleet/Sisimai      = ${vs}x (target >= 8x): $(verdict "$vs" 8 '>=')"
echo "speed ratio mailfleet/flufl.bounce = ${vf}x"
echo "time ratio mailfleet/bare parse    = ${vg}x (target <= 1.5x): $(verdict "$vg" 1.5 '<=')"
