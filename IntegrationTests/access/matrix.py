"""The request matrix: every principal against every /v2/ endpoint, on existing and missing repositories.

Each request's expected answer comes from `model`: when allowed, what Berth answered before access control
(404 MANIFEST_UNKNOWN for a missing manifest, and so on); when refused, the mode's refusal. A refused write must
also leave nothing behind (checked as admin), and a refusal on a private repository must look the same whether
the repository exists or not.
"""
import json, os, re, uuid
from access import model
from access.registry import ACCEPT, OCTETS
from harness.content import INDEX, digest, empty_index

SOURCES = ("priv/src", "sec/src")


class Case:
    def __init__(self, method, path, action, allowed, body=b"", headers=None, verify=None, unchanged=None):
        self.method, self.path, self.action, self.allowed = method, path, action, allowed
        self.body, self.headers, self.verify, self.unchanged = body, headers or {}, verify, unchanged


def seed_of(reg, repo):
    return reg.seed[repo.split("/")[0] + "/app"]


# Reads; a missing repository is looked up with the digests of its namespace's `app`.
def get_manifest(reg, p, repo, exists, method="GET"):
    s = seed_of(reg, repo)
    check = lambda r: "" if r.headers.get("docker-content-digest") == s["manifest"] else "wrong manifest"
    return Case(method, f"/v2/{repo}/manifests/v1", "pull", (200, None) if exists else (404, "MANIFEST_UNKNOWN"),
                headers=ACCEPT, verify=check if exists else None)


def get_blob(reg, p, repo, exists, method="GET"):
    s = seed_of(reg, repo)
    check = lambda r: "" if method == "HEAD" or digest(r.body) == s["layer"] else "wrong blob"
    return Case(method, f"/v2/{repo}/blobs/{s['layer']}", "pull", (200, None) if exists else (404, "BLOB_UNKNOWN"),
                verify=check if exists else None)


def tags_list(reg, p, repo, exists):
    check = lambda r: "" if (r.json() or {}).get("tags") == ["v1"] else "wrong tags"
    return Case("GET", f"/v2/{repo}/tags/list", "pull", (200, None) if exists else (404, "NAME_UNKNOWN"),
                verify=check if exists else None)


def referrers(reg, p, repo, exists):
    s = seed_of(reg, repo)
    want = [s["referrer"]] if exists else []
    check = lambda r: "" if [m.get("digest") for m in (r.json() or {}).get("manifests", [])] == want else "wrong list"
    return Case("GET", f"/v2/{repo}/referrers/{s['manifest']}", "pull", (200, None), verify=check)


READS = [("GET manifest", get_manifest), ("HEAD manifest", lambda *a: get_manifest(*a, method="HEAD")),
         ("GET blob", get_blob), ("HEAD blob", lambda *a: get_blob(*a, method="HEAD")),
         ("GET tags/list", tags_list), ("GET referrers", referrers)]


# Writes; a missing repository here is a fresh name, so it never exists when the request is made.
def put_manifest(reg, p, repo, exists):
    tag = reg.fresh("t")
    return Case("PUT", f"/v2/{repo}/manifests/{tag}", "push", (201, None), empty_index(tag), {"Content-Type": INDEX},
                verify=lambda r: "" if reg.head(repo, "manifests", tag) == 200 else "tag not there",
                unchanged=lambda: "" if reg.head(repo, "manifests", tag) == 404 else "tag was pushed")


def start_upload(reg, p, repo, exists):
    check = lambda r: "" if f"/v2/{repo}/blobs/uploads/" in r.headers.get("location", "") else "no Location"
    return Case("POST", f"/v2/{repo}/blobs/uploads/", "push", (202, None), verify=check)


def monolithic(reg, p, repo, exists):
    data = os.urandom(32)
    return Case("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", "push", (201, None), data, OCTETS,
                verify=lambda r: "" if reg.head(repo, "blobs", digest(data)) == 200 else "blob not there",
                unchanged=lambda: "" if reg.head(repo, "blobs", digest(data)) == 404 else "blob was linked")


