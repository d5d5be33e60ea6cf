#!/usr/bin/env bash
# The IMAP sync against a big mailbox on the real Dovecot peer, in one run:
#  1. first sync of a MSGS-message INBOX (`mailfleet sync --once`: EXAMINE,
#     UID SEARCH, UID FETCH BODY.PEEK[]<0.64K> in chunks, classify, match)
#     against Dovecot's own `doveadm fetch` of the same messages' text (the
#     named peer: the server reading its own index and files, no network)
#  2. an incremental check with nothing new (EXAMINE only)
#  3. IDLE: `mailfleet sync` watching; one new message delivered with
#     `doveadm save`; the time until the sync has read it (target < 1 s)
# The messages are made from tests/fixtures/mail/ (bounces, replies,
# auto-replies; ~2-4 KB), each with its own Message-ID.
# usage: bench/sync.sh [MSGS] [ROUNDS]   (defaults 100000 3; medians)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
MSGS=${1:-100000}
rounds=${2:-3}
bash scripts/deps.sh test
build=${MF_BUILD:-$root/build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target mailfleet >/dev/null
mf=$build/mailfleet
work=$(mktemp -d "${TMPDIR:-/tmp}/mailfleet-bench-sync.XXXXXX")
chmod 755 "$work"   # the peers run as nobody and must reach their directory
peers=$work/peers
export MF_PEER_BASE=${MF_PEER_BASE:-44800}
trap 'bash tests/peers/peers.sh stop "$peers" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
export MAILFLEET_KEY_FILE=$work/key MAILFLEET_DB=$work/store.db
bash tests/peers/peers.sh start "$peers" >/dev/null
set -a
# shellcheck disable=SC1091
. "$peers/peers.env"
set +a
user=$MF_SUB_USER2
conf=$MF_DOVECOT_CONF

now_ns() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "== making a $MSGS-message INBOX for $user"
maildir=$MF_MAIL_DIR/$user/Maildir
mkdir -p "$maildir/cur" "$maildir/new" "$maildir/tmp"
MAILDIR=$maildir MSGS=$MSGS /usr/bin/python3 - "$root/tests/fixtures/mail" <<'EOF'
import os, sys, glob, time
src = sorted(glob.glob(os.path.join(sys.argv[1], "*.eml")))
texts = [open(p, "rb").read() for p in src]
out, n = os.environ["MAILDIR"] + "/cur", int(os.environ["MSGS"])
stamp = int(time.time())
for i in range(n):
    t = texts[i % len(texts)]
    head, sep, body = t.partition(b"\n\n")
    lines = [l for l in head.split(b"\n") if not l.lower().startswith(b"message-id:")]
    lines.append(b"Message-ID: <bench.%d@bench.test>" % i)
    with open("%s/%d.M%dP1.bench:2," % (out, stamp, i), "wb") as f:
        f.write(b"\n".join(lines) + sep + body)
EOF
[ "$(id -u)" != 0 ] || chown -R nobody:nogroup "$MF_MAIL_DIR/$user"
t0=$(now_ns)
doveadm -c "$conf" mailbox status -u "$user" messages INBOX
echo "dovecot indexed them in $((($(now_ns) - t0) / 1000000)) ms (not counted below)"

printf '%s\n' "$MF_SUB_PASS2" | "$mf" account add mb --host 127.0.0.1 --port "$MF_SINK_PORT" \
  --security none --user "$user" --from "$user" --password-stdin >/dev/null
"$mf" mailbox add mb --no-ramp --imap-host 127.0.0.1 --imap-port "$MF_IMAPS_PORT" \
  --imap-security tls >/dev/null
# the mailbox has sent: the first sync reads everything from two days before
sqlite3 "$MAILFLEET_DB" "insert into send_log (mailbox, at_ms, rcpts, external)
  values ('mb', $(date +%s)000, 1, 1)"

echo
echo "== 1. first sync of $MSGS messages, $rounds rounds, medians"
ours=() theirs=()
for r in $(seq "$rounds"); do
  sqlite3 "$MAILFLEET_DB" "delete from sync_folders; delete from events where source_key like 'in:%'"
  t0=$(now_ns)
  "$mf" sync --once --cafile "$MF_PEER_CA" > "$work/first.log" 2>&1 || { cat "$work/first.log"; exit 1; }
  ours+=($((($(now_ns) - t0) / 1000000)))
  t0=$(now_ns)
  doveadm -c "$conf" fetch -u "$user" 'uid text' mailbox INBOX all > /dev/null
  theirs+=($((($(now_ns) - t0) / 1000000)))
done
grep -E "^sync:" "$work/first.log"
o=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
echo "mailfleet sync --once (TLS, fetch + classify + match): ${o} ms ($(awk -v n="$MSGS" -v ms="$o" 'BEGIN {printf "%.0f", n / ms * 1000}') messages/s)"
echo "doveadm fetch text (local, no network):               ${t} ms"
echo "time ratio mailfleet/doveadm = $(ratio "$o" "$t")x"

echo
echo "== 2. incremental check, nothing new"
ours=()
for r in $(seq "$rounds"); do
  t0=$(now_ns)
  "$mf" sync --once --cafile "$MF_PEER_CA" > "$work/inc.log" 2>&1
  ours+=($((($(now_ns) - t0) / 1000000)))
done
grep -E "^sync:" "$work/inc.log"
echo "mailfleet sync --once, nothing new: $(median "${ours[@]}") ms (process start, TLS, sign-in, EXAMINE per folder)"

echo
echo "== 3. IDLE: one new message, $rounds rounds"
"$mf" sync --cafile "$MF_PEER_CA" > "$work/idle.log" 2>&1 &
sync_pid=$!
for _ in $(seq 1 600); do grep -q "checked" "$work/idle.log" && break; sleep 0.1; done
lat=() save=()
for r in $(seq "$rounds"); do
  sleep 1 # IDLE is entered after the check
  before=$(grep -cE " [1-9][0-9]* new message" "$work/idle.log" || true)
  t0=$(now_ns)
  printf 'From: someone@else.test\r\nTo: %s\r\nSubject: new %s\r\nMessage-ID: <idle.%s.%s@bench.test>\r\n\r\nHello.\r\n' \
    "$user" "$r" "$r" "$RANDOM" | doveadm -c "$conf" save -u "$user" -m INBOX
  while [ "$(grep -cE " [1-9][0-9]* new message" "$work/idle.log" || true)" -le "$before" ]; do
    sleep 0.005
    [ $((($(now_ns) - t0) / 1000000)) -lt 30000 ] || { echo "not seen in 30 s"; break; }
  done
  lat+=($((($(now_ns) - t0) / 1000000)))
  t0=$(now_ns) # doveadm save alone, into another folder
  printf 'From: someone@else.test\r\nSubject: x\r\n\r\nx\r\n' | doveadm -c "$conf" save -u "$user" -m Junk
  save+=($((($(now_ns) - t0) / 1000000)))
done
kill -TERM "$sync_pid"; wait "$sync_pid" || true
echo "new message read by the IDLE-ing sync in $(median "${lat[@]}") ms median (${lat[*]}; target < 1000 ms)"
echo "  of which doveadm save itself takes about $(median "${save[@]}") ms (${save[*]})"
