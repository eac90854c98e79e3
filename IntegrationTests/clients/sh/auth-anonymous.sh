# Real-client section g (authentication): anonymous pulls of a public namespace by every client, as each sends
# them with no credentials (podman, skopeo and buildah send empty Basic credentials, `Basic Og==`), in basic
# and token modes; then a logged-in user from the same address is not held back, and no anonymous pull was
# counted as a failed login.  Docker is the exception in basic mode, by its design: it pulls without credentials
# only from a registry whose anonymous `GET /v2/` answers 200, and a basic-mode registry that did so would let
# `docker login` succeed with any password; so there it must fail with Docker's own "no basic auth
# credentials" (docs/SECURITY.md), and pulls anonymously in token mode.  Sourced by sections.sh (needs lib.sh and auth.sh); runs in a subshell
# of auth_run, which sets L, AMODE, ATRANSPORT, RUN, IPREG, LHREG, CERTDIR, CA and the passwords.

auth_anonymous() {
  isolate anonymous
  local sk=(skopeo --command-timeout "${T_LONG}s") r=$IPREG lay=$AW/oci want i
  local tls=(--tls-verify=false) dst=(--dest-tls-verify=false)
  if [ "$ATRANSPORT" = tls ]; then
    tls=(--tls-verify=true --cert-dir "$CERTDIR")
    dst=(--dest-tls-verify=true --dest-cert-dir "$CERTDIR")
  fi
  step "$L: anonymous: alice pushes pub/lib:v1 (public namespace)" "$T_LONG" \
    "${sk[@]}" copy "${dst[@]}" --dest-creds "alice:$PW_ALICE" "oci:$lay:amd64" "docker://$r/pub/lib:v1" || return 1
  want=$(areg_digest pub/lib v1)
  if [ "$AMODE" = basic ]; then
    expect_eq "$L: anonymous: curl -u : (empty Basic) lists pub/lib's tags" 200 "$(acode /v2/pub/lib/tags/list -u :)"
  else
    expect_match "$L: anonymous: curl -u : (empty Basic) gets an anonymous token for pub/lib" '"pull"' \
      "$(acurl -u : "$BASE/auth/token?service=berth&scope=repository:pub/lib:pull" | "$PYTHON" -c '
import base64, json, sys
p = json.load(sys.stdin)["token"].split(".")[1]
print(json.dumps(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["access"]))' 2>&1)"
  fi
  for i in 1 2 3; do
    step "$L: anonymous: skopeo inspect --no-creds pub/lib:v1 ($i of 3)" "$T_SHORT" \
      "${sk[@]}" inspect "${tls[@]}" --no-creds "docker://$r/pub/lib:v1" || break
  done
  expect_eq "$L: anonymous: skopeo reports the pushed digest" "$want" "$(tail -n +2 "$LAST_LOG" | jq -r .Digest 2>/dev/null)"
  local p=(podman --root "$RUN/pa/root" --runroot "$RUN/pa/run" --tmpdir "$RUN/pa/tmp"
           --storage-driver vfs --events-backend file --cgroup-manager cgroupfs)
  local ptls=(--tls-verify=false)
  [ "$ATRANSPORT" = tls ] && ptls=(--tls-verify=true --cert-dir "$CERTDIR")
  printf '{"auths":{}}\n' >"$RUN/podman-anon.json"   # an auth file holding no credentials
  step "$L: anonymous: podman pull pub/lib:v1, not logged in" "$T_LONG" \
    "${p[@]}" pull "${ptls[@]}" --authfile "$RUN/podman-anon.json" "$LHREG/pub/lib:v1"
  expect_eq "$L: anonymous: podman's image has the pushed digest" "$want" \
    "$("${p[@]}" image inspect --format '{{.Digest}}' "$LHREG/pub/lib:v1" 2>/dev/null)"
  timeout "$T_SHORT" "${p[@]}" rmi -f "$LHREG/pub/lib:v1" >/dev/null 2>&1 || true
  if [ "$AUTH_DOCKER" = 1 ]; then
    mkdir -p "$RUN/dk-anon-pull"
    if [ "$AMODE" = token ]; then
      step "$L: anonymous: docker pull pub/lib:v1, not logged in" "$T_LONG" \
        env DOCKER_HOST="unix://$DOCK/s" DOCKER_CONFIG="$RUN/dk-anon-pull" docker pull "$LHREG/pub/lib:v1"
    else
      step_fails "$L: anonymous: docker pull pub/lib:v1 in basic mode fails as Docker does (no basic auth credentials)" \
        "$T_LONG" "no basic auth credentials|EOF" \
        env DOCKER_HOST="unix://$DOCK/s" DOCKER_CONFIG="$RUN/dk-anon-pull" docker pull "$LHREG/pub/lib:v1"
    fi
    timeout "$T_SHORT" env DOCKER_HOST="unix://$DOCK/s" docker rmi "$LHREG/pub/lib:v1" >/dev/null 2>&1 || true
    local sock=$DOCK/e/containerd/containerd.sock c t=(--plain-http)
    [ ! -S "$sock" ] && [ -S /run/containerd/containerd.sock ] && sock=/run/containerd/containerd.sock
    c=(ctr --address "$sock" --namespace berthanon)
    if [ "$ATRANSPORT" = tls ]; then
      mkdir -p "$RUN/ctr-anon-hosts/$r"
      printf 'server = "https://%s"\nca = "%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve"]\n  ca = "%s"\n' \
        "$r" "$CA" "$r" "$CA" >"$RUN/ctr-anon-hosts/$r/hosts.toml"
      t=(--hosts-dir "$RUN/ctr-anon-hosts" --tlscacert "$CA")
    fi
    step "$L: anonymous: ctr pull pub/lib:v1 without --user" "$T_LONG" \
      "${c[@]}" images pull "${t[@]}" --snapshotter native "$r/pub/lib:v1"
    timeout "$T_SHORT" "${c[@]}" images rm "$r/pub/lib:v1" >/dev/null 2>&1 || true
  else
    log_skip "$L: anonymous: docker and ctr (no private dockerd)"
  fi
  step_fails "$L: anonymous: skopeo --no-creds cannot read private team/sk:v1" "$T_SHORT" "$AUTH_ERR" \
    "${sk[@]}" inspect "${tls[@]}" --no-creds "docker://$r/team/sk:v1"
  if [ "$AMODE" = basic ]; then
    expect_eq "$L: anonymous: then alice logs in from the same address" 200 "$(acode /v2/ -u "alice:$PW_ALICE")"
  else
    expect_eq "$L: anonymous: then alice gets a token from the same address" 200 \
      "$(acode "/auth/token?service=berth&scope=repository:team/sk:pull" -u "alice:$PW_ALICE")"
  fi
  sleep 0.3   # Berth writes its log lines in batches
  expect "$L: anonymous: no anonymous pull was recorded as a failed login" \
    bash -c "! sed -n 's/^[^{]*\({\"audit\":.*\)\$/\1/p' '$BERTH_LOG' | jq -e -s 'map(.audit) | any(.action == \"login.failed\" and (.target == \"\" or .target == null))' >/dev/null"
  return 0
}
