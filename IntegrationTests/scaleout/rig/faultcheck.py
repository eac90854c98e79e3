"""Berth's S3 retries, live: one Berth (S3 blobs, SQLite metadata) talks to SeaweedFS through faultproxy.py,
which fails every 3rd new S3 request twice in a row (503 SlowDown, 500 InternalError, a reset before or after
the body, an answer lost after the work was done) and loses every CompleteMultipartUpload's first answer.
Images are pushed (monolithic and chunked uploads, multipart and single PUTs), pulled back, deleted and
collected with `berth gc`; then the bucket must hold nothing of them (a repeated CreateMultipartUpload may
leave an empty upload: no parts). With the default 3 attempts every step must succeed; run again with
AWS_MAX_ATTEMPTS=1 (no retries) the same steps must fail, or the check proves nothing.

    python3 -m scaleout.rig faults --berth PATH  (from IntegrationTests/; starts its own SeaweedFS)
    faultcheck.run(check, cluster.s3, berth)     (scaleout/test_scaleout.py, with the rig's SeaweedFS)
"""
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request

from .berth import _yaml_str
from .faultproxy import FaultProxy, Schedule
from harness.procs import Proc, free_port, http_status, run as run_command, wait_until

MIB = 1 << 20
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGES = 3
PHASE_SECONDS = 120  # a hard bound per phase; a passing phase takes a few seconds


def call(method, url, body=None, headers=None, timeout=60):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config(port, root, s3, endpoint, prefix):
    return "\n".join([
        f"address: 127.0.0.1:{port}",
        f"root: {_yaml_str(root)}",
        "storage:",
        "  driver: s3",
        "  s3:",
        f"    endpoint: {_yaml_str(endpoint)}",
        f"    region: {_yaml_str(s3['region'])}",
        f"    bucket: {_yaml_str(s3['bucket'])}",
        f"    prefix: {_yaml_str(prefix)}",
        "    path_style: true",
        f"    access_key: {_yaml_str(s3['access_key'])}",
        f"    secret_key: {_yaml_str(s3['secret_key'])}",
        f"    part_size: {5 * MIB}",
        "gc:",
        "  grace: 0s",
        "",
    ])


