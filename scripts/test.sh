#!/usr/bin/env bash
# Runs the whole mailfleet test suite: unit tests (transcripts included),
# fuzz-corpus replay and the integration tests against real peers on
# 127.0.0.1, all built with AddressSanitizer + UndefinedBehaviorSanitizer.
# Installs what it needs first (Debian 12). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/deps.sh test
if [ -f tests/peers/fault/package.json ] && [ ! -d tests/peers/fault/node_modules ]; then
  (cd tests/peers/fault && npm ci --no-audit --no-fund --loglevel=error)
fi

build=${MF_BUILD_DIR:-$root/build-san}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Sanitize >/dev/null
cmake --build "$build" -j2 >/dev/null
# leaks are errors too; sanitizer reports fail the test that shows them
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure -j2
