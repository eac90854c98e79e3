# Real-client section g (authentication): skopeo, podman and the oras-py SDK.
# Sourced by sections.sh (needs lib.sh, skopeo.sh and auth.sh); each function runs in a subshell
# of auth_run, which sets L, AMODE, ATRANSPORT, RUN, IPREG, LHREG, CERTDIR, the passwords and CI_TOKEN.

# --- skopeo ------------------------------------------------------------------------------------------------

auth_skopeo() {
  need "$L: skopeo" skopeo || return 1
  isolate skopeo
  local sk=(skopeo --command-timeout "${T_LONG}s") r=$IPREG lay=$AW/oci src_digest
  local tls=(--tls-verify=false) src=(--src-tls-verify=false) dst=(--dest-tls-verify=false)
  if [ "$ATRANSPORT" = tls ]; then
    tls=(--tls-verify=true --cert-dir "$CERTDIR")
    src=(--src-tls-verify=true --src-cert-dir "$CERTDIR")
    dst=(--dest-tls-verify=true --dest-cert-dir "$CERTDIR")
  fi
  src_digest=$(raw_digest "oci:$lay:amd64")

  step_fails "$L: skopeo: push without credentials fails with an auth error" "$T_LONG" "$AUTH_ERR" \
    "${sk[@]}" copy "${dst[@]}" "oci:$lay:amd64" "docker://$r/team/sk:v1"
  step_fails "$L: skopeo: login with a wrong password fails" "$T_SHORT" "$LOGIN_ERR" \
    "${FEED[@]}" "$PW_BAD" "${sk[@]}" login "${tls[@]}" -u alice --password-stdin "$r"
  step "$L: skopeo: login as alice" "$T_SHORT" \
    "${FEED[@]}" "$PW_ALICE" "${sk[@]}" login "${tls[@]}" -u alice --password-stdin "$r" || return 1
  expect "$L: skopeo: the auth file holds credentials for $r" jq -e --arg r "$r" '.auths[$r].auth' "$REGISTRY_AUTH_FILE"
  step "$L: skopeo: copy the OCI layout to team/sk:v1" "$T_LONG" \
    "${sk[@]}" copy "${dst[@]}" "oci:$lay:amd64" "docker://$r/team/sk:v1" || return 1
  expect_eq "$L: skopeo: Berth serves the pushed manifest unchanged" "$src_digest" "$(areg_digest team/sk v1)"
  step "$L: skopeo: copy team/sk:v1 back to an OCI layout" "$T_LONG" \
    "${sk[@]}" copy "${src[@]}" "docker://$r/team/sk:v1" "oci:$RUN/sk-back:v1"
  expect_eq "$L: skopeo: round-tripped manifest digest matches" "$src_digest" "$(raw_digest "oci:$RUN/sk-back:v1")"
  step "$L: skopeo: list-tags team/sk" "$T_SHORT" "${sk[@]}" list-tags "${tls[@]}" "docker://$r/team/sk"
  expect "$L: skopeo: list-tags contains v1" jq -e '.Tags | index("v1")' <(tail -n +2 "$LAST_LOG")
  step "$L: skopeo: logout" "$T_SHORT" "${sk[@]}" logout "$r"
  step_fails "$L: skopeo: pull after logout fails with an auth error" "$T_LONG" "$AUTH_ERR" \
    "${sk[@]}" copy "${src[@]}" "docker://$r/team/sk:v1" "oci:$RUN/sk-anon:v1"

  # --creds without a login
  step "$L: skopeo: copy --dest-creds alice (no login) to team/sk-creds:v1" "$T_LONG" \
    "${sk[@]}" copy "${dst[@]}" --dest-creds "alice:$PW_ALICE" "oci:$lay:amd64" "docker://$r/team/sk-creds:v1"
  step "$L: skopeo: inspect --creds alice team/sk-creds:v1" "$T_SHORT" \
    "${sk[@]}" inspect "${tls[@]}" --creds "alice:$PW_ALICE" "docker://$r/team/sk-creds:v1"
  expect_eq "$L: skopeo: inspect reports the pushed digest" "$src_digest" \
    "$(tail -n +2 "$LAST_LOG" | jq -r .Digest 2>/dev/null)"
  step_fails "$L: skopeo: bob (reader) cannot push team/sk:bob" "$T_LONG" "$DENIED_ERR" \
    "${sk[@]}" copy "${dst[@]}" --dest-creds "bob:$PW_BOB" "oci:$lay:amd64" "docker://$r/team/sk:bob"
  step "$L: skopeo: bob (reader) may inspect team/sk:v1" "$T_SHORT" \
    "${sk[@]}" inspect "${tls[@]}" --creds "bob:$PW_BOB" "docker://$r/team/sk:v1"

  # alice's CI access token as the password
  step "$L: skopeo: copy --dest-creds alice:<CI token> to team/ci:skopeo" "$T_LONG" \
    "${sk[@]}" copy "${dst[@]}" --dest-creds "alice:$CI_TOKEN" "oci:$lay:amd64" "docker://$r/team/ci:skopeo"
  expect_eq "$L: skopeo: team/ci:skopeo has the pushed digest" "$src_digest" "$(areg_digest team/ci skopeo)"
  step "$L: skopeo: login with the CI token as the password" "$T_SHORT" \
    "${FEED[@]}" "$CI_TOKEN" "${sk[@]}" login "${tls[@]}" -u alice --password-stdin "$r"
  step "$L: skopeo: inspect team/ci:skopeo after the CI-token login" "$T_SHORT" \
    "${sk[@]}" inspect "${tls[@]}" "docker://$r/team/ci:skopeo"
  # skopeo checks for the blob first, and reports a 403 on that HEAD (no body) as "403 (Forbidden)".
  step_fails "$L: skopeo: the CI token cannot push outside its scope (team/sk)" "$T_LONG" "$DENIED_ERR|forbidden" \
    "${sk[@]}" copy "${dst[@]}" --dest-creds "alice:$CI_TOKEN" "oci:$lay:amd64" "docker://$r/team/sk:ci"
  step_fails "$L: skopeo: the CI token cannot pull outside its scope (team/sk)" "$T_SHORT" "$AUTH_ERR" \
    "${sk[@]}" inspect "${tls[@]}" --creds "alice:$CI_TOKEN" "docker://$r/team/sk:v1"
  return 0
}

