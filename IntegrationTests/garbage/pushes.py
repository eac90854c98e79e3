"""Pushes, mounts and pulls as the stress workers make them (a mixin of Stress)."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

from .wire import *  # noqa: F401,F403 (the wire helpers and constants)
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, RETRYABLE_PUT, TIMEOUT  # noqa: F401


class Pushes:
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
