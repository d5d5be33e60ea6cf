#!/usr/bin/env bash
# Installs what mailfleet needs on Debian 12, only when something is missing.
#   scripts/deps.sh build   compiler, cmake and the libraries
#   scripts/deps.sh test    the above plus the test peers (postfix's smtp-sink,
#                           dovecot, node for the fault peer, swaks, msmtp) and
#                           Sisimai (libsisimai-perl), e2e_classify's reference
#                           bounce parser: optional, a failed install only warns
#   scripts/deps.sh bench   the build set plus the benchmarks' named peers:
#                           Sisimai (libsisimai-perl) and Mailman's bounce
#                           detectors (python3-flufl.bounce) for bench/classify.sh
# Daemons that Debian would start on install (postfix, dovecot listen on every
# interface) are kept from starting by a policy-rc.d for the duration of the
# install: tests run their own instances on 127.0.0.1 only.
set -euo pipefail
what=${1:-build}

build_pkgs=(build-essential cmake pkg-config libssl-dev libevent-dev libc-ares-dev
  libcurl4-openssl-dev libjansson-dev libsqlite3-dev libgmime-3.0-dev
  libsodium-dev libmicrohttpd-dev libcsv-dev libyaml-dev libcmocka-dev
  ca-certificates openssl)
test_pkgs=(postfix dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond
  nodejs npm swaks libnet-ssleay-perl msmtp curl clang hyperfine iproute2)
# wanted by the tests but not needed: when apt cannot install them, the
# tests that use them say so and skip that part
optional_test_pkgs=(libsisimai-perl)
bench_pkgs=(libsisimai-perl python3-flufl.bounce)

pkgs=("${build_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")
[ "$what" = bench ] && pkgs+=("${bench_pkgs[@]}")
optional=()
if [ "$what" = test ]; then
  for p in "${optional_test_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || optional+=("$p")
  done
fi

missing=()
for p in "${pkgs[@]}"; do
  # node and npm may come from elsewhere than apt (a newer Node preinstalled)
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#optional[@]} -eq 0 ] && exit 0

echo "mailfleet: installing ${missing[*]} ${optional[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
had_policy=0
[ -e "$policy" ] && had_policy=1
if [ $had_policy -eq 0 ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
fi
cleanup() { [ $had_policy -eq 0 ] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${optional[@]}"; do
  $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null ||
    echo "mailfleet: $p could not be installed; the tests that use it will skip that part" >&2
done
