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
# Prints one `ok - ...` / `not ok - ...` line per check, then a closing
# `real-clients: N passed, N failed, N skipped` line; exits non-zero if any
# check failed.  A section whose tool is missing fails.  With
# BERTH_SKIP_DOCKER=1 the docker and ctr sections are skipped.  BERTH_PYTHON
# names the python3 with oras-py (default: python3 on PATH); KEEP_WORK=1 keeps
# the work folder (logs, Berth's access log) for a post-mortem.
#
# Needs root (dockerd), and: docker.io containerd skopeo podman umoci jq curl
# (Debian) and the PyPI package `oras`.  Everything it starts is stopped and
# every temporary folder removed on exit.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BERTH_BIN=${1:-$REPO_ROOT/.build/release/berth}
case $BERTH_BIN in /*) ;; *) BERTH_BIN=$PWD/$BERTH_BIN ;; esac
SKIP_DOCKER=${BERTH_SKIP_DOCKER:-0}
PYTHON=${BERTH_PYTHON:-python3}   # a python3 that has the PyPI package `oras`

BIG_LAYER_BYTES=$((40 * 1024 * 1024))
T_SHORT=30     # seconds: quick client calls
T_LONG=240     # seconds: builds, pushes and pulls of the big layer

WORK=$(mktemp -d /tmp/berth-rc.XXXXXX)
DOCK=""              # short folder for dockerd (its unix sockets need short paths)
LOGDIR=$WORK/logs
RESULTS=$WORK/results
PIDS=$WORK/pids      # "name pid" per line, for cleanup
BERTH_LOG=$WORK/berth.log
mkdir -p "$LOGDIR"
: >"$RESULTS"
: >"$PIDS"
STEP=0
LAST_LOG=""
PORT=""
REG=""

# --- reporting --------------------------------------------------------------

log_ok()   { printf 'ok - %s\n' "$*"; echo pass >>"$RESULTS"; }
log_fail() { printf 'not ok - %s\n' "$*"; echo fail >>"$RESULTS"; }
log_skip() { printf 'ok - %s # SKIP\n' "$*"; echo skip >>"$RESULTS"; }
note()     { printf '# %s\n' "$*"; }
show()     { sed -e 's/^/#   /' | tail -n "${1:-25}"; }   # indented tail of stdin

# step DESC SECONDS CMD...: run CMD under a timeout, output kept in $LAST_LOG.
step() {
  local desc=$1 secs=$2 rc=0
  shift 2
  STEP=$((STEP + 1))
  LAST_LOG=$(printf '%s/%03d.log' "$LOGDIR" "$STEP")
  { printf '$'; printf ' %q' "$@"; printf '\n'; } >"$LAST_LOG"
  timeout -k 10 "$secs" "$@" </dev/null >>"$LAST_LOG" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    log_ok "$desc"
    return 0
  fi
  log_fail "$desc"
  if [ "$rc" -eq 124 ]; then note "  timed out after ${secs}s"; else note "  exit status $rc"; fi
  show 25 <"$LAST_LOG"
  return 1
}

# step_fails DESC SECONDS PATTERN CMD...: CMD must fail and its output match PATTERN (grep -Ei).
step_fails() {
  local desc=$1 secs=$2 pattern=$3 rc=0
  shift 3
  STEP=$((STEP + 1))
  LAST_LOG=$(printf '%s/%03d.log' "$LOGDIR" "$STEP")
  { printf '$'; printf ' %q' "$@"; printf '\n'; } >"$LAST_LOG"
  timeout -k 10 "$secs" "$@" </dev/null >>"$LAST_LOG" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && tail -n +2 "$LAST_LOG" | grep -Eqi -- "$pattern"; then
    log_ok "$desc"
    return 0
  fi
  log_fail "$desc"
  note "  exit status $rc, wanted a failure whose output matches /$pattern/i"
  show 25 <"$LAST_LOG"
  return 1
}

# expect_eq DESC WANT GOT
expect_eq() {
  if [ -n "$2" ] && [ "$2" = "$3" ]; then
    log_ok "$1"
    return 0
  fi
  log_fail "$1"
  note "  want: $2"
  note "  got:  $3"
  return 1
}

# expect DESC CMD...: a silent predicate (test, grep -q, jq -e ...).
expect() {
  local desc=$1
  shift
  if "$@" >/dev/null 2>&1; then
    log_ok "$desc"
    return 0
  fi
  log_fail "$desc"
  note "  false: $*"
  return 1
}

# in_log REGEX: Berth's access log has a matching line. Berth writes access lines in batches (every 100 ms),
# so this waits up to 3 s for it.
in_log() {
  local i
  for i in $(seq 1 30); do
    grep -Eq "$1" "$BERTH_LOG" && return 0
    sleep 0.1
  done
  return 1
}

# need SECTION TOOL...: every TOOL must be on PATH (a missing tool is a failure).
need() {
  local section=$1 t missing=0
  shift
  for t in "$@"; do
    if ! command -v "$t" >/dev/null 2>&1; then
      log_fail "$section: required tool '$t' is installed"
      missing=1
    fi
  done
  return "$missing"
}

# --- HTTP helpers (curl against Berth) --------------------------------------

ACCEPT_ALL="application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json"

http_code() {   # http_code METHOD PATH [curl args...]
  local method=$1 path=$2
  shift 2
  local head=()
  [ "$method" = HEAD ] && head=(-I)
  curl -s -o /dev/null -w '%{http_code}' --max-time "$T_SHORT" "${head[@]}" -X "$method" "$@" "http://$REG$path" || true
}

http_header() { # http_header PATH HEADER [curl args...]: value of HEADER on a GET
  local path=$1 name=$2
  shift 2
  curl -s -D - -o /dev/null --max-time "$T_SHORT" "$@" "http://$REG$path" \
    | tr -d '\r' | awk -v IGNORECASE=1 -v h="$name" 'BEGIN{h=tolower(h)} tolower($0) ~ "^"h":" {sub(/^[^:]*:[ \t]*/, ""); print; exit}' || true
}

