# Real-client section e: referrers through the oras-py SDK (clients/oras_referrers.py).
# Sourced by sections.sh (needs lib.sh); not run on its own.

# --- e. oras-py (referrers) ---------------------------------------------------

run_oras() { # run_oras REPO TAG: relay the TAP lines of clients/oras_referrers.py
  local repo=$1 tag=$2 out rc=0 line bad=0
  out=$WORK/oras-${repo//\//_}.out
  timeout -k 10 "$T_LONG" "$PYTHON" "$CLIENTS_DIR/oras_referrers.py" "$REG" "$repo" "$tag" "$WORK/oras-${repo//\//_}" \
    </dev/null >"$out" 2>&1 || rc=$?
  while IFS= read -r line; do
    case $line in
      "ok - "*) log_ok "${line#ok - } [$repo:$tag]" ;;
      "not ok - "*) log_fail "${line#not ok - } [$repo:$tag]"; bad=1 ;;
      "#"*) printf '%s\n' "$line" ;;
      *) printf '#   %s\n' "$line" ;;
    esac
  done <"$out"
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    log_fail "oras: oras_referrers.py ran to completion [$repo:$tag] (exit $rc)"
  fi
  return 0
}

section_oras() {
  need oras "$PYTHON" || return 1
  if ! "$PYTHON" -c 'import oras.client, oras.oci' >/dev/null 2>&1; then
    log_fail "oras: python package 'oras' (oras-py SDK) is importable by $PYTHON ($(command -v "$PYTHON"))"
    return 1
  fi
  # The skopeo-pushed OCI image manifest as subject ...
  run_oras real/sk v1
  # ... and, where docker ran, the docker-pushed image (a Docker v2 manifest as subject).
  if [ "$SKIP_DOCKER" != 1 ] && [ "$(http_code HEAD /v2/real/app/manifests/v1 -H "Accept: $ACCEPT_ALL")" = 200 ]; then
    run_oras real/app v1
  fi
  return 0
}
