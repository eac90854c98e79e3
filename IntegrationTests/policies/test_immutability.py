"""Tag immutability on a real Berth (basic auth): rules set with the CLI and the admin API (maintainers only),
pushes of another manifest to an immutable tag and deletes refused with 403 DENIED naming the rule, identical
re-pushes accepted, exclusion patterns and repository overrides honoured, two racing pushes to one new
immutable tag (exactly one wins), and skopeo re-pushing a different image to an immutable tag failing with the
message while an identical re-push works (when skopeo is installed).
"""
import json, shutil, subprocess, threading

import pytest

from harness.content import MANIFEST, digest, manifest_for
from harness.httpclient import basic

pytestmark = [pytest.mark.policies, pytest.mark.xdist_group("policies")]


def test_immutability(berth, checks):
    run(berth("immutability", "auth:\n  mode: basic\n"), checks)


def run(berth, check):
    users = {"maint": "maint-secret-1", "writer": "writer-secret-1"}
    for user, secret in users.items():
        berth.cli("user", "add", user, "--password-stdin", stdin=secret + "\n")
    berth.cli("namespace", "create", "team")
    berth.cli("grant", "maint", "team", "maintainer")
    berth.cli("grant", "writer", "team", "writer")
    print("#", berth.cli("immutability", "set", "team", "--exclude", "latest", "--exclude", "dev-*").strip())
    berth.start()
    writer, maint = basic("writer", users["writer"]), basic("maint", users["maint"])

    def blob(repo, data, who=writer):
        r = berth.call("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data,
                       {**who, "Content-Type": "application/octet-stream"})
        assert r.status == 201, r

    def image(repo, n, who=writer):
        config, layer = json.dumps({"n": n}).encode(), f"layer {n}".encode()
        blob(repo, config, who)
        blob(repo, layer, who)
        return manifest_for(config, layer)

    def put(repo, ref, body, who=writer):
        return berth.call("PUT", f"/v2/{repo}/manifests/{ref}", body, {**who, "Content-Type": MANIFEST})

    a, b = image("team/app", 1), image("team/app", 2)
    check(put("team/app", "v1", a).status == 201, "v1 pushed")
    r = put("team/app", "v1", b)
    check(r.status == 403 and r.code == "DENIED" and "immutable" in r.body.decode() and "team" in r.body.decode(),
          f"another manifest to immutable v1: 403 DENIED naming the rule ({r})")
    r = berth.call("GET", "/v2/team/app/manifests/v1", headers={**writer, "Accept": MANIFEST})
    check(r.status == 200 and r.body == a, "v1 still points at the first manifest")
    check(put("team/app", "v1", a).status == 201, "the identical manifest re-pushed to v1: 201")
    check(put("team/app", digest(b), b).status == 201, "pushing by digest is not a tag move: 201")
    for tag in ("latest", "dev-42"):
        check(put("team/app", tag, a).status == 201 and put("team/app", tag, b).status == 201,
              f"excluded tag {tag} moves freely")
    r = berth.call("DELETE", "/v2/team/app/manifests/v1", headers=basic("maint", users["maint"]))
    check(r.status == 403 and r.code == "DENIED", f"deleting immutable tag v1 refused ({r})")
    r = berth.call("DELETE", f"/v2/team/app/manifests/{digest(a)}", headers=maint)
    check(r.status == 403 and "v1" in r.body.decode(), f"deleting the manifest v1 points at refused ({r})")
    r = berth.call("DELETE", "/v2/team/app/manifests/dev-42", headers=maint)
    check(r.status == 202, f"deleting excluded tag dev-42 works ({r.status})")

    # The admin API: maintainers of the namespace set rules, writers may not.
    rule = json.dumps({"immutable": False}).encode()
    r = berth.call("PUT", "/api/v1/immutability/team/open", rule, {**writer, "Content-Type": "application/json"})
    check(r.status == 403, f"a writer may not set a rule ({r.status})")
    r = berth.call("PUT", "/api/v1/immutability/team/open", rule, {**maint, "Content-Type": "application/json"})
    check(r.status == 204, f"a maintainer sets a mutable rule on team/open ({r})")
    r = berth.call("GET", "/api/v1/immutability/team/open", headers=maint)
    check(r.status == 200 and r.json() == {"scope": "team/open", "immutable": False, "exclusions": []}, f"and reads it back ({r})")
    r = berth.call("PUT", "/api/v1/immutability/team", json.dumps({"immutable": True, "exclusions": ["bad pattern"]}).encode(),
                   {**maint, "Content-Type": "application/json"})
    check(r.status == 400, f"an invalid exclusion pattern is refused with 400 ({r.status})")
    a2, b2 = image("team/open", 3), image("team/open", 4)
    check(put("team/open", "v1", a2).status == 201 and put("team/open", "v1", b2).status == 201,
          "the repository's mutable rule overrides the namespace's")

    # Two pushes of different manifests to one new immutable tag at once: exactly one wins.
    pairs = [(image("team/race", 10 + i), image("team/race", 20 + i)) for i in range(5)]
    wins = 0
    for i, (x, y) in enumerate(pairs):
        results = []
        threads = [threading.Thread(target=lambda m=m: results.append(put("team/race", f"r{i}", m).status)) for m in (x, y)]
        for t in threads: t.start()
        for t in threads: t.join()
        wins += sorted(results) == [201, 403]
    check(wins == len(pairs), f"racing pushes to a new immutable tag: one 201 and one 403 each time ({wins}/{len(pairs)})")

    # skopeo: re-pushing a different image to an immutable tag fails with the message; identical works.
    if shutil.which("skopeo"):
        registry, creds = f"127.0.0.1:{berth.port}", f"writer:{users['writer']}"
        def copy(src, dst):
            return subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                                   "--src-creds", creds, "--dest-creds", creds, "--preserve-digests",
                                   f"docker://{registry}/{src}", f"docker://{registry}/{dst}"],
                                  capture_output=True, text=True, timeout=120)
        check(put("team/src", "one", image("team/src", 30)).status == 201 and
              put("team/src", "two", image("team/src", 31)).status == 201, "two source images pushed")
        r = copy("team/src:one", "team/app:release")
        check(r.returncode == 0, f"skopeo pushes team/app:release ({r.stderr.strip()[-200:]})")
        r = copy("team/src:two", "team/app:release")
        check(r.returncode != 0 and "immutable" in r.stderr and "DENIED" in r.stderr.upper(),
              f"skopeo re-pushing a different image to release fails with the message ({r.stderr.strip()[-300:]})")
        r = copy("team/src:one", "team/app:release")
        check(r.returncode == 0, f"skopeo re-pushing the identical image works ({r.stderr.strip()[-200:]})")
    # Lifecycle policies through the admin API: maintainers set them and preview, writers may not.
    policy = json.dumps({"rules": [{"selection": {"tagStatus": "tagged", "tagPrefixList": ["dev"],
                                                  "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}).encode()
    r = berth.call("PUT", "/api/v1/lifecycle/team/app", policy, {**writer, "Content-Type": "application/json"})
    check(r.status == 403, f"a writer may not set a lifecycle policy ({r.status})")
    r = berth.call("PUT", "/api/v1/lifecycle/team/app", b'{"rules": []}', {**maint, "Content-Type": "application/json"})
    check(r.status == 400 and "at least one rule" in r.body.decode(), f"an invalid lifecycle policy gets 400 with the reason ({r})")
    r = berth.call("PUT", "/api/v1/lifecycle/team/app", policy, {**maint, "Content-Type": "application/json"})
    check(r.status == 204, f"a maintainer sets a lifecycle policy ({r})")
    check(put("team/app", "dev-43", b).status == 201 and put("team/app", "dev-44", a).status == 201, "dev images pushed")
    r = berth.call("GET", "/api/v1/lifecycle-preview/team/app", headers=maint)
    preview = r.json() or {}
    check(r.status == 200 and preview.get("priorities_assigned_in_list_order") is True
          and [("dev-44" in i["tags"], i.get("kept_by_immutable_tag")) for i in preview.get("images", [])] == [(True, "v1")],
          f"the admin API previews what would expire: the older dev image, kept by its immutable tag v1 ({r})")
    out = berth.cli("immutability", "show", "team/app")
    check("immutable (except latest, dev-*)" in out and "set on team" in out, f"berth immutability show ({out.strip()})")

