"""`storage.s3.redirect`: an instance that answers blob GETs with 307 to a presigned SeaweedFS URL. The URL
serves the blob (and ranges of it) without credentials, HEAD is still answered by Berth, and skopeo pulls an
image through the redirects with its digests. Used by test_scaleout.py with the session's rig."""
import hashlib, json, os, shutil, subprocess, tempfile, urllib.error, urllib.request

from scaleout.rig.berth import BerthInstance

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def call(method, url, body=None, headers=None, follow=True):
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def push_blob(url, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, _ = call("POST", f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", data,
                        {"Content-Type": "application/octet-stream"})
    assert status == 201, status
    return {"digest": digest, "size": len(data)}


def run(check, cluster, binary):
    work = tempfile.mkdtemp(prefix="berth-redirect-", dir=cluster.folder)
    instance = BerthInstance(binary, work, 20, {**cluster.s3.info(), "redirect": True}, cluster.postgres.url)
    try:
        instance.start()
        instance.wait_ready()
        url, repo = instance.url, "redirect/app"
        layer = os.urandom(3 << 20)
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        descriptors = [push_blob(url, repo, config), push_blob(url, repo, layer)]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **descriptors[0]},
                               "layers": [{"mediaType": "application/octet-stream", **descriptors[1]}]}).encode()
        check(call("PUT", f"{url}/v2/{repo}/manifests/v1", manifest, {"Content-Type": MANIFEST})[0] == 201,
              "image pushed to the redirecting instance")
        digest = descriptors[1]["digest"]
        status, headers, _ = call("GET", f"{url}/v2/{repo}/blobs/{digest}", follow=False)
        location = headers.get("Location", "")
        check(status == 307 and location.startswith(cluster.s3.info()["endpoint"]) and "X-Amz-Signature=" in location,
              f"a blob GET is redirected to a presigned storage URL ({status})")
        status, _, body = call("GET", location)
        check(status == 200 and body == layer, f"the presigned URL serves the blob without credentials ({status})")
        status, _, body = call("GET", location, headers={"Range": "bytes=100-199"})
        check(status == 206 and body == layer[100:200], f"and ranges of it ({status})")
        status, headers, _ = call("HEAD", f"{url}/v2/{repo}/blobs/{digest}", follow=False)
        check(status == 200 and headers.get("Content-Length") == str(len(layer)), f"HEAD is answered by Berth ({status})")
        if shutil.which("skopeo"):
            r = subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{url.split('://')[1]}/{repo}:v1",
                                f"dir:{work}/pulled"], capture_output=True, text=True, timeout=120)
            pulled = open(f"{work}/pulled/{digest[7:]}", "rb").read() if r.returncode == 0 else b""
            check(pulled == layer, f"skopeo pulls through the redirects ({r.stderr.strip()[-200:]})")
    finally:
        instance.stop()
