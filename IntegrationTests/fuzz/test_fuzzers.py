"""The libFuzzer harnesses of Fuzz/Targets (scripts/fuzz.sh builds them with sanitizers in .build-fuzz and runs
each from its seed corpus for BERTH_FUZZ_SECONDS, default 30). Each target that ran without a crash is one
counted check; a crash fails the test with the inputs' paths in the output."""
import os, re, subprocess

import pytest

pytestmark = [pytest.mark.fuzz, pytest.mark.xdist_group("fuzz")]


def test_fuzzers(repo_root, checks):
    seconds = os.environ.get("BERTH_FUZZ_SECONDS", "30")
    targets = sorted(os.listdir(os.path.join(repo_root, "Fuzz/Targets")))
    r = subprocess.run([os.path.join(repo_root, "scripts/fuzz.sh"), seconds], cwd=repo_root, capture_output=True,
                       text=True, timeout=3600)
    out = r.stdout + r.stderr
    print(out[-6000:])
    checks.section = "fuzz"
    for t in targets:
        checks(re.search(rf"^fuzz: {re.escape(t)} ok:", out, re.M) is not None, f"{t}: no crash in {seconds}s")
    checks(r.returncode == 0, f"scripts/fuzz.sh exits 0 (exit {r.returncode})")
