# Real-client section g: authentication (docs/SECURITY.md).  Drives the real clients against Berths that
# require credentials: for each run of BERTH_RC_AUTH_RUNS (default "basic/http token/http basic/tls
# token/tls") a fresh root gets its users from the CLI before a Berth starts on it with `auth.mode` basic or
# token, over plain HTTP on 127.0.0.1 or over TLS with a throwaway CA (certificate for localhost and
# 127.0.0.1).  Per run:
#   alice   writer of the private namespace `team`        bob   reader of `team`
#   an access token of alice's for repository:team/ci:pull,push, used as a password by docker and skopeo
# and checks: the challenge, logins (right and wrong password), pushes and pulls as alice, refusals without
# credentials, for the reader's pushes and outside the token's scope, by docker (private daemon; over TLS
# it talks to localhost:PORT with the CA in /etc/docker/certs.d), skopeo, podman, containerd's ctr and the
# oras-py SDK (clients/oras_auth.py); then that Berth's log holds no secret and has audit records.
# Every client keeps its credentials under the run's folder (HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE).
# Sourced by sections.sh (needs lib.sh, skopeo.sh, auth-docker.sh, auth-clients.sh).

AUTH_RUNS=${BERTH_RC_AUTH_RUNS:-basic/http token/http basic/tls token/tls}
AUTH_SRC_IMAGE=berth-auth/src:v1   # the docker image every run pushes (built once, from local files)
AUTH_ERR='unauthori[sz]ed|denied|no basic auth credentials|authentication required|authorization'
LOGIN_ERR='unauthori[sz]ed|401|invalid username/password|incorrect|denied'
DENIED_ERR='denied|unauthori[sz]ed'
FEED=(bash -c 'printf "%s\n" "$1" | "${@:2}"' feed)   # FEED SECRET CMD...: CMD with SECRET on its stdin

rand_hex() { head -c "${1:-8}" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# expect_match DESC REGEX STRING: STRING matches the (bash, extended) REGEX.
expect_match() {
  if [[ $3 =~ $2 ]]; then
    log_ok "$1"
    return 0
  fi
  log_fail "$1"
  note "  want /$2/"
  note "  got:  $3"
  return 1
}

# make_test_ca DIR: DIR/ca.crt, a throwaway CA; DIR/server.{crt,key}, its certificate for localhost and
# 127.0.0.1; DIR/certs/ca.crt, a --cert-dir for skopeo and podman.
make_test_ca() {
  local d=$1
  mkdir -p "$d/certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Berth real-clients throwaway CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$d/ca.key" -out "$d/ca.crt"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$d/server.key" -out "$d/server.csr"
  printf '%s\n' "subjectAltName = DNS:localhost, IP:127.0.0.1" "basicConstraints = critical, CA:FALSE" \
    "keyUsage = critical, digitalSignature, keyEncipherment" "extendedKeyUsage = serverAuth" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/server.ext" -out "$d/server.crt"
  chmod 600 "$d/ca.key" "$d/server.key"
  cp "$d/ca.crt" "$d/certs/ca.crt"
}

# --- curl against the run's Berth ------------------------------------------------------------------------

acurl() { curl -s --max-time "$T_SHORT" "${CURL_TLS[@]}" "$@"; }
acode() { # acode PATH [curl args...]: status of a GET
  local path=$1
  shift
  acurl -o /dev/null -w '%{http_code}' "$@" "$BASE$path" || true
}
alice_curl() { # alice_curl REPO CURL-ARGS...: curl as alice (token mode: with a token for pull on REPO)
  local repo=$1 tok
  shift
  if [ "$AMODE" = token ]; then
    tok=$(acurl -f -u "alice:$PW_ALICE" "$BASE/auth/token?service=berth&scope=repository:$repo:pull" \
      | jq -r '.token // .access_token // empty' 2>/dev/null || true)
    acurl -H "Authorization: Bearer $tok" "$@"
  else
    acurl -u "alice:$PW_ALICE" "$@"
  fi
}
areg_digest() { # areg_digest REPO REF: Docker-Content-Digest of the manifest, read as alice
  alice_curl "$1" -D - -o /dev/null -H "Accept: $ACCEPT_ALL" "$BASE/v2/$1/manifests/$2" | tr -d '\r' \
    | awk 'tolower($1) == "docker-content-digest:" {print $2; exit}' || true
}
audit_has() { # audit_has [jq args...] FILTER: one of Berth's audit lines ({"audit":{...}}) has .audit matching
  sed -n 's/^[^{]*\({"audit":.*\)$/\1/p' "$BERTH_LOG" | jq -e -s "${@:1:$#-1}" "map(.audit) | any(${*: -1})" >/dev/null
}
refusal() { # refusal REPO: status, challenge and (key-sorted) body of an anonymous GET of REPO's manifest v1,
  local h=$RUN/refusal.h b   # with REPO itself (named in a token challenge's scope) written as REPO
  b=$(acurl -D "$h" -H "Accept: $ACCEPT_ALL" "$BASE/v2/$1/manifests/v1" | jq -cS . 2>/dev/null || true)
  printf '%s | %s | %s' "$(head -n1 "$h" | tr -d '\r')" "$(tr -d '\r' <"$h" | grep -i '^www-authenticate:')" "$b" \
    | sed "s|$1|REPO|g"
}
challenge() { # challenge PATH: the WWW-Authenticate header of an anonymous GET
  acurl -D - -o /dev/null "$BASE$1" | tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa][Uu][Tt][Hh][Ee][Nn][Tt][Ii][Cc][Aa][Tt][Ee]: *//p' | head -n1
}