def session_case(op):
    """PATCH, PUT, GET or DELETE of an upload session the admin opened (a made-up one in a missing repository)."""
    def build(reg, p, repo, exists):
        if not exists:
            loc, data = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}", os.urandom(24)
            path = f"{loc}?digest={digest(data)}" if op == "PUT" else loc
            return Case(op, path, "push", (404, "BLOB_UPLOAD_UNKNOWN"), data if op in ("PATCH", "PUT") else b"",
                        OCTETS if op in ("PATCH", "PUT") else {})
        loc = reg.new_session(repo)
        state = lambda: reg.session(repo, loc)
        kept = lambda: "" if state() == (204, "0-0") else f"session now {state()}"
        blob = lambda data: reg.head(repo, "blobs", digest(data))
        if op == "PATCH":
            return Case("PATCH", loc, "push", (202, None), b"abc", OCTETS, unchanged=kept,
                        verify=lambda r: "" if state() == (204, "0-2") else f"session now {state()}")
        if op == "PUT":
            data = os.urandom(24)
            return Case("PUT", f"{loc}{'&' if '?' in loc else '?'}digest={digest(data)}", "push", (201, None), data,
                        OCTETS, verify=lambda r: "" if blob(data) == 200 else "blob not there",
                        unchanged=lambda: kept() or ("" if blob(data) == 404 else "blob was linked"))
        if op == "GET":
            return Case("GET", loc, "push", (204, None))
        return Case("DELETE", loc, "push", (204, None), unchanged=kept,
                    verify=lambda r: "" if state()[0] == 404 else "session still there")
    return build


def mount(src, with_from):
    """Mount of a blob only `src` holds: linked (201) only if the caller may pull `src`, else a session (202)."""
    def build(reg, p, repo, exists):
        data = os.urandom(48)
        reg.put_blob(src, data)
        linked = model.may(p, src, "pull")
        path = f"/v2/{repo}/blobs/uploads/?mount={digest(data)}" + (f"&from={src}" if with_from else "")
        return Case("POST", path, "push", (201 if linked else 202, None),
                    verify=lambda r: "" if reg.head(repo, "blobs", digest(data)) == (200 if linked else 404)
                    else f"blob {'not ' if linked else ''}linked into {repo}",
                    unchanged=lambda: "" if reg.head(repo, "blobs", digest(data)) == 404 else "blob linked")
    return build


def delete_manifest(by_tag):
    def build(reg, p, repo, exists):
        if not exists:
            ref = "v1" if by_tag else seed_of(reg, repo)["manifest"]
            return Case("DELETE", f"/v2/{repo}/manifests/{ref}", "delete", (404, "MANIFEST_UNKNOWN"))
        tag = reg.fresh("d")
        body = empty_index(tag)
        reg.put_manifest(repo, tag, body, INDEX)
        ref = tag if by_tag else digest(body)
        return Case("DELETE", f"/v2/{repo}/manifests/{ref}", "delete", (202, None),
                    verify=lambda r: "" if reg.head(repo, "manifests", ref) == 404 else "still there",
                    unchanged=lambda: "" if reg.head(repo, "manifests", ref) == 200 else "deleted")
    return build


def delete_blob(reg, p, repo, exists):
    if not exists:
        return Case("DELETE", f"/v2/{repo}/blobs/{seed_of(reg, repo)['layer']}", "delete", (404, "BLOB_UNKNOWN"))
    data = os.urandom(40)
    reg.put_blob(repo, data)
    return Case("DELETE", f"/v2/{repo}/blobs/{digest(data)}", "delete", (202, None),
                verify=lambda r: "" if reg.head(repo, "blobs", digest(data)) == 404 else "still there",
                unchanged=lambda: "" if reg.head(repo, "blobs", digest(data)) == 200 else "deleted")


WRITES = [("PUT manifest", put_manifest), ("POST upload", start_upload), ("POST ?digest= upload", monolithic),
          ("PATCH session", session_case("PATCH")), ("PUT session", session_case("PUT")),
          ("GET session", session_case("GET")), ("DELETE session", session_case("DELETE")),
          ("mount from priv/src", mount("priv/src", True)), ("mount from sec/src", mount("sec/src", True)),
          ("mount (no from) of a priv/src blob", mount("priv/src", False)),
          ("mount (no from) of a sec/src blob", mount("sec/src", False)),
          ("DELETE manifest by digest", delete_manifest(False)), ("DELETE tag", delete_manifest(True)),
          ("DELETE blob", delete_blob)]


