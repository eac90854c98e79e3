#!/usr/bin/env python3
"""Online garbage collection under concurrent load on the embedded set-up (SQLite + filesystem, one Berth):
pushes sharing layers (HEAD-then-skip), cross-repository mounts, tag moves, indexes, referrers, deletes and
collections (`berth gc` and `POST /api/v1/gc`, grace 0, untagged, back to back, plus the server's scheduled
ones every 2 s) for a bounded time; then every image whose push was acknowledged and not deleted pulls back
with zero missing blobs and zero digest mismatches, and every blob nothing references is gone from
`blobs/` and the `blobs` table (scripts/gcstress/ has the details).

usage: scripts/gc_stress_test.py BERTH_BINARY [--seconds N] [--workers N] [--seed N] [--repos N] [--tags N]
       [--kill-collector] [--sabotage delete|leak] [--no-gc] [--keep]
       scripts/gc_stress_test.py BERTH_BINARY --crash-probe

--sabotage proves the checks can fail: `delete` removes one referenced blob's file and `blobs` row mid-run
(a collector that deletes too much), `leak` uploads an orphan after the final collection (one that deletes too
little); the run must then report failures, and exits 0 only if it did. --no-gc runs the load with collections
stubbed out (for a build without `berth gc`; the checks that need a collection are skipped).
--kill-collector SIGKILLs half the `berth gc` runs of the load mid-collection. --crash-probe (not part of the
suite yet: it fails on the first GC build) kills `berth gc` right after it condemned a blob and pushes that blob
again: the push must not wait for the next collection (it got 503 "is being removed; retry" after 30 s)."""
import argparse, glob, os, shutil, sqlite3, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authtest.harness import Berth, basic, install_signal_handlers, stop_all  # noqa: E402
import gcstress  # noqa: E402

failed = []


def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        failed.append(what)
    return bool(cond)


