"""kill -9: while clients push blobs, manifests and upload chunks, Berth is killed with SIGKILL and restarted
on the same root. Every acknowledged (2xx) write must be intact afterwards, and no blob file may hold content
that does not match its digest. Each round, and the run in all, must have acknowledged a minimum number of
writes, so that a server refusing every write cannot pass."""
import hashlib, json, os, random, threading, time

import pytest

from harness.content import CONFIG, LAYER, MANIFEST, digest
from harness.httpclient import request

pytestmark = [pytest.mark.durability, pytest.mark.xdist_group("durability")]
ROUNDS = 3
# Seen on 2 loaded cores: 230-570 acknowledged writes a round, 990-1250 in 3 rounds. The floors leave room
# for a machine 3-5 times slower, yet fail a server that refuses (or stalls on) most writes. The kill comes
# 1-2.5 s into a round (at random, as in the script this replaces), but not before the round has seen
# KILL_AFTER_ACKED acknowledged writes unless ROUND_LIMIT seconds have passed: beside the GC stress under
# pytest-xdist on 2 busy cores, fixed 1-2.5 s windows gave 59-221 writes in all (the old script 86 under the
# same load), which failed the floors for want of CPU, not for a refusing server.
KILL_AFTER_ACKED, ROUND_LIMIT = 80, 30
MIN_ACKED_PER_ROUND = 40
MIN_ACKED_TOTAL = 75 * ROUNDS


class Writer(threading.Thread):
    """Pushes blobs and manifests until the server dies, recording what was acknowledged."""

    def __init__(self, port, n, acked):
        super().__init__(daemon=True)
        self.port, self.n, self.acked = port, n, acked

    def run(self):
        repo = f"crash/w{self.n}"
        for i in range(200):
            try:
                blob = os.urandom(random.randint(1, 3 << 20))
                r = request(self.port, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(blob)}", blob, timeout=30)
                if r.status == 201:
                    self.acked.append(("blob", repo, digest(blob), blob))
                config = json.dumps({"n": i, "w": self.n}).encode()
                request(self.port, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(config)}", config, timeout=30)
                manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                       "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
                                       "layers": [{"mediaType": LAYER, "digest": digest(blob),
                                                   "size": len(blob)}]}).encode()
                r = request(self.port, "PUT", f"/v2/{repo}/manifests/t{i}", manifest, {"Content-Type": MANIFEST},
                            timeout=30)
                if r.status == 201:
                    self.acked.append(("manifest", repo, f"t{i}", manifest))
            except Exception:
                return  # the server was killed


def chunked_upload(port, acked):
    """Opens a session and acknowledges one chunk; the rest is sent after the restart. Returns a problem."""
    data = os.urandom(1 << 20)
    r = request(port, "POST", "/v2/crash/chunked/blobs/uploads/")
    if r.status != 202 or "location" not in r.headers:
        return f"upload session not opened ({r!r})"
    location = r.headers["location"]
    r = request(port, "PATCH", location, data[:600000], {"Content-Range": "0-599999"})
    if r.status != 202:
        return f"first chunk not accepted ({r!r})"
    acked.append(("session", location, data))
    return None


def lost(port, acked):
    """The acknowledged writes that did not survive, described."""
    out = []
    for kind, *rest in acked:
        if kind == "blob":
            repo, d, blob = rest
            r = request(port, "GET", f"/v2/{repo}/blobs/{d}")
            ok = r.status == 200 and r.body == blob
        elif kind == "manifest":
            repo, tag, manifest = rest
            r = request(port, "GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
            ok = r.status == 200 and r.body == manifest
        else:
            location, data = rest
            r = request(port, "GET", location)
            ok = r.status == 204 and r.headers.get("range") == "0-599999"
            if ok:  # the session resumes where its acknowledged chunk ended and completes
                r = request(port, "PUT", f"{location}?digest={digest(data)}", data[600000:],
                            {"Content-Range": f"600000-{len(data) - 1}"})
                ok = r.status == 201
        if not ok:
            out.append(f"{kind} {rest[0]} {rest[1] if len(rest) > 2 else ''} ({r.status})")
    return out


def corrupt_blobs(root):
    """Blob files in the store whose content does not match their name (nothing partial may be visible)."""
    bad = []
    for algorithm in ("sha256", "sha512"):
        for dirpath, _, files in os.walk(os.path.join(root, "blobs", algorithm)):
            for name in files:
                with open(os.path.join(dirpath, name), "rb") as f:
                    if hashlib.new(algorithm, f.read()).hexdigest() != name:
                        bad.append(name)
    return bad


def test_kill_9(berth, checks):
    b = berth("crash")
    b.start()
    total = 0
    for n in range(1, ROUNDS + 1):
        checks.section = f"round {n}"
        acked = []
        problem = chunked_upload(b.port, acked)
        checks(problem is None, "an upload session with one acknowledged chunk is open before the kill", problem)
        writers = [Writer(b.port, w, acked) for w in range(4)]
        for w in writers:
            w.start()
        earliest, limit = time.time() + random.uniform(1.0, 2.5), time.time() + ROUND_LIMIT
        while time.time() < limit and (time.time() < earliest or len(acked) < KILL_AFTER_ACKED):
            time.sleep(0.02)
        b.kill()
        for w in writers:
            w.join(timeout=30)
        checks(not any(w.is_alive() for w in writers), "every writer stopped within 30 s of the kill")
        b.start()
        gone = lost(b.port, acked)
        kinds = {k: sum(1 for a in acked if a[0] == k) for k in ("blob", "manifest", "session")}
        total += len(acked)
        checks(not gone, f"{len(acked)} acknowledged writes intact after kill -9 ({kinds['blob']} blobs, "
                         f"{kinds['manifest']} manifests, {kinds['session']} upload session)",
               f"{len(gone)} lost: {gone[:10]}")
        bad = corrupt_blobs(b.root)
        checks(not bad, "every blob file matches its digest", f"{len(bad)} do not: {bad[:5]}")
        checks(len(acked) >= MIN_ACKED_PER_ROUND and kinds["blob"] and kinds["manifest"],
               f"at least {MIN_ACKED_PER_ROUND} writes acknowledged, blobs and manifests among them ({len(acked)})")
    checks.section = "all rounds"
    checks(total >= MIN_ACKED_TOTAL, f"{total} acknowledged writes in all (at least {MIN_ACKED_TOTAL})")
