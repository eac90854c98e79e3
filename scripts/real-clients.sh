#!/usr/bin/env bash
# Real-client test suite for Berth.
#
# Usage: scripts/real-clients.sh [PATH_TO_BERTH_BINARY]
#        (default: .build/release/berth relative to the repository root)
#
# Starts its own Berth on a free loopback port with a temporary root, then
# drives it with real registry clients:
#   a. docker CLI against a private dockerd (vfs storage, no networking)
#   b. containerd's ctr, talking to the containerd that dockerd spawned
#   c. skopeo, with OCI layouts built locally by umoci
#   d. podman, with vfs storage in a private root
#   e. the oras-py SDK (scripts/oras_referrers.py): artifacts with a subject,
#      the referrers API and its artifactType filter
#   f. a registry-API summary (catalog)
#   g. authentication (real-clients/auth*.sh): each client logs in and works
#      against Berths in `basic` and `token` mode, over plain HTTP and over
#      TLS with a throwaway CA (docs/SECURITY.md), and anonymous pulls of a public namespace by each client
#      (real-clients/auth-anonymous.sh); these Berths are its own
# Prints one `ok - ...` / `not ok - ...` line per check, then a closing
# `real-clients: N passed, N failed, N skipped` line; exits non-zero if any
# check failed.  A section whose tool is missing fails.  With
# BERTH_SKIP_DOCKER=1 the docker and ctr sections are skipped.  BERTH_PYTHON
# names the python3 with oras-py (default: python3 on PATH); KEEP_WORK=1 keeps
# the work folder (logs, Berth's access log) for a post-mortem.
# BERTH_RC_ONLY=auth (a comma-separated list of docker,ctr,skopeo,podman,oras,
# api,auth) runs only those sections (c-f need what earlier ones pushed);
# BERTH_RC_AUTH_RUNS picks the auth section's runs (default
# "basic/http token/http basic/tls token/tls").  The binary may also be named
# by BERTH_BIN.  BERTH_RC_REGISTRY=host:port drives a registry started elsewhere
# (the scale-out set-up) instead of starting one.
#
# The helpers live in real-clients/lib.sh and each client family's checks in
# real-clients/{docker,skopeo,podman,oras,summary,auth,auth-docker,auth-clients}.sh;
# sections c-f reuse what earlier ones pushed, so they run in this order.
#
# Needs root (dockerd), and: docker.io containerd skopeo podman umoci jq curl
# openssl (Debian) and the PyPI package `oras`.  Everything it starts is stopped and
# every temporary folder removed on exit.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BERTH_BIN=${1:-${BERTH_BIN:-$REPO_ROOT/.build/release/berth}}
case $BERTH_BIN in /*) ;; *) BERTH_BIN=$PWD/$BERTH_BIN ;; esac
ONLY=${BERTH_RC_ONLY:-}
for part in lib docker skopeo podman oras summary auth auth-docker auth-clients auth-anonymous; do
  source "$SCRIPT_DIR/real-clients/$part.sh"
done

# --- main ---------------------------------------------------------------------

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

main() {
  local t0 plain=0 s
  t0=$(date +%s)
  note "berth binary: $BERTH_BIN"
  note "work dir: $WORK"
  [ -n "$ONLY" ] && note "BERTH_RC_ONLY=$ONLY"
  need berth curl jq python3 timeout || true
  for s in docker ctr skopeo podman oras api; do wanted "$s" && plain=1; done
  if [ "$plain" = 1 ]; then
    start_berth || { summary || true; exit 1; }
    note "registry: $REG"
  fi

  if [ "$SKIP_DOCKER" = 1 ]; then
    note "BERTH_SKIP_DOCKER=1: skipping the docker and ctr sections"
    wanted docker && log_skip "docker: docker CLI section (BERTH_SKIP_DOCKER=1)"
    wanted ctr && log_skip "ctr: containerd ctr section (BERTH_SKIP_DOCKER=1)"
  elif wanted docker || wanted ctr || wanted auth; then
    if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
      start_dockerd || true
    fi
  fi
  if [ "$SKIP_DOCKER" != 1 ]; then
    wanted docker && run_section "a. docker" section_docker
    wanted ctr && run_section "b. ctr" section_ctr
  fi
  wanted skopeo && run_section "c. skopeo" section_skopeo
  wanted podman && run_section "d. podman" section_podman
  wanted oras && run_section "e. oras" section_oras
  wanted api && run_section "f. api" section_summary

  if [ "$plain" = 1 ] && [ -z "${BERTH_RC_REGISTRY:-}" ]; then
    if ! alive "$(awk '$1 == "berth" {p=$2} END {print p}' "$PIDS")"; then
      log_fail "berth: still running after all clients"
      show 30 <"$BERTH_LOG"
    fi
    expect "berth: log has no fatal/panic/crash lines" bash -c "! grep -Eqi 'fatal|panic|crash' '$BERTH_LOG'" \
      || grep -Ei 'fatal|panic|crash' "$BERTH_LOG" | show 10
  fi
  # Its own Berths (basic and token mode, plain HTTP and TLS), after the others.
  wanted auth && run_section "g. auth" section_auth

  note "runtime: $(( $(date +%s) - t0 ))s"
  summary
}

main "$@"
