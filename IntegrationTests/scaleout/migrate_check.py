"""`berth migrate-storage` from an embedded installation (filesystem + SQLite) into the scale-out set-up's
SeaweedFS + PostgreSQL, checked through nginx. Used by test_scaleout.py with the session's rig.

An embedded Berth is populated over HTTP (images sharing layers, a multi-megabyte layer, an index, a referrer,
several tags, an untagged manifest, an empty blob) and given a user, a namespace, a role and a tag immutability
rule. Then:
  1. a first migration is killed (SIGKILL) while copying;
  2. a second one finds one source blob corrupted on disk: it must not copy it, say so, and exit 1;
  3. with the file restored, a third run completes (exit 0), skipping what earlier runs copied, and its own
     verification finds no mismatch;
  4. every image pulls back through nginx with its digests (and with skopeo, which checks them too), tags,
     referrers and the user come along;
  5. `--verify-only` notices a blob link removed from the target afterwards (the check can fail)."""
import hashlib, io, json, os, shutil, signal, subprocess, tarfile, tempfile, time
import urllib.error, urllib.request

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def layer_tar(name, size):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime = size, 0
        tar.addfile(info, io.BytesIO(os.urandom(size)))
    return buffer.getvalue()


class Source:
    """The embedded installation, and what was pushed to it: {(repo, tag or digest): manifest bytes}."""

    def __init__(self, url):
        self.url = url
        self.images = {}
        self.blobs = {}  # digest -> bytes

    def blob(self, repo, data):
        s, h, _ = call("POST", f"{self.url}/v2/{repo}/blobs/uploads/")
        assert s == 202, s
        location = h["Location"]
        location = location if "://" in location else self.url + location
        # In chunks, so that large layers are staged in several segments.
        offset = 0
        for start in range(0, max(len(data), 1), 3 << 20):
            chunk = data[start:start + (3 << 20)]
            if not chunk:
                break
            s, h, _ = call("PATCH", location, chunk, {"Content-Type": "application/octet-stream",
                                                      "Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
            assert s == 202, s
            location = h["Location"] if "://" in h["Location"] else self.url + h["Location"]
            offset += len(chunk)
        s, _, _ = call("PUT", f"{location}{'&' if '?' in location else '?'}digest={sha(data)}")
        assert s == 201, s
        self.blobs[sha(data)] = data
        return {"digest": sha(data), "size": len(data)}

    def image(self, repo, tags, layers, subject=None, artifact=None):
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
            "type": "layers", "diff_ids": [sha(layer) for layer in layers]}}).encode()
        document = {"schemaVersion": 2, "mediaType": MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **self.blob(repo, config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **self.blob(repo, layer)}
                               for layer in layers]}
        if artifact:
            document["artifactType"] = artifact
        if subject:
            document["subject"] = subject
        return self.manifest(repo, tags, json.dumps(document).encode(), MANIFEST)

    def manifest(self, repo, tags, body, media_type):
        for reference in tags or [sha(body)]:
            s, _, _ = call("PUT", f"{self.url}/v2/{repo}/manifests/{reference}", body, {"Content-Type": media_type})
            assert s == 201, (repo, reference, s)
            self.images[(repo, reference)] = body
        self.images[(repo, sha(body))] = body
        return {"mediaType": media_type, "digest": sha(body), "size": len(body)}

    def populate(self):
        base = layer_tar("base", 6 << 20)
        layers = [layer_tar(f"l{i}", 1 << 20) for i in range(12)]
        for n in range(4):
            self.image(f"moved/app{n}", [f"v{n}", "latest"], [base, layers[n], layers[n + 4]])
        a = self.image("moved/multi", [], [base, layers[8]])
        b = self.image("moved/multi", [], [layers[9]])
        index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            {**a, "platform": {"architecture": "amd64", "os": "linux"}},
            {**b, "platform": {"architecture": "arm64", "os": "linux"}}]}).encode()
        self.subject = self.manifest("moved/multi", ["v1"], index, INDEX)
        self.image("moved/multi", [], [layers[10]], subject=self.subject, artifact="application/vnd.example.sbom")
        self.image("moved/untagged", [], [layers[11]])
        self.blob("moved/empty", b"")
        self.corrupt = self.blob("moved/corrupt", layer_tar("corrupt", 300_000))["digest"]


def berth(binary, *args, timeout=600):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)