def look(r, repo):
    """A response with the repository name, digests and session ids blanked and JSON keys sorted, for comparing
    refusals."""
    def text(s):
        s = s.replace(repo, "REPO")
        return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "ID", re.sub(r"sha(256|512):[0-9a-f]+", "DIGEST", s))
    body = r.json()
    body = json.dumps(body, sort_keys=True) if body is not None else r.body.decode(errors="replace")
    headers = sorted(k for k in r.headers if k not in ("date", "content-length"))
    return r.status, text(body), text(r.headers.get("www-authenticate", "")), headers


def run_case(reg, p, repo, exists, name, build):
    """Returns the response when refused (else None)."""
    case = build(reg, p, repo, exists)
    scopes = [f"repository:{repo}:pull,push,delete"] + [f"repository:{s}:pull" for s in SOURCES]
    r = reg.berth.call(case.method, case.path, case.body, {**case.headers, **reg.auth(p, scopes)})
    allowed = model.may(p, repo, case.action)
    if allowed:
        status, code = case.allowed
        want = f"{status}{' ' + code if code else ''}"
        problem = "" if r.status == status and (case.method == "HEAD" or r.code == code) else f"got {r!r}"
        problem = problem or (case.verify(r) if case.verify else "")
    else:
        status, code, _, _ = model.refusal(reg.mode, p)
        want = f"{status} {code} (refused)"
        problem = reg.refusal_problem(r, p, case.method, (f"repository:{repo}", case.action))
        problem = problem or (case.unchanged() if case.unchanged else "")
    reg.report.check(not problem, f"{p} {name} {repo} -> {want}", problem)
    return None if allowed else r


def same_look(reg, p, name, a, b):
    """A refusal on the existing private repository and on a missing one."""
    if a and b and a[1] is not None and b[1] is not None:
        reg.report.check(look(a[1], a[0]) == look(b[1], b[0]), f"{p} {name}: refusal on {a[0]} and on missing "
                         f"{b[0]} look the same", f"{look(a[1], a[0])} vs {look(b[1], b[0])}")


def run_matrix(reg, principals):
    for p in principals:
        r = reg.berth.call("GET", "/v2/", headers=reg.auth(p, []))
        if model.may_ping(reg.mode, p):
            reg.report.check(r.status == 200, f"{p} GET /v2/ -> 200", repr(r))
        else:
            reg.report.check(not reg.refusal_problem(r, p, "GET", None), f"{p} GET /v2/ -> 401 (refused)",
                             reg.refusal_problem(r, p, "GET", None))
        r = reg.berth.call("GET", "/v2/_catalog", headers=reg.auth(p, ["registry:catalog:*"]))
        if model.may_catalog(p):
            want = model.catalog(p, model.SEEDED)
            got = sorted((r.json() or {}).get("repositories") or []) if r.status == 200 else r
            reg.report.check(got == want, f"{p} GET /v2/_catalog lists {want}", f"got {got}")
        else:
            problem = reg.refusal_problem(r, p, "GET", ("registry:catalog", "*"))
            reg.report.check(not problem, f"{p} GET /v2/_catalog -> 401 (refused)", problem)
    for p in principals:
        for name, build in READS:
            refused = {repo: run_case(reg, p, repo, repo.endswith("app"), name, build)
                       for repo in ("priv/app", "pub/app", "priv/nope", "pub/nope")}
            same_look(reg, p, name, ("priv/app", refused["priv/app"]), ("priv/nope", refused["priv/nope"]))
    for p in principals:
        for name, build in WRITES:
            refused = {}
            for ns in ("priv", "pub"):
                missing = reg.fresh(f"{ns}/nope")
                for repo, exists in ((f"{ns}/app", True), (missing, False)):
                    refused[(ns, exists)] = (repo, run_case(reg, p, repo, exists, name, build))
            a, b = refused[("priv", True)], refused[("priv", False)]
            same_look(reg, p, name, a, b)
