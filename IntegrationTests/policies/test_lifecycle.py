"""ECR lifecycle policies on a real Berth: a policy copied from a guide (no rulePriority) is accepted in list
order and says so; `berth lifecycle preview` lists what would expire and by which rule without acting; the
server's scheduled run then deletes exactly that (referrers with their subject; index children, tags matched
by an earlier rule and images behind an immutable tag stay), and audits every expiry; an invalid policy is
refused with a clear message.
"""
import json, os, sqlite3, time

import pytest

from harness.content import INDEX, MANIFEST, digest, manifest_for

pytestmark = [pytest.mark.policies, pytest.mark.xdist_group("policies")]


def test_lifecycle(berth, work, checks):
    run(berth("lifecycle", "lifecycle:\n  check_every: 3s\n"), work, checks)


def run(berth, work, check):
    berth.start()
    counter = [0]

    def push(repo, ref=None, subject=None):
        counter[0] += 1
        config, layer = json.dumps({"n": counter[0]}).encode(), f"layer {counter[0]}".encode()
        for data in (config, layer):
            r = berth.call("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data, {"Content-Type": "application/octet-stream"})
            assert r.status == 201, r
        body = manifest_for(config, layer, subject)
        r = berth.call("PUT", f"/v2/{repo}/manifests/{ref or digest(body)}", body, {"Content-Type": MANIFEST})
        assert r.status == 201, r
        time.sleep(0.02)  # distinct push times
        return {"mediaType": MANIFEST, "digest": digest(body), "size": len(body)}

    exists = lambda repo, ref: berth.call("HEAD", f"/v2/{repo}/manifests/{ref}", headers={"Accept": f"{MANIFEST}, {INDEX}"}).status == 200
    u1 = push("team/app")
    signature = push("team/app", subject=u1)
    u2, u3 = push("team/app"), push("team/app")
    for n in (1, 2, 3):
        push("team/app", f"prod-{n}")
    push("team/app", "dev-1")
    children = [push("team/app"), push("team/app")]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": children}).encode()
    check(berth.call("PUT", "/v2/team/app/manifests/multi", index, {"Content-Type": INDEX}).status == 201, "index pushed")
    for n in (1, 2, 3):
        push("team/pinned", f"prod-{n}")
    berth.stop()  # policies set and previewed while no scheduled run can act

    policy = {"rules": [
        {"description": "keep two prod", "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"],
                                                        "countType": "imageCountMoreThan", "countNumber": 2}, "action": {"type": "expire"}},
        {"description": "keep one untagged", "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                                                            "countNumber": 1}, "action": {"type": "expire"}}]}
    path = os.path.join(work, "policy.json")
    with open(path, "w") as f:
        json.dump(policy, f)
    bad = os.path.join(work, "bad.json")
    with open(bad, "w") as f:
        json.dump({"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "countType": "imageCountMoreThan",
                                                               "countNumber": 1}, "action": {"type": "expire"}}]}, f)
    r = berth.cli("lifecycle", "set", "team", bad, check=False)
    check(r.returncode == 1 and "needs tagPrefixList or tagPatternList" in r.stderr, f"an invalid policy is refused ({r.stderr.strip()})")
    out = berth.cli("lifecycle", "show")
    check(out.strip() == "", "and nothing was stored")
    berth.cli("immutability", "set", "team/pinned")
    out = berth.cli("lifecycle", "set", "team", path)
    check("taken in list order" in out, f"a policy without rulePriority is accepted in list order ({out.strip()})")

    preview = berth.cli("lifecycle", "preview", "team/app")
    print(preview, flush=True)
    expire = [line for line in preview.splitlines() if line.startswith("expire")]
    check(len(expire) == 3 and any("[prod-1]" in l and "rule 1 (keep two prod)" in l for l in expire)
          and any(u1["digest"] in l and "with 1 referrers" in l for l in expire) and any(u2["digest"] in l for l in expire),
          "preview: prod-1 by rule 1, the two older untagged images by rule 2, the first with its referrer")
    check("3 images would expire" in preview and all(c["digest"] not in preview for c in children),
          "index children are not images of their own")
    pinned = berth.cli("lifecycle", "preview", "team/pinned")
    check("keep" in pinned and "tag prod-1 is immutable" in pinned, f"an image behind an immutable tag is kept ({pinned.strip()[-120:]})")
    berth.start()  # its first scheduled run is one interval (3 s) after start
    check(exists("team/app", "prod-1") and exists("team/app", u1["digest"]), "preview deleted nothing")

    deadline = time.time() + 30
    while time.time() < deadline and exists("team/app", "prod-1"):
        time.sleep(0.5)
    gone = {"prod-1": "prod-1", "u1": u1["digest"], "u2": u2["digest"], "signature": signature["digest"]}
    kept = {"prod-2": "prod-2", "prod-3": "prod-3", "dev-1": "dev-1", "u3": u3["digest"], "multi": "multi",
            "child": children[0]["digest"]}
    check(all(not exists("team/app", ref) for ref in gone.values()), f"the scheduled run expired {sorted(gone)}")
    check(all(exists("team/app", ref) for ref in kept.values()), f"and kept {sorted(kept)}")
    check(exists("team/pinned", "prod-1"), "the immutable image is still there")
    # Pulls are noted in memory and written in batches (and at shutdown): a GET counts, a HEAD does not.
    berth.call("GET", f"/v2/team/app/manifests/{u3['digest']}", headers={"Accept": MANIFEST})
    berth.call("HEAD", "/v2/team/app/manifests/dev-1", headers={"Accept": MANIFEST})
    berth.stop()
    db = sqlite3.connect(os.path.join(berth.root, "metadata.db"))
    pulled = dict(db.execute("SELECT digest, last_pulled_at FROM manifests WHERE repository = 'team/app'").fetchall())
    dev = db.execute("SELECT manifest FROM tags WHERE repository = 'team/app' AND name = 'dev-1'").fetchone()[0]
    db.close()
    check(pulled[u3["digest"]] is not None and pulled[dev] is None,
          "a manifest GET records the pull time (written at shutdown), a HEAD does not")
    audits = [a for a in berth.audit_lines() if a.get("action") == "lifecycle.expire"]
    check(len(audits) == 4 and all("rule" in (a.get("detail") or "") for a in audits),
          f"every expiry is audited with its rule ({len(audits)} records)")

