"""HTTP helpers, media types and the image record shared by the stress modules."""
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
