#!/usr/bin/env python3
"""Referrers checks for Berth driven by the oras-py SDK (PyPI package `oras`).

Usage: oras_referrers.py HOST:PORT REPO TAG WORKDIR

Pushes two artifacts whose `subject` is the manifest REPO:TAG (which must
already exist on the registry):

  A  built with the SDK's lower-level helpers (upload_blob/upload_manifest),
     carrying an explicit top-level `artifactType`
     "application/vnd.example.sbom.v1" and an empty config;
  B  pushed with the SDK's high-level `push(subject=...)`; oras-py has no
     artifactType parameter, so B's type is given by its config mediaType
     "application/vnd.example.signature.v1" (the referrers API must fall back
     to config.mediaType for it).

Then checks GET /v2/REPO/referrers/<subject digest> (plain and with
?artifactType=), and pulls both artifacts back with the SDK, comparing file
contents.  Prints one TAP-like `ok - ...` / `not ok - ...` line per check and
exits 1 if any check failed.
"""

import hashlib
import json
import os
import sys
import traceback

import oras.client
import oras.defaults
import oras.oci

SBOM_TYPE = "application/vnd.example.sbom.v1"
SIG_TYPE = "application/vnd.example.signature.v1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

failures = 0


def check(cond, desc, detail=""):
    global failures
    if cond:
        print(f"ok - oras: {desc}", flush=True)
    else:
        failures += 1
        print(f"not ok - oras: {desc}", flush=True)
        if detail:
            for line in str(detail).splitlines()[:20]:
                print(f"#   {line}", flush=True)
    return cond


