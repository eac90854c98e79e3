# Real-client section d: podman (pulls what the skopeo section pushed).
# Sourced by sections.sh (needs lib.sh); not run on its own.

# --- d. podman ---------------------------------------------------------------

section_podman() {
  need podman podman || return 1
  local p=(podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp"
           --storage-driver vfs --events-backend file --cgroup-manager cgroupfs)
  local src=$REG/real/sk:v1 dst=$REG/real/pod:v1 sk_digest
  sk_digest=$(manifest_digest real/sk v1)
  step "podman: pull real/sk:v1 (the skopeo-pushed image)" "$T_LONG" "${p[@]}" pull --tls-verify=false "$src" || return 1
  expect_eq "podman: pulled image digest equals Berth's" "$sk_digest" \
    "$("${p[@]}" image inspect --format '{{.Digest}}' "$src" 2>/dev/null)"
  local image_id
  image_id=$("${p[@]}" image inspect --format '{{.Id}}' "$src")
  step "podman: tag as real/pod:v1" "$T_SHORT" "${p[@]}" tag "$src" "$dst" || return 1
  step "podman: push real/pod:v1" "$T_LONG" \
    "${p[@]}" push --tls-verify=false --digestfile "$WORK/podman.digest" "$dst" || return 1
  local pod_digest
  pod_digest=$(cat "$WORK/podman.digest" 2>/dev/null || true)
  expect_eq "podman: push digest is what Berth serves for real/pod:v1" "$pod_digest" "$(manifest_digest real/pod v1)"
  step "podman: rmi both tags" "$T_SHORT" "${p[@]}" rmi "$dst" "$src" || return 1
  step "podman: pull real/pod:v1 again" "$T_LONG" "${p[@]}" pull --tls-verify=false "$dst" || return 1
  expect_eq "podman: re-pulled image digest equals pushed digest" "$pod_digest" \
    "$("${p[@]}" image inspect --format '{{.Digest}}' "$dst" 2>/dev/null)"
  expect_eq "podman: re-pulled image ID (config digest) equals the original" "$image_id" \
    "$("${p[@]}" image inspect --format '{{.Id}}' "$dst" 2>/dev/null)"
  step "podman: pull --arch arm64 from the skopeo-pushed index" "$T_LONG" \
    "${p[@]}" pull --tls-verify=false --arch arm64 "$REG/real/sk-multi:v1" || return 1
  expect_eq "podman: image pulled from the index is arm64" arm64 \
    "$("${p[@]}" image inspect --format '{{.Architecture}}' "$REG/real/sk-multi:v1" 2>/dev/null)"

  # podman's own manifest list: both platforms of the skopeo-pushed index,
  # pushed to a new repository (children are mounted/copied across).
  step "podman: manifest create + add --all real/sk-multi:v1" "$T_LONG" bash -c '
    "$@" manifest create berth-list && "$@" manifest add --all --tls-verify=false berth-list "docker://'"$REG"'/real/sk-multi:v1"' \
    _ "${p[@]}" || return 1
  step "podman: manifest push --all to real/pod-list:v1" "$T_LONG" \
    "${p[@]}" manifest push --all --tls-verify=false berth-list "docker://$REG/real/pod-list:v1" || return 1
  local want got
  want=$(http_get /v2/real/sk-multi/manifests/v1 -H "Accept: $ACCEPT_ALL" \
    | jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture) \(.digest)"] | sort | join(",")' 2>/dev/null)
  got=$(http_get /v2/real/pod-list/manifests/v1 -H "Accept: $ACCEPT_ALL" \
    | jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture) \(.digest)"] | sort | join(",")' 2>/dev/null)
  expect_eq "podman: pushed list has the same two platform manifests" "$want" "$got"
  expect_eq "podman: child manifests exist in real/pod-list" 200,200 "$(for d in $(http_get /v2/real/pod-list/manifests/v1 -H "Accept: $ACCEPT_ALL" | jq -r '.manifests[].digest'); do
      http_code HEAD "/v2/real/pod-list/manifests/$d" -H "Accept: $ACCEPT_ALL"; echo; done | paste -sd,)"
  return 0
}