def config(gc, every):
    text = ""
    if gc:
        text += f"gc:\n  every: {every}\n  grace: 0s\n  untagged: true\nuploads:\n  expire_after: 10s\n"
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--repos", type=int, default=4)
    p.add_argument("--tags", type=int, default=8, help="tags per repository (fewer: more contention per tag)")
    p.add_argument("--sabotage", choices=("delete", "leak"))
    p.add_argument("--no-gc", action="store_true")
    p.add_argument("--kill-collector", action="store_true", help="SIGKILL half the `berth gc` runs mid-collection")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--crash-probe", action="store_true",
                   help="instead of the load: SIGKILL `berth gc` while it removes blobs, then push a digest it condemned")
    args = p.parse_args()
    binary = os.path.abspath(args.binary)
    install_signal_handlers()
    gc = gcstress.has_gc(binary)
    if not gc and not args.no_gc:
        check(False, f"{binary} has a `gc` subcommand")
        print("gc stress: 1 failed", flush=True)
        sys.exit(1)
    gc = gc and not args.no_gc
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"# seed {seed}", flush=True)
    work = tempfile.mkdtemp(prefix="berth-gcstress-")
    berth = Berth(binary, work, "b", config(gc, "2s"))
    stats = None
    started = time.time()
    if args.crash_probe:
        try:
            crash_probe(berth)
        finally:
            stop_all()
            shutil.rmtree(work, ignore_errors=True)
        print(f"gc crash probe: {len(failed)} failed", flush=True)
        sys.exit(1 if failed else 0)
    try:
        berth.cli("user", "add", "gcadmin", "--password-stdin", "--admin", stdin="gc-admin-secret-1\n")
        berth.start()
        stats = gcstress.Stress(target(berth, gc), check, seconds=args.seconds, workers=args.workers, seed=seed,
                                 sabotage=args.sabotage, repos=args.repos, tags_per_repo=args.tags,
                                 kill_collector=args.kill_collector,
                                 log=lambda s: print(s, flush=True)).run()
        scheduled = [a for a in berth.audit_lines() if a.get("action") == "gc.run" and a.get("actor") != "gcadmin"]
        check(not gc or scheduled, f"the server's scheduled collections ran during the load and removed garbage "
                                   f"({len(scheduled)} runs that removed something)")
        log = berth.log()
        crashes = [l for l in log.splitlines() if "Fatal error" in l or "fatalError" in l]
        check(not crashes, f"no crash in the server's log ({crashes[:2]})")
    except Exception as error:
        check(False, f"the stress ran to its end ({type(error).__name__}: {error})")
        print(berth.log()[-3000:], flush=True)
    finally:
        stop_all()
        if args.keep or (failed and not args.sabotage):
            print(f"# kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    summary = ", ".join(f"{k}={v}" for k, v in (stats or {}).items())
    print(f"# took {time.time() - started:.1f} s", flush=True)
    if args.sabotage:
        caught = bool(failed)
        print(f"gc stress (sabotage {args.sabotage}): {'caught' if caught else 'NOT caught'}, "
              f"{len(failed)} failed ({summary})", flush=True)
        sys.exit(0 if caught else 1)
    print(f"gc stress: {len(failed)} failed ({summary})", flush=True)
    sys.exit(1 if failed else 0)


def crash_probe(berth):
    """A collector killed between condemning a blob and forgetting it (SIGKILL while it removes 400 unlinked
    blobs) leaves that blob's row condemned; a push of the same bytes must still work, without a 5xx and without
    waiting for the next collection."""
    import signal, subprocess
    with open(berth.config, "w") as f:
        f.write(config(True, "off"))
    berth.start()
    url = f"http://127.0.0.1:{berth.port}"
    data = {}
    for i in range(400):
        blob = os.urandom(2000) + str(i).encode()
        d = gcstress.sha(blob)
        assert gcstress.call("POST", f"{url}/v2/probe/a/blobs/uploads/?digest={d}", blob).status == 201
        assert gcstress.call("DELETE", f"{url}/v2/probe/a/blobs/{d}").status == 202
        data[d] = blob
    con = sqlite3.connect(f"file:{os.path.join(berth.root, 'metadata.db')}?mode=ro", uri=True, timeout=30)
    condemned = []
    for attempt in range(5):
        p = subprocess.Popen([berth.binary, "gc", "--root", berth.root, "--grace", "0s"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            if con.execute("SELECT count(*) FROM blobs WHERE condemned").fetchone()[0]:
                p.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        p.wait(30)
        condemned = [r[0] for r in con.execute("SELECT digest FROM blobs WHERE condemned")]
        if condemned:
            break
    con.close()
    if not check(condemned, f"a collector killed mid-run left a condemned blob ({len(condemned)})"):
        return
    d = condemned[0]
    t0 = time.time()
    r = gcstress.call("POST", f"{url}/v2/probe/b/blobs/uploads/?digest={d}", data[d], timeout=120)
    took = time.time() - t0
    check(r.status == 201 and took < 10, f"pushing the condemned blob's bytes again works at once "
                                         f"(POST ?digest={d[:19]}…: {r.status} {r.code or ''} after {took:.1f} s)")
    r = gcstress.call("GET", f"{url}/v2/probe/b/blobs/{d}")
    check(r.status == 200 and gcstress.sha(r.body) == d, f"and reads back ({r.status})")


def target(berth, gc):
    root = berth.root
    url = lambda: f"http://127.0.0.1:{berth.port}"

    def db():
        con = sqlite3.connect(f"file:{os.path.join(root, 'metadata.db')}?mode=ro", uri=True, timeout=30)
        return con

    def storage_blobs():
        out = set()
        for path in glob.glob(os.path.join(root, "blobs", "*", "*", "*")):
            algorithm = os.path.basename(os.path.dirname(os.path.dirname(path)))
            out.add(f"{algorithm}:{os.path.basename(path)}")
        return out

    def rows(sql, *params):
        con = db()
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def delete_blob(d):
        algorithm, hexpart = d.split(":", 1)
        os.remove(os.path.join(root, "blobs", algorithm, hexpart[:2], hexpart))
        con = sqlite3.connect(os.path.join(root, "metadata.db"), timeout=30)
        try:
            con.execute("DELETE FROM blobs WHERE digest = ?", (d,))
            con.commit()
        finally:
            con.close()

    def quiesce():
        """Restarts the server without scheduled collections, for the final phase."""
        berth.stop()
        with open(berth.config, "w") as f:
            f.write(config(gc, "off"))
        berth.start()
        return [url()]

    runners = []
    if gc:
        runners = [("cli", gcstress.cli_runner(berth.binary, ["--config", berth.config, "--root", root])),
                   ("api", gcstress.api_runner(url, basic("gcadmin", "gc-admin-secret-1")))]
    return gcstress.Target(
        [url()], runners, storage_blobs,
        lambda: {r[0] for r in rows("SELECT digest FROM blobs")},
        lambda prefix: set(rows("SELECT repository, digest FROM manifests WHERE repository LIKE ?", prefix + "%")),
        lambda prefix: set(rows("SELECT repository, digest FROM repository_blobs WHERE repository LIKE ?", prefix + "%")),
        delete_blob, quiesce)


if __name__ == "__main__":
    main()
