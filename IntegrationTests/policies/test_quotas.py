"""Namespace quotas and usage on a real Berth (basic auth): quotas set with the CLI and the admin API (set by
administrators, read by the namespace's maintainers), bad sizes refused plainly; a monolithic push whose declared
length goes over refused with 403 DENIED (used and limit in the answer) before its body is read; a chunked push
refused by its Content-Length, and a streamed one at completion; a manifest refused once the namespace is over
(manifest not stored, tag not moved) while the same manifest pushed again is accepted; a new repository beyond the
repository quota refused; a mount over quota refused; usage (CLI and admin API) exact to the byte, with a layer
shared by two images counted once.
"""
import http.client, json, socket, time

import pytest

from harness.content import INDEX, MANIFEST, digest, empty_index, manifest_for
from harness.httpclient import basic

pytestmark = [pytest.mark.policies, pytest.mark.xdist_group("policies")]
OCTETS = {"Content-Type": "application/octet-stream"}


def test_quotas(berth, checks):
    run(berth("quotas", "auth:\n  mode: basic\n"), checks)


def cli_fails(berth, *args):
    """A CLI run expected to fail: its exit status and standard error."""
    r = berth.cli(*args, check=False)
    return r.returncode, r.stderr


def denied(r, *words):
    body = r.body.decode(errors="replace")
    return r.status == 403 and r.code == "DENIED" and "quota exceeded" in body and all(str(w) in body for w in words)


