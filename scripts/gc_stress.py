"""Online garbage collection under concurrent load: the reusable part of scripts/gc_stress_test.py (SQLite +
filesystem, one Berth) and scripts/scaleout_gc_check.py (PostgreSQL + S3, two instances behind nginx).

For a bounded time, worker threads push images whose layers come from a small shared pool (so layers are
shared across images and repositories) plus unique ones, with the client pattern HEAD-then-skip, monolithic,
single-PUT and chunked uploads (the chunks of one session spread over every URL given), cross-repository
mounts (falling back to the upload session a 202 opens), tag moves, indexes whose children are pushed by
digest, referrers, deletes by digest and by tag, abandoned upload sessions and orphan blobs, and pull back the
images they hold; meanwhile a GC thread runs collections back to back (grace 0, untagged), alternating the
ways the target offers (CLI, admin API), while the servers' scheduled collections run too.

The accounting is exact: each (repository, tag) is held by one worker at a time, every manifest is unique,
and the expected set at the end is the last acknowledged push of every tag still there, the children of the
indexes among them, the referrers whose subject is among them, and the pinned images pushed before the load.
A manifest PUT refused with 400 MANIFEST_BLOB_UNKNOWN / MANIFEST_UNKNOWN (a link collected between upload and
PUT, legitimate with grace 0) is not acknowledged: the push is retried from the HEADs. Any 5xx, transport
error, or other unexpected answer is a failure.

After the load: scheduled collections are stopped (target.quiesce), known garbage is made, dry runs (every
way) must report it and remove nothing, two real collections follow, and then: every expected image pulls
by tag and by digest through every URL with every blob's sha256 and size; every blob digest ever pushed
and not referenced by an expected image is gone from the storage and from the `blobs` table, every
referenced one is in both; the namespace's manifests and repository links in the database are exactly the
expected ones; and deleted or untagged manifests answer 404.

`sabotage` proves the checks can fail: "delete" removes one referenced blob's bytes and `blobs` row mid-run
(a collector that deletes too much); "leak" uploads an orphan after the final collection (one that deletes
too little)."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = f"{MANIFEST}, {INDEX}"
RETRYABLE_PUT = ("MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN")
TIMEOUT = 30


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self):
        try:
            return json.loads(self.body)["errors"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def __repr__(self):
        return f"{self.status} {self.code or ''} {self.body[:200]!r}"


def call(method, url, body=None, headers=None, timeout=TIMEOUT):
    """One request on a new connection, bounded by `timeout`. Raises OSError / HTTPException on transport
    errors."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        path = u.path + (("?" + u.query) if u.query else "")
        headers = dict(headers or {})
        if body is not None and method in ("PUT", "PATCH", "POST"):
            headers.setdefault("Content-Length", str(len(body)))
        elif method in ("PUT", "PATCH", "POST"):
            headers.setdefault("Content-Length", "0")
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def session_path(location):
    """An upload Location (absolute or not) as a path with its query, to send to any instance."""
    if "://" in location:
        location = "/" + location.split("://", 1)[1].split("/", 1)[1]
    return location if location.startswith("/") else "/" + location


def with_digest(path, d):
    return f"{path}{'&' if '?' in path else '?'}digest={d}"


class Image:
    """One manifest we pushed: its repository, bytes, blobs (digest -> size) and, for an index, children."""

    def __init__(self, repo, body, media_type, blobs, children=(), subject=None, tag=None):
        self.repo, self.body, self.media_type = repo, body, media_type
        self.digest = sha(body)
        self.blobs = dict(blobs)
        self.children = list(children)
        self.subject, self.tag = subject, tag

    def all_blobs(self):
        out = dict(self.blobs)
        for child in self.children:
            out.update(child.blobs)
        return out


class Failure(Exception):
    pass


