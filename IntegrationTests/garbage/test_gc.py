"""Online garbage collection under concurrent load on the embedded set-up (SQLite + filesystem, one Berth):
pushes sharing layers (HEAD-then-skip), cross-repository mounts, tag moves, indexes, referrers, deletes and
collections (`berth gc` and `POST /api/v1/gc`, grace 0, untagged, back to back, plus the server's scheduled
ones every 2 s) for a bounded time; then every image whose push was acknowledged and not deleted pulls back
with zero missing blobs and zero digest mismatches, and every blob nothing references is gone from `blobs/`
and the `blobs` table (garbage/__init__.py has the details). And a collector killed between condemning a blob
and removing it must not block a later push of that blob.

Environment: BERTH_GC_STRESS_SECONDS (load duration, default 40), BERTH_GC_STRESS_SEED (default: the time,
printed), BERTH_GC_STRESS_KILL_COLLECTOR=1 (SIGKILL half the `berth gc` runs mid-collection), and
BERTH_GC_SABOTAGE=1 to also run the sabotage tests, which prove the checks can fail: `delete` removes one
referenced blob's file and `blobs` row mid-run (a collector that deletes too much), `leak` uploads an orphan
after the final collection (one that deletes too little); each passes only when the stress reports failures."""
import os, signal, subprocess, time

import pytest

from garbage import Stress, call, has_gc, sha
from garbage.embedded import ADMIN, SECRET, config, metadata, target
from harness.checks import Checks

pytestmark = [pytest.mark.gc, pytest.mark.xdist_group("gc")]


def stress(berth, check, sabotage=None):
    """Runs the stress on a fresh Berth with scheduled collections every 2 s; returns that Berth."""
    seed = int(os.environ.get("BERTH_GC_STRESS_SEED") or time.time())
    print(f"# seed {seed}", flush=True)
    b = berth("gc", config(True, "2s"))
    b.cli("user", "add", ADMIN, "--password-stdin", "--admin", stdin=SECRET + "\n")
    b.start()
    started = time.time()
    try:
        stats = Stress(target(b, True), check, seconds=float(os.environ.get("BERTH_GC_STRESS_SECONDS", 40)),
                       seed=seed, sabotage=sabotage,
                       kill_collector=os.environ.get("BERTH_GC_STRESS_KILL_COLLECTOR") == "1",
                       log=lambda s: print(s, flush=True)).run()
        print(f"# stats: {', '.join(f'{k}={v}' for k, v in stats.items())}", flush=True)
    except Exception as error:  # a failure of the stress itself: counted, with the server's log to go by
        check(False, f"the stress ran to its end ({type(error).__name__}: {error})")
        print(b.log()[-3000:], flush=True)
    print(f"# took {time.time() - started:.1f} s", flush=True)
    return b


def test_gc_under_load(berth_binary, berth, checks):
    if not checks(has_gc(berth_binary), f"{berth_binary} has a `gc` subcommand"):
        return
    b = stress(berth, checks)
    scheduled = [a for a in b.audit_lines() if a.get("action") == "gc.run" and a.get("actor") != ADMIN]
    checks(scheduled, f"the server's scheduled collections ran during the load and removed garbage "
                      f"({len(scheduled)} runs that removed something)")
    crashes = [line for line in b.log().splitlines() if "Fatal error" in line or "fatalError" in line]
    checks(not crashes, f"no crash in the server's log ({crashes[:2]})")


@pytest.mark.skipif(os.environ.get("BERTH_GC_SABOTAGE") != "1", reason="sabotage runs only with BERTH_GC_SABOTAGE=1")
@pytest.mark.parametrize("sabotage", ("delete", "leak"))
def test_sabotage_is_caught(berth, checks, sabotage):
    inner = Checks()  # the stress's own verdicts: here they must fail
    stress(berth, inner, sabotage)
    checks(inner.failed, f"sabotage {sabotage} was caught ({len(inner.failed)} failed: {inner.failed[:3]})")


def test_killed_collector_does_not_block_a_push(berth, checks):
    """A collector killed between condemning a blob and forgetting it (SIGKILL while it removes 400 unlinked
    blobs) leaves that blob's row condemned; a push of the same bytes must still work, without a 5xx and without
    waiting for the next collection (the first GC build answered 503 "is being removed; retry" after 30 s)."""
    b = berth("probe", config(True, "off"))
    b.start()
    data = {}
    for i in range(400):
        blob = os.urandom(2000) + str(i).encode()
        d = sha(blob)
        assert call("POST", f"{b.url}/v2/probe/a/blobs/uploads/?digest={d}", blob).status == 201
        assert call("DELETE", f"{b.url}/v2/probe/a/blobs/{d}").status == 202
        data[d] = blob
    con = metadata(b.root)
    condemned = []
    try:
        for _ in range(5):
            p = subprocess.Popen([b.binary, "gc", "--root", b.root, "--grace", "0s"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            while time.time() < deadline and p.poll() is None:
                if con.execute("SELECT count(*) FROM blobs WHERE condemned").fetchone()[0]:
                    p.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.005)
            if p.poll() is None and time.time() >= deadline:
                p.kill()  # overran its minute: kill it anyway, the wait below stays bounded
            p.wait(30)
            condemned = [r[0] for r in con.execute("SELECT digest FROM blobs WHERE condemned")]
            if condemned:
                break
    finally:
        con.close()
    if not checks(condemned, f"a collector killed mid-run left a condemned blob ({len(condemned)})"):
        return
    d = condemned[0]
    t0 = time.time()
    r = call("POST", f"{b.url}/v2/probe/b/blobs/uploads/?digest={d}", data[d], timeout=120)
    took = time.time() - t0
    checks(r.status == 201 and took < 10, f"pushing the condemned blob's bytes again works at once "
                                          f"(POST ?digest={d[:19]}…: {r.status} {r.code or ''} after {took:.1f} s)")
    r = call("GET", f"{b.url}/v2/probe/b/blobs/{d}")
    checks(r.status == 200 and sha(r.body) == d, f"and reads back ({r.status})")
