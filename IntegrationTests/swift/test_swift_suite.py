"""The Swift test suite (Tests/BerthTests: a real Berth over real HTTP on loopback), run from the release build
scripts/test made (--skip-build). Each test case that passes is one counted check; the suites that need a live
S3 store and PostgreSQL skip here and run with the scale-out rig (scaleout area)."""
import re, subprocess

import pytest

pytestmark = [pytest.mark.swift, pytest.mark.xdist_group("swift")]
XCTEST_CASE = re.compile(r"^Test Case '([^']+)' (passed|failed)", re.M)
# swift-testing's lines: `✔ Test name() passed after 1.2 seconds.`, `✘ Test name() failed after ...`.
SWIFT_TESTING = re.compile(r"^[✔✘] Test (.+?) (passed|failed) (?:after|with)", re.M)
SKIPPED = re.compile(r"^➜ Test (.+?) skipped", re.M)


def test_swift_suite(repo_root, checks):
    r = subprocess.run(["swift", "test", "--configuration", "release", "--skip-build"], cwd=repo_root,
                       capture_output=True, text=True, timeout=1800)
    out = r.stdout + r.stderr
    print("\n".join(line for line in out.splitlines() if not line.startswith("✔")))  # shown when it fails
    cases = XCTEST_CASE.findall(out) + SWIFT_TESTING.findall(out)
    checks.section = "swift"
    for name, outcome in cases:
        checks(outcome == "passed", name)
    skipped = SKIPPED.findall(out)
    checks(len(cases) > 0, f"the suite ran test cases ({len(cases)} ran, {len(skipped)} skipped: live S3/PostgreSQL)")
    checks(r.returncode == 0, f"swift test exits 0 (exit {r.returncode})", out[-3000:] if r.returncode else "")
