#!/usr/bin/env bash
# peers.sh — start/stop the REAL loopback test peers for mailfleet.
#
#   tests/peers/peers.sh start DIR    start every peer on 127.0.0.1, load the test
#                                     user's INBOX and Junk from tests/peers/mailbox/,
#                                     write DIR/peers.env
#   tests/peers/peers.sh stop DIR     stop exactly what `start DIR` started (idempotent)
#   tests/peers/peers.sh status DIR   list the peers and whether they are alive
#   tests/peers/peers.sh deliver DIR [USER] < message
#                                     put a message into USER's Dovecot INBOX
#                                     (default USER: the test user)
#
# Environment:
#   MF_PEER_BASE           first port (default 42500); ports BASE+0 .. BASE+19 are ours
#   MF_PEER_START_TIMEOUT  seconds to wait for every port to accept (default 15)
#   CI=true                a peer that cannot be started is an error, never a skip
#   MF_PEER_SMTP_SINK, MF_PEER_DOVECOT, MF_PEER_NODE, MF_PEER_POSTFIX
#                          use this binary instead of the one found in PATH
#   MF_OIDC_DAEMON_SECRET, MF_OIDC_INTROSPECT_SECRET
#                          client secrets of the oidc peer (default: random)
#
# Everything (certs, configs, logs, mail, pid files) lives in DIR. Every
# listener binds 127.0.0.1 only. See tests/peers/README.md for the variables
# in peers.env, the ports and the fault peer's scenarios.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=peers

say()  { echo "$PROG: $*"; }
warn() { echo "$PROG: warning: $*" >&2; }
die()  { echo "$PROG: error: $*" >&2; exit 1; }

usage() {
  sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

is_ci() { [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; }

# ---------------------------------------------------------------- ports

BASE=${MF_PEER_BASE:-42500}
[[ $BASE =~ ^[0-9]+$ ]] || die "MF_PEER_BASE=$BASE is not a number"
(( BASE >= 1024 && BASE + 19 <= 65535 )) || die "MF_PEER_BASE=$BASE: need 1024 <= base and base+19 <= 65535"

SINK_PORT=$((BASE + 0))
SINK_CAPTURE_PORT=$((BASE + 1))
SUB_STARTTLS_PORT=$((BASE + 2))
SUB_TLS_PORT=$((BASE + 3))
IMAP_PORT=$((BASE + 4))
IMAPS_PORT=$((BASE + 5))
POP3_PORT=$((BASE + 6))
POP3S_PORT=$((BASE + 7))
FAULT_PORT=$((BASE + 8))
FAULT_RAW_PORT=$((BASE + 9))
WRONGCA_STARTTLS_PORT=$((BASE + 10))
WRONGCA_TLS_PORT=$((BASE + 11))
WRONGHOST_PORT=$((BASE + 12))
OIDC_PORT=$((BASE + 13))          # OpenID provider (oidc-provider), HTTPS
# BASE+14 reserved
OIDC_BROKEN_PORT=$((BASE + 15))   # misbehaving issuers, HTTPS
POSTFIX_PORT=$((BASE + 16))       # private Postfix instance: smtpd that routes to real bounces
# BASE+17 reserved: tests/e2e/e2e_unsub.sh listens there itself (never a peer's)
POSTFIX_REFUSE_PORT=$((BASE + 18)) # same Postfix: second smtpd, refuses relaying (554 5.7.1)
# BASE+19 reserved
OIDC_ISSUER=https://127.0.0.1:$OIDC_PORT
OIDC_NATIVE_CLIENT=mailfleet-native
OIDC_SHORT_CLIENT=mailfleet-short
OIDC_DAEMON_CLIENT=mailfleet-daemon
OIDC_INTROSPECT_CLIENT=mail-servers
OIDC_INTROSPECT_URL=$OIDC_ISSUER/token/introspection
OIDC_DAEMON_SECRET='' OIDC_INTROSPECT_SECRET=''   # set by cmd_start

# Postfix peer routing (see start_postfix): mail to these domains bounces for real
POSTFIX_UNKNOWN_DOMAIN=nouser.example.test   # virtual(8): "unknown user" (5.1.1)
POSTFIX_RELAY_DOMAIN=relay.example.test      # smtp(8) to POSTFIX_REFUSE_PORT: 554 5.7.1 Relay access denied

SUB_USER=test@example.test
SUB_PASS=s3cret-Passw0rd
SUB_USER2=other@example.test
SUB_PASS2=An0ther-Passw0rd

# Fixture mail preloaded into SUB_USER's mailbox (see mailbox/README.md)
MAILBOX_SRC=$HERE/mailbox
MAILBOX_INBOX_COUNT='' MAILBOX_JUNK_COUNT=''

# ------------------------------------------------------- process helpers

# /proc/PID/stat field 22 (start time in clock ticks): with the pid it names
# one process incarnation, so a recycled pid is never mistaken for ours.
starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  local -a f
  read -r -a f <<<"$s"
  echo "${f[19]}"
}

# alive PIDFILE -> true if the recorded process is still the one we started
alive() {
  local pid st now
  [ -f "$1" ] || return 1
  read -r pid st < "$1" || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  now=$(starttime "$pid") || return 1
  [ "$now" = "$st" ]
}

# launch NAME LOGFILE CMD... : run CMD in its own session, stdio to LOGFILE,
# and record "PID STARTTIME" in DIR/pids/NAME.pid
launch() {
  local name=$1 logf=$2 pid st
  shift 2
  setsid "$@" </dev/null >>"$logf" 2>&1 &
  pid=$!
  st=$(starttime "$pid" || echo dead)
  echo "$pid $st" > "$DIR/pids/$name.pid"
  STARTED+=("$name")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

abs_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd -P)
}

# ------------------------------------------------------------------ stop

