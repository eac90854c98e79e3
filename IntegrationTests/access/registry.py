"""A running Berth as the access checks see it: how each principal authenticates (Basic credentials, or a
registry JWT whose `access` claim is itself checked), the content the global administrator seeds and inspects,
and what a refusal must look like (status, code, challenge)."""
import os, urllib.parse
from access import model
from harness.content import INDEX, MANIFEST, digest, manifest_for
from harness.httpclient import access_map, basic, bearer, challenge, jwt_parts

REALM = "berth-test"  # basic mode's realm, as configured
ACCEPT = {"Accept": f"{MANIFEST}, {INDEX}"}
OCTETS = {"Content-Type": "application/octet-stream"}


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

