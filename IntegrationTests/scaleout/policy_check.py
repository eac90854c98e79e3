"""Tag immutability over PostgreSQL with two instances: a rule set with the CLI on the shared database holds
on both instances at once, and two pushes of different manifests to one new immutable tag, one per instance,
at the same moment: exactly one wins (the check runs in the transaction that writes the tag). Used by
test_scaleout.py with the session's rig."""
import hashlib, json, subprocess, threading, urllib.error, urllib.request

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def image(url, repo, n):
    config, layer = json.dumps({"n": n}).encode(), f"policy layer {n}".encode()
    for data in (config, layer):
        status, _ = call("POST", f"{url}/v2/{repo}/blobs/uploads/?digest={sha(data)}", data,
                         {"Content-Type": "application/octet-stream"})
        assert status == 201, status
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}]}).encode()


def run(check, cluster, binary):
    a, b = cluster.instance_urls
    config = cluster.instances[0].config_path
    r = subprocess.run([binary, "immutability", "set", "pinned", "--exclude", "latest", "--config", config],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"berth immutability set on the shared database ({r.stderr.strip()[:200]})")
    first, second = image(a, "pinned/app", 1), image(a, "pinned/app", 2)
    status, _ = call("PUT", f"{a}/v2/pinned/app/manifests/v1", first, {"Content-Type": MANIFEST})
    check(status == 201, f"v1 pushed on instance A ({status})")
    status, body = call("PUT", f"{b}/v2/pinned/app/manifests/v1", second, {"Content-Type": MANIFEST})
    check(status == 403 and b"immutable" in body, f"instance B refuses to move v1 ({status})")
    rounds, wins = 6, 0
    pairs = [(image(a, "pinned/race", 10 + i), image(a, "pinned/race", 20 + i)) for i in range(rounds)]
    for i, (x, y) in enumerate(pairs):
        results, start = [], threading.Barrier(2)
        def push(url, body):
            start.wait()
            results.append(call("PUT", f"{url}/v2/pinned/race/manifests/r{i}", body, {"Content-Type": MANIFEST})[0])
        threads = [threading.Thread(target=push, args=(a, x)), threading.Thread(target=push, args=(b, y))]
        for t in threads: t.start()
        for t in threads: t.join()
        wins += sorted(results) == [201, 403]
    check(wins == rounds, f"pushes racing on two instances to a new immutable tag: one wins each time ({wins}/{rounds})")
