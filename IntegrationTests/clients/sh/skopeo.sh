# Real-client section c: skopeo, with OCI layouts built by umoci.
# Sourced by sections.sh (needs lib.sh); not run on its own.

# --- c. skopeo (+ umoci-built OCI layouts) -----------------------------------

build_oci_layout() { # build_oci_layout DIR: tags amd64, arm64 (images) and multi (index)
  local lay=$1 bundle arch idx d s
  umoci init --layout "$lay"
  umoci new --image "$lay:base"
  for arch in amd64 arm64; do
    bundle=$WORK/bundle-$arch
    umoci unpack --image "$lay:base" "$bundle"
    mkdir -p "$bundle/rootfs/etc"
    printf 'berth real-clients %s %s\n' "$arch" "$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$bundle/rootfs/etc/hello.txt"
    umoci repack --image "$lay:$arch" "$bundle"
    umoci config --image "$lay:$arch" --architecture "$arch" --os linux --config.cmd /bin/true
  done
  idx=$(jq -c '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
                manifests: [.manifests[]
                  | select(.annotations["org.opencontainers.image.ref.name"] as $n | $n == "amd64" or $n == "arm64")
                  | {mediaType, digest, size,
                     platform: {architecture: .annotations["org.opencontainers.image.ref.name"], os: "linux"}}]}' \
        "$lay/index.json")
  printf '%s' "$idx" >"$WORK/index.json"
  d=$(sha256sum <"$WORK/index.json" | cut -d' ' -f1)
  s=$(stat -c %s "$WORK/index.json")
  cp "$WORK/index.json" "$lay/blobs/sha256/$d"
  jq --arg d "sha256:$d" --argjson s "$s" \
    '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s,
                     annotations: {"org.opencontainers.image.ref.name": "multi"}}]' \
    "$lay/index.json" >"$WORK/index.tmp"
  mv "$WORK/index.tmp" "$lay/index.json"
}

raw_digest() { # raw_digest IMAGE-REF [skopeo flags]: sha256 of the raw manifest bytes
  local ref=$1
  shift
  echo "sha256:$(timeout "$T_SHORT" skopeo inspect --raw "$@" "$ref" | sha256sum | cut -d' ' -f1)"
}