def run(check, cluster, binary, config_yaml):
    work = tempfile.mkdtemp(prefix="berth-move-")
    try:
        _run(check, cluster, binary, config_yaml, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(check, cluster, binary, config_yaml, work):
    root = os.path.join(work, "embedded")
    for args in (["user", "add", "mover", "--password-stdin"], ["namespace", "create", "moved"],
                 ["grant", "mover", "moved", "maintainer"], ["immutability", "set", "moved", "--exclude", "latest"]):
        r = subprocess.run([binary, *args, "--root", root], input="secret-pass\n", capture_output=True, text=True)
        check(r.returncode == 0, f"embedded: berth {' '.join(args[:2])} ({r.stderr.strip()[:200]})")
    log = open(os.path.join(work, "embedded.log"), "w")
    server = subprocess.Popen([binary, "serve", "--address", "127.0.0.1:0", "--root", root], stdout=log, stderr=log)
    try:
        port = None
        for _ in range(200):
            text = open(log.name).read()
            if "listening on 127.0.0.1:" in text:
                port = text.split("listening on 127.0.0.1:")[1].split()[0]
                break
            time.sleep(0.05)
        source = Source(f"http://127.0.0.1:{port}")
        source.populate()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    print(f"# embedded installation: {len(source.blobs)} blobs, {len(source.images)} manifest references", flush=True)

    target_yml = os.path.join(work, "target.yml")
    with open(target_yml, "w") as f:
        f.write(config_yaml("127.0.0.1:0", os.path.join(work, "target-root"), cluster.s3.info(), cluster.postgres.url))
    move = [binary, "migrate-storage", "--from", root, "--config", target_yml]

    corrupt = source.corrupt
    path = os.path.join(root, "blobs", "sha256", corrupt[7:9], corrupt[7:])
    original = open(path, "rb").read()
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(bytes([original[1000] ^ 0xFF]))

    # 1. Interrupted while copying.
    first = subprocess.Popen(move + ["--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.6)
    first.kill()
    first.wait(10)
    print(f"# first migration killed (exit {first.returncode})", flush=True)

    # 2. A corrupted source blob (damaged before any run) is refused, named, and not copied.
    second = berth(binary, *move[1:])
    print(second.stdout[-3000:], flush=True)
    check(second.returncode == 1 and f"not copied: blob {corrupt}: the source's bytes hash to" in second.stdout,
          f"a corrupted source blob is refused and named (exit {second.returncode})")
    check(call("HEAD", f"{cluster.url}/v2/moved/corrupt/blobs/{corrupt}")[0] == 404,
          "the corrupted blob is not visible in the target")

    # 3. Restored, a last run completes, skipping what is there.
    with open(path, "wb") as f:
        f.write(original)
    third = berth(binary, *move[1:])
    print(third.stdout[-3000:], third.stderr[-1500:], flush=True)
    check(third.returncode == 0, f"the resumed migration completes (exit {third.returncode})")
    check("copied: 1 blobs" in third.stdout and "; 0 mismatches" in third.stdout,
          "it copies only the restored blob, skipping what earlier runs copied, and verifies the target: 0 mismatches")

    # 4. Everything pulls back through nginx, digests checked.
    bad = 0
    for (repo, reference), body in sorted(source.images.items()):
        s, h, got = call("GET", f"{cluster.url}/v2/{repo}/manifests/{reference}",
                         headers={"Accept": f"{MANIFEST}, {INDEX}"})
        if s != 200 or got != body or h.get("Docker-Content-Digest") != sha(body):
            bad += 1
            print(f"# bad manifest {repo}:{reference} ({s})", flush=True)
            continue
        for descriptor in [json.loads(body).get("config")] + json.loads(body).get("layers", []):
            if descriptor:
                s, _, data = call("GET", f"{cluster.url}/v2/{repo}/blobs/{descriptor['digest']}")
                if s != 200 or sha(data) != descriptor["digest"]:
                    bad += 1
    check(bad == 0, f"every manifest and blob pulls back through nginx with its digest ({len(source.images)} references, {bad} bad)")
    s, _, body = call("GET", f"{cluster.url}/v2/moved/app0/tags/list")
    check(s == 200 and json.loads(body)["tags"] == ["latest", "v0"], f"tags came along ({body[:100]!r})")
    s, _, body = call("GET", f"{cluster.url}/v2/moved/multi/referrers/{source.subject['digest']}")
    check(s == 200 and [m.get("artifactType") for m in json.loads(body)["manifests"]] == ["application/vnd.example.sbom"],
          "the referrer is listed for its subject")
    empty = sha(b"")
    check(call("GET", f"{cluster.url}/v2/moved/empty/blobs/{empty}")[0] == 200, "the empty blob came along")
    if shutil.which("skopeo"):
        registry = cluster.url.split("://", 1)[1]
        failed = 0
        for repo, tag in [("moved/app0", "v0"), ("moved/app3", "latest"), ("moved/multi", "v1")]:
            r = subprocess.run(["skopeo", "copy", "--all", "--preserve-digests", "--src-tls-verify=false", f"docker://{registry}/{repo}:{tag}",
                                f"oci:{work}/pulled:{repo.replace('/', '-')}"], capture_output=True, text=True, timeout=300)
            index = json.load(open(f"{work}/pulled/index.json")) if r.returncode == 0 else {"manifests": []}
            pulled = [m["digest"] for m in index["manifests"] if m.get("annotations", {}).get(
                "org.opencontainers.image.ref.name") == repo.replace("/", "-")]
            if r.returncode != 0 or pulled != [sha(source.images[(repo, tag)])]:
                failed += 1
                print(f"# skopeo {repo}:{tag}: {pulled} {r.stderr.strip()[-300:]}", flush=True)
        check(failed == 0, f"skopeo pulls migrated images with their digests (3 images, {failed} failed)")
    r = berth(binary, "immutability", "show", "moved/app1", "--config", target_yml)
    check(r.returncode == 0 and "immutable (except latest) (set on moved)" in r.stdout,
          f"the tag immutability rule came along ({r.stdout.strip()[:200]})")
    check(", 1 policies; 0 mismatches" in third.stdout, "the policy is verified in the target")
    r = berth(binary, "user", "list", "--config", target_yml)
    check(r.returncode == 0 and "mover" in r.stdout, f"the user came along ({r.stdout.strip()[:200]})")

    # 5. The verification can fail: remove a link in the target behind the migration's back.
    check(call("DELETE", f"{cluster.url}/v2/moved/empty/blobs/{empty}")[0] == 202, "a blob link removed from the target")
    last = berth(binary, *move[1:], "--verify-only")
    check(last.returncode == 1 and f"mismatch: blob {empty} in moved/empty: not visible" in last.stdout,
          f"--verify-only notices it (exit {last.returncode})")
