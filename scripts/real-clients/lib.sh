# Shared library of the real-client suite: settings, reporting and step helpers, HTTP helpers against Berth,
# starting and stopping Berth and dockerd, cleanup, sections and the closing line.
# Sourced by scripts/real-clients.sh, which sets SCRIPT_DIR and BERTH_BIN first.

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
  trap - EXIT
  trap "" INT TERM   # a second signal must not cut the cleanup short
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
  # Paths outside the work folder that a section made (`rm PATH` or `rmdir PATH` lines), newest first.
  if [ -s "$WORK/cleanup-paths" ]; then
    while read -r kind m; do
      case $kind in
        rm) rm -rf -- "$m" ;;
        rmdir) rmdir -- "$m" 2>/dev/null ;;
      esac
    done < <(tac "$WORK/cleanup-paths")
  fi
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
  if [ -n "${BERTH_RC_REGISTRY:-}" ]; then
    # A registry started elsewhere (the scale-out set-up behind nginx): use it as it is.
    REG=$BERTH_RC_REGISTRY
    expect_eq "registry: GET /v2/ on $REG is 200" 200 "$(http_code GET /v2/)"
    return 0
  fi
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
      if [ "$(curl -s --max-time 2 "http://$REG/healthz" 2>/dev/null)" = '{"status":"ok"}' ]; then
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

# --- sections and the closing line ------------------------------------------

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

summary() { # closing line; status 0 only if something passed and nothing failed
  local pass fail skip
  pass=$(grep -c '^pass$' "$RESULTS" || true)
  fail=$(grep -c '^fail$' "$RESULTS" || true)
  skip=$(grep -c '^skip$' "$RESULTS" || true)
  echo "real-clients: $pass passed, $fail failed, $skip skipped"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}
