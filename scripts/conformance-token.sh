#!/usr/bin/env bash
# The OCI conformance suite against Berth in token mode: the suite logs in as a user who is maintainer of the
# `conformance` namespace (OCI_USERNAME/OCI_PASSWORD) and follows the Bearer challenges to /auth/token.
#   usage: scripts/conformance-token.sh BERTH_BINARY
set -euo pipefail
bin=${1:?usage: scripts/conformance-token.sh BERTH_BINARY}
top=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d "${TMPDIR:-/tmp}/berth-conf-token.XXXXXX")
pid=""
trap '[ -n "$pid" ] && { kill $pid 2>/dev/null; wait $pid 2>/dev/null; }; rm -rf "$root"' EXIT
password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
echo "$password" | "$bin" user add conformer --password-stdin --root "$root/data" >/dev/null
"$bin" namespace create conformance --visibility private --root "$root/data" >/dev/null
"$bin" grant conformer conformance maintainer --root "$root/data" >/dev/null
printf 'auth:\n  mode: token\n' > "$root/config.yml"
"$bin" serve --address 127.0.0.1:0 --root "$root/data" --config "$root/config.yml" > "$root/berth.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$root/berth.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "berth did not start:"; cat "$root/berth.log"; exit 1; }
status=0
for profile in 1.1 dev; do
  OCI_USERNAME=conformer OCI_PASSWORD=$password "$top/scripts/conformance.sh" "http://127.0.0.1:$port" "$profile" || status=1
done
# The suite must really have gone through the token service, and never as anyone else.
issued=$(grep -c '"action":"token.issue","actor":"conformer"' "$root/berth.log" || true)
echo "token mode: $issued tokens issued to the suite"
[ "$issued" -gt 0 ] || { echo "FAIL: the suite never fetched a token"; status=1; }
if grep -q "$password" "$root/berth.log"; then echo "FAIL: the password appears in Berth's log"; status=1; fi
exit $status
