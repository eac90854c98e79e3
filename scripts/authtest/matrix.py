"""The request matrix: every principal against every /v2/ endpoint, on existing and missing repositories.

Each request's expected answer comes from `model`: when allowed, what Berth answered before access control
(404 MANIFEST_UNKNOWN for a missing manifest, and so on); when refused, the mode's refusal. A refused write must
also leave nothing behind (checked as admin), and a refusal on a private repository must look the same whether
the repository exists or not.
"""
import json, os, re, urllib.parse, uuid
from . import model
from .harness import INDEX, MANIFEST, access_map, basic, bearer, challenge, digest, empty_index, jwt_parts, \
    manifest_for

REALM = "berth-test"  # basic mode's realm, as configured
SOURCES = ("priv/src", "sec/src")
ACCEPT = {"Accept": f"{MANIFEST}, {INDEX}"}
OCTETS = {"Content-Type": "application/octet-stream"}


class Case:
    def __init__(self, method, path, action, allowed, body=b"", headers=None, verify=None, unchanged=None):
        self.method, self.path, self.action, self.allowed = method, path, action, allowed
        self.body, self.headers, self.verify, self.unchanged = body, headers or {}, verify, unchanged


class Registry:
    """A running Berth in `mode` (basic | token), and how each principal authenticates to it."""

    def __init__(self, berth, mode, admin, report):
        self.berth, self.mode, self.admin, self.report = berth, mode, admin, report
        self.jwts, self.seed, self.counter = {}, {}, 0
        self.realm = f"http://127.0.0.1:{berth.port}/auth/token"

    def fresh(self, prefix):
        self.counter += 1
        return f"{prefix}-{self.counter}"

    @staticmethod
    def creds(p):
        return basic(p.user or "", p.secret) if p.secret is not None else {}

    def token_request(self, p, scopes, service="berth", extra=()):
        query = urllib.parse.urlencode([("service", service)] + [("scope", s) for s in scopes] + list(extra))
        return self.berth.call("GET", "/auth/token?" + query, headers=self.creds(p))

    def expected_access(self, p, scopes):
        out = {}
        for s in scopes:
            kind, name, acts = model.parse_scope(s)
            if kind == "registry":
                out[(kind, name)] = acts if model.may_catalog(p) else set()
            else:
                out[(kind, name)] = acts & model.actions(p, name)
        return out

    def access_problem(self, p, scopes, jwt):
        """Whether a JWT's `access` claim is what was asked intersected with what `p` may do."""
        want = self.expected_access(p, scopes)
        got = access_map(jwt_parts(jwt)[1])
        got_norm = {k: got.get(k, set()) for k in want}
        extra = {k: v for k, v in got.items() if k not in want and v}
        if got_norm != want or extra:
            return f"access {got}, expected {want}"
        return ""

    def auth(self, p, scopes):
        """Headers for a /v2/ request by `p`; in token mode, a JWT asked for `scopes` (and its access checked)."""
        if self.mode == "basic" or p.kind == "bad":
            return self.creds(p)
        if p.kind == "notoken":
            return {}
        key = (p.name, tuple(scopes))
        if key not in self.jwts:
            r = self.token_request(p, scopes)
            token = (r.json() or {}).get("token") if r.status == 200 else None
            if not isinstance(token, str) or token.count(".") != 2:
                self.report.check(False, f"{p} gets a token for {' '.join(scopes) or '(no scope)'}", repr(r))
                return {}
            problem = self.access_problem(p, scopes, token)
            self.report.check(not problem, f"token for {p} asking {' '.join(scopes) or '(no scope)'}: access "
                              "is the asked scopes intersected with its rights", problem)
            self.jwts[key] = token
        return bearer(self.jwts[key])

    # Content, as the global administrator.
    def as_admin(self, method, path, body=b"", headers=None, repo=None):
        scopes = [f"repository:{repo}:pull,push,delete"] if repo else []
        return self.berth.call(method, path, body, {**(headers or {}), **self.auth(self.admin, scopes)})

    def put_blob(self, repo, data):
        return self.as_admin("POST", f"/v2/{repo}/blobs/uploads/?digest={digest(data)}", data, OCTETS, repo).status

    def put_manifest(self, repo, ref, body, media_type):
        return self.as_admin("PUT", f"/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type}, repo).status

    def head(self, repo, kind, ref):
        return self.as_admin("HEAD", f"/v2/{repo}/{kind}/{ref}", headers=ACCEPT, repo=repo).status

    def new_session(self, repo):
        r = self.as_admin("POST", f"/v2/{repo}/blobs/uploads/", repo=repo)
        loc = urllib.parse.urlsplit(r.headers.get("location", ""))
        return loc.path + (f"?{loc.query}" if loc.query else "") if r.status == 202 else f"/v2/{repo}/blobs/uploads/x"

    def session(self, repo, loc):
        r = self.as_admin("GET", loc, repo=repo)
        return r.status, r.headers.get("range")

    def seed_content(self):
        for repo in model.SEEDED:
            config, layer = f'{{"repo":"{repo}"}}'.encode(), os.urandom(64)
            blobs = [self.put_blob(repo, config), self.put_blob(repo, layer)]
            m = manifest_for(config, layer)
            ref = manifest_for(config, layer, {"mediaType": MANIFEST, "digest": digest(m), "size": len(m)})
            puts = [self.put_manifest(repo, "v1", m, MANIFEST), self.put_manifest(repo, digest(ref), ref, MANIFEST)]
            self.report.check(blobs + puts == [201] * 4, f"admin seeds {repo} (blobs, manifest v1, a referrer)",
                              f"{blobs + puts}")
            self.seed[repo] = {"manifest": digest(m), "layer": digest(layer), "referrer": digest(ref)}

    # What a refusal must look like.
    def refusal_problem(self, r, p, method, scope):
        status, code, scheme, insufficient = model.refusal(self.mode, p)
        problems = []
        if r.status != status:
            problems.append(f"status {r.status}, expected {status}")
        if method != "HEAD" and r.code != code:
            problems.append(f"code {r.code}, expected {code}")
        header = r.headers.get("www-authenticate")
        got, params = challenge(header)
        if scheme and got != scheme:
            problems.append(f"challenge {header!r}, expected {scheme}")
        elif scheme == "basic" and params.get("realm") != REALM:
            problems.append(f"challenge {header!r}, expected realm {REALM!r}")
        elif scheme == "bearer":
            if params.get("realm") != self.realm or params.get("service") != "berth":
                problems.append(f"challenge {header!r}, expected realm {self.realm!r} and service berth")
            if scope and not scope_ok(params.get("scope"), *scope):
                problems.append(f"challenge {header!r}, expected scope {scope[0]}:{scope[1]}")
            if insufficient is True and params.get("error") != "insufficient_scope":
                problems.append(f'challenge {header!r}, expected error="insufficient_scope"')
            if insufficient is False and "error" in params:
                problems.append(f"challenge {header!r} has an error but no token was sent")
        return "; ".join(problems)


def scope_ok(got, kind_name, action):
    """A challenge's scope names `kind_name` with the actions `action` needs (the push challenge asks for
    pull,push; delete's must include delete)."""
    for item in (got or "").split():
        kind, name, acts = model.parse_scope(item) if item.count(":") >= 2 else ("", "", set())
        if f"{kind}:{name}" == kind_name:
            if action == "delete":
                return "delete" in acts
            return acts == {"pull": {"pull"}, "push": {"pull", "push"}}.get(action, {action})
    return False


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