def manifests_of(response):
    """The `manifests` list of a referrers response, or None when the body is not an index."""
    try:
        return response.json().get("manifests")
    except Exception:
        return None


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    host, repo, tag, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    base = f"http://{host}/v2/{repo}"

    client = oras.client.OrasClient(hostname=host, insecure=True)
    session = client.session

    # --- the subject: an image manifest already on the registry -------------
    accept = ", ".join(oras.defaults.default_manifest_accepted_media_types)
    r = session.get(f"{base}/manifests/{tag}", headers={"Accept": accept}, timeout=30)
    if not check(r.status_code == 200, f"subject {repo}:{tag} exists",
                 f"GET {base}/manifests/{tag} -> {r.status_code} {r.text[:300]}"):
        return 1
    subj_bytes = r.content
    subj_digest = "sha256:" + hashlib.sha256(subj_bytes).hexdigest()
    subj_type = r.headers.get("Content-Type", "").split(";")[0].strip()
    check(r.headers.get("Docker-Content-Digest") == subj_digest,
          "subject Docker-Content-Digest matches sha256 of its bytes",
          f"header={r.headers.get('Docker-Content-Digest')} computed={subj_digest}")
    subject = oras.oci.Subject(mediaType=subj_type, digest=subj_digest, size=len(subj_bytes))

    # --- artifact A: explicit artifactType, lower-level SDK helpers ---------
    sbom_path = os.path.join(work, "sbom.spdx.json")
    sbom_body = json.dumps({"spdxVersion": "SPDX-2.3", "name": "berth-real-clients",
                            "nonce": os.urandom(8).hex()}, indent=1).encode()
    with open(sbom_path, "wb") as f:
        f.write(sbom_body)
    empty_path = os.path.join(work, "empty.json")
    with open(empty_path, "wb") as f:
        f.write(b"{}")

    container_a = client.get_container(f"{host}/{repo}:sbom")
    digest_a = None
    try:
        layer = oras.oci.NewLayer(sbom_path, media_type="application/spdx+json")
        layer["annotations"] = {oras.defaults.annotation_title: "sbom.spdx.json"}
        config = {"mediaType": EMPTY_TYPE, "digest": EMPTY_DIGEST, "size": 2}
        r1 = client.upload_blob(sbom_path, container_a, layer)
        r2 = client.upload_blob(empty_path, container_a, config)
        check(r1.status_code in (200, 201) and r2.status_code in (200, 201),
              "SDK upload_blob of artifact layer and empty config",
              f"layer -> {r1.status_code} {r1.text[:200]}; config -> {r2.status_code} {r2.text[:200]}")
        manifest_a = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SBOM_TYPE,
            "config": config,
            "layers": [layer],
            "subject": {"mediaType": subject.mediaType, "digest": subject.digest,
                        "size": subject.size},
            "annotations": {"org.example.kind": "sbom"},
        }
        r = client.upload_manifest(manifest_a, container_a)
        ok = r.status_code == 201
        digest_a = r.headers.get("Docker-Content-Digest")
        check(ok and bool(digest_a), "SDK upload_manifest of artifact with subject + artifactType",
              f"PUT manifest -> {r.status_code} {r.text[:300]}")
        # A registry that supports referrers answers a subject-bearing PUT with OCI-Subject.
        check(r.headers.get("OCI-Subject") == subj_digest,
              "manifest PUT with subject answers OCI-Subject header",
              f"OCI-Subject={r.headers.get('OCI-Subject')!r} expected {subj_digest}")
    except Exception:
        check(False, "push artifact A (sbom)", traceback.format_exc())

    # --- artifact B: high-level push(subject=...), type via config ----------
    sig_path = os.path.join(work, "signature.txt")
    sig_body = b"not-a-real-signature " + os.urandom(8).hex().encode() + b"\n"
    with open(sig_path, "wb") as f:
        f.write(sig_body)
    digest_b = None
    try:
        r = client.push(
            target=f"{host}/{repo}:sig",
            files=[f"{sig_path}:application/vnd.example.signature.layer.v1"],
            manifest_config=f"{empty_path}:{SIG_TYPE}",
            subject=subject,
            disable_path_validation=True,
            quiet=True,
        )
        digest_b = r.headers.get("Docker-Content-Digest")
        check(r.status_code == 201 and bool(digest_b), "SDK push() with subject (type from config.mediaType)",
              f"-> {r.status_code} {r.text[:300]}")
    except Exception:
        check(False, "SDK push() with subject", traceback.format_exc())

    # --- referrers API ------------------------------------------------------
    url = f"{base}/referrers/{subj_digest}"
    r = session.get(url, timeout=30)
    check(r.status_code == 200, "GET referrers is 200", f"GET {url} -> {r.status_code} {r.text[:300]}")
    ctype = r.headers.get("Content-Type", "").split(";")[0].strip()
    check(ctype == OCI_INDEX, "referrers Content-Type is the OCI index type", f"Content-Type={ctype!r}")
    try:
        idx = r.json()
    except Exception:
        idx = {}
    mans = {m.get("digest"): m for m in idx.get("manifests", [])}
    ma = mans.get(digest_a)
    check(ma is not None and ma.get("artifactType") == SBOM_TYPE and ma.get("mediaType") == OCI_MANIFEST,
          f"referrers lists artifact A with artifactType {SBOM_TYPE}", json.dumps(idx, indent=1))
    if ma is not None:
        check(ma.get("annotations", {}).get("org.example.kind") == "sbom",
              "referrers descriptor carries the artifact's annotations", json.dumps(ma))
    mb = mans.get(digest_b)
    check(mb is not None and mb.get("artifactType") == SIG_TYPE,
          f"referrers lists artifact B with artifactType {SIG_TYPE} (config.mediaType fallback)",
          json.dumps(idx, indent=1))
    check(r.headers.get("OCI-Filters-Applied") is None,
          "unfiltered referrers has no OCI-Filters-Applied header",
          f"OCI-Filters-Applied={r.headers.get('OCI-Filters-Applied')!r}")

    r = session.get(url, params={"artifactType": SBOM_TYPE}, timeout=30)
    check(r.status_code == 200, "GET referrers?artifactType= is 200", f"-> {r.status_code} {r.text[:300]}")
    check((r.headers.get("OCI-Filters-Applied") or "").strip() == "artifactType",
          "filtered referrers sets OCI-Filters-Applied: artifactType",
          f"OCI-Filters-Applied={r.headers.get('OCI-Filters-Applied')!r}")
    try:
        fidx = r.json()
    except Exception:
        fidx = {}
    fdigests = [m.get("digest") for m in fidx.get("manifests", [])]
    check(digest_a in fdigests and digest_b not in fdigests
          and all(m.get("artifactType") == SBOM_TYPE for m in fidx.get("manifests", [])),
          "filtered referrers lists only the sbom artifact", json.dumps(fidx, indent=1))

    r = session.get(url, params={"artifactType": "application/vnd.example.none"}, timeout=30)
    check(r.status_code == 200 and manifests_of(r) == [],
          "referrers filtered on an unused artifactType is an empty index",
          f"-> {r.status_code} {r.text[:300]}")

    zero = "sha256:" + "0" * 64
    r = session.get(f"{base}/referrers/{zero}", timeout=30)
    check(r.status_code == 200 and manifests_of(r) == [],
          "referrers of an unknown digest is 200 with an empty index",
          f"-> {r.status_code} {r.text[:300]}")

    # --- pull artifacts back with the SDK -----------------------------------
    if digest_a:
        try:
            m = client.get_manifest(f"{host}/{repo}@{digest_a}")
            check(m.get("artifactType") == SBOM_TYPE and (m.get("subject") or {}).get("digest") == subj_digest,
                  "SDK get_manifest returns artifactType and subject", json.dumps(m, indent=1))
            out = os.path.join(work, "pull-a")
            files = client.pull(target=f"{host}/{repo}@{digest_a}", outdir=out)
            got = open(files[0], "rb").read() if len(files) == 1 else None
            check(got == sbom_body, "SDK pull of artifact A by digest returns identical content",
                  f"files={files}")
        except Exception:
            check(False, "SDK pull of artifact A", traceback.format_exc())
    if digest_b:
        try:
            out = os.path.join(work, "pull-b")
            files = client.pull(target=f"{host}/{repo}:sig", outdir=out)
            got = open(files[0], "rb").read() if len(files) == 1 else None
            check(got == sig_body, "SDK pull of artifact B by tag returns identical content",
                  f"files={files}")
        except Exception:
            check(False, "SDK pull of artifact B", traceback.format_exc())

    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
