"""Power loss: every write Berth acknowledges must be on stable storage before its response leaves.

A kill -9 test cannot see a missing sync (the page cache survives a killed process), so this one runs Berth
under `strace -f` and judges, for each acknowledged write sent one at a time, the syscall trace before the
response's first byte (durability/trace.py has the rules). Berth starts on a data root that does not exist
yet, two levels of it, so the root's own creation must be made durable too.

Four runs: three rounds of the workload; a root that exists with the first blob's folder made and never
synced (as after a crash between a mkdir and its sync: Berth must still sync its parent before acknowledging
a blob renamed into it); token mode, with signing keys in a folder outside the root that does not exist yet
(`auth.token.keys`: the key written at startup must be synced and renamed into a synced folder, and the
folders made for it synced, before the first acknowledged write; every request carries a registry JWT); and
Berth with --no-fsync, where the check must find violations: proof that it can fail."""
import hashlib, os, shutil

import pytest

from durability.trace import acknowledged, check, folders_made, parse_trace
from durability.traced import TracedBerth
from durability.workload import run_workload

pytestmark = [pytest.mark.durability, pytest.mark.xdist_group("durability")]
RUNS = {  # name: (rounds, stale blob folder, token mode, berth serve args, expect violations)
    "three-rounds": (3, False, False, (), False),
    "stale-blob-folder": (1, True, False, (), False),
    "token-mode": (1, False, True, (), False),
    "no-fsync-is-caught": (1, False, False, ("--no-fsync",), True),
}


@pytest.mark.parametrize("run", RUNS)
def test_powerloss(run, berth_binary, work, checks):
    rounds, stale_folder, token_mode, args, expect_violations = RUNS[run]
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed (Debian package strace)")
    first_blob = os.urandom(64 * 1024)
    here = os.path.join(os.path.realpath(work), "powerloss")
    root = os.path.join(here, "new", "data")
    keys = os.path.join(here, "new", "keys", "signing") if token_mode else None
    if stale_folder:
        os.makedirs(os.path.join(root, "blobs", "sha256", hashlib.sha256(first_blob).hexdigest()[:2]))
    config = f"auth:\n  mode: token\n  token:\n    keys: {keys}\n" if token_mode else ""
    b = TracedBerth(berth_binary, work, "powerloss", config, root=root, args=args)
    b.start(timeout=60)  # slow under strace
    try:
        requests = run_workload(b, rounds, first_blob, token_mode)
    finally:
        b.stop()

    events = parse_trace(b.trace)
    verdicts = check(events, b.root, requests, b.dir, keys)
    made = {path for _, path in folders_made(events, b.dir)}
    checks.section = "trace"
    if keys:
        checks(keys in made, "the trace shows the mkdir of the keys folder (the check can see its creation)")
    if not stale_folder:
        checks(root in made, "the trace shows the mkdir of the data root (the check can see its creation)")
    checked = sum(1 for r in requests if acknowledged(r))
    kinds = sorted({r[1] for r in requests if acknowledged(r)})
    print(f"powerloss: {checked} acknowledged writes checked ({len(kinds)} kinds)")
    checks(checked >= 15 * rounds, f"{checked} acknowledged writes checked (at least {15 * rounds})")
    if expect_violations:
        found = [f"{label}: {v}" for label, problems in verdicts for v in problems]
        for v in found[:5]:
            print("  violation:", v)
        checks.section = "must fail"
        checks(found, f"the check caught a build that acknowledges before syncing ({len(found)} violations)")
        return
    checks.section = "acknowledged writes"
    for label, problems in verdicts:
        checks(not problems, label, "; ".join(problems[:8]))
