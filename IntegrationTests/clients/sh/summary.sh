# Real-client section f: registry-API summary over what the clients pushed.
# Sourced by sections.sh (needs lib.sh); not run on its own.

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
