"""Upload sessions and deletes across the two instances: an upload whose requests alternate between them
completes, two PATCHes racing at one offset give exactly one 202, a finishing PUT replayed on the other
instance succeeds; a blob deleted through one instance answers 404 on the other at once."""
import os, threading

from harness.content import digest
from harness.httpclient import request


def call(method, url, body=b"", headers=None, timeout=60):
    """One request to a full URL (nginx or an instance): (status, lower-cased headers, body)."""
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    r = request(int(port), method, "/" + path, body or b"", headers, timeout, host=host)
    return r.status, r.headers, r.body


def session_path(location):
    """The upload URL's path and query, to replay on any instance."""
    return location.split("://", 1)[-1].split("/", 1)[-1] if "://" in location else location.lstrip("/")


def cross_instance(check, a, b):
    repo = "scaleout/cross"
    chunks = [os.urandom(300_000), os.urandom(5), os.urandom(1_200_000)]
    whole = b"".join(chunks)
    status, headers, _ = call("POST", f"{a}/v2/{repo}/blobs/uploads/")
    check(status == 202, f"session opened on instance A ({status})")
    minimum = headers.get("oci-chunk-min-length")
    check(minimum == str(5 << 20), f"the session tells clients S3's 5 MiB minimum chunk (OCI-Chunk-Min-Length: {minimum})")
    path = session_path(headers["location"])
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
    path = session_path(headers["location"])
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


def cached_deletes(check, a, b, rounds=30):
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
