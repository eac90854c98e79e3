# Shared library of the real-client sections: settings, reporting and step helpers, HTTP helpers against the
# registry, stopping what the auth section starts, cleanup, sections and the closing line. The registry and the
# private dockerd are the caller's (clients/runner.py starts them and stops them).
# Sourced by sections.sh, which sets SCRIPT_DIR, CLIENTS_DIR and BERTH_BIN first.

SKIP_DOCKER=${BERTH_SKIP_DOCKER:-0}
PYTHON=${BERTH_PYTHON:-python3}   # a python3 that has the PyPI package `oras`

BIG_LAYER_BYTES=$((40 * 1024 * 1024))
T_SHORT=30     # seconds: quick client calls
T_LONG=240     # seconds: builds, pushes and pulls of the big layer

if [ -n "${BERTH_RC_WORK:-}" ]; then   # the caller's folder: it decides whether to keep it
  WORK=$BERTH_RC_WORK OWN_WORK=0
  mkdir -p "$WORK"
else
  WORK=$(mktemp -d /tmp/berth-rc.XXXXXX) OWN_WORK=1
fi
DOCK=${BERTH_RC_DOCK:-}   # the private dockerd's short folder: socket s, exec-root e, data-root d
LOGDIR=$WORK/logs
RESULTS=$WORK/results
PIDS=$WORK/pids      # "name pid" per line, for cleanup
BERTH_LOG=${BERTH_RC_LOG:-$WORK/berth.log}   # the registry's access log; each auth run sets its own Berth's
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
  # The auth section's Berths, newest first.
  if [ -s "$PIDS" ]; then
    while read -r name pid; do
      [ -n "$pid" ] && stop_pid "$name" "$pid"
    done < <(tac "$PIDS")
  fi
  # Anything a client left mounted under the work folder.
  for d in "$WORK"; do
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
  [ -z "${KEEP_WORK:-}" ] && [ "$OWN_WORK" = 1 ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

use_registry() { # the registry under test, started by the caller (a harness Berth, or nginx of the scale-out rig)
  if [ -z "${BERTH_RC_REGISTRY:-}" ]; then
    log_fail "registry: BERTH_RC_REGISTRY names the registry under test"
    return 1
  fi
  REG=$BERTH_RC_REGISTRY
  expect_eq "registry: GET /v2/ on $REG is 200" 200 "$(http_code GET /v2/)"
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
