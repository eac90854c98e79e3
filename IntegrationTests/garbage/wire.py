"""HTTP helpers, media types and the image record shared by the stress modules."""
import urllib.parse

# The stress modules take these from here.
from harness.content import CONFIG, INDEX, LAYER, MANIFEST, digest  # noqa: F401
from harness.httpclient import Response, request  # noqa: F401


ACCEPT = f"{MANIFEST}, {INDEX}"
RETRYABLE_PUT = ("MANIFEST_BLOB_UNKNOWN", "MANIFEST_UNKNOWN", "BLOB_UNKNOWN")
TIMEOUT = 30


sha = digest  # "sha256:<hex>" of bytes


def call(method, url, body=None, headers=None, timeout=TIMEOUT):
    """One request on a new connection to the URL's host (the stress spreads requests over several URLs),
    bounded by `timeout`; a harness Response. Raises OSError / HTTPException on transport errors."""
    u = urllib.parse.urlsplit(url)
    path = u.path + (("?" + u.query) if u.query else "")
    return request(u.port or 80, method, path, body, headers, timeout, host=u.hostname)


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