# --- podman ------------------------------------------------------------------------------------------------

auth_podman() {
  need "$L: podman" podman || return 1
  isolate podman
  local p=(podman --root "$RUN/podman/root" --runroot "$RUN/podman/run" --tmpdir "$RUN/podman/tmp"
           --storage-driver vfs --events-backend file --cgroup-manager cgroupfs)
  local tls=(--tls-verify=false) r=$LHREG af=$RUN/podman-alice.json bf=$RUN/podman-bob.json digest
  [ "$ATRANSPORT" = tls ] && tls=(--tls-verify=true --cert-dir "$CERTDIR")

  step_fails "$L: podman: login with a wrong password fails" "$T_SHORT" "$LOGIN_ERR" \
    "${FEED[@]}" "$PW_BAD" "${p[@]}" login "${tls[@]}" --authfile "$af" -u alice --password-stdin "$r"
  step "$L: podman: login as alice (--authfile)" "$T_SHORT" \
    "${FEED[@]}" "$PW_ALICE" "${p[@]}" login "${tls[@]}" --authfile "$af" -u alice --password-stdin "$r" || return 1
  expect "$L: podman: the auth file holds credentials for $r" jq -e --arg r "$r" '.auths[$r].auth' "$af"
  step "$L: podman: pull team/sk:v1 as alice" "$T_LONG" "${p[@]}" pull "${tls[@]}" --authfile "$af" "$r/team/sk:v1" || return 1
  step "$L: podman: tag as team/pod:v1" "$T_SHORT" "${p[@]}" tag "$r/team/sk:v1" "$r/team/pod:v1" || return 1
  step "$L: podman: push team/pod:v1 as alice" "$T_LONG" \
    "${p[@]}" push "${tls[@]}" --authfile "$af" --digestfile "$RUN/pod.digest" "$r/team/pod:v1" || return 1
  digest=$(cat "$RUN/pod.digest" 2>/dev/null || true)
  expect_eq "$L: podman: push digest is what Berth serves for team/pod:v1" "$digest" "$(areg_digest team/pod v1)"
  step "$L: podman: rmi team/sk:v1 and team/pod:v1" "$T_SHORT" "${p[@]}" rmi "$r/team/sk:v1" "$r/team/pod:v1"
  step "$L: podman: pull team/pod:v1 as alice" "$T_LONG" "${p[@]}" pull "${tls[@]}" --authfile "$af" "$r/team/pod:v1"
  expect_eq "$L: podman: re-pulled image digest equals the pushed digest" "$digest" \
    "$("${p[@]}" image inspect --format '{{.Digest}}' "$r/team/pod:v1" 2>/dev/null)"
  step "$L: podman: logout" "$T_SHORT" "${p[@]}" logout --authfile "$af" "$r"
  step_fails "$L: podman: pull after logout fails with an auth error" "$T_LONG" "$AUTH_ERR" \
    "${p[@]}" pull "${tls[@]}" --authfile "$af" "$r/team/pod:v1"

  step "$L: podman: login as bob (reader)" "$T_SHORT" \
    "${FEED[@]}" "$PW_BOB" "${p[@]}" login "${tls[@]}" --authfile "$bf" -u bob --password-stdin "$r"
  "${p[@]}" tag "$r/team/pod:v1" "$r/team/pod:bob"
  step_fails "$L: podman: bob (reader) cannot push team/pod:bob" "$T_LONG" "$DENIED_ERR" \
    "${p[@]}" push "${tls[@]}" --authfile "$bf" "$r/team/pod:bob"
  timeout "$T_SHORT" "${p[@]}" rmi -f "$r/team/pod:v1" "$r/team/pod:bob" >/dev/null 2>&1 || true
  return 0
}

# --- oras-py -----------------------------------------------------------------------------------------------

auth_oras() {
  need "$L: oras" "$PYTHON" || return 1
  if ! "$PYTHON" -c 'import oras.client' >/dev/null 2>&1; then
    log_fail "$L: oras: python package 'oras' is importable by $PYTHON"
    return 1
  fi
  isolate oras
  local out=$RUN/oras.out rc=0 line bad=0
  ORAS_AUTH_USER=alice ORAS_AUTH_PASSWORD=$PW_ALICE ORAS_AUTH_READER=bob ORAS_AUTH_READER_PASSWORD=$PW_BOB \
    ORAS_AUTH_BAD_PASSWORD=$PW_BAD timeout -k 10 "$T_LONG" "$PYTHON" "$CLIENTS_DIR/oras_auth.py" \
    "$IPREG" "$SCHEME" "$CA" "$AMODE" team/oras "$RUN/oras" </dev/null >"$out" 2>&1 || rc=$?
  while IFS= read -r line; do
    case $line in
      "ok - "*) log_ok "$L: ${line#ok - }" ;;
      "not ok - "*) log_fail "$L: ${line#not ok - }"; bad=1 ;;
      "#"*) printf '%s\n' "$line" ;;
      *) printf '#   %s\n' "$line" ;;
    esac
  done <"$out"
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    log_fail "$L: oras: oras_auth.py ran to completion (exit $rc)"
  fi
  return 0
}
