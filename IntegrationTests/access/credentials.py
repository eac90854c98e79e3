"""Every credential kind against every admin API route: no credential does more than its scopes say, nor after
its expiry or revocation (docs/SECURITY.md, "Credentials").

Each row is a credential: a password, access tokens of several scopes (an administrator's included), registry
JWTs of several scopes (token mode), tokens expired or revoked after a first use, anonymous callers as real
clients send them (no header, and podman's empty Basic credentials), a wrong password. Each column is an admin
API route with the admin scope it needs. The expected answer comes from the rule, not from Berth: 401 for
credentials that are not (or no longer) valid, 403 DENIED when the user or the credential lacks the scope,
anything but 401/403/5xx otherwise.
"""
import json, time, urllib.parse
from access.common import api, by_name, expect, password
from harness.httpclient import basic, bearer

# (method, path, body, scope): scope None means any caller may (the list is filtered).
ROUTES = [
    ("GET", "/api/v1/users", None, "users"),
    ("POST", "/api/v1/users", "NEWUSER", "users"),
    ("PUT", "/api/v1/users/nobody/password", {"password": "x" * 12}, "users"),
    ("DELETE", "/api/v1/users/nobody", None, "users"),
    ("GET", "/api/v1/namespaces", None, None),
    ("POST", "/api/v1/namespaces", "NEWNS", "namespaces"),
    ("PATCH", "/api/v1/namespaces/priv", {"visibility": "private"}, "namespace:priv"),
    ("PATCH", "/api/v1/namespaces/sec", {"visibility": "private"}, "namespace:sec"),
    ("GET", "/api/v1/namespaces/priv/members", None, "namespace:priv"),
    ("PUT", "/api/v1/namespaces/priv/members/nobody", {"role": "reader"}, "namespace:priv"),
    ("DELETE", "/api/v1/namespaces/priv/members/nobody", None, "namespace:priv"),
    ("GET", "/api/v1/tokens", None, "tokens"),
    ("POST", "/api/v1/tokens", {"scopes": ["repository:priv/app:pull"], "expires": "1m"}, "tokens"),
    ("DELETE", "/api/v1/tokens/nonexistent", None, "tokens"),
    ("GET", "/api/v1/audit?limit=1", None, "audit"),
    ("GET", "/api/v1/immutability", None, "namespaces"),
    ("GET", "/api/v1/immutability/priv/app", None, "namespace:priv"),
    ("PUT", "/api/v1/immutability/priv/credcheck", {"immutable": False}, "namespace:priv"),
    ("DELETE", "/api/v1/immutability/priv/credcheck", None, "namespace:priv"),
    ("GET", "/api/v1/immutability/sec/src", None, "namespace:sec"),
    ("GET", "/api/v1/lifecycle/priv/app", None, "namespace:priv"),
    ("GET", "/api/v1/lifecycle-preview/priv/app", None, "namespace:priv"),
    ("GET", "/api/v1/quota", None, "namespaces"),
    ("GET", "/api/v1/quota/priv", None, "namespace:priv"),
    ("DELETE", "/api/v1/quota/sec", None, "namespaces"),
    ("GET", "/api/v1/usage", None, "namespaces"),
    ("GET", "/api/v1/usage/priv", None, "namespace:priv"),
    ("POST", "/api/v1/gc", {"dryRun": True}, "gc"),
]
ROLES = {"nsadmin": {"priv": "admin"}, "reader": {"priv": "reader"}}


class Cred:
    """A credential: its headers, its user, the admin scopes it is limited to (None: a password login), and
    `state`: ok, anonymous or invalid."""

    def __init__(self, name, headers, user=None, limits=None, state="ok"):
        self.name, self.headers, self.user, self.limits, self.state = name, headers, user, limits, state

    def expected(self, scope):
        if self.state == "invalid":
            return 401
        if scope is None:
            return "ok"
        if self.state == "anonymous":
            return 401
        return "ok" if self.user_may(scope) and self.credential_reaches(scope) else 403

    def user_may(self, scope):
        if self.user == "admin":
            return True
        if scope == "tokens":
            return True
        if scope.startswith("namespace:"):
            return ROLES.get(self.user, {}).get(scope.split(":", 1)[1]) in ("maintainer", "admin")
        return False

    def credential_reaches(self, scope):
        if self.limits is None:
            return True
        return scope in self.limits or (scope.startswith("namespace:") and "namespaces" in self.limits)


