# Real-client sections a (docker CLI against a private dockerd) and b (containerd's ctr).
# Sourced by sections.sh (needs lib.sh); not run on its own.

# --- a. docker CLI -----------------------------------------------------------

section_docker() {
  need docker docker dockerd containerd || return 1
  [ -S "$DOCK/s" ] || { log_fail "docker: daemon socket present"; return 1; }
  export DOCKER_HOST="unix://$DOCK/s" DOCKER_CONFIG="$WORK/docker-config" DOCKER_BUILDKIT=0
  mkdir -p "$DOCKER_CONFIG"

  local app=$REG/real/app:v1 arm=$REG/real/app-arm64:v1 other=$REG/real/other:v1 multi=$REG/real/multi:v1
  local ctx1=$WORK/ctx-amd64 ctx2=$WORK/ctx-arm64
  mkdir -p "$ctx1" "$ctx2"
  head -c "$BIG_LAYER_BYTES" /dev/urandom >"$ctx1/big.bin"
  ln "$ctx1/big.bin" "$ctx2/big.bin"
  echo "berth real-clients: amd64 flavour" >"$ctx1/small.txt"
  echo "berth real-clients: arm64 flavour" >"$ctx2/small.txt"
  printf 'FROM scratch\nCOPY big.bin /big.bin\nCOPY small.txt /small.txt\n' | tee "$ctx1/Dockerfile" >"$ctx2/Dockerfile"

  step "docker: build two-layer FROM scratch image (legacy builder)" "$T_LONG" docker build -t "$app" "$ctx1" || return 1
  expect_eq "docker: built image has 2 layers" 2 "$(docker image inspect --format '{{len .RootFS.Layers}}' "$app" 2>/dev/null)"
  local image_id
  image_id=$(docker image inspect --format '{{.Id}}' "$app")

  step "docker: push real/app:v1" "$T_LONG" docker push "$app" || return 1
  local pushed
  pushed=$(grep -Eo 'digest: sha256:[0-9a-f]{64}' "$LAST_LOG" | head -n1 | cut -d' ' -f2 || true)
  expect_eq "docker: push digest is what Berth serves for real/app:v1" "$pushed" "$(manifest_digest real/app v1)"
  expect_eq "docker: Berth returns the docker v2 manifest type" \
    application/vnd.docker.distribution.manifest.v2+json "$(manifest_type real/app v1)"
  local manifest big_digest big_size
  manifest=$(http_get /v2/real/app/manifests/v1 -H "Accept: $ACCEPT_ALL")
  big_digest=$(jq -r '.layers | max_by(.size) | .digest' <<<"$manifest" 2>/dev/null || true)
  big_size=$(jq -r '.layers | max_by(.size) | .size' <<<"$manifest" 2>/dev/null || echo 0)
  expect "docker: manifest lists a ~40 MiB layer" test "${big_size:-0}" -ge "$BIG_LAYER_BYTES"
  expect_eq "docker: GET blob of the big layer has the manifest's digest" "$big_digest" \
    "sha256:$(curl -sf --max-time "$T_LONG" "http://$REG/v2/real/app/blobs/$big_digest" | sha256sum | cut -d' ' -f1)"

  step "docker: rmi real/app:v1" "$T_SHORT" docker rmi "$app" || return 1
  expect "docker: image is gone locally" bash -c "! docker image inspect '$app'"
  step "docker: pull real/app:v1 by tag" "$T_LONG" docker pull "$app" || return 1
  expect_eq "docker: pulled-by-tag RepoDigest equals pushed digest" "$REG/real/app@$pushed" \
    "$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$app" | grep -F "$REG/real/app@" | head -n1)"
  expect_eq "docker: pulled image ID equals built image ID" "$image_id" "$(docker image inspect --format '{{.Id}}' "$app")"

  step "docker: rmi again" "$T_SHORT" docker rmi "$app" || return 1
  step "docker: pull real/app by digest" "$T_LONG" docker pull "$REG/real/app@$pushed" || return 1
  expect_eq "docker: pulled-by-digest RepoDigest equals pushed digest" "$REG/real/app@$pushed" \
    "$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$REG/real/app@$pushed" | grep -F "$REG/real/app@" | head -n1)"
  expect_eq "docker: pulled-by-digest image ID equals built image ID" "$image_id" \
    "$(docker image inspect --format '{{.Id}}' "$REG/real/app@$pushed")"
  docker tag "$REG/real/app@$pushed" "$app"

  # Second repository: docker mounts the layers cross-repository (POST ?mount=&from=).
  docker tag "$app" "$other"
  step "docker: push the same image as real/other:v1" "$T_LONG" docker push "$other" || return 1
  if grep -q 'Mounted from real/app' "$LAST_LOG" && ! grep -Eq ': Pushed$' "$LAST_LOG"; then
    log_ok "docker: real/other push mounted the layers from real/app (no layer re-upload)"
  else
    log_fail "docker: real/other push mounted the layers from real/app (no layer re-upload)"
    show 10 <"$LAST_LOG"
  fi
  if [ -z "${BERTH_RC_LOG:-}" ]; then
    log_skip "docker: Berth access log shows a 201 mount POST (no access log given: a registry behind nginx)"
  else
    expect "docker: Berth access log shows a 201 mount POST for real/other" \
      in_log 'POST /v2/real/other/blobs/uploads/?(\?[^ ]*)? 201'
  fi

  expect_eq "docker: HEAD of the big layer in real/other is 200" 200 "$(http_code HEAD "/v2/real/other/blobs/$big_digest")"
  expect_eq "docker: real/other:v1 has the same manifest digest" "$pushed" "$(manifest_digest real/other v1)"

  # Two-platform manifest list.
  step "docker: build variant image (different small file)" "$T_LONG" docker build -t "$arm" "$ctx2" || return 1
  step "docker: push real/app-arm64:v1" "$T_LONG" docker push "$arm" || return 1
  local arm_digest
  arm_digest=$(grep -Eo 'digest: sha256:[0-9a-f]{64}' "$LAST_LOG" | head -n1 | cut -d' ' -f2 || true)
  expect "docker: variant push mounted or reused the big layer" \
    grep -Eq 'Mounted from|Layer already exists' "$LAST_LOG"
  step "docker: manifest create real/multi:v1" "$T_SHORT" docker manifest create --insecure "$multi" "$app" "$arm" || return 1
  step "docker: manifest annotate arm64" "$T_SHORT" docker manifest annotate --os linux --arch arm64 "$multi" "$arm" || return 1
  step "docker: manifest push --purge" "$T_LONG" docker manifest push --insecure --purge "$multi" || return 1
  local list_digest
  list_digest=$(grep -Eo 'sha256:[0-9a-f]{64}' "$LAST_LOG" | tail -n1 || true)
  expect_eq "docker: manifest push digest is what Berth serves for real/multi:v1" "$list_digest" "$(manifest_digest real/multi v1)"
  expect_eq "docker: Berth returns the manifest list type" \
    application/vnd.docker.distribution.manifest.list.v2+json "$(manifest_type real/multi v1)"
  step "docker: manifest inspect real/multi:v1 (from the registry)" "$T_SHORT" docker manifest inspect --insecure "$multi" || return 1
  local inspected
  inspected=$(sed 1d "$LAST_LOG")
  expect_eq "docker: manifest inspect shows 2 manifests" 2 "$(jq -r '.manifests | length' <<<"$inspected" 2>/dev/null)"
  expect_eq "docker: manifest inspect shows linux/amd64 and linux/arm64" "linux/amd64 $pushed,linux/arm64 $arm_digest" \
    "$(jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture) \(.digest)"] | sort | join(",")' <<<"$inspected" 2>/dev/null)"
  expect_eq "docker: child manifests were pushed into real/multi" "$pushed $arm_digest" \
    "$(manifest_digest real/multi "$pushed") $(manifest_digest real/multi "$arm_digest")"
  step "docker: pull real/multi:v1 (resolves linux/amd64 from the list)" "$T_LONG" docker pull "$multi" || return 1
  expect_eq "docker: image pulled through the list is the amd64 image" "$image_id" "$(docker image inspect --format '{{.Id}}' "$multi")"
  local arm_id
  arm_id=$(docker image inspect --format '{{.Id}}' "$arm" 2>/dev/null || true)
  step "docker: pull --platform linux/arm64 real/multi:v1" "$T_LONG" docker pull --platform linux/arm64 "$multi" || return 1
  expect_eq "docker: image pulled for linux/arm64 is the variant image" "$arm_id" "$(docker image inspect --format '{{.Id}}' "$multi")"

  step_fails "docker: pull of a missing tag fails with 'manifest unknown'" "$T_SHORT" 'manifest unknown' \
    docker pull "$REG/real/app:no-such-tag"
  return 0
}

