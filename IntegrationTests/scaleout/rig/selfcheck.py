"""Checks of the rig itself, with stand-in upstreams behind nginx: S3 refuses wrong credentials, PostgreSQL
serves the berth database, nginx sends an upload session's requests to one upstream and spreads the rest,
streams large bodies, and passes Host and X-Forwarded-For. `python3 -m scaleout.rig check` (from IntegrationTests/); with --berth PATH
the same rig with real Berth instances and a push and pull across them (smoke.py) instead of the routing
check, which needs the stand-ins' answers."""
import collections
import http.client
import json
import urllib.parse
import uuid

from . import smoke
from .cluster import Cluster


def request(base, method, path, body=None, headers=None, chunked=False):
    """One request on a new connection (so nginx's workers and balancing see independent requests)."""
    parts = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data else None)
    finally:
        connection.close()


def check_routing(cluster, sessions=24):
    base = cluster.url
    ports = {i.port for i in cluster.instances}

    # Everything but a session URL is spread over the upstreams.
    seen = collections.Counter()
    for _ in range(20):
        status, answer = request(base, "GET", "/v2/team/app/manifests/latest")
        assert status == 200, status
        seen[answer["port"]] += 1
    assert set(seen) == ports, f"round-robin reached {dict(seen)}, not every one of {ports}"
    assert min(seen.values()) >= 20 // len(ports) // 2, f"round-robin is lopsided: {dict(seen)}"
    status, answer = request(base, "POST", "/v2/team/app/blobs/uploads/", body=b"")
    assert status == 200 and answer["port"] in ports

    # Every request of one session reaches one upstream; different sessions reach all of them.
    owners = collections.Counter()
    for _ in range(sessions):
        path = f"/v2/team/app/blobs/uploads/{uuid.uuid4()}"
        landed = set()
        for method, suffix, body in (("PATCH", "", b"x" * 1000), ("GET", "", None), ("PATCH", "", b"y" * 10),
                                     ("PUT", "?digest=sha256:00", b""), ("DELETE", "", None)):
            status, answer = request(base, method, path + suffix, body=body)
            assert status == 200, (method, status)
            landed.add(answer["port"])
        assert len(landed) == 1, f"session {path} reached {landed}"
        owners[landed.pop()] += 1
    assert set(owners) == ports, f"{sessions} sessions all hashed to {dict(owners)}"

    # A large body streams through (no size limit), chunked or not; Host and X-Forwarded-For reach upstream.
    big = b"z" * (24 << 20)
    status, answer = request(base, "PATCH", f"/v2/team/app/blobs/uploads/{uuid.uuid4()}", body=big,
                             headers={"Content-Length": str(len(big))})
    assert status == 200 and answer["received"] == len(big), (status, answer and answer["received"])
    status, answer = request(base, "PATCH", f"/v2/team/app/blobs/uploads/{uuid.uuid4()}",
                             body=iter([b"a" * 65536] * 64), chunked=True)
    assert status == 200 and answer["received"] == 64 * 65536, (status, answer)
    status, answer = request(base, "GET", "/v2/", headers={"Host": "registry.example:5000"})
    assert answer["host"] == "registry.example:5000", answer
    assert answer["forwarded_for"] == "127.0.0.1", answer
    return {"round_robin": dict(seen), "sessions_per_upstream": dict(owners)}


def check_postgres(cluster):
    pg = cluster.postgres
    assert pg.psql("select current_database()") == "berth"
    assert pg.psql("show listen_addresses") == "127.0.0.1"
    pg.psql("create table rig_probe (id int); drop table rig_probe;")
    return {"url": pg.url}


def main(instances=2, folder=None, keep=False, berth=None):
    with Cluster(berth=berth, instances=instances, folder=folder, keep=keep) as cluster:
        results = {"s3": "wrong secret and unknown key refused with 403; bucket read/write ok"}
        cluster.s3.check_credentials()
        results["postgres"] = check_postgres(cluster)
        if berth:
            results["berth"] = smoke.check_berth(cluster)
        else:
            results["nginx"] = check_routing(cluster)
    return results
