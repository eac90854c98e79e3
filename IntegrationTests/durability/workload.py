"""The power-loss workload: acknowledged writes of every kind, sent one at a time so that each has its own
window in the syscall trace."""
import json, os

from harness.content import CONFIG, LAYER, MANIFEST, digest


class UnexpectedAnswer(AssertionError):
    pass


def run_workload(berth, rounds, first_blob, token_mode=False):
    """Returns [(label, description, method, status, client port, commits)] in the order sent."""
    done = []

    def call(desc, method, path, body=None, headers=None, expect=None, commits=True):
        """`commits`: the request must change metadata (a PATCH only appends bytes; re-pushing a stored
        manifest by digest changes nothing)."""
        r, port = berth.send(method, path, body, headers)
        if expect is not None and r.status != expect:
            raise UnexpectedAnswer(f"{desc}: expected {expect}, got {r!r}")
        done.append((f"#{len(done) + 1} {desc} (round {round_ + 1})", desc, method, r.status, port, commits))
        return r.headers

    for round_ in range(rounds):
        repo, other = f"powerloss/app{round_}", f"powerloss/mirror{round_}"
        if token_mode:
            berth.authorize([repo, other])
        mono = first_blob if round_ == 0 else os.urandom(64 * 1024 + round_)
        octets = {"Content-Type": "application/octet-stream"}
        call("blob POST ?digest= (monolithic)", "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(mono)}",
             mono, octets, 201)
        # A chunked upload: session start, two PATCHes, PUT with the last chunk.
        chunks = [os.urandom(256 * 1024), os.urandom(256 * 1024), os.urandom(1000 + round_)]
        whole = b"".join(chunks)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["location"]
        offset = 0
        for chunk in chunks[:2]:
            rng = f"{offset}-{offset + len(chunk) - 1}"
            loc = call("upload PATCH", "PATCH", loc, chunk, {**octets, "Content-Range": rng}, 202,
                       commits=False)["location"]
            offset += len(chunk)
        sep = "&" if "?" in loc else "?"
        call("chunked upload PUT", "PUT", f"{loc}{sep}digest={digest(whole)}", chunks[2],
             {**octets, "Content-Range": f"{offset}-{offset + len(chunks[2]) - 1}"}, 201)
        # A session completed by one PUT carrying the whole blob.
        single = os.urandom(32 * 1024 + round_)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["location"]
        sep = "&" if "?" in loc else "?"
        call("upload PUT with whole body", "PUT", f"{loc}{sep}digest={digest(single)}", single, octets, 201)
        config = json.dumps({"architecture": "amd64", "os": "linux", "round": round_}).encode()
        call("config blob POST", "POST", f"/v2/{repo}/blobs/uploads/?digest={digest(config)}", config, octets, 201)

        def manifest(layers):
            return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                               "config": {"mediaType": CONFIG, "digest": digest(config), "size": len(config)},
                               "layers": [{"mediaType": LAYER, "digest": digest(layer), "size": len(layer)}
                                          for layer in layers]}).encode()
        first, second = manifest([mono, whole]), manifest([single])
        typed = {"Content-Type": MANIFEST}
        call("manifest PUT by tag", "PUT", f"/v2/{repo}/manifests/v1", first, typed, 201)
        call("tag move (manifest PUT to an existing tag)", "PUT", f"/v2/{repo}/manifests/v1", second, typed, 201)
        call("manifest re-PUT by digest", "PUT", f"/v2/{repo}/manifests/{digest(first)}", first, typed, 201,
             commits=False)
        call("cross-repository mount", "POST", f"/v2/{other}/blobs/uploads/?mount={digest(mono)}&from={repo}",
             b"", {}, 201)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["location"]
        call("upload cancel", "DELETE", loc, None, {}, 204)
        call("tag delete", "DELETE", f"/v2/{repo}/manifests/v1", None, {}, 202)
        call("manifest delete", "DELETE", f"/v2/{repo}/manifests/{digest(first)}", None, {}, 202)
        call("blob delete", "DELETE", f"/v2/{other}/blobs/{digest(mono)}", None, {}, 202)
    return done