class Stress:
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

    def req(self, method, url, body=None, headers=None, ok=(), what=""):
        """A request whose 5xx or transport error is a failure (raised as Failure, ending the operation)."""
        try:
            r = call(method, url, body, headers)
        except (OSError, http.client.HTTPException) as error:
            self.fail(f"{what}: {method} {url}: transport error {error!r}")
            raise Failure()
        if r.status >= 500:
            self.count("status_5xx")
            self.fail(f"{what}: {method} {url}: {r!r}")
            raise Failure()
        if ok and r.status not in ok:
            self.fail(f"{what}: {method} {url}: unexpected {r!r}")
            raise Failure()
        return r

    # -- blobs

    def record_blob(self, data):
        with self.lock:
            self.pushed[sha(data)] = len(data)

    def upload(self, repo, data, session=None):
        """Uploads `data` into `repo`: monolithic POST, POST + one PUT, or chunked with each request on a
        random URL. `session` is an upload path already opened (a mount's 202). True when it was
        acknowledged; False when the session was lost (404 BLOB_UPLOAD_UNKNOWN)."""
        d = sha(data)
        self.record_blob(data)  # before: bytes may exist even when the answer is lost
        style = self.rng.random()
        if session is None and style < 0.4:
            self.req("POST", f"{self.url()}/v2/{repo}/blobs/uploads/?digest={d}", data,
                     {"Content-Type": "application/octet-stream"}, (201,), "monolithic upload")
            self.count("uploads_mono")
            return True
        if session is None:
            r = self.req("POST", f"{self.url()}/v2/{repo}/blobs/uploads/", None, None, (202,), "open upload")
            session = session_path(r.headers["location"])
        if style < 0.65 or len(data) < 4:
            r = self.req("PUT", f"{self.url()}{with_digest(session, d)}", data,
                         {"Content-Type": "application/octet-stream"}, (201, 404), "single-PUT upload")
            if r.status == 404:
                return self.lost(r, "single-PUT upload")
            self.count("uploads_put")
            return True
        cuts = sorted(self.rng.sample(range(1, len(data)), min(2, len(data) - 1)))
        offset = 0
        for end in cuts + [len(data)]:
            chunk = data[offset:end]
            r = self.req("PATCH", f"{self.url()}{session}", chunk, {
                "Content-Type": "application/octet-stream", "Content-Range": f"{offset}-{end - 1}"},
                (202, 404), "PATCH chunk")
            if r.status == 404:
                return self.lost(r, "PATCH chunk")
            session = session_path(r.headers["location"])
            offset = end
        r = self.req("PUT", f"{self.url()}{with_digest(session, d)}", None, None, (201, 404), "finishing PUT")
        if r.status == 404:
            return self.lost(r, "finishing PUT")
        self.count("uploads_chunked")
        return True

    def lost(self, r, what):
        if r.code != "BLOB_UPLOAD_UNKNOWN":
            self.fail(f"{what}: 404 that is not BLOB_UPLOAD_UNKNOWN: {r!r}")
            raise Failure()
        self.count("sessions_lost")
        return False

    def source_for(self, repo, d):
        """Another repository whose expected image holds `d` right now, for a mount; or, now and then, one
        that held it once (its link may be collected by now: the mount then opens a session, 202)."""
        with self.lock:
            if self.rng.random() < 0.3:
                stale = [img.repo for img in self.manifests.values() if img.repo != repo and d in img.blobs]
                if stale:
                    return self.rng.choice(stale)
            for img in list(self.tags.values()) + self.pinned:
                if img is not None and img.repo != repo and d in img.blobs:
                    return img.repo
        return None

    def ensure_blob(self, repo, data, prefer_mount=False):
        """The client pattern: HEAD, skip if present; else mount from a repository known to hold it (201), or
        upload, in the session a refused mount opened (202)."""
        d = sha(data)
        r = self.req("HEAD", f"{self.url()}/v2/{repo}/blobs/{d}", None, None, (200, 404), "blob HEAD")
        if r.status == 200:
            if int(r.headers.get("content-length", "-1")) != len(data):
                self.fail(f"blob HEAD {repo}@{d}: Content-Length {r.headers.get('content-length')} != {len(data)}")
            self.count("head_skips")
            return True
        source = self.source_for(repo, d) if (prefer_mount or self.rng.random() < 0.5) else None
        if source:
            r = self.req("POST", f"{self.url()}/v2/{repo}/blobs/uploads/?mount={d}&from={source}", None, None,
                         (201, 202), "mount")
            self.record_blob(data)
            if r.status == 201:
                self.count("mounts")
                return True
            self.count("mount_fallbacks")
            return self.upload(repo, data, session_path(r.headers["location"]))
        return self.upload(repo, data)

    # -- manifests

    def image_body(self, repo, prefer_mount=False, extra_layers=None):
        n = self.next_nonce()
        layers = self.rng.sample(self.pool, self.rng.randint(1, 3))
        if extra_layers:
            layers += extra_layers
        elif self.rng.random() < 0.35:
            layers.append(self.rng.choice(self.recycle))
        for _ in range(self.rng.randint(0, 2 if len(layers) < 3 else 1)):
            layers.append(os.urandom(self.rng.randint(500, 50_000)))
        if len(layers) < 2:
            layers.append(os.urandom(self.rng.randint(500, 20_000)))
        config = json.dumps({"architecture": "amd64", "os": "linux", "nonce": n, "ns": self.ns,
                             "rootfs": {"type": "layers", "diff_ids": [sha(l) for l in layers]}}).encode()
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                           "config": {"mediaType": CONFIG, "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": LAYER, "digest": sha(l), "size": len(l)} for l in layers]}).encode()
        return body, [config] + layers

    def put_manifest(self, repo, ref, body, media_type, blobs_data, what, children_data=None):
        """Uploads what the manifest needs, then PUTs it; retries the whole when a PUT is refused because a
        link was collected in between. Returns True when acknowledged."""
        for attempt in range(6):
            if attempt:
                self.count("retried_pushes")
                time.sleep(0.05 * attempt)
            if self.stop.is_set() and attempt >= 2:
                break
            ready = True
            for data in blobs_data:
                ready = self.ensure_blob(repo, data, prefer_mount=(what == "mount-push")) and ready
            if children_data:
                for child_body, child_blobs in children_data:
                    if not self.put_manifest(repo, sha(child_body), child_body, MANIFEST, child_blobs, "index child"):
                        ready = False
            if not ready:
                continue
            try:
                r = call("PUT", f"{self.url()}/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type})
            except (OSError, http.client.HTTPException) as error:
                self.fail(f"{what}: PUT manifest {repo}:{ref}: transport error {error!r}")
                raise Failure()
            if r.status == 201:
                if r.headers.get("docker-content-digest") not in (None, sha(body)):
                    self.fail(f"{what}: PUT {repo}:{ref}: Docker-Content-Digest {r.headers.get('docker-content-digest')} != {sha(body)}")
                return True
            if r.status >= 500:
                self.count("status_5xx")
                self.fail(f"{what}: PUT manifest {repo}:{ref}: {r!r}")
                raise Failure()
            if r.status == 400 and r.code in RETRYABLE_PUT:
                continue
            self.fail(f"{what}: PUT manifest {repo}:{ref}: unexpected {r!r}")
            raise Failure()
        self.count("given_up_pushes")
        return False

    def push_image(self, repo, tag, what="push"):
        body, data = self.image_body(repo, prefer_mount=(what == "mount-push"))
        if not self.put_manifest(repo, tag, body, MANIFEST, data, what):
            return None
        img = Image(repo, body, MANIFEST, {sha(d): len(d) for d in data}, tag=tag)
        img.data = data
        with self.lock:
            self.manifests[img.digest] = img
            self.stats["pushes"] += 1
            history = self.history.setdefault((repo, tag), [])
            history.append(img)
            del history[:-3]
        return img

    def push_index(self, repo, tag):
        children, kids = [], []
        for _ in range(2):
            body, data = self.image_body(repo)
            children.append((body, data))
            kids.append(Image(repo, body, MANIFEST, {sha(d): len(d) for d in data}))
        body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            {"mediaType": MANIFEST, "digest": k.digest, "size": len(k.body),
             "platform": {"architecture": arch, "os": "linux"}} for k, arch in zip(kids, ("amd64", "arm64"))],
            "annotations": {"nonce": str(self.next_nonce())}}).encode()
        if not self.put_manifest(repo, tag, body, INDEX, [], "index", children):
            return None
        img = Image(repo, body, INDEX, {}, children=kids, tag=tag)
        with self.lock:
            self.manifests[img.digest] = img
            for k in kids:
                self.manifests[k.digest] = k
            self.stats["indexes"] += 1
            self.stats["pushes"] += 1
        return img

    def push_referrer(self, subject):
        config = b"{}"
        layer = json.dumps({"signature": self.next_nonce(), "of": subject.digest}).encode()
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/vnd.gcstress.sig",
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(config), "size": 2},
                           "layers": [{"mediaType": "application/vnd.gcstress.sig", "digest": sha(layer), "size": len(layer)}],
                           "subject": {"mediaType": subject.media_type, "digest": subject.digest,
                                       "size": len(subject.body)}}).encode()
        if not self.put_manifest(subject.repo, sha(body), body, MANIFEST, [config, layer], "referrer"):
            return None
        img = Image(subject.repo, body, MANIFEST, {sha(config): 2, sha(layer): len(layer)}, subject=subject.digest)
        with self.lock:
            self.manifests[img.digest] = img
            self.referrers.append(img)
            self.stats["referrers"] += 1
        return img

    # -- pulls

    def pull(self, img, by_tag=True, urls=None, what="pull"):
        """Pulls an image (manifest by tag and digest, children, every blob hashed) through `urls`. Returns
        the number of problems (each reported)."""
        bad = 0
        for base in urls or [self.url()]:
            refs = ([img.tag] if by_tag and img.tag else []) + [img.digest]
            for ref in refs:
                try:
                    r = call("GET", f"{base}/v2/{img.repo}/manifests/{ref}", None, {"Accept": ACCEPT})
                except (OSError, http.client.HTTPException) as error:
                    self.fail(f"{what}: GET manifest {img.repo}:{ref} via {base}: transport error {error!r}")
                    bad += 1
                    continue
                if r.status != 200 or r.body != img.body:
                    self.count("status_5xx", r.status >= 500)
                    self.fail(f"{what}: GET manifest {img.repo}:{ref} via {base}: {r.status} {r.code}"
                              f"{' (other bytes)' if r.status == 200 else ''}")
                    bad += 1
            for child in img.children:
                bad += self.pull(child, by_tag=False, urls=[base], what=what + " (index child)")
            for d, size in img.blobs.items():
                try:
                    r = call("GET", f"{base}/v2/{img.repo}/blobs/{d}")
                except (OSError, http.client.HTTPException) as error:
                    self.fail(f"{what}: GET blob {img.repo}@{d} via {base}: transport error {error!r}")
                    bad += 1
                    continue
                if r.status != 200:
                    self.count("status_5xx", r.status >= 500)
                    self.fail(f"{what}: missing blob {img.repo}@{d} via {base}: {r.status} {r.code}")
                    bad += 1
                elif sha(r.body) != d or len(r.body) != size:
                    self.fail(f"{what}: digest mismatch {img.repo}@{d} via {base}: got {sha(r.body)}, {len(r.body)} bytes (want {size})")
                    bad += 1
        return bad

    # -- the load

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
        """Collections back to back (grace 0, untagged), alternating the ways the target offers."""
        i = 0
        while not self.stop.is_set() and self.t.gc_runners:
            name, runner = self.t.gc_runners[i % len(self.t.gc_runners)]
            i += 1
            kill = self.rng.uniform(0.05, 1.5) if self.kill_collector and name == "cli" and self.rng.random() < 0.5 else None
            self.run_gc(name, runner, dry_run=False, kill_after=kill)
            self.stop.wait(0.3)

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

    def final(self):
        check, ns = self.check, self.ns
        gc = bool(self.t.gc_runners)
        if gc:
            self.dry_runs()
            reports = []
            self.final_gc_at = time.time()
            for name, runner in (self.t.gc_runners * 2)[:2]:
                for _ in range(30):  # a collection still running (CLI from before, another instance): retry
                    report = self.run_gc(name, runner, dry_run=False)
                    if report is not None:
                        reports.append((name, report))
                        break
                    time.sleep(1)
            check(len(reports) == 2, f"two final collections ran: {reports}")
            if reports and self.dry_reports:
                first, dry = reports[0][1], self.dry_reports[-1]
                check(all(int(first.get(k) or 0) >= int(dry.get(k) or 0) for k in ("manifests", "links", "blobs")),
                      f"the real collection removes at least what the dry run reported (dry {dry}, real {first})")
            if len(reports) == 2:
                second = reports[1][1]
                self.log(f"# final collections: {reports}")
                check(all(int(second.get(k) or 0) == 0 for k in ("manifests", "links", "blobs")),
                      f"the second final collection found nothing left to collect ({second})")
        if self.sabotage == "leak":
            data = os.urandom(3_333)
            self.log(f"# sabotage: uploading orphan {sha(data)} after the final collection")
            self.upload(self.repos[0], data)

        expected = self.expected()
        referenced = {}
        for img in expected.values():
            referenced.update(img.blobs)
        links = {(img.repo, d) for img in expected.values() for d in img.blobs}
        urls = self.t.urls
        bad = 0
        tops = [img for img in self.pinned + [i for i in self.tags.values() if i is not None]]
        for img in tops:
            bad += self.pull(img, urls=urls, what="final pull")
        for ref in self.referrers:
            if ref.digest in expected:
                bad += self.pull(ref, by_tag=False, urls=urls, what="final pull (referrer)")
        blob_count = sum(len(i.blobs) for i in expected.values())
        check(bad == 0, f"every acknowledged, not deleted image pulls by tag and digest through {len(urls)} URL(s), "
                        f"every blob with its sha256 and size: {len(tops)} tagged images, {len(expected)} manifests, "
                        f"{blob_count} blob reads per URL, {bad} problems (missing blobs or mismatches)")
        for img in tops:
            if img.media_type == MANIFEST and img.tag and not img.repo.endswith("/pinned"):
                r = call("GET", f"{urls[0]}/v2/{img.repo}/referrers/{img.digest}")
                want = {x.digest for x in self.referrers if x.subject == img.digest and x.repo == img.repo}
                got = {m["digest"] for m in json.loads(r.body).get("manifests", [])
                       if (img.repo, m["digest"]) not in self.uncertain_manifests} if r.status == 200 else None
                if got != want:
                    check(False, f"referrers of {img.repo}:{img.tag}: {got} != {want}")
                    break
        gone = [i for d, i in self.manifests.items() if d not in expected and (i.repo, d) not in self.uncertain_manifests]
        answers = {}
        for img in gone[:400]:
            r = call("HEAD", f"{urls[0]}/v2/{img.repo}/manifests/{img.digest}", None, {"Accept": ACCEPT})
            answers[r.status] = answers.get(r.status, 0) + 1
        if gc:
            check(set(answers) <= {404}, f"{len(gone[:400])} deleted, moved-away, untagged or orphaned manifests "
                                         f"answer 404 by digest after the final collection ({answers})")

        if gc:
            old = [p for p, at in self.sessions if self.final_gc_at - at > self.upload_expiry + 2]
            answers = {}
            for p in old:
                r = call("GET", f"{urls[0]}{p}")
                answers[(r.status, r.code)] = answers.get((r.status, r.code), 0) + 1
            check(set(answers) <= {(404, "BLOB_UPLOAD_UNKNOWN")},
                  f"the {len(old)} upload sessions abandoned over {self.upload_expiry} s before are gone: {answers}")
        mine = set(self.pushed)
        garbage = mine - set(referenced) - self.uncertain_blobs
        storage, rows = self.t.storage_blobs(), self.t.db_blobs()
        missing_storage = sorted(set(referenced) - storage)
        missing_rows = sorted(set(referenced) - rows)
        check(not missing_storage and not missing_rows,
              f"every referenced blob ({len(referenced)}) is in the storage and the blobs table "
              f"({len(missing_storage)} missing from storage, {len(missing_rows)} from the table: "
              f"{(missing_storage + missing_rows)[:3]})")
        if gc:
            left_storage, left_rows = sorted(garbage & storage), sorted(garbage & rows)
            check(not left_storage and not left_rows,
                  f"every blob pushed and referenced by nothing ({len(garbage)}) is gone from the storage and the "
                  f"blobs table ({len(left_storage)} left in storage, {len(left_rows)} in the table: "
                  f"{(left_storage + left_rows)[:3]})")
            db_manifests = self.t.db_manifests(ns + "/") - self.uncertain_manifests
            db_links = {l for l in self.t.db_links(ns + "/") if l in links or l[1] not in self.uncertain_blobs}
            want_manifests = {(i.repo, i.digest) for i in expected.values()}
            check(db_manifests == want_manifests,
                  f"the namespace's manifests in the database are exactly the expected {len(want_manifests)} "
                  f"(extra {sorted(db_manifests - want_manifests)[:3]}, missing {sorted(want_manifests - db_manifests)[:3]})")
            check(db_links == links,
                  f"the namespace's blob links are exactly the {len(links)} the expected manifests need "
                  f"(extra {sorted(db_links - links)[:3]}, missing {sorted(links - db_links)[:3]})")
        s = self.stats
        self.log(f"# totals: {s['pushes']} acknowledged pushes ({s['new_tags']} new tags, {s['tag_moves']} tag moves, "
                 f"{s['indexes']} indexes, {s['referrers']} referrers), {s['deletes_digest']} deletes by digest, "
                 f"{s['deletes_tag']} by tag, {s['mounts']} mounts ({s['mount_fallbacks']} refused, uploaded), "
                 f"{s['head_skips']} HEAD skips, {s['rollbacks']} rollbacks, {s['retried_pushes']} retried pushes, {s['given_up_pushes']} given up, "
                 f"{s['sessions_lost']} upload sessions lost, {s['gc_runs']} collections ({s['gc_busy']} busy), "
                 f"{s['gc_blobs']} blobs / {s['gc_bytes']} bytes / {s['gc_manifests']} manifests / {s['gc_links']} links / "
                 f"{s['gc_uploads']} uploads collected, {len(mine)} distinct blobs pushed, {len(garbage)} garbage, "
                 f"{len(referenced)} referenced at the end")

    def dry_runs(self):
        """Known garbage (an orphan blob, an untagged image); each way's dry run reports it and removes
        nothing; then the real collections may go."""
        repo = self.repos[0]
        orphan, unlinked = os.urandom(4_321), os.urandom(1_234)
        self.upload(repo, orphan)
        self.upload(repo, unlinked)  # then unlinked by a blob DELETE: a blob no repository links
        self.req("DELETE", f"{self.t.urls[0]}/v2/{repo}/blobs/{sha(unlinked)}", None, None, (202,), "blob delete")
        body, data = self.image_body(repo)
        self.put_manifest(repo, "dry-run", body, MANIFEST, data, "dry-run push")
        img = Image(repo, body, MANIFEST, {sha(d): len(d) for d in data}, tag=None)
        self.manifests[img.digest] = img
        self.req("DELETE", f"{self.t.urls[0]}/v2/{repo}/manifests/dry-run", None, None, (202,), "untag")
        before = (self.t.storage_blobs(), self.t.db_blobs(), self.t.db_manifests(self.ns + "/"), self.t.db_links(self.ns + "/"))
        for name, runner in self.t.gc_runners:
            report = None
            for _ in range(30):
                report = self.run_gc(name, runner, dry_run=True)
                if report is not None:
                    break
                time.sleep(1)
            after = (self.t.storage_blobs(), self.t.db_blobs(), self.t.db_manifests(self.ns + "/"), self.t.db_links(self.ns + "/"))
            self.check(report is not None and report.get("dryRun") is True and int(report.get("blobs") or 0) >= 1
                       and int(report.get("manifests") or 0) >= 1 and int(report.get("links") or 0) >= 1,
                       f"a dry run via {name} reports the garbage ({report})")
            self.check(after == before and sha(orphan) in after[0] and sha(unlinked) in after[0]
                       and (repo, img.digest) in after[2], f"and removes nothing (storage, blobs, manifests and links unchanged)")
            self.dry_reports.append(report or {})
            r = call("GET", f"{self.t.urls[0]}/v2/{repo}/blobs/{sha(orphan)}")
            self.check(r.status == 200 and r.body == orphan, f"the orphan still reads back after the dry run via {name} ({r.status})")