class Phase:
    """One Berth through one proxy; `problems` lists every step that failed."""

    def __init__(self, berth, s3, folder, attempts):
        self.berth, self.s3, self.folder, self.attempts = berth, s3, folder, attempts
        self.prefix = f"faultcheck-{secrets.token_hex(4)}/"
        self.problems = []
        self.deadline = time.monotonic() + PHASE_SECONDS

    def problem(self, what):
        self.problems.append(what)

    def over_time(self):
        if time.monotonic() > self.deadline:
            self.problem(f"phase ran past {PHASE_SECONDS}s")
            return True
        return False

    def push_monolithic(self, url, repo, data):
        status, _, _ = call("POST", f"{url}/v2/{repo}/blobs/uploads/?digest={sha(data)}", data,
                            {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if status != 201:
            self.problem(f"monolithic push of {len(data)} bytes to {repo}: {status}")

    def push_chunked(self, url, repo, chunks):
        status, headers, _ = call("POST", f"{url}/v2/{repo}/blobs/uploads/")
        if status != 202:
            return self.problem(f"upload session in {repo}: {status}")
        location, offset = headers["Location"], 0
        for chunk in chunks:
            target = location if "://" in location else url + location
            status, headers, _ = call("PATCH", target, chunk, {
                "Content-Type": "application/octet-stream", "Content-Length": str(len(chunk)),
                "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            if status != 202:
                return self.problem(f"PATCH of {len(chunk)} bytes at {offset} in {repo}: {status}")
            location, offset = headers["Location"], offset + len(chunk)
        target = location if "://" in location else url + location
        whole = b"".join(chunks)
        status, _, _ = call("PUT", f"{target}{'&' if '?' in target else '?'}digest={sha(whole)}")
        if status != 201:
            self.problem(f"finishing PUT of a chunked upload to {repo}: {status}")

    def images(self, url):
        """Pushes IMAGES images; returns {repo: (manifest digest, {blob digest: bytes})}."""
        pushed = {}
        for n in range(IMAGES):
            if self.over_time():
                break
            repo = f"faults/app{n}"
            config_blob = json.dumps({"n": n, "phase": self.prefix}).encode()
            big = os.urandom(6 * MIB + 1000 * n)  # two 5 MiB parts: create, part, part, complete
            chunks = [os.urandom(3 * MIB), os.urandom(2 * MIB + 17 * n)]  # two segments, assembled
            small = os.urandom(40_000 + n)  # one PUT
            self.push_monolithic(url, repo, config_blob)
            self.push_monolithic(url, repo, big)
            self.push_monolithic(url, repo, small)
            self.push_chunked(url, repo, chunks)
            layers = [big, small, b"".join(chunks)]
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config_blob),
                           "size": len(config_blob)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer),
                            "size": len(layer)} for layer in layers]}).encode()
            status, _, _ = call("PUT", f"{url}/v2/{repo}/manifests/v1", manifest, {"Content-Type": MANIFEST})
            if status != 201:
                self.problem(f"manifest of {repo}: {status}")
                continue
            pushed[repo] = (sha(manifest), {sha(b): b for b in [config_blob] + layers})
        return pushed

    def pull(self, url, pushed):
        for repo, (_, blobs) in pushed.items():
            for digest, data in blobs.items():
                status, _, body = call("GET", f"{url}/v2/{repo}/blobs/{digest}")
                if status != 200 or body != data:
                    self.problem(f"pull of {digest[:19]} from {repo}: {status}, {len(body)} bytes")

    def collect(self, url, pushed, config_path, env):
        for repo, (manifest, _) in pushed.items():
            status, _, _ = call("DELETE", f"{url}/v2/{repo}/manifests/{manifest}")
            if status != 202:
                self.problem(f"delete of {repo}'s manifest: {status}")
        try:
            out = run_command([self.berth, "gc", "--config", config_path, "--grace", "0s", "--untagged", "--json"],
                              timeout=max(5, self.deadline - time.monotonic()), env=env)
            print("# gc:", out.strip()[-400:], flush=True)
        except RuntimeError as error:
            self.problem(f"berth gc: {str(error)[-600:]}")

    def leftovers(self):
        """What the phase left in the bucket, asked of SeaweedFS directly (not through the proxy)."""
        from .seaweed import boto_client
        s3 = boto_client(self.s3["endpoint"], self.s3["access_key"], self.s3["secret_key"], self.s3["region"])
        bucket = self.s3["bucket"]
        keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=self.prefix)
                for o in page.get("Contents", [])]
        if keys:
            self.problem(f"{len(keys)} objects left after collection, e.g. {keys[:3]}")
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=self.prefix).get("Uploads", [])
        with_parts = [u["Key"] for u in uploads
                      if s3.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")]
        if with_parts:
            self.problem(f"multipart uploads holding parts left: {with_parts[:3]}")
        for u in uploads:  # empty ones a repeated CreateMultipartUpload made: the rig cleans up after itself
            s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        return len(uploads)

    def run(self):
        """Returns (problems, the proxy's counts)."""
        port = free_port()
        root = os.path.join(self.folder, "root")
        os.makedirs(root, exist_ok=True)
        upstream = int(self.s3["endpoint"].rsplit(":", 1)[1])
        schedule = Schedule(every=3, repeat=2, lose_completes=True)
        proxy = FaultProxy(upstream, schedule=schedule).start()
        config_path = os.path.join(self.folder, "berth.yml")
        with open(config_path, "w") as f:
            f.write(config(port, root, self.s3, proxy.url, self.prefix))
        os.chmod(config_path, 0o600)
        env = {k: v for k, v in os.environ.items() if k != "AWS_MAX_ATTEMPTS"}
        if self.attempts is not None:
            env["AWS_MAX_ATTEMPTS"] = str(self.attempts)
        proc = Proc("berth-faults", [self.berth, "serve", "--config", config_path],
                    os.path.join(self.folder, "berth.log"), cwd=self.folder, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until("berth (faults)", lambda: http_status(url + "/healthz", timeout=3) == 200, 60, proc, 0.2)
            schedule.arm()  # faults only once Berth is up: the check is about requests, not start-up
            started = time.monotonic()
            pushed = self.images(url)
            self.pull(url, pushed)
            self.collect(url, pushed, config_path, env)
            schedule.arm(False)
            empty = self.leftovers()
            counts = schedule.counts()
            counts.update(seconds=round(time.monotonic() - started, 1), images=len(pushed), empty_uploads=empty)
            return self.problems, counts
        finally:
            proc.stop(timeout=10)
            proxy.stop()


def run(check, s3, berth, folder=None):
    """Both phases against SeaweedS3 `s3` (its info() is used); reports through check(ok, what)."""
    info = s3.info() if hasattr(s3, "info") else s3
    top = folder or tempfile.mkdtemp(prefix="berth-faults-")
    try:
        problems, counts = Phase(berth, info, os.path.join(top, "retries"), None).run()
        print(f"# faults, 3 attempts: {counts}", flush=True)
        injected = sum(counts["faults"].values())
        check(not problems and injected >= 20 and all(counts["faults"].values()),
              f"S3 faults: pushes, pulls and gc succeed through {injected} injected faults of every kind "
              f"({problems[:3]})")
        problems, counts = Phase(berth, info, os.path.join(top, "no-retries"), 1).run()
        print(f"# faults, AWS_MAX_ATTEMPTS=1: {counts}; {len(problems)} problems, e.g. {problems[:3]}", flush=True)
        check(len(problems) > 0, "S3 faults: with retries off (AWS_MAX_ATTEMPTS=1) the same check fails")
    finally:
        if folder is None:
            shutil.rmtree(top, ignore_errors=True)


def main(berth, keep=False):
    """Standalone: a SeaweedFS of its own, both phases; exit status 1 on any failure."""
    from .seaweed import SeaweedS3
    failures = []

    def check(ok, what):
        print(("ok - " if ok else "not ok - ") + what, flush=True)
        if not ok:
            failures.append(what)

    folder = tempfile.mkdtemp(prefix="berth-faults-")
    s3 = SeaweedS3(os.path.join(folder, "seaweedfs"), bucket="berth-faults")
    try:
        s3.start()
        run(check, s3, os.path.abspath(berth), folder)
    finally:
        s3.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    return failures
