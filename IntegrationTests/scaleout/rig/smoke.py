"""A push and pull across the rig with real Berth instances: a chunked upload through nginx (its session
pinned to one instance), a manifest, then every instance serves both from the shared S3 bucket and
PostgreSQL database. `python3 -m scaleout.rig check --berth PATH`."""
import hashlib
import http.client
import json
import os
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def request(base, method, target, body=None, headers=None):
    """One request on a new connection; `target` is a path or an absolute URL (a Location)."""
    parts = urllib.parse.urlsplit(target if target.startswith("http") else base + target)
    path = parts.path + ("?" + parts.query if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def expect(what, status, wanted):
    if status != wanted:
        raise AssertionError(f"{what}: status {status}, wanted {wanted}")


def push_chunked(base, repository, data, chunks=3):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = request(base, "POST", f"/v2/{repository}/blobs/uploads/")
    expect("open upload", status, 202)
    location = headers["location"]
    step = -(-len(data) // chunks)
    for start in range(0, len(data), step):
        chunk = data[start:start + step]
        status, headers, body = request(base, "PATCH", location, chunk, {
            "Content-Type": "application/octet-stream", "Content-Range": f"{start}-{start + len(chunk) - 1}"})
        expect(f"PATCH at {start}: {body[:200]!r}", status, 202)
        location = headers.get("location", location)
    separator = "&" if "?" in location else "?"
    status, _, body = request(base, "PUT", f"{location}{separator}digest={digest}")
    expect(f"complete upload: {body[:200]!r}", status, 201)
    return digest


def push_monolithic(base, repository, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, _, body = request(base, "POST", f"/v2/{repository}/blobs/uploads/?digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    expect(f"monolithic push: {body[:200]!r}", status, 201)
    return digest


def check_berth(cluster, repository="scaleout/smoke"):
    base = cluster.url
    layer = os.urandom(5 << 20)
    layer_digest = push_chunked(base, repository, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    config_digest = push_monolithic(base, repository, config)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}],
    }).encode()
    status, _, body = request(base, "PUT", f"/v2/{repository}/manifests/v1", manifest,
                              {"Content-Type": OCI_MANIFEST})
    expect(f"manifest push: {body[:200]!r}", status, 201)

    for instance in cluster.instances:
        url = instance.url
        status, _, body = request(url, "GET", f"/v2/{repository}/blobs/{layer_digest}")
        expect(f"{instance.name}: layer", status, 200)
        assert body == layer, f"{instance.name}: layer bytes differ"
        status, _, body = request(url, "GET", f"/v2/{repository}/manifests/v1")
        expect(f"{instance.name}: manifest", status, 200)
        assert body == manifest, f"{instance.name}: manifest bytes differ"
        status, _, body = request(url, "GET", "/healthz")
        expect(f"{instance.name}: healthz {body!r}", status, 200)
    return {"layer": layer_digest, "manifest_on_every_instance": True, "instances": len(cluster.instances)}