def route_checks(reg, cred, counter):
    b = reg.berth
    for method, path, body, scope in ROUTES:
        counter[0] += 1
        if body == "NEWUSER":
            body = {"name": f"mal{reg.mode}{counter[0]}", "password": password("mal"), "admin": True}
        elif body == "NEWNS":
            body = {"name": f"cns{reg.mode}{counter[0]}", "visibility": "private"}
        data = b"" if body is None else json.dumps(body).encode()
        headers = {**cred.headers, **({"Content-Type": "application/json"} if body is not None else {})}
        r = b.call(method, path, data, headers)
        want = cred.expected(scope)
        what = f"{cred.name}: {method} {path} (needs {scope or 'nothing'})"
        if want == "ok":
            reg.report.check(r.status not in (401, 403) and r.status < 500, f"{what} -> allowed", repr(r))
        else:
            code = "DENIED" if want == 403 else "UNAUTHORIZED"
            reg.report.check(r.status == want and r.code == code, f"{what} -> {want} {code}", repr(r))


def make_token(reg, as_cred, user, scopes, expires="1h"):
    r = reg.berth.call("POST", "/api/v1/tokens", json.dumps(
        {"user": user, "scopes": scopes, "expires": expires}).encode(),
        {"Content-Type": "application/json", **as_cred})
    if r.status != 201:
        raise RuntimeError(f"could not create a token {scopes} for {user}: {r!r}")
    return r.json()["token"], r.json()["id"]


def jwt_for(reg, headers, scopes):
    query = urllib.parse.urlencode([("service", "berth")] + [("scope", s) for s in scopes])
    r = reg.berth.call("GET", "/auth/token?" + query, headers=headers)
    if r.status != 200:
        raise RuntimeError(f"no JWT for {scopes}: {r!r}")
    return r.json()["token"]