section_skopeo() {
  need skopeo skopeo umoci jq || return 1
  local lay=$WORK/oci-src
  step "skopeo: build an OCI layout (2 platforms + index) with umoci" "$T_LONG" \
    bash -c "$(declare -f build_oci_layout); WORK='$WORK'; set -euo pipefail; build_oci_layout '$lay'" || return 1
  local src_digest multi_digest
  src_digest=$(raw_digest "oci:$lay:amd64")
  multi_digest=$(raw_digest "oci:$lay:multi")
  local sk=(skopeo --command-timeout "${T_LONG}s")

  step "skopeo: copy oci:layout:amd64 -> real/sk:v1" "$T_LONG" \
    "${sk[@]}" copy --dest-tls-verify=false "oci:$lay:amd64" "docker://$REG/real/sk:v1" || return 1
  expect_eq "skopeo: Berth serves the pushed manifest unchanged" "$src_digest" "$(manifest_digest real/sk v1)"
  step "skopeo: inspect real/sk:v1" "$T_SHORT" "${sk[@]}" inspect --tls-verify=false "docker://$REG/real/sk:v1"
  expect_eq "skopeo: inspect reports digest, linux/amd64, 1 layer, tag v1" "$src_digest linux/amd64 1 v1" \
    "$(tail -n +2 "$LAST_LOG" | jq -r '"\(.Digest) \(.Os)/\(.Architecture) \(.Layers|length) \(.RepoTags|join(","))"' 2>/dev/null)"
  step "skopeo: copy real/sk:v1 back to a new OCI layout" "$T_LONG" \
    "${sk[@]}" copy --src-tls-verify=false "docker://$REG/real/sk:v1" "oci:$WORK/oci-back:v1" || return 1
  expect_eq "skopeo: round-tripped manifest digest matches" "$src_digest" "$(raw_digest "oci:$WORK/oci-back:v1")"
  step "skopeo: list-tags real/sk" "$T_SHORT" "${sk[@]}" list-tags --tls-verify=false "docker://$REG/real/sk"
  expect "skopeo: list-tags contains v1" jq -e '.Tags | index("v1")' <(tail -n +2 "$LAST_LOG")

  # delete
  step "skopeo: copy to real/sk-del:v1" "$T_LONG" \
    "${sk[@]}" copy --dest-tls-verify=false "oci:$lay:amd64" "docker://$REG/real/sk-del:v1" || return 1
  step "skopeo: delete real/sk-del:v1" "$T_SHORT" "${sk[@]}" delete --tls-verify=false "docker://$REG/real/sk-del:v1"
  expect_eq "skopeo: manifest GET by tag after delete is 404" 404 "$(http_code GET /v2/real/sk-del/manifests/v1 -H "Accept: $ACCEPT_ALL")"
  expect_eq "skopeo: manifest GET by digest after delete is 404" 404 "$(http_code GET "/v2/real/sk-del/manifests/$src_digest" -H "Accept: $ACCEPT_ALL")"
  expect_eq "skopeo: the same manifest in real/sk is untouched" 200 "$(http_code GET /v2/real/sk/manifests/v1 -H "Accept: $ACCEPT_ALL")"

  # Docker schema 2
  step "skopeo: copy --format v2s2 -> real/sk-v2s2:v1" "$T_LONG" \
    "${sk[@]}" copy --dest-tls-verify=false --format v2s2 "oci:$lay:amd64" "docker://$REG/real/sk-v2s2:v1" || return 1
  expect_eq "skopeo: v2s2 manifest Content-Type" application/vnd.docker.distribution.manifest.v2+json \
    "$(manifest_type real/sk-v2s2 v1)"
  expect_eq "skopeo: v2s2 manifest body mediaType" application/vnd.docker.distribution.manifest.v2+json \
    "$(http_get /v2/real/sk-v2s2/manifests/v1 -H "Accept: $ACCEPT_ALL" | jq -r .mediaType 2>/dev/null)"

  # Two-platform OCI index
  step "skopeo: copy --all oci:layout:multi -> real/sk-multi:v1" "$T_LONG" \
    "${sk[@]}" copy --all --dest-tls-verify=false "oci:$lay:multi" "docker://$REG/real/sk-multi:v1" || return 1
  expect_eq "skopeo: Berth serves the index unchanged" "$multi_digest" "$(manifest_digest real/sk-multi v1)"
  expect_eq "skopeo: index Content-Type" application/vnd.oci.image.index.v1+json "$(manifest_type real/sk-multi v1)"
  expect_eq "skopeo: index lists linux/amd64 and linux/arm64" "linux/amd64,linux/arm64" \
    "$(http_get /v2/real/sk-multi/manifests/v1 -H "Accept: $ACCEPT_ALL" | jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | sort | join(",")' 2>/dev/null)"
  expect_eq "skopeo: inspect --override-arch arm64 picks the arm64 image" arm64 \
    "$(timeout "$T_SHORT" skopeo --override-arch arm64 inspect --tls-verify=false "docker://$REG/real/sk-multi:v1" 2>/dev/null | jq -r .Architecture)"
  step "skopeo: copy --all real/sk-multi:v1 back to a new OCI layout" "$T_LONG" \
    "${sk[@]}" copy --all --src-tls-verify=false "docker://$REG/real/sk-multi:v1" "oci:$WORK/oci-back-multi:v1" || return 1
  expect_eq "skopeo: round-tripped index digest matches" "$multi_digest" "$(raw_digest "oci:$WORK/oci-back-multi:v1")"
  local child missing=0
  for child in $(jq -r '.manifests[].digest' "$WORK/index.json"); do
    [ -f "$WORK/oci-back-multi/blobs/sha256/${child#sha256:}" ] || missing=1
  done
  expect_eq "skopeo: both platform manifests came back" 0 "$missing"
  return 0
}
