#!/usr/bin/env python3
"""The scale-out set-up under test: two Berth instances on SeaweedFS (S3) and PostgreSQL behind nginx.

  0. the Swift suites that need a live S3 store and PostgreSQL (S3BlobStoreTests, and
     MetadataStoreBehaviourTests on both drivers), against the rig's SeaweedFS and PostgreSQL
     (BERTH_SCALEOUT_SWIFT=0 skips them; they need the release test build of scripts/test);
  1. an upload session whose requests alternate between the instances completes, two PATCHes racing at one
     offset on different instances give exactly one 202, and a finishing PUT replayed on the other instance
     after the first answered succeeds; S3 retries through injected faults, and failing without them
     (scaleout/faultcheck.py); and two more instances in token mode sharing a signing-keys folder accept each other's tokens
     (scripts/scaleout_token_check.py); one more with `storage.s3.redirect` sends blob GETs to presigned
     storage URLs that skopeo follows (scripts/scaleout_redirect_check.py); tag immutability holds across
     instances, also for pushes racing on both (scripts/scaleout_policy_check.py);
  2. the OCI conformance suite (1.1 and dev) through nginx;
  3. the real-client suite through nginx (BERTH_SCALEOUT_CLIENTS=0 skips it);
  4. `berth migrate-storage` of a populated embedded installation into the set-up, interrupted, refusing a
     corrupted blob, resumed, then pulled back through nginx (scripts/migrate_storage_check.py);
  5. SIGKILL of one instance during a push loop through nginx: every acknowledged push pulls back intact,
     and the other instance keeps serving.

usage: scripts/scaleout_test.py PATH_TO_BERTH
"""
import hashlib, json, os, subprocess, sys, threading, time
import urllib.error, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from scaleout import Cluster, faultcheck  # noqa: E402
from scaleout.berth import config_yaml  # noqa: E402
import migrate_storage_check  # noqa: E402
import scaleout_gc_check  # noqa: E402
import scaleout_policy_check  # noqa: E402
import scaleout_redirect_check  # noqa: E402
import scaleout_token_check  # noqa: E402

BERTH = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/berth")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


def call(method, url, body=None, headers=None, timeout=60):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def session_path(location):
    """The upload URL's path and query, to replay on any instance."""
    return location.split("://", 1)[-1].split("/", 1)[-1] if "://" in location else location.lstrip("/")