stop_all() {
  local pf name pid st kids=() more=() victims=() deadline
  if [ ! -d "$DIR/pids" ]; then stop_postfix_master; return 0; fi
  shopt -s nullglob
  for pf in "$DIR"/pids/*.pid; do
    name=$(basename "$pf" .pid)
    if alive "$pf"; then
      read -r pid st < "$pf"
      # Dovecot's children (auth, login, imap...) exit with their master;
      # remember them so we can check and, if need be, kill them too.
      # Postfix's master SIGTERMs its process group (smtpd, qmgr, pipe...)
      # the same way.
      if [ "$name" = dovecot ] || [ "$name" = postfix ]; then
        mapfile -t more < <(pgrep -P "$pid" 2>/dev/null || true)
        kids+=("${more[@]}")
      fi
      kill -TERM "$pid" 2>/dev/null || true
      victims+=("$pid")
      say "stopping $name (pid $pid)"
    fi
  done
  deadline=$((SECONDS + 5))
  for pid in "${victims[@]}" "${kids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
      if (( SECONDS >= deadline )); then
        warn "pid $pid did not exit after SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  done
  rm -f "$DIR"/pids/*.pid
  shopt -u nullglob
  stop_postfix_master
}

# ------------------------------------------------------------- the peers

# find_bin OVERRIDE_VAR NAME... : the override if set (must be executable),
# else the first NAME found in PATH, /usr/sbin or /usr/lib/postfix/sbin; "" if none
find_bin() {
  local var=$1 name d
  shift
  if [ -n "${!var:-}" ]; then
    if [ -x "${!var}" ]; then echo "${!var}"; fi
    return 0
  fi
  for name in "$@"; do
    if command -v "$name" 2>/dev/null; then return 0; fi
    for d in /usr/sbin /usr/lib/postfix/sbin; do
      if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
    done
  done
}

start_sinks() {
  local sink
  sink=$(find_bin MF_PEER_SMTP_SINK smtp-sink)
  if [ -z "$sink" ]; then
    skip_or_die sink "smtp-sink not found (Debian package: postfix)"
    return 0
  fi
  local user=()
  if [ "$(id -u)" = 0 ]; then user=(-u nobody); fi
  mkdir -p "$DIR/sink-mail"
  [ "$(id -u)" != 0 ] || chown nobody:nogroup "$DIR/sink-mail"
  # Fast sink for throughput: discards everything. PIPELINING is offered
  # (smtp-sink's default); up to 1024 simultaneous sessions.
  launch sink "$DIR/logs/sink.log" "$sink" "${user[@]}" -h sink.test -m 1024 \
    "127.0.0.1:$SINK_PORT" 1024
  # Capturing sink: one file per message in DIR/sink-mail (Dovecot relays here).
  launch sink-capture "$DIR/logs/sink-capture.log" "$sink" "${user[@]}" -h sink-capture.test \
    -d "$DIR/sink-mail/%Y%m%d-%H%M%S." "127.0.0.1:$SINK_CAPTURE_PORT" 256
  WAIT+=("sink:$SINK_PORT:sink.log" "sink-capture:$SINK_CAPTURE_PORT:sink-capture.log")
  READY+=(sink)
}

write_dovecot_conf() {
  local internal login mailuid mailgid
  if [ "$(id -u)" = 0 ]; then
    internal=dovecot login=dovenull mailuid=nobody mailgid=nogroup
  else
    internal=$(id -un) login=$(id -un) mailuid=$(id -un) mailgid=$(id -gn)
  fi
  mkdir -p "$DIR/mail" "$DIR/dovecot/run" "$DIR/dovecot/state"
  [ "$(id -u)" != 0 ] || chown "$mailuid:$mailgid" "$DIR/mail"
  # dovecot-lda (the Postfix peer's delivery agent) runs as the mail user and
  # logs here: it cannot open dovecot.log, which the master opened as root
  : > "$DIR/logs/dovecot-lda.log"
  [ "$(id -u)" != 0 ] || chown "$mailuid:$mailgid" "$DIR/logs/dovecot-lda.log"
  umask 077
  printf '%s:{PLAIN}%s\n%s:{PLAIN}%s\n' "$SUB_USER" "$SUB_PASS" "$SUB_USER2" "$SUB_PASS2" \
    > "$DIR/dovecot/users"
  umask 022
  # auth reads the passwd-file as the internal user
  [ "$(id -u)" != 0 ] || { chgrp "$internal" "$DIR/dovecot/users"; chmod 0640 "$DIR/dovecot/users"; }
  # RFC 7662 introspection at the oidc peer over HTTPS (test CA), the client
  # mail-servers authenticating with HTTP Basic (Dovecot sends the URL's
  # userinfo that way). "active" must be true and "username" must equal the
  # SASL user: the peer sets it to the account (= sub) for a user's token and
  # to the client id for an app-only (client credentials) token, which has no
  # sub. (username_attribute = sub would make an app-only token a temporary
  # failure, "No username returned", instead of a refusal.)
  umask 077
  cat > "$DIR/dovecot-oauth2.conf.ext" <<EOF
introspection_mode = post
introspection_url = https://$OIDC_INTROSPECT_CLIENT:$OIDC_INTROSPECT_SECRET@127.0.0.1:$OIDC_PORT/token/introspection
tls_ca_cert_file = $DIR/certs/ca.crt
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
  umask 022
  [ "$(id -u)" != 0 ] || { chgrp "$internal" "$DIR/dovecot-oauth2.conf.ext"; chmod 0640 "$DIR/dovecot-oauth2.conf.ext"; }
  cat > "$DIR/dovecot.conf" <<EOF
# Generated by tests/peers/peers.sh — throwaway Dovecot for tests, loopback only.
instance_name = mailfleet-peers-$BASE
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
listen = 127.0.0.1
protocols = imap pop3 submission
default_internal_user = $internal
default_login_user = $login
hostname = localhost
postmaster_address = postmaster@example.test
login_greeting = Dovecot (mailfleet test peer) ready.

log_path = $DIR/logs/dovecot.log
info_log_path = $DIR/logs/dovecot.log
debug_log_path = $DIR/logs/dovecot.log
auth_verbose = yes
auth_verbose_passwords = no
verbose_ssl = no

ssl = required
ssl_cert = <$DIR/certs/server.crt
ssl_key = <$DIR/certs/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login xoauth2 oauthbearer

# Passwords: only PLAIN and LOGIN. Bearer tokens (XOAUTH2, OAUTHBEARER): only
# the oauth2 passdb, which asks the oidc peer's introspection endpoint.
passdb {
  driver = passwd-file
  mechanisms = plain login none
  args = scheme=PLAIN username_format=%u $DIR/dovecot/users
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot-oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=$mailuid gid=$mailgid home=$DIR/mail/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}

submission_relay_host = 127.0.0.1
submission_relay_port = $SINK_CAPTURE_PORT
submission_relay_ssl = no
submission_relay_trusted = no

doveadm_port = 0

# dovecot-lda, run by the Postfix peer's pipe transport as the mail user:
# its own log file, and no stats-writer socket (root:dovecot 0660).
protocol lda {
  log_path = $DIR/logs/dovecot-lda.log
  info_log_path = $DIR/logs/dovecot-lda.log
  debug_log_path = $DIR/logs/dovecot-lda.log
  stats_writer_socket_path =
}

# Tests log in often and fail on purpose: no failure delay, no per-IP auth
# penalty (mode 0 disables it), room for many parallel IMAP/POP3 sessions.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
protocol pop3 {
  mail_max_userip_connections = 100
}

service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUB_STARTTLS_PORT
  }
  inet_listener submissions {
    address = 127.0.0.1
    port = $SUB_TLS_PORT
    ssl = yes
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $POP3S_PORT
    ssl = yes
  }
}
EOF
}

start_dovecot() {
  local dovecot
  dovecot=$(find_bin MF_PEER_DOVECOT dovecot)
  if [ -z "$dovecot" ]; then
    skip_or_die dovecot "dovecot not found (Debian packages: dovecot-core dovecot-imapd dovecot-pop3d dovecot-submissiond)"
    return 0
  fi
  write_dovecot_conf
  local out
  if ! out=$("$dovecot" -c "$DIR/dovecot.conf" -n 2>&1 >/dev/null); then
    echo "$out" >&2
    die "dovecot rejected $DIR/dovecot.conf (see above)"
  fi
  # -F: stay in the foreground so the pid we record is the master's.
  launch dovecot "$DIR/logs/dovecot.stdout" "$dovecot" -F -c "$DIR/dovecot.conf"
  local p
  for p in "$SUB_STARTTLS_PORT" "$SUB_TLS_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$POP3_PORT" "$POP3S_PORT"; do
    WAIT+=("dovecot:$p:dovecot.log")
  done
  READY+=(dovecot)
}

# ------------------------------------------------------------ Postfix peer
#
# A private Postfix instance that turns test mail into REAL Postfix bounces
# (bounce(8) DSNs: multipart/report with message/delivery-status) and
# delivers them into the Dovecot peer's mailboxes. It never reads, changes or
# starts the system's instance (after a "No configuration" install
# /etc/postfix has no main.cf; only the package's postfix-files list there is
# read): everything lives in DIR/postfix/ —
#   conf/   config_directory (main.cf, master.cf): postfix -c DIR/postfix/conf
#   queue/  queue_directory (the master's pid in queue/pid/master.pid)
#   data/   data_directory
# and it logs to DIR/logs/postfix.log through postlogd (maillog_file, no
# syslog). Listeners: 127.0.0.1:BASE+16 (the one tests talk to) and
# 127.0.0.1:BASE+18 (the relay refuser) only; inet_interfaces = 127.0.0.1,
# inet_protocols = ipv4, no DNS (smtp_dns_support_level = disabled, next
# hops are [127.0.0.1]:port), no relayhost, no chroot.
#
# Routing:
#   example.test         transport_maps -> pipe(8) "dovecot" -> dovecot-lda as
#                        the mail user (nobody) -> that Dovecot user's INBOX.
#                        Bounces go to the envelope sender, so a DSN for mail
#                        from test@ or other@example.test lands in their INBOX.
#   nouser.example.test  a virtual_mailbox_domain with an EMPTY
#                        virtual_mailbox_maps and smtpd_reject_unlisted_recipient
#                        = no: accepted at RCPT, then virtual(8) finds no such
#                        user -> bounce 5.1.1 'unknown user: "x@nouser.example.test"'.
#                        (Not local(8): it looks the local part up in the
#                        system's passwd, so root@... would be delivered.)
#   relay.example.test   transport_maps -> smtp(8) to [127.0.0.1]:BASE+18, a
#                        second smtpd of this instance whose relay restrictions
#                        lack permit_mynetworks: "554 5.7.1 <...>: Relay access
#                        denied" at RCPT -> bounce 5.7.1.
#   any other domain     refused at RCPT on BASE+16 (554 5.7.1 ... Access
#                        denied); what gets queued anyway (a bounce to some
#                        other sender) goes to error(8). Nothing leaves 127.0.0.1.
#
# Why pipe + dovecot-lda and not LMTP: dovecot-lda comes with dovecot-core
# (LMTP needs dovecot-lmtpd and a listener of its own), delivers through
# Dovecot itself (the message has its UID the moment pipe(8) returns, so
# doveadm and IMAP see it at once) and costs ~40 ms a message. Queue timers
# are short (queue_run_delay = minimal_backoff_time = 1 s) so that even a
# deferred delivery is retried at once; a bounce normally is in the INBOX
# well under a second after the SMTP session ends.
POSTFIX_MAIL_USER=nobody:nogroup   # = Dovecot's mail user in root mode (write_dovecot_conf)
DOVECOT_LDA=/usr/lib/dovecot/dovecot-lda

write_postfix_conf() {
  local pf=$1 dom=${SUB_USER#*@}
  cat > "$pf/conf/main.cf" <<EOF
# Generated by tests/peers/peers.sh — private Postfix for tests, loopback only.
# Started and stopped by tests/peers/peers.sh start|stop $DIR
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-peer
maillog_file = $DIR/logs/postfix.log
maillog_file_prefixes = $DIR/logs/

myhostname = postfix-peer.example.test
mydomain = example.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
# domain lists and access maps match exactly what they list, no subdomains
parent_domain_matches_subdomains =

# no DNS: next hops are [127.0.0.1]:port
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtpd_peername_lookup = no
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP Postfix (mailfleet test peer)

# BASE+16 takes mail for the three test domains from 127.0.0.0/8 (all that
# can connect) and refuses every other domain at RCPT
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access inline:{ {$dom = OK}, {$POSTFIX_UNKNOWN_DOMAIN = OK}, {$POSTFIX_RELAY_DOMAIN = OK} }, reject

# unknown users: accepted at SMTP time, bounced by virtual(8)
virtual_mailbox_domains = $POSTFIX_UNKNOWN_DOMAIN
virtual_mailbox_maps =
virtual_mailbox_base = $pf/virtual
smtpd_reject_unlisted_recipient = no

transport_maps = inline:{ {$dom = dovecot:}, {$POSTFIX_RELAY_DOMAIN = smtp:[127.0.0.1]:$POSTFIX_REFUSE_PORT} }
default_transport = error:5.4.4 the mailfleet Postfix peer routes no mail to this domain
relay_transport = \$default_transport
dovecot_destination_recipient_limit = 1

# fast: tests wait for the bounces
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
in_flow_delay = 0
smtp_connect_timeout = 5s
EOF
  # No chroot anywhere (Debian's stock master.cf chroots smtp and smtpd,
  # which needs copies of /etc files inside the queue directory).
  cat > "$pf/conf/master.cf" <<EOF
# Generated by tests/peers/peers.sh — private Postfix for tests, loopback only.
# service  type  private unpriv  chroot  wakeup  maxproc  command + args
127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd
# The relay refuser, next hop for $POSTFIX_RELAY_DOMAIN: no permit_mynetworks, so
# reject_unauth_destination answers "554 5.7.1 ... Relay access denied". Its
# own myhostname, or smtp(8) would see the mail "loop back to myself".
127.0.0.1:$POSTFIX_REFUSE_PORT inet n - n - - smtpd
  -o syslog_name=postfix-peer/refuse-relay
  -o myhostname=relay-refuser.example.test
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_recipient_restrictions=
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
virtual    unix  - n n -  - virtual
# delivery into Dovecot: dovecot-lda as the mail user, one recipient a call
dovecot    unix  - n n -  - pipe
  flags=DRXhu user=$POSTFIX_MAIL_USER argv=$DOVECOT_LDA -c $DIR/dovecot.conf -d \${recipient} -f \${sender}
EOF
}

start_postfix() {
  local postfix postconf pf=$DIR/postfix pid
  postfix=$(find_bin MF_PEER_POSTFIX postfix)
  if [ -z "$postfix" ]; then
    skip_or_die postfix "postfix not found (Debian package: postfix)"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    skip_or_die postfix "a private Postfix instance can only be started as root"
    return 0
  fi
  if [[ " ${READY[*]} " != *" dovecot "* ]]; then
    skip_or_die postfix "needs the dovecot peer (its bounces are delivered into Dovecot's mailboxes)"
    return 0
  fi
  if [ ! -x "$DOVECOT_LDA" ]; then
    skip_or_die postfix "$DOVECOT_LDA not found (Debian package: dovecot-core)"
    return 0
  fi
  if ! id postfix >/dev/null 2>&1 || ! getent group postdrop >/dev/null; then
    skip_or_die postfix "the user 'postfix' or the group 'postdrop' is missing (reinstall the Debian package postfix)"
    return 0
  fi
  # root-owned, not group/other writable (postfix-script checks that);
  # `postfix start` makes the queue's and data_directory's sub-directories
  # itself (post-install create-missing), with the owners Postfix wants
  mkdir -p "$pf/conf" "$pf/queue"
  chmod 0755 "$pf" "$pf/conf" "$pf/queue"
  write_postfix_conf "$pf"
  # Postfix re-reads a main.cf whose mtime is within a second of now, 300 ms
  # at a time, until it "cools down" (util/load_file.c): ~1.8 s per start.
  chmod 0644 "$pf/conf/main.cf" "$pf/conf/master.cf"
  touch -d "@$(( $(date +%s) - 10 ))" "$pf/conf/main.cf" "$pf/conf/master.cf"
  # never let a broken main.cf send postfix to the system's queue
  postconf=${postfix%/*}/postconf
  [ -x "$postconf" ] || postconf=$(find_bin MF_PEER_POSTCONF postconf)
  if [ "$("${postconf:-postconf}" -c "$pf/conf" -h queue_directory 2>/dev/null)" != "$pf/queue" ]; then
    die "postfix: $pf/conf/main.cf does not name $pf/queue as queue_directory"
  fi
  # start: postfix-script's checks, then `master -w`, which returns once the
  # master daemon is up (or has failed)
  if ! "$postfix" -c "$pf/conf" start >"$DIR/logs/postfix.stdout" 2>&1; then
    {
      echo "----- $DIR/logs/postfix.stdout -----"
      cat "$DIR/logs/postfix.stdout"
      if [ -s "$DIR/logs/postfix.log" ]; then
        echo "----- last lines of $DIR/logs/postfix.log -----"
        tail -n 20 "$DIR/logs/postfix.log"
      fi
      echo "-----"
    } >&2
    stop_postfix_master
    skip_or_die postfix "postfix -c $pf/conf start failed (output above)"
    return 0
  fi
  pid=$(tr -d ' \n' 2>/dev/null < "$pf/queue/pid/master.pid" || true)
  if ! [[ $pid =~ ^[0-9]+$ ]]; then
    stop_postfix_master
    skip_or_die postfix "postfix started but left no pid in $pf/queue/pid/master.pid"
    return 0
  fi
  echo "$pid $(starttime "$pid" || echo dead)" > "$DIR/pids/postfix.pid"
  STARTED+=(postfix)
  WAIT+=("postfix:$POSTFIX_PORT:postfix.log" "postfix:$POSTFIX_REFUSE_PORT:postfix.log")
  READY+=(postfix)
}

# postfix_master_alive PID: PID is a live (not zombie) process named master.
# The master daemonizes, so its parent is init, which may be slow to reap.
postfix_master_alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  [[ $stat == "$1 (master) "* ]] && [[ $stat != "$1 (master) Z"* ]]
}

# stop_postfix_master: if the Postfix master named in DIR/postfix/queue/pid/
# master.pid is still alive, `postfix -c DIR/postfix/conf stop` it (SIGTERM,
# waits up to 5 s, then SIGKILLs the master's process group). stop_all has
# normally stopped it already with a SIGTERM to the pid in pids/postfix.pid
# (what `postfix stop` sends, too); this catches a master whose pid file
# in DIR/pids is gone, and a start that failed half-way. Never fails.
stop_postfix_master() {
  local postfix pf=$DIR/postfix pid
  [ -f "$pf/queue/pid/master.pid" ] && [ -f "$pf/conf/main.cf" ] || return 0
  pid=$(tr -d ' \n' 2>/dev/null < "$pf/queue/pid/master.pid" || true)
  postfix_master_alive "$pid" || return 0
  postfix=$(find_bin MF_PEER_POSTFIX postfix)
  [ -n "$postfix" ] || return 0
  say "stopping postfix (postfix -c $pf/conf stop)"
  "$postfix" -c "$pf/conf" stop >/dev/null 2>&1 || true
}

# preload_mailbox: put tests/peers/mailbox/INBOX/*.eml and Junk/*.eml into the
# test user's INBOX and Junk, in file-name order (UID 1 = the first file), with
# each message's INTERNALDATE set to its Date header and no flags (unseen).
# The files are staged as a throwaway maildir (cur/ = INBOX, .Junk/cur/ = Junk):
# Dovecot numbers new maildir files by the number their name starts with, and
# a maildir message's INTERNALDATE is its file's mtime. One `doveadm import`,
# which runs as the mail user, then copies the staged folders into the live
# mailbox; a `doveadm mailbox status` checks the counts. About 0.1 s in all.
preload_mailbox() {
  local stage="$DIR/mailbox-stage" folder sub n i=0 name out line got_inbox got_junk
  local -a files epochs
  local doveadm
  doveadm=$(command -v doveadm || true)
  [ -n "$doveadm" ] || die "doveadm not found (Debian package: dovecot-core); needed to load $MAILBOX_SRC"
  rm -rf "$stage"
  shopt -s nullglob
  for folder in INBOX Junk; do
    if [ "$folder" = INBOX ]; then sub=$stage; else sub=$stage/.$folder; fi
    mkdir -p "$sub/cur" "$sub/new" "$sub/tmp"
    files=("$MAILBOX_SRC/$folder"/*.eml)
    epochs=()
    if [ ${#files[@]} -gt 0 ]; then
      # each file's Date header (from its header section) as seconds since the epoch
      mapfile -t epochs < <(awk '
        FNR == 1 { inhdr = 1; seen = 0 }
        inhdr && /^\r?$/ { inhdr = 0; if (!seen) print "no Date header" }
        inhdr && !seen && tolower(substr($0, 1, 5)) == "date:" {
          v = substr($0, 6); sub(/\r$/, "", v); sub(/^[ \t]+/, "", v); print v; seen = 1
        }' "${files[@]}" | date -u -f - +%s 2>/dev/null)
    fi
    if [ ${#epochs[@]} -ne ${#files[@]} ]; then
      die "could not read the Date header of every file in $MAILBOX_SRC/$folder (one line, in the header section)"
    fi
    for n in "${!files[@]}"; do
      i=$((i + 1))
      name="$sub/cur/$((1000000000 + i)).M${i}P$$.mf-fixture:2,"
      cp "${files[$n]}" "$name"
      touch -d "@${epochs[$n]}" "$name"
    done
    if [ "$folder" = INBOX ]; then MAILBOX_INBOX_COUNT=${#files[@]}; else MAILBOX_JUNK_COUNT=${#files[@]}; fi
  done
  shopt -u nullglob
  # doveadm reads (and indexes) the staged maildir as the mail user
  [ "$(id -u)" != 0 ] || chown -R nobody:nogroup "$stage"
  if ! "$doveadm" -c "$DIR/dovecot.conf" import -u "$SUB_USER" "maildir:$stage" "" ALL \
       >"$DIR/logs/mailbox-import.log" 2>&1; then
    cat "$DIR/logs/mailbox-import.log" >&2
    die "doveadm import of $MAILBOX_SRC into $SUB_USER's mailbox failed (see above)"
  fi
  rm -rf "$stage"
  out=$("$doveadm" -c "$DIR/dovecot.conf" mailbox status -u "$SUB_USER" messages INBOX Junk 2>&1) || true
  got_inbox='' got_junk=''
  while IFS= read -r line; do
    case $line in
      "INBOX messages="*) got_inbox=${line#*=} ;;
      "Junk messages="*)  got_junk=${line#*=} ;;
    esac
  done <<<"$out"
  if [ "$got_inbox" != "$MAILBOX_INBOX_COUNT" ] || [ "$got_junk" != "$MAILBOX_JUNK_COUNT" ]; then
    die "after loading $MAILBOX_SRC, $SUB_USER's mailbox is not INBOX=$MAILBOX_INBOX_COUNT Junk=$MAILBOX_JUNK_COUNT: $out"
  fi
  say "mailbox: loaded $MAILBOX_INBOX_COUNT messages into INBOX and $MAILBOX_JUNK_COUNT into Junk for $SUB_USER"
}

# check_node PEER: NODE := a node >= 18.18 (MF_PEER_NODE or PATH); if there
# is none, skip_or_die PEER and return false
check_node() {
  local ver
  NODE=$(find_bin MF_PEER_NODE node nodejs)
  if [ -z "$NODE" ]; then
    skip_or_die "$1" "node not found (need Node.js >= 18.18)"
    return 1
  fi
  ver=$("$NODE" -p 'process.versions.node')
  if ! "$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=18)?0:1)'; then
    skip_or_die "$1" "node $ver is too old (need >= 18.18)"
    return 1
  fi
}

# npm_ci_if_missing PEER SUBDIR PACKAGE: `npm ci` in tests/peers/SUBDIR unless
# its node_modules/PACKAGE is there; if that fails, skip_or_die PEER and return false
npm_ci_if_missing() {
  local peer=$1 sub=$2 pkg=$3 logf="$DIR/logs/npm-ci-$2.log"
  [ ! -f "$HERE/$sub/node_modules/$pkg/package.json" ] || return 0
  say "installing the $peer peer's npm packages (npm ci in tests/peers/$sub)"
  if ! (cd "$HERE/$sub" && npm ci --prefer-offline --no-audit --no-fund) >"$logf" 2>&1; then
    cat "$logf" >&2
    skip_or_die "$peer" "npm ci failed in $HERE/$sub (log above)"
    return 1
  fi
}

start_fault() {
  check_node fault || return 0
  npm_ci_if_missing fault fault smtp-server || return 0
  # XOAUTH2 tokens are checked at the oidc peer's introspection endpoint too
  local -a oidc_env=()
  if [[ " ${READY[*]} " == *" oidc "* ]]; then
    oidc_env=(MF_OIDC_INTROSPECT_URL="$OIDC_INTROSPECT_URL" MF_OIDC_INTROSPECT_CLIENT="$OIDC_INTROSPECT_CLIENT"
      MF_OIDC_INTROSPECT_SECRET="$OIDC_INTROSPECT_SECRET" MF_OIDC_DAEMON_CLIENT="$OIDC_DAEMON_CLIENT")
  fi
  launch fault "$DIR/logs/fault.stdout" env \
    MF_FAULT_PORT="$FAULT_PORT" MF_FAULT_RAW_PORT="$FAULT_RAW_PORT" \
    MF_WRONGCA_STARTTLS_PORT="$WRONGCA_STARTTLS_PORT" MF_WRONGCA_TLS_PORT="$WRONGCA_TLS_PORT" \
    MF_WRONGHOST_PORT="$WRONGHOST_PORT" "${oidc_env[@]}" \
    "$NODE" "$HERE/fault/server.js" "$DIR"
  local p
  for p in "$FAULT_PORT" "$FAULT_RAW_PORT" "$WRONGCA_STARTTLS_PORT" "$WRONGCA_TLS_PORT" "$WRONGHOST_PORT"; do
    WAIT+=("fault:$p:fault.stdout")
  done
  READY+=(fault)
}

# The OpenID provider (oidc/server.mjs, npm oidc-provider) and the misbehaving
# issuers, one node process; DIR/oidc/browser.sh is what mailfleet runs as
# $BROWSER (oidc/browser.sh with MF_PEER_DIR and the node binary pinned).
start_oidc() {
  check_node oidc || return 0
  npm_ci_if_missing oidc oidc oidc-provider || return 0
  mkdir -p "$DIR/oidc"
  cat > "$DIR/oidc/browser.sh" <<EOF
#!/bin/sh
# Written by tests/peers/peers.sh: the test "browser" for the peers in $DIR
MF_PEER_DIR=$DIR MF_PEER_NODE=$NODE
export MF_PEER_DIR MF_PEER_NODE
exec "$HERE/oidc/browser.sh" "\$@"
EOF
  chmod 0755 "$DIR/oidc/browser.sh"
  launch oidc "$DIR/logs/oidc.stdout" env \
    MF_OIDC_PORT="$OIDC_PORT" MF_OIDC_BROKEN_PORT="$OIDC_BROKEN_PORT" \
    MF_OIDC_DAEMON_SECRET="$OIDC_DAEMON_SECRET" MF_OIDC_INTROSPECT_SECRET="$OIDC_INTROSPECT_SECRET" \
    "$NODE" "$HERE/oidc/server.mjs" "$DIR"
  WAIT+=("oidc:$OIDC_PORT:oidc.stdout" "oidc:$OIDC_BROKEN_PORT:oidc.stdout")
  READY+=(oidc)
}

skip_or_die() { # peer reason
  if is_ci; then
    die "$1: $2 — CI=true, so this is a failure, not a skip"
  fi
  warn "$1: $2 — SKIPPING this peer (its variables in peers.env are empty)"
  SKIPPED+=("$1")
}

# Wait until every port accepts; fail with the peer's log if one does not.
wait_ports() {
  local timeout=${MF_PEER_START_TIMEOUT:-15} deadline entry name port logf
  deadline=$((SECONDS + timeout))
  for entry in "${WAIT[@]}"; do
    IFS=: read -r name port logf <<<"$entry"
    until port_open "$port"; do
      if ! alive "$DIR/pids/$name.pid"; then
        fail_peer "$name" "$port" "$logf" "process exited before 127.0.0.1:$port accepted connections"
      fi
      if (( SECONDS >= deadline )); then
        fail_peer "$name" "$port" "$logf" "127.0.0.1:$port did not accept connections within ${timeout}s"
      fi
      sleep 0.1
    done
  done
}

fail_peer() { # name port logfile message
  {
    echo "$PROG: error: peer '$1': $4"
    local f seen=" "
    for f in "$DIR/logs/$3" "$DIR/logs/$1.log" "$DIR/logs/$1.stdout"; do
      if [ ! -s "$f" ] || [[ $seen == *" $f "* ]]; then continue; fi
      seen+="$f "
      echo "----- last lines of $f -----"
      tail -n 40 "$f"
      echo "-----"
    done
  } >&2
  exit 1
}

write_env() {
  local f="$DIR/peers.env" tmp="$DIR/.peers.env.tmp"
  has() { local x; for x in "${READY[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
  kv() { printf '%s=%q\n' "$1" "$2"; }
  {
    echo "# Written by tests/peers/peers.sh start — source it: . $f"
    kv MF_PEER_DIR "$DIR"
    kv MF_PEER_BASE "$BASE"
    kv MF_PEER_HOST 127.0.0.1
    kv MF_PEER_TLS_NAME localhost
    kv MF_PEER_CA "$DIR/certs/ca.crt"
    kv MF_PEER_WRONG_CA_CERT "$DIR/certs/wrongca.crt"
    kv MF_PEERS_READY "${READY[*]}"
    kv MF_PEERS_SKIPPED "${SKIPPED[*]:-}"
    echo "# smtp-sink (Postfix): plain SMTP, PIPELINING, discards mail (throughput)"
    kv MF_SINK_PORT "$(has sink && echo "$SINK_PORT")"
    echo "# smtp-sink capturing one file per message into MF_SINK_CAPTURE_DIR"
    kv MF_SINK_CAPTURE_PORT "$(has sink && echo "$SINK_CAPTURE_PORT")"
    kv MF_SINK_CAPTURE_DIR "$(has sink && echo "$DIR/sink-mail")"
    echo "# Dovecot: submission relays to MF_SINK_CAPTURE_PORT; IMAP/POP3 over maildir"
    kv MF_SUB_STARTTLS_PORT "$(has dovecot && echo "$SUB_STARTTLS_PORT")"
    kv MF_SUB_TLS_PORT "$(has dovecot && echo "$SUB_TLS_PORT")"
    kv MF_IMAP_PORT "$(has dovecot && echo "$IMAP_PORT")"
    kv MF_IMAPS_PORT "$(has dovecot && echo "$IMAPS_PORT")"
    kv MF_POP3_PORT "$(has dovecot && echo "$POP3_PORT")"
    kv MF_POP3S_PORT "$(has dovecot && echo "$POP3S_PORT")"
    kv MF_SUB_USER "$SUB_USER"
    kv MF_SUB_PASS "$SUB_PASS"
    kv MF_SUB_USER2 "$SUB_USER2"
    kv MF_SUB_PASS2 "$SUB_PASS2"
    kv MF_DOVECOT_CONF "$(has dovecot && echo "$DIR/dovecot.conf")"
    kv MF_MAIL_DIR "$(has dovecot && echo "$DIR/mail")"
    echo "# messages preloaded from tests/peers/mailbox/ into MF_SUB_USER's INBOX and Junk"
    kv MF_MAILBOX_INBOX_COUNT "$(has dovecot && echo "$MAILBOX_INBOX_COUNT")"
    kv MF_MAILBOX_JUNK_COUNT "$(has dovecot && echo "$MAILBOX_JUNK_COUNT")"
    echo "# private Postfix: real bounces (DSNs) to the envelope sender, delivered into Dovecot"
    echo "# (MF_POSTFIX_UNKNOWN_DOMAIN -> 5.1.1 unknown user, MF_POSTFIX_RELAY_DOMAIN -> 5.7.1 relay"
    echo "# denied); postqueue -c \"\$MF_POSTFIX_CONF\" -p|-f"
    kv MF_POSTFIX_PORT "$(has postfix && echo "$POSTFIX_PORT")"
    kv MF_POSTFIX_REFUSE_PORT "$(has postfix && echo "$POSTFIX_REFUSE_PORT")"
    kv MF_POSTFIX_UNKNOWN_DOMAIN "$(has postfix && echo "$POSTFIX_UNKNOWN_DOMAIN")"
    kv MF_POSTFIX_RELAY_DOMAIN "$(has postfix && echo "$POSTFIX_RELAY_DOMAIN")"
    kv MF_POSTFIX_CONF "$(has postfix && echo "$DIR/postfix/conf")"
    kv MF_POSTFIX_LOG "$(has postfix && echo "$DIR/logs/postfix.log")"
    echo "# fault peer (npm smtp-server): Exchange Online replies; see tests/peers/README.md"
    kv MF_FAULT_PORT "$(has fault && echo "$FAULT_PORT")"
    kv MF_FAULT_RAW_PORT "$(has fault && echo "$FAULT_RAW_PORT")"
    kv MF_WRONGCA_STARTTLS_PORT "$(has fault && echo "$WRONGCA_STARTTLS_PORT")"
    kv MF_WRONGCA_TLS_PORT "$(has fault && echo "$WRONGCA_TLS_PORT")"
    kv MF_WRONGHOST_PORT "$(has fault && echo "$WRONGHOST_PORT")"
    kv MF_FAULT_MAIL_LOG "$(has fault && echo "$DIR/fault-mail.log")"
    kv MF_FAULT_GOOD_PASS good
    kv MF_FAULT_GOOD_TOKEN good-token
    echo "# OpenID provider (oidc-provider 8.8.1), HTTPS with the test CA; Dovecot's oauth2"
    echo "# passdb and the fault peer check bearer tokens at its introspection endpoint"
    kv MF_OIDC_PORT "$(has oidc && echo "$OIDC_PORT")"
    kv MF_OIDC_ISSUER "$(has oidc && echo "$OIDC_ISSUER")"
    kv MF_OIDC_NATIVE_CLIENT "$(has oidc && echo "$OIDC_NATIVE_CLIENT")"
    kv MF_OIDC_SHORT_CLIENT "$(has oidc && echo "$OIDC_SHORT_CLIENT")"
    kv MF_OIDC_DAEMON_CLIENT "$(has oidc && echo "$OIDC_DAEMON_CLIENT")"
    kv MF_OIDC_DAEMON_SECRET "$(has oidc && echo "$OIDC_DAEMON_SECRET")"
    kv MF_OIDC_INTROSPECT_CLIENT "$(has oidc && echo "$OIDC_INTROSPECT_CLIENT")"
    kv MF_OIDC_INTROSPECT_SECRET "$(has oidc && echo "$OIDC_INTROSPECT_SECRET")"
    kv MF_OIDC_USER "$(has oidc && echo "$SUB_USER")"
    kv MF_OIDC_AGENT "$(has oidc && echo "$HERE/oidc/agent.mjs")"
    kv MF_OIDC_BROWSER "$(has oidc && echo "$DIR/oidc/browser.sh")"
    echo "# misbehaving issuers: \$MF_OIDC_BROKEN_BASE/{malformed,badtoken,html500,slowdown,expired}"
    kv MF_OIDC_BROKEN_PORT "$(has oidc && echo "$OIDC_BROKEN_PORT")"
    kv MF_OIDC_BROKEN_BASE "$(has oidc && echo "https://127.0.0.1:$OIDC_BROKEN_PORT")"
  } > "$tmp"
  mv -f "$tmp" "$f"
}

# ---------------------------------------------------------------- start

cmd_start() {
  local pf port
  mkdir -p "$DIR/pids"
  shopt -s nullglob
  for pf in "$DIR"/pids/*.pid; do
    if alive "$pf"; then
      die "peers already running in $DIR ($(basename "$pf" .pid)); run: $0 stop $DIR"
    fi
  done
  shopt -u nullglob
  local mpid
  mpid=$(tr -d ' \n' 2>/dev/null < "$DIR/postfix/queue/pid/master.pid" || true)
  if postfix_master_alive "$mpid"; then
    die "a Postfix master (pid $mpid) may still run in $DIR/postfix; run: $0 stop $DIR"
  fi

  for port in $(seq "$BASE" $((BASE + 13))) "$OIDC_BROKEN_PORT" "$POSTFIX_PORT" "$POSTFIX_REFUSE_PORT"; do
    if port_open "$port"; then
      die "127.0.0.1:$port is already in use (ports $BASE..$((BASE + 19)) are needed); pick another MF_PEER_BASE"
    fi
  done

  # Fresh state, only in the sub-paths we own.
  rm -rf "$DIR/certs" "$DIR/logs" "$DIR/dovecot" "$DIR/mail" "$DIR/mailbox-stage" "$DIR/sink-mail" \
         "$DIR/dovecot.conf" "$DIR/dovecot-oauth2.conf.ext" "$DIR/fault-mail.log" "$DIR/peers.env" "$DIR/pids" \
         "$DIR/oidc" "$DIR/postfix"
  mkdir -p "$DIR/pids" "$DIR/logs"

  if [ "$(id -u)" = 0 ]; then
    # The unprivileged users the peers drop to (nobody, dovecot, dovenull)
    # must be able to reach DIR.
    chmod a+x "$DIR"
    if ! runuser -u nobody -- test -x "$DIR" 2>/dev/null; then
      die "user 'nobody' cannot reach $DIR (a parent directory is not world-searchable); use a DIR under e.g. /tmp or the build tree"
    fi
  fi

  STARTED=() WAIT=() READY=() SKIPPED=()
  OIDC_DAEMON_SECRET=${MF_OIDC_DAEMON_SECRET:-$(openssl rand -hex 24)}
  OIDC_INTROSPECT_SECRET=${MF_OIDC_INTROSPECT_SECRET:-$(openssl rand -hex 24)}
  START_OK=0
  trap 'if [ "$START_OK" = 0 ]; then echo "$PROG: start failed; stopping what was started" >&2; stop_all >&2; fi' EXIT

  "$HERE/mkcerts.sh" "$DIR/certs" || die "could not make the test certificates"
  start_oidc
  start_sinks
  start_dovecot
  start_postfix
  start_fault
  wait_ports
  if [[ " ${READY[*]} " == *" dovecot "* ]]; then preload_mailbox; fi
  write_env
  START_OK=1
  trap - EXIT
  say "up in $DIR (base $BASE): ${READY[*]}${SKIPPED[*]:+; skipped: ${SKIPPED[*]}}"
  say "environment: . $DIR/peers.env"
}

cmd_status() {
  local pf name pid st rc=0
  shopt -s nullglob
  local any=0
  for pf in "$DIR"/pids/*.pid; do
    any=1
    name=$(basename "$pf" .pid)
    read -r pid st < "$pf" || true
    if alive "$pf"; then say "$name: running (pid $pid)"; else say "$name: NOT running (pid $pid)"; rc=1; fi
  done
  [ $any = 1 ] || { say "nothing started in $DIR"; rc=1; }
  return $rc
}

cmd_deliver() {
  local who=${1:-$SUB_USER}
  if [ ! -f "$DIR/dovecot.conf" ] || ! alive "$DIR/pids/dovecot.pid"; then
    die "dovecot is not running in $DIR"
  fi
  doveadm -c "$DIR/dovecot.conf" save -u "$who" -m INBOX
}

# ----------------------------------------------------------------- main

[ $# -ge 2 ] || usage
action=$1
case "$2" in
  *[[:space:]]*) die "DIR must not contain white space: '$2'" ;;
esac
DIR=$(abs_dir "$2")

case "$action" in
  start)   cmd_start ;;
  stop)    stop_all; say "stopped (if anything was running) in $DIR" ;;
  status)  cmd_status ;;
  deliver) shift 2; cmd_deliver "$@" ;;
  *)       usage ;;
esac
