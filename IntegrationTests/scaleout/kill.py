"""SIGKILL of one instance during a push loop through nginx: every acknowledged push pulls back intact, and the
other instance keeps serving."""
import http.client, json, os, threading, time

from harness.content import MANIFEST, digest
from scaleout.instances import call, session_path


class Pusher(threading.Thread):
    """Pushes small images through nginx, retrying what the load balancer could not place, and records what
    was acknowledged."""

    def __init__(self, url, n, acked, stop):
        super().__init__(daemon=True)
        self.url, self.n, self.acked, self.stop = url, n, acked, stop
        self.errors = 0

    def push_blob(self, repo, data):
        for _ in range(5):
            try:
                s, h, _ = call("POST", f"{self.url}/v2/{repo}/blobs/uploads/", timeout=20)
                if s != 202:
                    continue
                path = session_path(h["location"])
                s, h, _ = call("PATCH", f"{self.url}/{path}", data,
                               {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}, timeout=20)
                if s != 202:
                    continue
                path = session_path(h["location"])
                s, _, _ = call("PUT", f"{self.url}/{path}{'&' if '?' in path else '?'}digest={digest(data)}", timeout=20)
                if s == 201:
                    return True
            except (OSError, http.client.HTTPException):
                self.errors += 1
                time.sleep(0.2)
        return False

    def run(self):
        for i in range(400):
            if self.stop.is_set():
                return
            repo = f"kill/w{self.n}"
            config, layer = json.dumps({"n": self.n, "i": i}).encode(), os.urandom(20_000 + i * 37)
            if not (self.push_blob(repo, config) and self.push_blob(repo, layer)):
                continue
            manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer), "size": len(layer)}]}).encode()
            try:
                s, _, _ = call("PUT", f"{self.url}/v2/{repo}/manifests/t{i}", manifest, {"Content-Type": MANIFEST}, timeout=20)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                continue
            if s == 201:
                self.acked.append((repo, f"t{i}", manifest, {digest(config): config, digest(layer): layer}, time.time()))


def kill_one(check, cluster):
    acked, stop = [], threading.Event()
    pushers = [Pusher(cluster.url, n, acked, stop) for n in range(3)]
    for p in pushers: p.start()
    deadline = time.time() + 20
    while len(acked) < 30 and time.time() < deadline:
        time.sleep(0.1)
    victim = cluster.instances[0]
    killed_at = time.time()
    victim.proc.popen.kill()  # SIGKILL
    victim.proc.popen.wait(10)
    print(f"# SIGKILL {victim.name} after {len(acked)} acknowledged pushes", flush=True)
    time.sleep(8)
    stop.set()
    for p in pushers: p.join(60)
    after = sum(1 for a in acked if a[4] > killed_at)
    check(len(acked) >= 30, f"pushes acknowledged through nginx: {len(acked)}")
    check(after >= 5, f"the other instance kept serving: {after} pushes acknowledged after the kill")
    bad = 0
    for repo, tag, manifest, blobs, _ in acked:
        s, _, body = call("GET", f"{cluster.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
        if s != 200 or body != manifest:
            bad += 1
            continue
        for d, data in blobs.items():
            s, _, body = call("GET", f"{cluster.url}/v2/{repo}/blobs/{d}")
            if s != 200 or body != data:
                bad += 1
    check(bad == 0, f"every acknowledged push pulls back intact after the kill ({len(acked)} images, {bad} bad)")