# --- b. containerd ctr -------------------------------------------------------

section_ctr() {
  need ctr ctr || return 1
  # dockerd normally spawns its own containerd with the socket under its
  # exec-root; if a system containerd is already running at the default
  # address, dockerd uses that one instead.
  local sock=$DOCK/e/containerd/containerd.sock
  if [ ! -S "$sock" ] && [ -S /run/containerd/containerd.sock ]; then
    note "ctr: no containerd under dockerd's exec-root; dockerd is using the system containerd"
    sock=/run/containerd/containerd.sock
  fi
  expect "ctr: containerd socket of the daemon found ($sock)" test -S "$sock" || return 1
  local c=(ctr --address "$sock" --namespace berthtest)
  step "ctr: images pull --plain-http real/app:v1" "$T_LONG" \
    "${c[@]}" images pull --plain-http --snapshotter native "$REG/real/app:v1" || return 1
  local want
  want=$(manifest_digest real/app v1)
  expect_eq "ctr: pulled image digest equals Berth's" "$want" \
    "$("${c[@]}" images ls 2>/dev/null | awk -v r="$REG/real/app:v1" '$1 == r {print $3}')"
  step "ctr: images tag to real/ctr:v1" "$T_SHORT" "${c[@]}" images tag "$REG/real/app:v1" "$REG/real/ctr:v1" || return 1
  step "ctr: images push --plain-http real/ctr:v1" "$T_LONG" "${c[@]}" images push --plain-http "$REG/real/ctr:v1" || return 1
  local tags
  tags=$(http_get /v2/real/ctr/tags/list)
  expect_eq "ctr: GET /v2/real/ctr/tags/list" '{"name":"real/ctr","tags":["v1"]}' "$(jq -cS . <<<"$tags" 2>/dev/null)"
  expect_eq "ctr: real/ctr:v1 has the same manifest digest" "$want" "$(manifest_digest real/ctr v1)"
  # Only matters with a system containerd: leave nothing behind in it.
  timeout "$T_SHORT" "${c[@]}" images rm "$REG/real/app:v1" "$REG/real/ctr:v1" >/dev/null 2>&1 || true
  return 0
}
