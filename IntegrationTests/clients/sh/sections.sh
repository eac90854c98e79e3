#!/usr/bin/env bash
# The real-client sections, as the command lines a user would type. Run by IntegrationTests/clients/runner.py
# (the pytest tests of the `clients` area and the scale-out rig's clients-through-nginx test), which starts the
# registry and the private dockerd and turns each `ok - ...` / `not ok - ...` line printed here into a counted
# check. It can also be run by hand against any registry:
#
#   BERTH_RC_REGISTRY=127.0.0.1:5000 BERTH_RC_DOCK=/tmp/bd.X [BERTH_RC_ONLY=docker,ctr,...] sections.sh
#
# Sections (in this order; c-f reuse what earlier ones pushed):
#   docker  docker CLI against the private dockerd (its socket BERTH_RC_DOCK/s, exec-root BERTH_RC_DOCK/e)
#   ctr     containerd's ctr, talking to the containerd that dockerd spawned
#   skopeo  skopeo, with OCI layouts built locally by umoci
#   podman  podman, with vfs storage in a private root
#   oras    the oras-py SDK (clients/oras_referrers.py): artifacts with a subject, the referrers API
#   api     a registry-API summary (catalog)
#   auth    authentication (auth*.sh): each client logs in and works against Berths in `basic` and `token`
#           mode, over plain HTTP and over TLS with a throwaway CA (docs/SECURITY.md), and anonymous pulls of a
#           public namespace by each client (auth-anonymous.sh); these Berths are its own (BERTH_BIN), the runs
#           are BERTH_RC_AUTH_RUNS (default "basic/http token/http basic/tls token/tls").
#
# Settings (environment):
#   BERTH_RC_REGISTRY  host:port of the registry for the plain sections (docker ... api); required for them
#   BERTH_RC_LOG       that registry's access log (Berth's standard output), for the mount check; without it
#                      (a registry behind nginx) that check is skipped
#   BERTH_RC_DOCK      the private dockerd's folder; without it the docker and ctr sections fail, and with
#                      BERTH_SKIP_DOCKER=1 they (and auth's docker and ctr checks) are skipped
#   BERTH_RC_ONLY      comma-separated sections (default: all)
#   BERTH_RC_WORK      the work folder (kept); default a temporary one, removed unless KEEP_WORK=1
#   BERTH_BIN          the berth binary for the auth section's own Berths and CLI
#   BERTH_PYTHON       a python3 with the PyPI package `oras` (default python3)
# Prints one `ok - ...` / `not ok - ...` line per check, then `real-clients: N passed, N failed, N skipped`;
# exits non-zero if any check failed. A section whose tool is missing fails.
# Needs root (dockerd), and: docker.io containerd skopeo podman umoci jq curl openssl (Debian) and `oras` (PyPI).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENTS_DIR=$(cd "$SCRIPT_DIR/.." && pwd)   # the Python clients (oras_referrers.py, oras_auth.py)
BERTH_BIN=${BERTH_BIN:-}
ONLY=${BERTH_RC_ONLY:-}
for part in lib docker skopeo podman oras summary auth auth-docker auth-clients auth-anonymous; do
  source "$SCRIPT_DIR/$part.sh"
done

wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

main() {
  local t0 plain=0 s
  t0=$(date +%s)
  note "work dir: $WORK"
  [ -n "$ONLY" ] && note "BERTH_RC_ONLY=$ONLY"
  need tools curl jq python3 timeout || true
  for s in docker ctr skopeo podman oras api; do wanted "$s" && plain=1; done
  if [ "$plain" = 1 ]; then
    use_registry || { summary || true; exit 1; }
    note "registry: $REG"
  fi
  if [ "$SKIP_DOCKER" = 1 ]; then
    note "BERTH_SKIP_DOCKER=1: skipping the docker and ctr sections"
    wanted docker && log_skip "docker: docker CLI section (BERTH_SKIP_DOCKER=1)"
    wanted ctr && log_skip "ctr: containerd ctr section (BERTH_SKIP_DOCKER=1)"
  else
    wanted docker && run_section "a. docker" section_docker
    wanted ctr && run_section "b. ctr" section_ctr
  fi
  wanted skopeo && run_section "c. skopeo" section_skopeo
  wanted podman && run_section "d. podman" section_podman
  wanted oras && run_section "e. oras" section_oras
  wanted api && run_section "f. api" section_summary
  # Its own Berths (basic and token mode, plain HTTP and TLS), after the others.
  if wanted auth; then
    if [ -x "$BERTH_BIN" ]; then
      run_section "g. auth" section_auth
    else
      log_fail "auth: BERTH_BIN ($BERTH_BIN) is an executable berth"
    fi
  fi
  note "runtime: $(( $(date +%s) - t0 ))s"
  summary
}

main "$@"