# isolate NAME: a fresh HOME and credential files for one client, so no login reaches root's home or
# another client (containers/image also reads $DOCKER_CONFIG/config.json and ~/.config/containers).
isolate() {
  local d=$RUN/home-$1
  LOGDIR=$RUN/logs-$1   # step logs of each client apart (the step counter restarts in each subshell)
  mkdir -p "$d/.config" "$d/docker" "$LOGDIR"
  export HOME=$d XDG_CONFIG_HOME=$d/.config DOCKER_CONFIG=$d/docker REGISTRY_AUTH_FILE=$d/auth.json
}

# --- one run: a Berth in one mode over one transport --------------------------------------------------------

auth_setup() { # users, namespace, grants and a CI token from the CLI, then the config file
  local b=("$BERTH_BIN")
  step "$L: berth user add alice --password-stdin" 60 "${FEED[@]}" "$PW_ALICE" "${b[@]}" user add alice --password-stdin --root "$ROOT" || return 1
  step "$L: berth user add bob --password-stdin" 60 "${FEED[@]}" "$PW_BOB" "${b[@]}" user add bob --password-stdin --root "$ROOT" || return 1
  step "$L: berth namespace create team --visibility private" "$T_SHORT" "${b[@]}" namespace create team --visibility private --root "$ROOT" || return 1
  step "$L: berth grant alice team writer" "$T_SHORT" "${b[@]}" grant alice team writer --root "$ROOT" || return 1
  step "$L: berth grant bob team reader" "$T_SHORT" "${b[@]}" grant bob team reader --root "$ROOT" || return 1
  step "$L: berth namespace create pub --visibility public" "$T_SHORT" "${b[@]}" namespace create pub --visibility public --root "$ROOT" || return 1
  step "$L: berth grant alice pub writer" "$T_SHORT" "${b[@]}" grant alice pub writer --root "$ROOT" || return 1
  step "$L: berth token create --user alice --scope repository:team/ci:pull,push --expires 1h" "$T_SHORT" \
    "${b[@]}" token create --user alice --scope repository:team/ci:pull,push --expires 1h --root "$ROOT" || return 1
  CI_TOKEN=$(tail -n +2 "$LAST_LOG" | sed -n 's/^token:[[:space:]]*//p' | head -n1)
  CI_TOKEN_ID=$(tail -n +2 "$LAST_LOG" | sed -n 's/^id:[[:space:]]*//p' | head -n1)
  expect "$L: token create prints id: and token: lines" test -n "$CI_TOKEN" -a -n "$CI_TOKEN_ID" \
    || { show 5 <"$LAST_LOG"; return 1; }
  # Lockout is not what this suite checks, and its deliberate wrong passwords all come from 127.0.0.1.
  {
    printf 'auth:\n  mode: %s\n  lockout:\n    attempts: 1000\n    window: 1m\n' "$AMODE"
    [ "$ATRANSPORT" = tls ] && printf 'tls:\n  certificate: %s\n  key: %s\n' "$AW/tls/server.crt" "$AW/tls/server.key"
  } >"$RUN/berth.yaml"
  step "$L: berth config check" "$T_SHORT" "${b[@]}" config check "$RUN/berth.yaml" || return 1
}