def cross_instance(a, b):
    repo = "scaleout/cross"
    chunks = [os.urandom(300_000), os.urandom(5), os.urandom(1_200_000)]
    whole = b"".join(chunks)
    status, headers, _ = call("POST", f"{a}/v2/{repo}/blobs/uploads/")
    check(status == 202, f"session opened on instance A ({status})")
    minimum = {k.lower(): v for k, v in headers.items()}.get("oci-chunk-min-length")
    check(minimum == str(5 << 20), f"the session tells clients S3's 5 MiB minimum chunk (OCI-Chunk-Min-Length: {minimum})")
    path = session_path(headers["Location"])
    offset = 0
    for n, chunk in enumerate(chunks):
        base = b if n % 2 == 0 else a
        status, _, _ = call("PATCH", f"{base}/{path}", chunk, {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}", "Content-Length": str(len(chunk))})
        check(status == 202, f"chunk {n} on instance {'B' if base == b else 'A'} accepted ({status})")
        offset += len(chunk)
    status, _, _ = call("GET", f"{a}/{path}")
    check(status == 204, f"instance A sees the session's progress ({status})")
    sep = "&" if "?" in path else "?"
    status, _, _ = call("PUT", f"{b}/{path}{sep}digest={digest(whole)}")
    check(status == 201, f"session completed on instance B after chunks on both ({status})")
    status, _, _ = call("PUT", f"{a}/{path}{sep}digest={digest(whole)}")
    check(status == 201, f"the finishing PUT replayed on instance A succeeds ({status})")
    status, _, body = call("GET", f"{a}/v2/{repo}/blobs/{digest(whole)}")
    check(status == 200 and body == whole, "the blob reads back whole from instance A")

    # Two PATCHes at one offset, one per instance, at the same moment: exactly one wins.
    status, headers, _ = call("POST", f"{a}/v2/{repo}/blobs/uploads/")
    path = session_path(headers["Location"])
    results = {}
    def patch(name, base):
        data = os.urandom(2_000_000)
        results[name] = (call("PATCH", f"{base}/{path}", data, {
            "Content-Type": "application/octet-stream", "Content-Range": f"0-{len(data) - 1}",
            "Content-Length": str(len(data))})[0], data)
    threads = [threading.Thread(target=patch, args=(n, u)) for n, u in (("a", a), ("b", b))]
    for t in threads: t.start()
    for t in threads: t.join()
    codes = sorted(r[0] for r in results.values())
    check(codes.count(202) == 1 and codes.count(416) + codes.count(202) == 2,
          f"racing PATCHes at offset 0 on both instances: one 202, one 416 (got {codes})")
    winner = next((d for c, d in results.values() if c == 202), None)
    if winner is not None:
        status, _, _ = call("PUT", f"{b}/{path}{'&' if '?' in path else '?'}digest={digest(winner)}")
        check(status == 201, f"the race's winner completes with its own bytes ({status})")


def cached_deletes(a, b, rounds=30):
    """Each instance keeps blob sizes in memory: a blob deleted through one instance must answer 404 on the
    other at once, however often that one has just served it (no per-process staleness, unlike
    Distribution's in-memory blob descriptor cache behind a load balancer)."""
    repo = "scaleout/cached"
    stale, other_errors = [], []
    for n in range(rounds):
        data = os.urandom(1_000 + n)
        d = digest(data)
        status, _, _ = call("POST", f"{a}/v2/{repo}/blobs/uploads/?digest={d}", data,
                            {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        warm = [call("HEAD", f"{url}/v2/{repo}/blobs/{d}")[0] for url in (a, b, a, b, a, b)]
        if status != 201 or set(warm) != {200}:
            other_errors.append((n, status, warm))
            continue
        deleter, other = (a, b) if n % 2 == 0 else (b, a)
        status, _, _ = call("DELETE", f"{deleter}/v2/{repo}/blobs/{d}")
        if status != 202:
            other_errors.append((n, "delete", status))
            continue
        after = [call(m, f"{url}/v2/{repo}/blobs/{d}")[0] for m, url in (("HEAD", other), ("GET", other), ("HEAD", deleter))]
        if after != [404, 404, 404]:
            stale.append((n, after))
    check(not other_errors, f"blob cache: {rounds} blobs pushed and read 3 times on each instance ({other_errors[:3]})")
    check(not stale, f"blob cache: a blob deleted through one instance answers 404 on both at once, "
                     f"{rounds} rounds ({len(stale)} stale: {stale[:3]})")


def run(cmd, env=None):
    print("#", " ".join(cmd), flush=True)
    return subprocess.run(cmd, env={**os.environ, **(env or {})}).returncode


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
                path = session_path(h["Location"])
                s, h, _ = call("PATCH", f"{self.url}/{path}", data,
                               {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}, timeout=20)
                if s != 202:
                    continue
                path = session_path(h["Location"])
                s, _, _ = call("PUT", f"{self.url}/{path}{'&' if '?' in path else '?'}digest={digest(data)}", timeout=20)
                if s == 201:
                    return True
            except (OSError, urllib.error.URLError):
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
            except (OSError, urllib.error.URLError):
                self.errors += 1
                continue
            if s == 201:
                self.acked.append((repo, f"t{i}", manifest, {digest(config): config, digest(layer): layer}, time.time()))


def kill_one(cluster):
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


def live_swift_suites(cluster):
    """The driver suites skip without a live S3 and PostgreSQL; here they have both, and must run, not skip."""
    s3 = cluster.s3.info()
    top = os.path.dirname(HERE)
    cmd = ["swift", "test", "--configuration", "release", "--skip-build",
           "--filter", "S3BlobStoreTests|MetadataStoreBehaviourTests"]
    print("#", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=top, capture_output=True, text=True, timeout=900, env={
        **os.environ, "BERTH_TEST_S3_ENDPOINT": s3["endpoint"], "BERTH_TEST_S3_BUCKET": "berth-swift-tests",
        "AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
        "AWS_REGION": s3["region"], "BERTH_TEST_POSTGRES_URL": cluster.postgres.url})
    output = r.stdout + r.stderr
    print(output[-4000:], flush=True)
    skipped = [line for line in output.splitlines() if "skipped" in line and ("S3BlobStore" in line or "postgres" in line.lower())]
    check(r.returncode == 0 and not skipped, f"Swift suites on live SeaweedFS and PostgreSQL pass, none skipped "
          f"(exit {r.returncode}, {len(skipped)} skipped)")


def main():
    with Cluster(berth=BERTH, instances=2) as cluster:
        a, b = cluster.instance_urls
        print(f"# nginx {cluster.url}, instances {a} {b}", flush=True)
        for url in (a, b):
            check(call("GET", f"{url}/healthz")[0] == 200, f"{url}/healthz is 200")
        if os.environ.get("BERTH_SCALEOUT_SWIFT", "1") != "0":
            live_swift_suites(cluster)
        cross_instance(a, b)
        cached_deletes(a, b)
        faultcheck.run(check, cluster.s3, BERTH)  # S3 retries through injected faults, and failing without them
        scaleout_token_check.run(check, cluster, BERTH)
        scaleout_redirect_check.run(check, cluster, BERTH)
        scaleout_policy_check.run(check, cluster, BERTH)
        for profile in ("1.1", "dev"):
            check(run([os.path.join(HERE, "conformance.sh"), cluster.url, profile]) == 0,
                  f"OCI conformance {profile} through nginx, two instances")
        if os.environ.get("BERTH_SCALEOUT_CLIENTS", "1") != "0":
            registry = cluster.url.split("://", 1)[1]
            check(run([os.path.join(HERE, "real-clients.sh"), BERTH], {
                "BERTH_RC_REGISTRY": registry, "BERTH_RC_ONLY": "docker,ctr,skopeo,podman,oras,api"}) == 0,
                "real clients through nginx, two instances")
        migrate_storage_check.run(check, cluster, BERTH, config_yaml)
        scaleout_gc_check.run(check, cluster, BERTH)
        kill_one(cluster)
    print(f"scaleout: {len(failures)} failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
