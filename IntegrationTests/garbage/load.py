"""The concurrent load: workers, their operations, the collector thread, sabotage (a mixin of Stress)."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

from .wire import *  # noqa: F401,F403 (the wire helpers and constants)
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, RETRYABLE_PUT, TIMEOUT  # noqa: F401


class Load:
    def worker(self, n):
        rng = random.Random(self.rng.random())
        ops = [("push", 30), ("mount-push", 10), ("index", 7), ("referrer", 6), ("delete", 12), ("pull", 20),
               ("rollback", 8),
               ("orphan", 4), ("abandon", 2)]
        names, weights = [o for o, _ in ops], [w for _, w in ops]
        while not self.stop.is_set():
            op = rng.choices(names, weights)[0]
            try:
                if op == "pull" and rng.random() < 0.15:  # the pinned images never change: no slot to hold
                    self.count("pulls")
                    self.pull(rng.choice(self.pinned), what="pull during load (pinned)")
                    continue
                if op in ("orphan", "abandon"):
                    self.side_garbage(op, rng)
                    continue
                slot = rng.choice(self.slots)
                lock = self.slot_locks[slot]
                if not lock.acquire(blocking=False):
                    continue
                try:
                    self.on_slot(op, slot, rng)
                finally:
                    lock.release()
            except Failure:
                time.sleep(0.1)
            except Exception as error:  # a bug here, or an answer without a header we need
                self.fail(f"worker {n} {op}: {type(error).__name__}: {error}")
                time.sleep(0.1)

    def on_slot(self, op, slot, rng):
        repo, tag = slot
        current = self.tags.get(slot)
        before = current.digest[7:19] if current else None
        try:
            self.on_slot_op(op, slot, rng, current)
        finally:
            after = self.tags.get(slot)
            self.events.setdefault(slot, []).append(
                f"{time.strftime('%H:%M:%S')}.{int(time.time() * 1000) % 1000:03d} {op} {before}->{after.digest[7:19] if after else None}")

    def on_slot_op(self, op, slot, rng, current):
        repo, tag = slot
        if op in ("push", "mount-push", "index"):
            img = self.push_index(repo, tag) if op == "index" else self.push_image(repo, tag, op)
            if img is not None:
                with self.lock:
                    self.tags[slot] = img
                    self.stats["tag_moves" if current is not None else "new_tags"] += 1
        elif op == "rollback":
            self.rollback(slot, current, rng)
        elif op == "referrer" and current is not None:
            self.push_referrer(current)
        elif op == "delete" and current is not None:
            if rng.random() < 0.65:
                r = self.req("DELETE", f"{self.url()}/v2/{repo}/manifests/{current.digest}", None, None, (202,),
                             "delete by digest")
                self.count("deletes_digest")
            else:
                r = self.req("DELETE", f"{self.url()}/v2/{repo}/manifests/{tag}", None, None, (202,), "delete tag")
                self.count("deletes_tag")
            with self.lock:
                self.tags[slot] = None
        elif op == "pull" and current is not None:
            self.count("pulls")
            if self.pull(current, what=f"pull during load of {repo}:{tag}@{current.digest}"):
                self.log(f"# history of {repo}:{tag}: " + "; ".join(self.events.get(slot, [])[-12:]))

    def rollback(self, slot, current, rng):
        """A tag set back to a manifest it pointed to before (untagged or deleted since, maybe being collected
        right now): the same bytes PUT again after HEAD-then-upload of its blobs."""
        repo, tag = slot
        old = [i for i in self.history.get(slot, []) if current is None or i.digest != current.digest]
        if not old:
            return
        img = rng.choice(old)
        if not self.put_manifest(repo, tag, img.body, MANIFEST, img.data, "rollback"):
            return
        with self.lock:
            self.tags[slot] = img
            self.stats["rollbacks"] += 1
            for ref in [r for r in self.referrers if r.subject == img.digest and r.repo == repo]:
                self.referrers.remove(ref)
                self.uncertain_manifests.add((ref.repo, ref.digest))
                self.uncertain_blobs.update(ref.blobs)

    def side_garbage(self, op, rng):
        repo = rng.choice(self.repos)
        if op == "orphan":
            recycled = rng.random() < 0.5
            data = rng.choice(self.recycle) if recycled else os.urandom(rng.randint(100, 30_000))
            if self.upload(repo, data):
                self.count("orphans")
                # A client's blob DELETE: now no repository links it. Never of a recycled layer, which an
                # image of this repository may reference (a blob DELETE unlinks it anyway: it breaks images).
                if not recycled and rng.random() < 0.5:
                    # 404 BLOB_UNKNOWN: a collection (grace 0) removed the unreferenced link first
                    r = self.req("DELETE", f"{self.url()}/v2/{repo}/blobs/{sha(data)}", None, None, (202, 404), "blob delete")
                    if r.status == 404 and r.code != "BLOB_UNKNOWN":
                        self.fail(f"blob delete: 404 that is not BLOB_UNKNOWN: {r!r}")
                    self.count("blob_deletes")
        elif self.abandoned < 8:
            r = self.req("POST", f"{self.url()}/v2/{repo}/blobs/uploads/", None, None, (202,), "open upload")
            data = os.urandom(5_000)
            self.record_blob(data)  # never completed: must never appear as a blob
            path = session_path(r.headers['location'])
            r = self.req("PATCH", f"{self.url()}{path}", data,
                         {"Content-Type": "application/octet-stream", "Content-Range": f"0-{len(data) - 1}"},
                         (202,), "abandoned upload's PATCH")
            with self.lock:
                self.sessions.append((session_path(r.headers["location"]), time.time()))
                self.abandoned += 1
                self.stats["abandoned"] += 1

    def gc_loop(self):
        """Collections back to back (grace 0, untagged), alternating the ways the target offers. Every other
        pause outlasts the servers' 2 s schedule, so their own collections get the lock at least then: with
        0.3 s pauses only, a slow machine's long collections left them none (a CI run saw 0 scheduled runs)."""
        i = 0
        while not self.stop.is_set() and self.t.gc_runners:
            name, runner = self.t.gc_runners[i % len(self.t.gc_runners)]
            i += 1
            kill = self.rng.uniform(0.05, 1.5) if self.kill_collector and name == "cli" and self.rng.random() < 0.5 else None
            self.run_gc(name, runner, dry_run=False, kill_after=kill)
            self.stop.wait(0.3 if i % 2 else 2.5)

    def run_gc(self, name, runner, dry_run, kill_after=None):
        started = time.time()
        try:
            state, report, detail = runner(dry_run=dry_run, kill_after=kill_after)
        except Exception as error:
            self.fail(f"gc via {name}: {type(error).__name__}: {error}")
            return None
        if state == "busy":
            self.count("gc_busy")
            return None
        if state == "killed":
            self.count("gc_killed")
            return None
        if state != "ok" or not isinstance(report, dict):
            self.fail(f"gc via {name}: {detail}")
            return None
        if bool(report.get("dryRun")) != dry_run:
            self.fail(f"gc via {name}: dryRun {report.get('dryRun')} in the report of a {'dry' if dry_run else 'real'} run")
        if not dry_run:
            with self.lock:
                self.stats["gc_runs"] += 1
                self.stats["gc_cli" if name == "cli" else "gc_api"] += 1
                self.stats["gc_longest_ms"] = max(self.stats["gc_longest_ms"], int((time.time() - started) * 1000))
                for key, field in (("gc_blobs", "blobs"), ("gc_manifests", "manifests"), ("gc_links", "links"),
                                   ("gc_bytes", "bytesFreed"), ("gc_uploads", "uploads")):
                    self.stats[key] += int(report.get(field) or 0)
        return report

    def sabotage_delete(self):
        """A collector that deletes too much: one pinned image's own layer loses its bytes and `blobs` row."""
        victim = self.pinned[0]
        d = [d for d in victim.blobs if victim.blobs[d] == 7_777][0]
        self.log(f"# sabotage: deleting the bytes and the blobs row of {d}, a layer of {victim.repo}:{victim.tag}")
        self.t.delete_blob(d)

    # -- phases

    def pin(self):
        """Images pushed before the load and never moved: they must survive every collection."""
        for i in range(3):
            tag = f"pinned{i}"
            own = os.urandom(7_777)
            body, data = self.image_body(self.pinned_repo, extra_layers=[own])
            if not self.put_manifest(self.pinned_repo, tag, body, MANIFEST, data, "pinned push"):
                raise RuntimeError("could not push a pinned image")
            img = Image(self.pinned_repo, body, MANIFEST, {sha(d): len(d) for d in data}, tag=tag)
            self.pinned.append(img)
            self.manifests[img.digest] = img

    def load(self):
        threads = [threading.Thread(target=self.worker, args=(n,), daemon=True) for n in range(self.nworkers)]
        gc = threading.Thread(target=self.gc_loop, daemon=True)
        started = time.time()
        for th in threads + [gc]:
            th.start()
        sabotaged = False
        # The given time, stretched (up to three times) on a slow machine until enough has happened.
        while time.time() - started < self.seconds or (not self.enough() and time.time() - started < 3 * self.seconds):
            time.sleep(0.5)
            if self.sabotage == "delete" and not sabotaged and time.time() - started > self.seconds / 2:
                self.sabotage_delete()
                sabotaged = True
        self.stop.set()
        for th in threads + [gc]:
            th.join(120)
            if th.is_alive():
                self.fail("a worker did not stop within 120 s after the load ended")
        return time.time() - started

    def enough(self):
        s = self.stats
        return (s["pushes"] >= 20 and s["tag_moves"] >= 3 and s["deletes_digest"] + s["deletes_tag"] >= 3
                and s["mounts"] >= 1 and s["pulls"] >= 5 and (not self.t.gc_runners or s["gc_runs"] >= 2))