free_port() { # a port free on 127.0.0.1 now (the start retries if another process takes it first)
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

auth_start_berth() {
  local attempt pid code
  for attempt in 1 2 3; do
    APORT=$(free_port)
    BASE=$SCHEME://127.0.0.1:$APORT
    "$BERTH_BIN" serve --config "$RUN/berth.yaml" --address "127.0.0.1:$APORT" --root "$ROOT" </dev/null >>"$BERTH_LOG" 2>&1 &
    pid=$!
    echo "berth-auth $pid" >>"$PIDS"
    for _ in $(seq 1 200); do
      alive "$pid" || break
      code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/v2/" || true)
      if [ -n "$code" ] && [ "$code" != 000 ]; then
        AUTH_PID=$pid
        log_ok "$L: berth serves $BASE (attempt $attempt)"
        return 0
      fi
      sleep 0.1
    done
    note "berth did not come up on $BASE (attempt $attempt)"
    stop_pid berth-auth "$pid"
  done
  log_fail "$L: berth serves $SCHEME on 127.0.0.1"
  show 30 <"$BERTH_LOG"
  return 1
}

auth_http_checks() {
  local www tok
  expect_eq "$L: anonymous GET /v2/ is 401" 401 "$(acode /v2/)"
  if [ "$ATRANSPORT" = tls ]; then
    expect_match "$L: plain HTTP to the TLS port gets no registry answer" '^(000|400)$' \
      "$(curl -s -o /dev/null -w '%{http_code}' --max-time "$T_SHORT" "http://127.0.0.1:$APORT/v2/" || true)"
  fi
  www=$(challenge /v2/)
  if [ "$AMODE" = basic ]; then
    expect_match "$L: the challenge is Basic realm=\"Berth\"" '^Basic realm="Berth"' "$www"
    expect_eq "$L: GET /v2/ as alice is 200" 200 "$(acode /v2/ -u "alice:$PW_ALICE")"
    expect_eq "$L: GET /v2/ with a wrong password is 401" 401 "$(acode /v2/ -u "alice:$PW_BAD")"
    expect_eq "$L: GET /v2/ with alice's CI token as the password is 200" 200 "$(acode /v2/ -u "alice:$CI_TOKEN")"
  else
    expect_match "$L: the challenge is Bearer with realm $BASE/auth/token" "^Bearer .*realm=\"$BASE/auth/token\"" "$www"
    expect_match "$L: the challenge names service=\"berth\"" 'service="berth"' "$www"
    tok=$(acurl -f -u "alice:$PW_ALICE" "$BASE/auth/token?service=berth&scope=repository:team/app:pull,push" \
      | jq -r '.token // empty' 2>/dev/null || true)
    expect "$L: GET /auth/token as alice answers a token" test -n "$tok"
    expect_eq "$L: GET /v2/ with alice's bearer token is 200" 200 "$(acode /v2/ -H "Authorization: Bearer $tok")"
    expect_eq "$L: GET /auth/token with a wrong password is 401" 401 \
      "$(acode "/auth/token?service=berth&scope=repository:team/app:pull" -u "alice:$PW_BAD")"
    expect_eq "$L: GET /auth/token with alice's CI token as the password is 200" 200 \
      "$(acode "/auth/token?service=berth&scope=repository:team/ci:pull,push" -u "alice:$CI_TOKEN")"
  fi
}

auth_after_checks() {
  local s leaked=""
  expect_eq "$L: anonymous GET of a private manifest (team/sk:v1) is 401" 401 \
    "$(acode /v2/team/sk/manifests/v1 -H "Accept: $ACCEPT_ALL")"
  expect_eq "$L: anonymous GETs of a missing and an existing private manifest look the same" \
    "$(refusal team/sk)" "$(refusal team/no-such-repo)"
  expect "$L: berth still running after all clients" alive "$AUTH_PID"
  sleep 0.3   # Berth writes its log lines in batches
  for s in "$PW_ALICE" "$PW_BOB" "$PW_BAD" "$CI_TOKEN" "$(printf 'alice:%s' "$PW_ALICE" | base64 -w0)"; do
    grep -qF -- "$s" "$BERTH_LOG" && leaked="$leaked ${s:0:8}..."
  done
  expect "$L: Berth's log holds no password, access token or Basic credential" test -z "$leaked" \
    || note "  leaked:$leaked"
  expect "$L: audit: alice's failed logins are recorded (target alice, not ok)" \
    audit_has '.target == "alice" and .outcome != "ok"'
  expect "$L: audit: alice's push of team/sk is recorded with her address" \
    audit_has '.actor == "alice" and (.target | startswith("team/sk@")) and .outcome == "ok" and .address == "127.0.0.1"'
  expect "$L: audit: the push with the CI token names the token's id" \
    audit_has --arg id "$CI_TOKEN_ID" '.actor == "alice" and .token_id == $id and (.target | startswith("team/ci@"))'
  expect "$L: Berth's log has no fatal/panic/crash lines" bash -c "! grep -Eqi 'fatal|panic|crash' '$BERTH_LOG'" \
    || grep -Ei 'fatal|panic|crash' "$BERTH_LOG" | show 10
}

# Docker reads /etc/docker/certs.d/HOST:PORT/ca.crt at each registry call. Every path made here is also
# listed for lib.sh's cleanup.
auth_docker_ca() { # auth_docker_ca install|remove
  local dir=/etc/docker/certs.d/localhost:$APORT
  [ "$AUTH_DOCKER" = 1 ] && [ "$ATRANSPORT" = tls ] || return 0
  if [ "$1" = install ]; then
    if [ ! -d /etc/docker/certs.d ]; then
      mkdir -p /etc/docker/certs.d
      AUTH_MADE_CERTS_D=1
      echo "rmdir /etc/docker/certs.d" >>"$WORK/cleanup-paths"
    fi
    echo "rm $dir" >>"$WORK/cleanup-paths"
    mkdir -p "$dir"
    cp "$AW/tls/ca.crt" "$dir/ca.crt"
  else
    rm -rf "$dir"
    [ "${AUTH_MADE_CERTS_D:-0}" = 1 ] && rmdir /etc/docker/certs.d 2>/dev/null
    return 0
  fi
}

auth_run() { # auth_run MODE TRANSPORT
  local t0
  t0=$(date +%s)
  AMODE=$1 ATRANSPORT=$2 L="auth $1/$2" RUN=$AW/$1-$2
  ROOT=$RUN/root BERTH_LOG=$RUN/berth.log AUTH_PID=""
  PW_ALICE=alice-pw.$(rand_hex 6) PW_BOB=bob-pw.$(rand_hex 6) PW_BAD=wrong-pw.$(rand_hex 6) CI_TOKEN="" CI_TOKEN_ID=""
  if [ "$ATRANSPORT" = tls ]; then
    SCHEME=https CA=$AW/tls/ca.crt CERTDIR=$AW/tls/certs CURL_TLS=(--cacert "$CA")
  else
    SCHEME=http CA="" CERTDIR="" CURL_TLS=()
  fi
  LOGDIR=$RUN/logs
  mkdir -p "$RUN" "$LOGDIR"
  note "--- $L ---"
  auth_setup && auth_start_berth || return 1
  IPREG=127.0.0.1:$APORT LHREG=127.0.0.1:$APORT
  [ "$ATRANSPORT" = tls ] && LHREG=localhost:$APORT   # docker and podman use the DNS name over TLS
  auth_http_checks
  auth_docker_ca install
  (auth_skopeo)
  (auth_docker)
  (auth_podman)
  (auth_ctr)
  (auth_oras)
  (auth_anonymous)
  auth_docker_ca remove
  auth_after_checks
  stop_pid berth-auth "$AUTH_PID"
  note "$L: $(( $(date +%s) - t0 ))s"
}

section_auth() {
  need auth curl jq openssl umoci "$PYTHON" || return 1
  AW=$WORK/auth
  mkdir -p "$AW"
  AUTH_DOCKER=0
  if [ "$SKIP_DOCKER" = 1 ]; then
    note "auth: BERTH_SKIP_DOCKER=1: no docker or ctr checks"
  elif [ -n "$DOCK" ] && [ -S "$DOCK/s" ]; then
    AUTH_DOCKER=1
  else
    log_fail "auth: the private dockerd is running"
  fi
  step "auth: make a throwaway CA and a server certificate (localhost, 127.0.0.1)" 60 \
    bash -c "$(declare -f make_test_ca); set -euo pipefail; make_test_ca '$AW/tls'" || return 1
  step "auth: the certificate verifies for localhost and 127.0.0.1" "$T_SHORT" bash -c "
    openssl verify -CAfile '$AW/tls/ca.crt' -verify_hostname localhost '$AW/tls/server.crt' &&
    openssl verify -CAfile '$AW/tls/ca.crt' -verify_ip 127.0.0.1 '$AW/tls/server.crt'" || return 1
  step "auth: build an OCI layout with umoci (the skopeo, podman and ctr image)" "$T_LONG" \
    bash -c "$(declare -f build_oci_layout); WORK='$AW'; set -euo pipefail; build_oci_layout '$AW/oci'" || return 1
  if [ "$AUTH_DOCKER" = 1 ]; then
    mkdir -p "$AW/ctx" "$AW/dk-build"
    head -c $((1024 * 1024)) /dev/urandom >"$AW/ctx/data.bin"
    echo "berth real-clients auth $(rand_hex 8)" >"$AW/ctx/hello.txt"
    printf 'FROM scratch\nCOPY data.bin /data.bin\nCOPY hello.txt /hello.txt\n' >"$AW/ctx/Dockerfile"
    step "auth: docker build of a small two-layer FROM scratch image" "$T_LONG" \
      env DOCKER_HOST="unix://$DOCK/s" DOCKER_CONFIG="$AW/dk-build" DOCKER_BUILDKIT=0 \
      docker build -t "$AUTH_SRC_IMAGE" "$AW/ctx" || AUTH_DOCKER=0
  fi
  local run
  for run in $AUTH_RUNS; do
    case $run in
      basic/http | token/http | basic/tls | token/tls) auth_run "${run%/*}" "${run#*/}" ;;
      *) log_fail "auth: BERTH_RC_AUTH_RUNS entry '$run' is one of basic/http token/http basic/tls token/tls" ;;
    esac
  done
  return 0
}
