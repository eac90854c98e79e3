# Real-client section g (authentication): the docker CLI (private dockerd) and containerd's ctr.
# Sourced by sections.sh (needs lib.sh and auth.sh); each function runs in a subshell of
# auth_run, which sets L, AMODE, ATRANSPORT, RUN, IPREG, LHREG, CA, the passwords and CI_TOKEN.

# --- docker ------------------------------------------------------------------------------------------------
# Docker treats 127.0.0.0/8 as an insecure registry (and localhost resolves there), so over plain HTTP it
# falls back from HTTPS to HTTP, and over TLS it still uses HTTPS, with the CA from certs.d (Docker skips
# verification for insecure registries, so the CA itself is checked by the other clients).

auth_docker() {
  if [ "$AUTH_DOCKER" != 1 ]; then
    log_skip "$L: docker: no private dockerd or no test image"
    return 0
  fi
  isolate docker
  export DOCKER_HOST="unix://$DOCK/s" DOCKER_BUILDKIT=0
  local who
  for who in anon alice bob ci; do mkdir -p "$RUN/dk-$who"; done
  local anon=(env DOCKER_CONFIG="$RUN/dk-anon" docker) alice=(env DOCKER_CONFIG="$RUN/dk-alice" docker)
  local bob=(env DOCKER_CONFIG="$RUN/dk-bob" docker) ci=(env DOCKER_CONFIG="$RUN/dk-ci" docker)
  local app=$LHREG/team/app ci_repo=$LHREG/team/ci pushed image_id

  docker tag "$AUTH_SRC_IMAGE" "$app:v1" || { log_fail "$L: docker: tag the test image"; return 1; }
  step_fails "$L: docker: push without login fails with an auth error" "$T_LONG" "$AUTH_ERR" \
    "${anon[@]}" push "$app:v1"
  step_fails "$L: docker: login with a wrong password fails" "$T_SHORT" "$LOGIN_ERR" \
    "${FEED[@]}" "$PW_BAD" "${alice[@]}" login -u alice --password-stdin "$LHREG"
  expect "$L: docker: a failed login stores no credentials" \
    bash -c "! jq -e --arg r '$LHREG' '.auths[\$r]' '$RUN/dk-alice/config.json'"
  step "$L: docker: login as alice" "$T_SHORT" "${FEED[@]}" "$PW_ALICE" "${alice[@]}" login -u alice --password-stdin "$LHREG" || return 1
  expect "$L: docker: login says Login Succeeded" grep -q 'Login Succeeded' "$LAST_LOG"
  expect "$L: docker: config.json holds credentials for $LHREG" \
    jq -e --arg r "$LHREG" '.auths[$r] | .auth // .identitytoken' "$RUN/dk-alice/config.json"
  # Docker's login asks the token service for offline_token=true: the refresh token it gets back is kept as
  # the identity token, which later pushes and pulls trade in (grant_type=refresh_token).
  [ "$AMODE" = token ] && expect "$L: docker: login kept a refresh token as its identitytoken" \
    jq -e --arg r "$LHREG" '.auths[$r].identitytoken | length > 0' "$RUN/dk-alice/config.json"

  step "$L: docker: push team/app:v1 as alice" "$T_LONG" "${alice[@]}" push "$app:v1" || return 1
  pushed=$(grep -Eo 'digest: sha256:[0-9a-f]{64}' "$LAST_LOG" | head -n1 | cut -d' ' -f2 || true)
  expect_eq "$L: docker: push digest is what Berth serves for team/app:v1" "$pushed" "$(areg_digest team/app v1)"
  image_id=$(docker image inspect --format '{{.Id}}' "$app:v1" 2>/dev/null || true)
  step "$L: docker: rmi every tag of the image" "$T_SHORT" docker rmi "$app:v1" "$AUTH_SRC_IMAGE" || return 1
  step "$L: docker: pull team/app:v1 as alice" "$T_LONG" "${alice[@]}" pull "$app:v1" || return 1
  expect_eq "$L: docker: pulled image ID equals the pushed image's" "$image_id" \
    "$(docker image inspect --format '{{.Id}}' "$app:v1" 2>/dev/null)"
  docker tag "$app:v1" "$AUTH_SRC_IMAGE"

  # bob: reader of team
  step "$L: docker: login as bob (reader)" "$T_SHORT" "${FEED[@]}" "$PW_BOB" "${bob[@]}" login -u bob --password-stdin "$LHREG"
  docker tag "$app:v1" "$app:bob"
  step_fails "$L: docker: bob (reader) cannot push team/app:bob" "$T_LONG" "$DENIED_ERR" "${bob[@]}" push "$app:bob"
  step "$L: docker: bob (reader) may pull team/app:v1" "$T_LONG" "${bob[@]}" pull "$app:v1"

  # alice's CI access token as the password
  step "$L: docker: login with alice's CI access token as the password" "$T_SHORT" \
    "${FEED[@]}" "$CI_TOKEN" "${ci[@]}" login -u alice --password-stdin "$LHREG" || return 1
  docker tag "$app:v1" "$ci_repo:docker"
  docker tag "$app:v1" "$app:ci"
  step "$L: docker: push team/ci:docker with the CI token" "$T_LONG" "${ci[@]}" push "$ci_repo:docker"
  expect_eq "$L: docker: team/ci:docker has the image's digest" "$pushed" "$(areg_digest team/ci docker)"
  local t0=$SECONDS
  step_fails "$L: docker: the CI token cannot push outside its scope (team/app)" "$T_LONG" "$DENIED_ERR" \
    "${ci[@]}" push "$app:ci"
  # Docker's client retries a refused layer upload for about 50 s when the DENIED message is its own default
  # text with no detail; Berth's message names the access needed, so the refusal must be final at once.
  expect "$L: docker: the refusal is final, without retries" bash -c "! grep -q 'Retrying in' '$LAST_LOG'"
  note "  refused after $((SECONDS - t0))s"

  step "$L: docker: logout" "$T_SHORT" "${alice[@]}" logout "$LHREG"
  expect "$L: docker: logout removed the credentials" \
    bash -c "! jq -e --arg r '$LHREG' '.auths[\$r] | .auth // .identitytoken' '$RUN/dk-alice/config.json'"
  docker rmi "$app:v1" "$app:bob" "$app:ci" "$ci_repo:docker" >/dev/null 2>&1 || true
  return 0
}

