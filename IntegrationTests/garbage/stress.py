"""The stress run: its state, accounting and order of steps."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

from .wire import *  # noqa: F401,F403 (the wire helpers and constants)
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, RETRYABLE_PUT, TIMEOUT  # noqa: F401
from .final import Checks
from .grace import Grace
from .load import Load
from .pushes import Pushes


class Stress(Pushes, Load, Checks, Grace):
    def __init__(self, target, check, seconds=40, workers=6, seed=None, sabotage=None, namespace="gcstress",
                 repos=4, tags_per_repo=8, log=print, upload_expiry=10, kill_collector=False):
        self.t, self.check, self.seconds, self.nworkers = target, check, seconds, workers
        self.sabotage, self.ns, self.log = sabotage, namespace, log
        self.upload_expiry = upload_expiry  # the servers' uploads.expire_after, seconds
        self.kill_collector = kill_collector  # SIGKILL half the CLI collections mid-run
        self.rng = random.Random(seed)
        self.repos = [f"{namespace}/r{i}" for i in range(repos)]
        self.pinned_repo = f"{namespace}/pinned"
        self.slots = [(r, f"t{j}") for r in self.repos for j in range(tags_per_repo)]
        self.slot_locks = {s: threading.Lock() for s in self.slots}
        self.tags = {}  # slot -> Image (last acknowledged push) or None (deleted)
        self.lock = threading.Lock()
        self.pushed = {}  # every blob digest uploaded or mounted -> size
        self.manifests = {}  # every acknowledged manifest digest -> Image
        self.referrers = []
        self.pinned = []
        self.dry_reports = []
        self.events = {}  # slot -> what the workers did to it (for failure reports)
        self.history = {}  # slot -> the last image manifests pushed to it (with their blobs' bytes)
        # Referrers of a manifest that was rolled back to: collected or not while their subject was away.
        self.uncertain_manifests, self.uncertain_blobs = set(), set()
        self.abandoned = 0
        self.nonce = 0
        self.stop = threading.Event()
        self.errors = []  # failures during the load
        self.stats = dict.fromkeys((
            "pushes", "tag_moves", "new_tags", "indexes", "referrers", "deletes_digest", "deletes_tag",
            "mounts", "mount_fallbacks", "head_skips", "uploads_mono", "uploads_put", "uploads_chunked",
            "retried_pushes", "given_up_pushes", "rollbacks", "sessions_lost", "pulls", "orphans", "blob_deletes", "abandoned",
            "gc_runs", "gc_busy", "gc_cli", "gc_api", "gc_blobs", "gc_manifests", "gc_links", "gc_bytes",
            "gc_uploads", "gc_longest_ms", "gc_killed", "status_5xx"), 0)
        self.pool = [os.urandom(self.rng.choice((2_000, 9_000, 40_000, 150_000))) for _ in range(9)]
        self.pool.append(os.urandom(600_000))  # one larger layer: longer uploads while collections run
        # Layers used now and then: nothing references them for a while, they are collected, and pushes and
        # orphan uploads bring them back, racing the collector that condemns them.
        self.recycle = [os.urandom(20_000 + i) for i in range(6)]
        self.sessions = []  # abandoned upload sessions: (path, opened at)

    # -- bookkeeping

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] += n

    def fail(self, what):
        with self.lock:
            self.errors.append(what)
            n = len(self.errors)
        if n <= 25:
            self.log(f"# FAILURE: {what}")

    def next_nonce(self):
        with self.lock:
            self.nonce += 1
            return self.nonce

    def url(self):
        return self.rng.choice(self.t.urls)

    def expected(self):
        """The manifests that must survive, by digest, and the (repo, digest) blob links they need."""
        out = {}
        for img in self.pinned + [i for i in self.tags.values() if i is not None]:
            out[img.digest] = img
            for child in img.children:
                out[child.digest] = child
        for ref in self.referrers:
            if ref.subject in out and out[ref.subject].repo == ref.repo:
                out[ref.digest] = ref
        return out

    def run(self):
        t0 = time.time()
        self.pin()
        self.log(f"# load: {self.nworkers} workers, {self.seconds} s, repositories {self.repos}, "
                 f"{len(self.t.gc_runners)} GC ways ({', '.join(n for n, _ in self.t.gc_runners) or 'none: stubbed'})")
        took = self.load()
        s = self.stats
        self.log(f"# load done in {took:.1f} s: " + ", ".join(f"{k}={v}" for k, v in s.items()))
        self.check(not self.errors, f"no failure during the load ({len(self.errors)}: {self.errors[:3]})")
        self.errors_during_load = len(self.errors)
        self.check(s["status_5xx"] == 0, f"zero 5xx answers during the load ({s['status_5xx']})")
        # Sessions expire after `upload_expiry` idle seconds; an upload in progress is never that idle.
        self.check(s["sessions_lost"] == 0, f"no upload in progress lost its session ({s['sessions_lost']})")
        self.check(s["pushes"] >= 20 and s["tag_moves"] >= 3 and s["deletes_digest"] + s["deletes_tag"] >= 3
                   and s["mounts"] >= 1 and s["pulls"] >= 5,
                   f"enough happened: {s['pushes']} acknowledged pushes, {s['tag_moves']} tag moves, "
                   f"{s['deletes_digest'] + s['deletes_tag']} deletes, {s['mounts']} mounts, {s['pulls']} pulls")
        if self.t.gc_runners:
            # A busy answer means another collection (a server's scheduled one) was running at that moment.
            self.check(s["gc_runs"] >= 2 or (s["gc_runs"] >= 1 and s["gc_busy"] >= 1),
                       f"collections ran during the load: {s['gc_runs']} "
                       f"({s['gc_cli']} CLI, {s['gc_api']} API; {s['gc_busy']} found another running)")

        self.t.urls = self.t.quiesce() or self.t.urls
        self.final()
        self.log(f"# gc stress took {time.time() - t0:.1f} s in all")
        return self.stats