http_get() {    # http_get PATH [curl args...]: body of a GET (empty on failure)
  local path=$1
  shift
  curl -sf --max-time "$T_SHORT" "$@" "http://$REG$path" || true
}

manifest_digest() { # manifest_digest REPO REF: Docker-Content-Digest of the manifest
  http_header "/v2/$1/manifests/$2" Docker-Content-Digest -H "Accept: $ACCEPT_ALL"
}

manifest_type() {   # manifest_type REPO REF: Content-Type of the manifest
  http_header "/v2/$1/manifests/$2" Content-Type -H "Accept: $ACCEPT_ALL" | cut -d';' -f1
}

# --- process handling --------------------------------------------------------

alive() { # alive PID: running and not a zombie
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)
  [ "$st" != Z ] && [ "$st" != X ]
}

stop_pid() { # stop_pid NAME PID: TERM, bounded wait, then KILL
  local name=$1 pid=$2
  alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do
    alive "$pid" || break
    sleep 0.25
  done
  if alive "$pid"; then
    echo "# $name (pid $pid) ignored SIGTERM for 20s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do alive "$pid" || break; sleep 0.25; done
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$? name pid m
  set +e
  trap - EXIT INT TERM
  # Stop in reverse order of start: dockerd (which stops the containerd it
  # spawned), then Berth.
  if [ -s "$PIDS" ]; then
    while read -r name pid; do
      [ -n "$pid" ] && stop_pid "$name" "$pid"
    done < <(tac "$PIDS")
  fi
  # dockerd's containerd, if it outlived dockerd (checked by name: it is not
  # our child, and its pid file may be stale).
  if [ -n "$DOCK" ] && [ -s "$DOCK/e/containerd/containerd.pid" ]; then
    pid=$(cat "$DOCK/e/containerd/containerd.pid")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = containerd ] \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$DOCK/"; then
      stop_pid containerd "$pid"
    fi
  fi
  # dockerd makes its data-root a private bind mount; drop anything left mounted.
  for d in "$DOCK" "$WORK"; do
    [ -n "$d" ] || continue
    awk -v p="$d/" 'index($2, p) == 1 {print $2}' /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
    awk -v p="$d" '$2 == p {print $2}' /proc/self/mounts 2>/dev/null | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
  [ -n "${KEEP_WORK:-}" ] && echo "# KEEP_WORK set: logs left in $WORK" >&2
  [ -n "$DOCK" ] && rm -rf "$DOCK"
  [ -z "${KEEP_WORK:-}" ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_berth() {
  local attempt pid
  if [ ! -x "$BERTH_BIN" ]; then
    log_fail "berth: binary $BERTH_BIN exists and is executable"
    return 1
  fi
  for attempt in 1 2 3; do
    PORT=$(free_port)
    REG=127.0.0.1:$PORT
    "$BERTH_BIN" serve --address "$REG" --root "$WORK/berth-root" </dev/null >>"$BERTH_LOG" 2>&1 &
    pid=$!
    echo "berth $pid" >>"$PIDS"
    for _ in $(seq 1 200); do
      alive "$pid" || break
      if [ "$(curl -s --max-time 2 "http://$REG/healthz" 2>/dev/null)" = ok ]; then
        log_ok "berth: serves /healthz on $REG (attempt $attempt)"
        expect_eq "berth: GET /v2/ is 200" 200 "$(http_code GET /v2/)"
        return 0
      fi
      sleep 0.1
    done
    note "berth did not come up on $REG (attempt $attempt)"
    stop_pid berth "$pid"
  done
  log_fail "berth: serves /healthz"
  show 30 <"$BERTH_LOG"
  return 1
}

# dockerd is started from the main shell (not a section subshell) so that the
# cleanup can wait for it and reap it.
start_dockerd() {
  local pid
  DOCK=$(mktemp -d /tmp/bd.XXXX)
  mkdir -p "$DOCK/d" "$DOCK/e"
  dockerd --iptables=false --ip-masq=false --bridge=none --storage-driver=vfs \
    --data-root "$DOCK/d" --exec-root "$DOCK/e" --host "unix://$DOCK/s" \
    --pidfile "$DOCK/p" </dev/null >"$DOCK/dockerd.log" 2>&1 &
  pid=$!
  echo "dockerd $pid" >>"$PIDS"
  for _ in $(seq 1 120); do
    alive "$pid" || break
    if [ -S "$DOCK/s" ] && DOCKER_HOST="unix://$DOCK/s" timeout 5 docker version >/dev/null 2>&1; then
      break
    fi
    sleep 0.5
  done
  if ! DOCKER_HOST="unix://$DOCK/s" timeout 5 docker version >/dev/null 2>&1; then
    log_fail "docker: private dockerd starts and answers"
    show 30 <"$DOCK/dockerd.log"
    return 1
  fi
  log_ok "docker: private dockerd starts and answers"
  # dockerd spawns containerd with its socket under the exec-root.
  for _ in $(seq 1 40); do
    [ -S "$DOCK/e/containerd/containerd.sock" ] && break
    sleep 0.25
  done
  return 0
}

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
  expect "docker: Berth access log shows a 201 mount POST for real/other" \
    in_log 'POST /v2/real/other/blobs/uploads/?(\?[^ ]*)? 201'

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

# --- e. oras-py (referrers) ---------------------------------------------------

run_oras() { # run_oras REPO TAG: relay the TAP lines of scripts/oras_referrers.py
  local repo=$1 tag=$2 out rc=0 line bad=0
  out=$WORK/oras-${repo//\//_}.out
  timeout -k 10 "$T_LONG" "$PYTHON" "$SCRIPT_DIR/oras_referrers.py" "$REG" "$repo" "$tag" "$WORK/oras-${repo//\//_}" \
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

# --- f. registry API summary --------------------------------------------------

section_summary() {
  local catalog want r missing=""
  catalog=$(http_get /v2/_catalog)
  want="real/sk real/sk-v2s2 real/sk-multi real/pod real/pod-list"
  [ "$SKIP_DOCKER" != 1 ] && want="real/app real/other real/app-arm64 real/multi real/ctr $want"
  for r in $want; do
    jq -e --arg r "$r" '.repositories | index($r)' <<<"$catalog" >/dev/null 2>&1 || missing="$missing $r"
  done
  expect "api: /v2/_catalog lists every multi-level repository pushed by the clients" test -z "$missing" \
    || note "  missing:$missing; catalog: $catalog"
}

# --- main ---------------------------------------------------------------------

# Sections run in a subshell without errexit: a failed check is logged and the
# section goes on; a section returns early (`|| return 1`) only where later
# checks depend on a failed step.
run_section() { # run_section NAME FUNCTION
  local name=$1 fn=$2 before after rc=0 t0
  before=$(grep -c fail "$RESULTS" || true)
  t0=$(date +%s)
  note "--- $name ---"
  set +e
  ( "$fn" )
  rc=$?
  set -e
  after=$(grep -c fail "$RESULTS" || true)
  if [ "$rc" -ne 0 ] && [ "$after" -eq "$before" ]; then
    log_fail "$name: section ran to completion (exit $rc)"
  elif [ "$rc" -ne 0 ]; then
    note "$name: section stopped early after a failure; its later checks did not run"
  fi
  note "$name: $(( $(date +%s) - t0 ))s"
}

main() {
  local t0
  t0=$(date +%s)
  note "berth binary: $BERTH_BIN"
  note "work dir: $WORK"
  need berth curl jq python3 timeout || true
  start_berth || { summary || true; exit 1; }
  note "registry: $REG"

  if [ "$SKIP_DOCKER" = 1 ]; then
    note "BERTH_SKIP_DOCKER=1: skipping the docker and ctr sections"
    log_skip "docker: docker CLI section (BERTH_SKIP_DOCKER=1)"
    log_skip "ctr: containerd ctr section (BERTH_SKIP_DOCKER=1)"
  else
    if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
      start_dockerd || true
    fi
    run_section "a. docker" section_docker
    run_section "b. ctr" section_ctr
  fi
  run_section "c. skopeo" section_skopeo
  run_section "d. podman" section_podman
  run_section "e. oras" section_oras
  run_section "f. api" section_summary

  if ! alive "$(awk '$1 == "berth" {p=$2} END {print p}' "$PIDS")"; then
    log_fail "berth: still running after all clients"
    show 30 <"$BERTH_LOG"
  fi
  expect "berth: log has no fatal/panic/crash lines" bash -c "! grep -Eqi 'fatal|panic|crash' '$BERTH_LOG'" \
    || grep -Ei 'fatal|panic|crash' "$BERTH_LOG" | show 10

  note "runtime: $(( $(date +%s) - t0 ))s"
  summary
}

summary() { # closing line; status 0 only if something passed and nothing failed
  local pass fail skip
  pass=$(grep -c '^pass$' "$RESULTS" || true)
  fail=$(grep -c '^fail$' "$RESULTS" || true)
  skip=$(grep -c '^skip$' "$RESULTS" || true)
  echo "real-clients: $pass passed, $fail failed, $skip skipped"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

main "$@"