def credentials(reg, principals, found_secrets):
    """The admin API's credential matrix, the exact reproductions of issue 22's items 1-4, and password changes."""
    P, b, check, mode = by_name(principals), reg.berth, reg.report.check, reg.mode
    admin_pw = basic("admin", P["admin"].secret)
    nsadmin_pw = basic("nsadmin", P["nsadmin"].secret)
    reader_pw = basic("reader", P["reader"].secret)
    tokens = {}
    for name, user, scopes, as_ in (
            ("admin repo token", "admin", ["repository:priv/app:pull"], admin_pw),
            ("admin users token", "admin", ["admin:users"], admin_pw),
            ("admin priv token", "admin", ["admin:namespace:priv"], admin_pw),
            ("nsadmin priv token", "nsadmin", ["admin:namespace:priv"], nsadmin_pw),
            ("reader users token", "reader", ["admin:users"], reader_pw),
            ("admin all token", "admin", ["admin:users", "admin:tokens", "admin:audit", "admin:gc",
                                          "admin:namespaces", "repository:priv/app:pull"], admin_pw),
            ("expired-after-use token", "admin", ["repository:priv/app:pull"], admin_pw),
            ("revoked-after-use token", "admin", ["repository:priv/app:pull"], admin_pw)):
        try:
            secret, tid = make_token(reg, as_, user, scopes, "4s" if name.startswith("expired") else "1h")
        except RuntimeError as e:  # a build that knows no admin scopes: the rows that need one are dropped
            check(False, f"{name} ({' '.join(scopes)}) is created", str(e))
            continue
        tokens[name] = (secret, tid, user, {s.split(":", 1)[1] for s in scopes if s.startswith("admin:")})
        found_secrets.append(secret)
    expiry = time.time() + 4
    # First uses: both work before they expire or are revoked (the login cache now holds them).
    first_uses(reg, tokens, ("expired-after-use token", "revoked-after-use token"))
    # Nothing changes access data until the token expires: no reload may empty the login cache meanwhile.
    time.sleep(max(0.0, expiry - time.time()) + 1.5)
    after_expiry(reg, tokens, "expired-after-use token")
    expect(reg, "admin revokes the revoked-after-use token",
           b.call("DELETE", f"/api/v1/tokens/{tokens['revoked-after-use token'][1]}", headers=admin_pw), 204)
    after_expiry(reg, tokens, "revoked-after-use token")

    rows = [Cred("admin password", admin_pw, "admin"), Cred("nsadmin password", nsadmin_pw, "nsadmin"),
            Cred("anonymous (no header)", {}, state="anonymous"),
            Cred("anonymous (empty Basic, as podman sends)", {"Authorization": "Basic Og=="}, state="anonymous"),
            Cred("wrong password", basic("admin", "wrong-" + P["admin"].secret), state="invalid"),
            Cred("expired-after-use token", basic("admin", tokens["expired-after-use token"][0]), state="invalid"),
            Cred("revoked-after-use token", basic("admin", tokens["revoked-after-use token"][0]), state="invalid")]
    for name in ("admin repo token", "admin users token", "admin priv token", "nsadmin priv token",
                 "reader users token", "admin all token"):
        if name not in tokens:
            continue
        secret, _, user, limits = tokens[name]
        rows.append(Cred(name, basic(user, secret), user, limits))
    if mode == "token":
        all_secret = tokens.get("admin all token", ("missing",))[0]
        repo_secret = tokens["admin repo token"][0]
        for name, headers, user, scopes, limits in (
                ("admin's JWT for repository:priv/app:pull", admin_pw, "admin", ["repository:priv/app:pull"], set()),
                ("admin's JWT for admin:users:*", admin_pw, "admin", ["admin:users:*"], {"users"}),
                ("admin's JWT for admin:namespace:priv:*", admin_pw, "admin", ["admin:namespace:priv:*"],
                 {"namespace:priv"}),
                ("reader's JWT asking admin:users:*", reader_pw, "reader", ["admin:users:*"], set()),
                ("nsadmin's JWT asking admin:namespace:sec:*", nsadmin_pw, "nsadmin", ["admin:namespace:sec:*"],
                 set()),
                ("JWT of the admin-all token for admin:users:*", basic("admin", all_secret), "admin",
                 ["admin:users:*"], {"users"}),
                ("JWT of the admin-repo token asking admin:users:*", basic("admin", repo_secret), "admin",
                 ["admin:users:*"], set())):
            try:
                jwt = jwt_for(reg, headers, scopes)
            except RuntimeError as e:
                check(False, f"{name} is issued", str(e))
                continue
            found_secrets.append(jwt)
            rows.append(Cred(name, bearer(jwt), user, limits))
    counter = [0]
    for cred in rows:
        route_checks(reg, cred, counter)

    exact_reproductions(reg, P, tokens, admin_pw)
    password_changes(reg, P, found_secrets)


def first_uses(reg, tokens, names):
    b, check, mode = reg.berth, reg.report.check, reg.mode
    for name in names:
        secret, tid, user, _ = tokens[name]
        # Token mode's /v2/ takes JWTs only: there, the first use is at the token service (below).
        for path in ("/v2/priv/app/tags/list", "/api/v1/namespaces")[1 if mode == "token" else 0:]:
            r = b.call("GET", path, headers=basic(user, secret))
            check(r.status == 200, f"{name}: first use of GET {path} -> 200", repr(r))
        if mode == "token":
            r = reg.berth.call("GET", "/auth/token?service=berth&scope=repository:priv/app:pull",
                               headers=basic(user, secret))
            check(r.status == 200, f"{name}: first use at /auth/token -> 200", repr(r))


def after_expiry(reg, tokens, name):
    """The token, used once (and so in the login cache), is refused on every surface now."""
    b, secret = reg.berth, tokens[name][0]
    if reg.mode == "basic":
        r = b.call("GET", "/v2/priv/app/tags/list", headers=basic("admin", secret))
        expect(reg, f"{name}: GET /v2/priv/app/tags/list after a first use", r, 401, "UNAUTHORIZED")
    else:
        r = b.call("GET", "/auth/token?service=berth&scope=repository:priv/app:pull", headers=basic("admin", secret))
        expect(reg, f"{name}: the token service issues nothing after a first use", r, 401, "UNAUTHORIZED")
    r = b.call("GET", "/api/v1/namespaces", headers=basic("admin", secret))
    expect(reg, f"{name}: GET /api/v1/namespaces after a first use", r, 401, "UNAUTHORIZED")


