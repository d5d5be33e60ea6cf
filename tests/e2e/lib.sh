# Shared helpers for the end-to-end tests: run the built mailfleet against
# the real peers on 127.0.0.1 and check outcome, exit status (the failing
# layer) and the explanation. Source it; call `finish` at the end.
set -u
MF=${MF:?path to the mailfleet binary}
PEERS_DIR=${PEERS_DIR:?the peers directory}
# the peers' ports, users and files, exported for the helpers the tests run
set -a
# shellcheck disable=SC1091
. "$PEERS_DIR/peers.env"
set +a
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mf-e2e.XXXXXX")
export MAILFLEET_DB="$WORK/store.db"
export MAILFLEET_KEY_FILE="$WORK/key"
passed=0
failed=0
trap '[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT

# check NAME WANT_STATUS CMD... : runs CMD, keeps its output in $out and
# status in $status, and records a failure when the status differs.
check() {
  local name=$1 want=$2
  shift 2
  set +e
  out=$("$@" 2>&1)
  status=$?
  set -e
  if [ "$status" -ne "$want" ]; then
    fail "$name" "exit status $status, wanted $want"
    return 1
  fi
  return 0
}

# expect NAME PATTERN: the last output must contain PATTERN (grep -E).
expect() {
  if printf '%s' "$out" | grep -Eq -- "$2"; then
    return 0
  fi
  fail "$1" "output lacks /$2/"
  return 1
}

refute() {
  if printf '%s' "$out" | grep -Eq -- "$2"; then
    fail "$1" "output has /$2/"
    return 1
  fi
  return 0
}

fail() {
  failed=$((failed + 1))
  printf 'FAIL %s: %s\n--- output ---\n%s\n--------------\n' "$1" "$2" "$out"
}

# CI as tests/peers/peers.sh reads it: CI=true or CI=1.
under_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

# skip_peer NAME WHY: a part cannot run because a peer is not running. A
# skip on a laptop; under CI every peer must run, so it is a failure.
skip_peer() {
  echo "SKIP $1: $2"
  if under_ci; then
    out=''
    fail "$1" "under CI every peer must run: $2"
  fi
}

ok() {
  passed=$((passed + 1))
  printf 'PASS %s\n' "$1"
}

finish() {
  printf '%d passed, %d failed\n' "$passed" "$failed"
  [ "$failed" -eq 0 ]
}
