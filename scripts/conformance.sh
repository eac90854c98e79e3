#!/usr/bin/env bash
# Runs the official OCI distribution-spec conformance suite against a registry with every API enabled.
#   usage: scripts/conformance.sh URL [1.1|dev]
# The suite binary is looked up in OCI_CONFORMANCE_BIN, then ../shared/conformance beside this clone.
# Without it the run fails, unless BERTH_SKIP_CONFORMANCE=1 asks to skip (SKIP, exit 0); any failing check fails.
set -euo pipefail
if [ "${BERTH_SKIP_CONFORMANCE:-0}" = 1 ]; then
  echo "SKIP conformance: BERTH_SKIP_CONFORMANCE=1"
  exit 0
fi
url=${1:?usage: scripts/conformance.sh URL [1.1|dev]}
profile=${2:-1.1}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${OCI_CONFORMANCE_BIN:-}
if [ -z "$bin" ]; then
  for candidate in "$top/../shared/conformance/oci-conformance" /work/shared/conformance/oci-conformance; do
    if [ -x "$candidate" ]; then bin=$candidate; break; fi
  done
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  echo "FAIL conformance: no suite binary (set OCI_CONFORMANCE_BIN or put it in ../shared/conformance;" \
    "BERTH_SKIP_CONFORMANCE=1 skips)" >&2
  exit 1
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/berth-conformance.XXXXXX")
registry=${url#http://}
(
  cd "$out"
  export OCI_REGISTRY="$registry" OCI_TLS=disabled OCI_RESULTS_DIR="$out" \
    OCI_REPO1="conformance/$profile" OCI_REPO2="conformance/$profile-mount" \
    OCI_VERSION="$profile" \
    OCI_API_PING=true OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true \
    OCI_API_TAGS_DELETE=true OCI_API_MANIFESTS_DELETE=true OCI_API_BLOBS_DELETE=true
  "$bin" > stdout.txt 2> stderr.txt || true
)
python3 - "$out" "$profile" <<'PY'
import os, sys, xml.etree.ElementTree as ET
out, profile = sys.argv[1], sys.argv[2]
path = os.path.join(out, "junit.xml")
if not os.path.exists(path):
    print(f"conformance ({profile}): the suite wrote no junit.xml; see {out}/stderr.txt")
    sys.exit(1)
suite = ET.parse(path).getroot().find("testsuite")
n = lambda k: int(suite.get(k) or 0)
failed = n("failures") + n("errors")
passed = n("tests") - failed - n("skipped") - n("disabled")
for case in suite.iter("testcase"):
    if case.get("status") in ("failure", "error"):
        print("FAIL", case.get("name"))
print(f"conformance ({profile}): {passed} passed, {failed} failed, {n('skipped')} skipped; details in {out}")
sys.exit(1 if failed else 0)
PY