def exact_reproductions(reg, P, tokens, admin_pw):
    """Issue 22's items 1 and 2 as reported, and what a scoped credential's lists show."""
    b = reg.berth
    pull = basic("admin", tokens["admin repo token"][0])
    every = basic("admin", tokens.get("admin all token", ("missing",))[0])
    post = lambda path, body, headers: b.call("POST", path, body, {"Content-Type": "application/json", **headers})
    for what, path, body, headers in (
            ("admin's pull-scoped token creates a global administrator", "/api/v1/users",
             b'{"name":"mallory","password":"mallory-pw-123","admin":true}', pull),
            ("admin's pull-scoped token mints a 30-day pull,push,delete token", "/api/v1/tokens",
             b'{"scopes":["repository:team/app:pull,push,delete"],"expires":"30d"}', pull),
            ("a token with admin:tokens mints a token reaching further than itself", "/api/v1/tokens",
             b'{"scopes":["repository:sec/src:pull"],"expires":"1m"}', every),
            ("a token with admin:tokens mints a token that outlives it", "/api/v1/tokens",
             b'{"scopes":["repository:priv/app:pull"],"expires":"30d"}', every),
            ("a token with admin:tokens mints a token for another user", "/api/v1/tokens",
             b'{"user":"reader","scopes":["repository:priv/app:pull"],"expires":"1m"}', every)):
        expect(reg, what, post(path, body, headers), 403, "DENIED")
    expect(reg, "admin's pull-scoped token lists namespaces: only priv (what its scope names)",
           b.call("GET", "/api/v1/namespaces", headers=pull), 200,
           test=lambda j: [n["name"] for n in j] == ["priv"])
    r = b.call("GET", "/api/v1/tokens?user=admin", headers=admin_pw)
    expect(reg, "token listings say which tokens are revoked", r, 200,
           test=lambda j: any(t["id"] == tokens["revoked-after-use token"][1] and t.get("state") == "revoked"
                              and t.get("revoked_at") for t in j)
           and any(t["id"] == tokens.get("admin all token", ("", ""))[1] and t.get("state") == "active" for t in j))
    expect(reg, "GET /api/v1/audit?limit=0 is refused", b.call("GET", "/api/v1/audit?limit=0", headers=admin_pw),
           400)


def password_changes(reg, P, found_secrets):
    """Changing one's password needs the current one, from a password login; no token does it."""
    b, mode = reg.berth, reg.mode
    user, old = f"pwc{mode}", password("pwc")
    found_secrets.append(old)
    admin_pw = basic("admin", P["admin"].secret)
    expect(reg, "admin adds a user for password changes", api(reg, P["admin"], "POST", "/api/v1/users",
                                                             {"name": user, "password": old}), 201)
    path, new = f"/api/v1/users/{user}/password", password("pwc2")
    found_secrets.append(new)
    send = lambda headers, body: b.call("PUT", path, json.dumps(body).encode(),
                                        {"Content-Type": "application/json", **headers})
    expect(reg, "a user sets its password without the current one", send(basic(user, old), {"password": new}),
           403, "DENIED")
    expect(reg, "a user sets its password with a wrong current one",
           send(basic(user, old), {"password": new, "current_password": "wrong"}), 403, "DENIED")
    try:
        secret, _ = make_token(reg, basic(user, old), user, ["admin:tokens", "admin:users"])
        found_secrets.append(secret)
        expect(reg, "a user's own token (admin:users) sets its password, current one given",
               send(basic(user, secret), {"password": new, "current_password": old}), 403, "DENIED")
    except RuntimeError as e:
        reg.report.check(False, "a user makes itself a token with admin:tokens and admin:users", str(e))
    if mode == "token":
        jwt = jwt_for(reg, basic(user, old), ["repository:priv/app:pull"])
        expect(reg, "a user's registry JWT sets its password, current one given",
               send(bearer(jwt), {"password": new, "current_password": old}), 403, "DENIED")
    expect(reg, "a user sets its password with the current one",
           send(basic(user, old), {"password": new, "current_password": old}), 204)
    expect(reg, "the new password logs in", b.call("GET", "/api/v1/tokens", headers=basic(user, new)), 200)
    expect(reg, "an administrator sets another user's password (no current one needed)",
           send(admin_pw, {"password": old}), 204)
