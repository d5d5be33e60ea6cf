#!/usr/bin/env bash
# mkcerts.sh DIR — make a throwaway test PKI for the loopback peers.
#
# Writes into DIR (created if missing; existing files are replaced):
#   ca.key, ca.crt                 the test CA (trust this one: MF_PEER_CA)
#   server.key, server.crt         CN=localhost, SAN DNS:localhost, IP:127.0.0.1,
#                                  signed by the test CA (Dovecot, fault peer)
#   wrongca.key, wrongca.crt       same names, but SELF-SIGNED (not from the CA):
#                                  verification against MF_PEER_CA must fail
#   wronghost.key, wronghost.crt   signed by the test CA but for
#                                  DNS:wrong.example.test only: chain verifies,
#                                  hostname check against localhost/127.0.0.1 fails
#
# RSA 2048 / SHA-256, valid for 30 days from now (made fresh at every start).
set -euo pipefail

die() { echo "mkcerts: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
command -v openssl >/dev/null 2>&1 || die "openssl not found in PATH"

dir=$1
mkdir -p "$dir"
cd "$dir"
umask 077
days=30

# Quiet openssl unless it fails; then show what it said.
ossl() {
  local out
  if ! out=$(openssl "$@" 2>&1); then
    echo "$out" >&2
    die "openssl $1 failed"
  fi
}

cat > ca.ext <<'EOF'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF

cat > server.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

cat > wronghost.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

cat > wrongca.ext <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
EOF

serial() { printf '0x%s' "$(openssl rand -hex 16)"; }

# CA (self-signed root)
ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout ca.key \
  -subj "/O=mailfleet tests/CN=mailfleet test CA" -out ca.csr
ossl x509 -req -in ca.csr -signkey ca.key -sha256 -days "$days" \
  -set_serial "$(serial)" -extfile ca.ext -out ca.crt

# CA-signed leaf certificates
leaf() { # name subject-CN
  ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" \
    -subj "/O=mailfleet tests/CN=$2" -out "$1.csr"
  ossl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -sha256 -days "$days" \
    -set_serial "$(serial)" -extfile "$1.ext" -out "$1.crt"
}
leaf server localhost
leaf wronghost wrong.example.test

# Self-signed leaf with the right names but no link to the test CA
ossl req -new -newkey rsa:2048 -nodes -sha256 -keyout wrongca.key \
  -subj "/O=not the mailfleet test CA/CN=localhost" -out wrongca.csr
ossl x509 -req -in wrongca.csr -signkey wrongca.key -sha256 -days "$days" \
  -set_serial "$(serial)" -extfile wrongca.ext -out wrongca.crt

rm -f ./*.csr ./*.ext
chmod 0644 ./*.crt
chmod 0600 ./*.key

# Self-check: what must verify does, what must not does not.
openssl verify -CAfile ca.crt server.crt >/dev/null 2>&1 \
  || die "server.crt does not verify against ca.crt"
openssl verify -CAfile ca.crt -verify_hostname localhost server.crt >/dev/null 2>&1 \
  || die "server.crt does not verify for hostname localhost"
openssl verify -CAfile ca.crt -verify_ip 127.0.0.1 server.crt >/dev/null 2>&1 \
  || die "server.crt does not verify for IP 127.0.0.1"
if openssl verify -CAfile ca.crt wrongca.crt >/dev/null 2>&1; then
  die "wrongca.crt unexpectedly verifies against ca.crt"
fi
if openssl verify -CAfile ca.crt -verify_hostname localhost wronghost.crt >/dev/null 2>&1; then
  die "wronghost.crt unexpectedly verifies for hostname localhost"
fi
exit 0