class Target:
    """What the stress needs of a set-up. `gc_runners`: [(name, fn(dry_run) -> (state, report, detail))] with
    state "ok", "busy" (another collection runs) or "error"; `quiesce()` stops scheduled collections and
    returns the URLs to use afterwards (or None); the rest list or damage the stores."""

    def __init__(self, urls, gc_runners, storage_blobs, db_blobs, db_manifests, db_links, delete_blob, quiesce):
        self.urls, self.gc_runners = list(urls), list(gc_runners)
        self.storage_blobs, self.db_blobs = storage_blobs, db_blobs
        self.db_manifests, self.db_links = db_manifests, db_links
        self.delete_blob, self.quiesce = delete_blob, quiesce


BUSY_WORDS = ("already running", "in progress", "another", "running")


def cli_runner(binary, location_args, timeout=300):
    """`berth gc <location> --grace 0s --untagged --json [--dry-run]`: the report is stdout's last line."""
    import subprocess

    def run(dry_run=False, kill_after=None):
        argv = [binary, "gc", *location_args, "--grace", "0s", "--untagged", "--json"] + (["--dry-run"] if dry_run else [])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = p.communicate(timeout=kill_after or timeout)
        except subprocess.TimeoutExpired:
            p.kill()  # SIGKILL: a collector dying mid-run (kill_after), or one that overran `timeout`
            stdout, stderr = p.communicate()
            if kill_after:
                return "killed", None, ""
            return "error", None, f"berth gc did not finish within {timeout} s"
        r = subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            if any(w in out.lower() for w in BUSY_WORDS):
                return "busy", None, out[-300:]
            return "error", None, f"exit {r.returncode}: {out[-500:]}"
        lines = r.stdout.strip().splitlines()
        try:
            return "ok", json.loads(lines[-1]), ""
        except (ValueError, IndexError):
            return "error", None, f"no JSON report on stdout's last line: {r.stdout[-500:]!r}"
    return run


def api_runner(url_fn, headers):
    """POST /api/v1/gc on url_fn() (called each time, so a restarted server's new port is used)."""
    def run(dry_run=False, kill_after=None):
        body = json.dumps({"dryRun": dry_run, "grace": "0s", "untagged": True}).encode()
        r = call("POST", f"{url_fn()}/api/v1/gc", body, {"Content-Type": "application/json", **headers}, timeout=300)
        if r.status == 409:
            return "busy", None, repr(r)
        if r.status != 200:
            return "error", None, repr(r)
        try:
            return "ok", json.loads(r.body), ""
        except ValueError:
            return "error", None, f"not JSON: {r!r}"
    return run


def has_gc(binary):
    """Whether this build has the `gc` subcommand (the top-level help lists it)."""
    import subprocess
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return any(line.strip().startswith("gc ") or line.strip() == "gc" for line in (r.stdout + r.stderr).splitlines())