# --- containerd ctr ----------------------------------------------------------------------------------------

auth_ctr() {
  if [ "$AUTH_DOCKER" != 1 ]; then
    log_skip "$L: ctr: no private dockerd (its containerd)"
    return 0
  fi
  need "$L: ctr" ctr || return 1
  isolate ctr
  local sock=$DOCK/e/containerd/containerd.sock
  [ ! -S "$sock" ] && [ -S /run/containerd/containerd.sock ] && sock=/run/containerd/containerd.sock
  expect "$L: ctr: containerd socket found ($sock)" test -S "$sock" || return 1
  # ctr talks plain HTTP to 127.0.0.1 and localhost unless a hosts.toml names an https server.
  local c=(ctr --address "$sock" --namespace berthauth) t=(--plain-http) r=$IPREG want
  if [ "$ATRANSPORT" = tls ]; then
    mkdir -p "$RUN/ctr-hosts/$r"
    printf 'server = "https://%s"\nca = "%s"\n\n[host."https://%s"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "%s"\n' \
      "$r" "$CA" "$r" "$CA" >"$RUN/ctr-hosts/$r/hosts.toml"
    t=(--hosts-dir "$RUN/ctr-hosts" --tlscacert "$CA")
  fi
  want=$(areg_digest team/sk v1)

  step_fails "$L: ctr: pull without credentials fails" "$T_LONG" "$AUTH_ERR|401" \
    "${c[@]}" images pull "${t[@]}" --snapshotter native "$r/team/sk:v1"
  step_fails "$L: ctr: pull with a wrong password fails" "$T_LONG" "$AUTH_ERR|401" \
    "${c[@]}" images pull "${t[@]}" --user "alice:$PW_BAD" --snapshotter native "$r/team/sk:v1"
  step "$L: ctr: pull --user alice team/sk:v1" "$T_LONG" \
    "${c[@]}" images pull "${t[@]}" --user "alice:$PW_ALICE" --snapshotter native "$r/team/sk:v1" || return 1
  expect_eq "$L: ctr: pulled image digest equals Berth's" "$want" \
    "$("${c[@]}" images ls 2>/dev/null | awk -v r="$r/team/sk:v1" '$1 == r {print $3}')"
  step "$L: ctr: tag as team/ctr:v1" "$T_SHORT" "${c[@]}" images tag "$r/team/sk:v1" "$r/team/ctr:v1" "$r/team/ctr:bob" || return 1
  step "$L: ctr: push --user alice team/ctr:v1" "$T_LONG" \
    "${c[@]}" images push "${t[@]}" --user "alice:$PW_ALICE" "$r/team/ctr:v1"
  expect_eq "$L: ctr: team/ctr:v1 has the same manifest digest" "$want" "$(areg_digest team/ctr v1)"
  # containerd 1.6 retries a manifest PUT answered 401 with a spent body pipe, and then reports
  # "io: read/write on closed pipe" (containerd/containerd#7972) instead of the 401: so Berth's answer is
  # checked in its log, and the tag must not exist.  (When the response wins the race, ctr says
  # "server message: insufficient_scope: authorization failed".)
  step_fails "$L: ctr: bob (reader) cannot push team/ctr:bob" "$T_LONG" "$DENIED_ERR|forbidden|40[13]|insufficient_scope|closed pipe" \
    "${c[@]}" images push "${t[@]}" --user "bob:$PW_BOB" "$r/team/ctr:bob"
  expect "$L: ctr: Berth refused bob's manifest PUT (401/403 in its log)" \
    in_log 'PUT /v2/team/ctr/manifests/bob 40[13] '
  expect_eq "$L: ctr: team/ctr:bob does not exist" 404 \
    "$(alice_curl team/ctr -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT_ALL" "$BASE/v2/team/ctr/manifests/bob")"
  timeout "$T_SHORT" "${c[@]}" images rm "$r/team/sk:v1" "$r/team/ctr:v1" "$r/team/ctr:bob" >/dev/null 2>&1 || true
  return 0
}
