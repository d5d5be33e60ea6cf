#!/usr/bin/env bash
# browser.sh URL — a stand-in for xdg-open in tests: mailfleet runs it as
# $BROWSER with the authorization URL, and agent.mjs plays the user (signs in,
# approves, GETs mailfleet's loopback redirect once). It returns when the agent
# is done (a second or so; the agent gives up after --timeout, 15 s).
#
# Environment:
#   MF_AGENT_FLAGS  extra agent options, split on spaces:
#                   --deny, --tamper-state, --user NAME, --timeout S
#   MF_PEER_DIR     the peers directory (the agent reads MF_PEER_CA,
#                   MF_OIDC_USER ... from its peers.env); the generated
#                   DIR/oidc/browser.sh (MF_OIDC_BROWSER) sets it
#   MF_PEER_NODE    node binary (default: node in PATH)
#   MF_AGENT_LOG    where the agent's output goes (appended); default
#                   $MF_PEER_DIR/logs/agent.log, or stderr without MF_PEER_DIR;
#                   "-" = this script's stdout/stderr
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node=${MF_PEER_NODE:-node}
log=${MF_AGENT_LOG:-}
if [ -z "$log" ] && [ -n "${MF_PEER_DIR:-}" ] && [ -d "$MF_PEER_DIR/logs" ]; then
  log=$MF_PEER_DIR/logs/agent.log
fi
# shellcheck disable=SC2086  # MF_AGENT_FLAGS is split on purpose
if [ -z "$log" ]; then
  exec "$node" "$here/agent.mjs" browser "$@" ${MF_AGENT_FLAGS:-} >&2
elif [ "$log" = - ]; then
  exec "$node" "$here/agent.mjs" browser "$@" ${MF_AGENT_FLAGS:-}
else
  { printf '%s browser.sh %s\n' "$(date -u +%FT%TZ)" "${MF_AGENT_FLAGS:-}"
    exec "$node" "$here/agent.mjs" browser "$@" ${MF_AGENT_FLAGS:-}
  } >>"$log" 2>&1
fi
