"""The official OCI conformance suite (scripts/conformance.sh runs the prebuilt binary and reads its junit
report), in both profiles, against a Berth without auth and against one in token mode where the suite logs in
as a namespace maintainer and must go through the token service."""
import os, secrets, subprocess

import pytest

pytestmark = [pytest.mark.conformance, pytest.mark.xdist_group("conformance")]
PROFILES = ("1.1", "dev")


def suite(repo_root, work, url, profile, env=None):
    """Runs one profile, its results in the test's folder (kept when the test fails); returns (exit status,
    output)."""
    r = subprocess.run([os.path.join(repo_root, "scripts/conformance.sh"), url, profile], capture_output=True,
                       text=True, timeout=1200, env={**os.environ, "TMPDIR": work, **(env or {})})
    print(r.stdout + r.stderr)
    return r.returncode, r.stdout + r.stderr


def test_without_auth(berth, repo_root, work, checks):
    b = berth("open")
    b.start()
    for profile in PROFILES:
        status, out = suite(repo_root, work, b.url, profile)
        checks(status == 0, f"conformance {profile} without auth: {out.strip().splitlines()[-1:]}")


def test_token_mode(berth, repo_root, work, checks):
    password = secrets.token_urlsafe(18)
    b = berth("token", "auth:\n  mode: token\n")
    b.cli("user", "add", "conformer", "--password-stdin", stdin=password + "\n")
    b.cli("namespace", "create", "conformance", "--visibility", "private")
    b.cli("grant", "conformer", "conformance", "maintainer")
    b.start()
    for profile in PROFILES:
        status, out = suite(repo_root, work, b.url, profile, {"OCI_USERNAME": "conformer", "OCI_PASSWORD": password})
        checks(status == 0, f"conformance {profile} in token mode: {out.strip().splitlines()[-1:]}")
    # The suite must really have gone through the token service, and never as anyone else.
    issued = b.log().count('"action":"token.issue","actor":"conformer"')
    checks(issued > 0, f"the suite fetched tokens ({issued} issued to conformer)")
    checks(password not in b.log(), "the password does not appear in Berth's log")