def run(berth, check):
    users = {"admin": "admin-secret-1", "maint": "maint-secret-1", "writer": "writer-secret-1"}
    berth.cli("user", "add", "admin", "--password-stdin", "--admin", stdin=users["admin"] + "\n")
    for user in ("maint", "writer"):
        berth.cli("user", "add", user, "--password-stdin", stdin=users[user] + "\n")
    for namespace in ("team", "other"):
        berth.cli("namespace", "create", namespace)
    berth.cli("grant", "maint", "team", "maintainer")
    berth.cli("grant", "writer", "team", "writer")
    admin, maint, writer = (basic(u, users[u]) for u in ("admin", "maint", "writer"))

    # The CLI refuses bad input plainly (no trap on overflow) and stores nothing.
    for args, words in [(["--storage", "9999999999999999999GiB"], "too large"), (["--storage", "99999999999999999999999"], "too large"),
                        (["--storage=-5"], "invalid size"), (["--storage", "10parsecs"], "unknown size unit"),
                        (["--repositories=-1"], "out of range"), ([], "needs a storage limit")]:
        code, err = cli_fails(berth, "quota", "set", "team", *args)
        check(code not in (0, None) and code < 128 and words in err and "Fatal error" not in err,
              f"berth quota set team {' '.join(args)}: refused ({code}, {err.strip()[:100]})")
    code, err = cli_fails(berth, "quota", "set", "team/app", "--storage", "1000")
    check(code != 0 and "namespaces, not repositories" in err, f"a quota on a repository is refused ({err.strip()[:100]})")
    check(berth.cli("quota", "show").strip() == "", "nothing was stored")
    out = berth.cli("quota", "set", "team", "--storage", "1MiB", "--repositories", "9")
    check("storage 1 MiB (1048576 bytes), 9 repositories" in out, f"berth quota set ({out.strip()})")
    out = berth.cli("quota", "show", "team")
    check("1048576 bytes" in out and "9 repositories" in out, f"berth quota show team ({out.strip()})")
    berth.start()

    # The admin API: administrators set quotas; the namespace's maintainers read them; bad bodies get 400.
    path, js = "/api/v1/quota/team", {"Content-Type": "application/json"}
    r = berth.call("GET", path, headers=maint)
    check(r.status == 200 and r.json() == {"namespace": "team", "storageBytes": 1048576, "repositories": 9},
          f"a maintainer reads the quota set with the CLI ({r})")
    body = json.dumps({"storageBytes": 10000, "repositories": 2}).encode()
    for who, name, status in ((maint, "maintainer", 403), (writer, "writer", 403), ({}, "anonymous caller", 401)):
        r = berth.call("PUT", path, body, {**who, **js})
        check(r.status == status, f"a {name} may not set a quota ({r.status})")
    check(berth.call("GET", path, headers=writer).status == 403, "a writer may not read it")
    for bad in (b'{"storageBytes": -1}', b'{"storageBytes": 1e30}', b'{"storageBytes": 99999999999999999999}',
                b'{"repositories": -2}', b'{"repositories": "many"}', b'{"storageBytes": 1.5}', b"{}", b"garbage", b""):
        r = berth.call("PUT", path, bad, {**admin, **js})
        check(r.status == 400 and r.code == "INVALID", f"PUT {bad[:40]!r}: 400 INVALID ({r})")
    r = berth.call("PUT", "/api/v1/quota/team/app", body, {**admin, **js})
    check(r.status == 400 and "namespaces" in r.body.decode(), f"a quota on a repository path: 400 ({r})")
    r = berth.call("GET", path, headers=admin)
    check(r.json() == {"namespace": "team", "storageBytes": 1048576, "repositories": 9}, f"refused bodies changed nothing ({r})")
    r = berth.call("PUT", path, body, {**admin, **js})
    check(r.status == 204, f"an administrator sets the quota ({r})")
    r = berth.call("GET", path, headers=maint)
    check(r.json() == {"namespace": "team", "storageBytes": 10000, "repositories": 2}, f"and it reads back ({r})")

    def blob(repo, data, who=writer):
        return berth.call("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data, {**who, **OCTETS})

    def put(repo, ref, body, who=writer, media=MANIFEST):
        return berth.call("PUT", f"/v2/{repo}/manifests/{ref}", body, {**who, "Content-Type": media})

    def has_blob(repo, data):
        return berth.call("HEAD", f"/v2/{repo}/blobs/{digest(data)}", headers=admin).status == 200

    def manifest_at(repo, ref):
        r = berth.call("GET", f"/v2/{repo}/manifests/{ref}", headers={**admin, "Accept": f"{MANIFEST}, {INDEX}"})
        return r.body if r.status == 200 else None

    # Under quota: two images in two repositories sharing a 4000-byte layer.
    shared, config_a, config_b, own_b = b"s" * 4000, b'{"image": "a"}', b'{"image": "b", "x": 1}', b"b" * 2000
    pushed = [blob("team/app", config_a), blob("team/app", shared), blob("team/web", config_b), blob("team/web", shared),
              blob("team/web", own_b)]
    check(all(r.status == 201 for r in pushed), f"blobs under quota pushed ({[r.status for r in pushed]})")
    man_a = manifest_for(config_a, shared)
    man_b = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config_b), "size": len(config_b)},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(d), "size": len(d)}
                                   for d in (shared, own_b)]}).encode()
    check(put("team/app", "v1", man_a).status == 201 and put("team/web", "v1", man_b).status == 201
          and put("team/web", "latest", man_b).status == 201, "two images pushed under quota")
    expected = {"team/app": len(config_a) + len(shared) + len(man_a),
                "team/web": len(config_b) + len(shared) + len(own_b) + len(man_b)}
    used = len(config_a) + len(shared) + len(config_b) + len(own_b) + len(man_a) + len(man_b)  # the shared layer once

    def usage_matches(report, what):
        repos = {u["name"]: u for u in report.get("repositoryUsage") or []}
        ok = (report.get("bytes") == used and report.get("repositories") == 2 and report.get("manifests") == 2
              and report.get("tags") == 3 and report.get("quota") == {"storageBytes": 10000, "repositories": 2}
              and {n: u["bytes"] for n, u in repos.items()} == expected
              and repos.get("team/web", {}).get("tags") == 2 and bool(report.get("lastPush")))
        check(ok, f"{what}: {used} bytes (shared layer once), 2 repositories, 2 images, 3 tags, per repository "
                  f"{expected} ({json.dumps(report)[:400]})")

    r = berth.call("GET", "/api/v1/usage/team", headers=maint)
    usage_matches(r.json() or {}, "GET /api/v1/usage/team as a maintainer")
    usage_matches(json.loads(berth.cli("usage", "team", "--json")), "berth usage team --json")
    r = berth.call("GET", "/api/v1/usage/team/web", headers=maint)
    check(r.status == 200 and (r.json() or {}).get("bytes") == expected["team/web"] and r.json().get("manifests") == 1,
          f"GET /api/v1/usage/team/web: {expected['team/web']} bytes ({r})")
    check(berth.call("GET", "/api/v1/usage/team", headers=writer).status == 403, "a writer may not read usage")
    check(berth.call("GET", "/api/v1/usage", headers=maint).status == 403, "every namespace's usage is for administrators")
    r = berth.call("GET", "/api/v1/usage", headers=admin)
    team = [u for u in (r.json() or []) if u.get("name") == "team"]
    check(r.status == 200 and len(team) == 1 and team[0]["bytes"] == used, f"GET /api/v1/usage lists team with {used} bytes ({r})")

    # A monolithic push whose declared length goes over: 403 DENIED with used and limit, nothing stored.
    big = b"x" * (10000 - used + 1)
    r = blob("team/app", big)
    check(denied(r, "team", used, 10000) and (r.json()["errors"][0].get("detail") or {}).get("used") == str(used)
          and r.json()["errors"][0]["detail"].get("limit") == "10000", f"a monolithic push one byte over: 403 DENIED with used and limit ({r})")
    check(not has_blob("team/app", big), "and the blob is not there")
    fits = b"f" * (10000 - used - 600)
    check(blob("team/app", fits).status == 201, "a blob that fits is accepted")
    used += len(fits)
    expected["team/app"] += len(fits)
    check(blob("team/web", fits).status == 201, "the same blob into another repository of the namespace adds nothing: accepted")
    expected["team/web"] += len(fits)

    # Refused by the declared length before the body is read: the answer comes with no body sent.
    status = early_refusal(berth.port, "/v2/team/app/blobs/uploads/?digest=" + digest(b"never sent"), writer)
    check(status == 403, f"a declared length of 1 TB is refused before any byte of the body is sent ({status})")

    # A chunked push: a PATCH whose Content-Length goes over is refused; a streamed one is refused at completion.
    r = berth.call("POST", "/v2/team/app/blobs/uploads/", b"", writer)
    location = r.headers.get("location", "")
    check(r.status == 202 and location, f"an upload session opens ({r})")
    chunk = b"c" * 700
    r = berth.call("PATCH", location, chunk, {**writer, **OCTETS, "Content-Range": f"0-{len(chunk) - 1}"})
    check(denied(r, used, 10000), f"a PATCH whose Content-Length goes over: 403 DENIED ({r})")
    r = streamed(berth.port, "PATCH", location, chunk, writer)
    check(r[0] == 202, f"a streamed chunk (no Content-Length) is staged ({r[0]})")
    r = berth.call("PUT", f"{location}{'&' if '?' in location else '?'}digest={digest(chunk)}", b"", {**writer, **OCTETS})
    check(denied(r, used, 10000), f"and completing it goes over: 403 DENIED ({r})")
    check(berth.call("GET", location, headers=writer).status == 404, "the refused session is ended")
    check(not has_blob("team/app", chunk), "and the blob is not there")
    r = put("team/app", "v1", manifest_for(config_a, chunk))
    check(r.status >= 400 and manifest_at("team/app", "v1") == man_a, f"a manifest of the refused blob is refused, v1 unchanged ({r.status})")

    # At the latest at the manifest: with the quota lowered below what is stored, no new manifest goes in.
    berth.cli("quota", "set", "team", "--storage", str(used - 1), "--repositories", "2")
    tiny = b"t"
    r = blob("team/app", tiny)
    check(denied(r, used, used - 1), f"over the lowered quota, even a 1-byte blob is refused ({r})")
    man_c = manifest_for(config_a, fits)
    r = put("team/app", "v1", man_c)
    check(denied(r, "team", used, used - 1), f"a new manifest over quota: 403 DENIED with used and limit ({r})")
    check(manifest_at("team/app", digest(man_c)) is None, "the refused manifest is not stored")
    check(manifest_at("team/app", "v1") == man_a, "and tag v1 did not move")
    check(put("team/app", "v1", man_a).status == 201, "the same manifest pushed again (adding nothing) is accepted")
    berth.cli("quota", "set", "team", "--storage", "10000", "--repositories", "2")

    # The repository quota: team has two repositories, its limit.
    third = empty_index("third")
    attempts = {"a blob into a new repository": blob("team/third", b"new"),
              "an upload session in a new repository": berth.call("POST", "/v2/team/third/blobs/uploads/", b"", writer),
              "a manifest into a new repository": put("team/third", digest(third), third, media=INDEX)}
    for what, r in attempts.items():
        check(denied(r, "repositories", 2), f"{what} beyond 2 repositories: 403 DENIED ({r})")
    r = berth.call("GET", "/v2/_catalog", headers=admin)
    check("team/third" not in (r.json() or {}).get("repositories", []), "team/third does not exist")
    check(put("other/app", "v1", third, who=admin, media=INDEX).status == 201, "a namespace without a quota takes pushes")

    # A mount counts as an upload of the blob.
    elsewhere = b"e" * 3000
    check(blob("other/app", elsewhere, admin).status == 201, "a blob in another namespace")
    r = berth.call("POST", f"/v2/team/app/blobs/uploads/?mount={digest(elsewhere)}&from=other/app", b"", admin)
    check(denied(r, used, 10000), f"mounting it into team over quota: 403 DENIED ({r})")
    check(not has_blob("team/app", elsewhere), "and it is not mounted")

    # Usage after the refusals counts exactly what was accepted; a GET records a pull (written at shutdown).
    r = berth.call("GET", "/api/v1/usage/team", headers=maint)
    report = r.json() or {}
    check(report.get("bytes") == used and {u["name"]: u["bytes"] for u in report.get("repositoryUsage", [])} == expected,
          f"usage after the refusals: {used} bytes, per repository {expected} ({json.dumps(report)[:300]})")
    check(manifest_at("team/web", "latest") == man_b, "team/web:latest pulled")
    berth.stop()
    out = json.loads(berth.cli("usage", "team/web", "--json"))
    check(out.get("bytes") == expected["team/web"] and out.get("lastPull") and out.get("tags") == 2,
          f"berth usage team/web --json: {expected['team/web']} bytes, 2 tags, the last pull recorded ({out})")
    table = berth.cli("usage")
    check(any(line.startswith("team\t") and f"\t{used}\t" in line for line in table.splitlines()), f"berth usage lists team ({table.strip()})")
    code, err = cli_fails(berth, "usage", "nosuch")
    check(code == 1 and "no repository or quota" in err, f"berth usage of an unknown name fails ({err.strip()})")

    berth.start()
    r = berth.call("DELETE", path, b"", admin)
    check(r.status == 204, f"an administrator removes the quota ({r})")
    check(blob("team/app", big).status == 201, "without a quota the refused blob goes in")
    check(berth.call("GET", path, headers=maint).status == 404, "no quota on team any more")
    # CLI and admin API changes alike: set (CLI), set (API), lowered and restored (CLI), removed (API).
    # The server stores its audit records in batches: wait for the last one.
    deadline, audits = time.time() + 15, []
    while time.time() < deadline and len(audits) < 5:
        r = berth.call("GET", "/api/v1/audit?limit=1000", headers=admin)
        audits = [a for a in (r.json() or []) if a.get("action") == "policy.quota"]
        time.sleep(0.5)
    seen = sorted((a["actor"], a["target"], a.get("detail") or "") for a in audits)
    check(len(audits) == 5 and [x[0] for x in seen].count("@cli") == 3 and ("admin", "team", "removed") in seen
          and ("admin", "team", "storage 9.77 KiB (10000 bytes), 2 repositories") in seen,
          f"every quota change is audited, by whom and what ({seen})")
    berth.stop()
    out = berth.cli("quota", "show", "team")
    check("no quota" in out, f"berth quota show team ({out.strip()})")


def early_refusal(port, path, headers):
    """The status of a POST declaring a 1 TB body, read before sending any of it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/octet-stream",
                "Content-Length: 1000000000000"] + [f"{k}: {v}" for k, v in headers.items()]
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            line = s.recv(4096).split(b"\r\n", 1)[0].decode()
        except socket.timeout:
            return None
        return int(line.split()[1]) if line.startswith("HTTP/1.1 ") else line


def streamed(port, method, path, data, headers):
    """A request whose body is sent with chunked transfer coding: no Content-Length."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=iter([data]), headers={**headers, **OCTETS}, encode_chunked=True)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()

