"""Principals made with the CLI before a server starts, and helpers the checks beyond the matrix share."""
import json, re, secrets, time
from access import model
from access.registry import REALM, Registry
from harness.content import INDEX, empty_index
from harness.httpclient import access_map, bearer, jwt_parts


ISSUER = "berth-test-issuer"
EXPIRES_IN = 600


def config(mode, attempts=100000):
    """A Berth in `mode` (basic | token); `attempts` failed logins before a lockout (a high default keeps the
    matrix's wrong passwords from locking anyone out; throttling sets 3)."""
    return f"""storage:
  fsync: false
log:
  access: true
auth:
  mode: {mode}
  realm: {REALM}
  token:
    service: berth
    issuer: {ISSUER}
    expires_in: {EXPIRES_IN}s
    refresh_expires_in: 1d
  lockout:
    attempts: {attempts}
    window: 1m
"""


def password(name):
    return f"pw-{name}-{secrets.token_hex(8)}"


def cli_token(berth, user, scope, expires):
    out = berth.cli("token", "create", "--user", user, "--scope", scope, "--expires", expires)
    found = dict(re.findall(r"(?m)^\s*(id|token):\s*(\S+)", out))
    if "id" not in found or "token" not in found:
        raise RuntimeError(f"berth token create printed no id/token lines: {out!r}")
    return found["id"], found["token"]


def provision(berth, mode):
    """Users, namespaces, roles and access tokens, made with the CLI before the server starts."""
    pw = {u: password(u) for u in model.GRANTS}
    for u in model.GRANTS:
        berth.cli("user", "add", u, "--password-stdin", *(["--admin"] if u in model.GLOBAL_ADMINS else []),
                  stdin=pw[u] + "\n")
    for ns, visibility in model.NAMESPACES.items():
        berth.cli("namespace", "create", ns, "--visibility", visibility)
    for u, roles in model.GRANTS.items():
        for ns, role in roles.items():
            berth.cli("grant", u, ns, role)
    scoped_id, scoped = cli_token(berth, "writer", "repository:priv/app:pull", "1h")
    admin_pull_id, admin_pull = cli_token(berth, "admin", "repository:priv/app:pull", "1h")
    ns_id, ns_token = cli_token(berth, "maintainer", "namespace:priv:pull,push", "1h")
    _, expired = cli_token(berth, "writer", "repository:priv/app:pull", "1s")
    revoked_id, revoked = cli_token(berth, "writer", "repository:priv/app:pull", "1h")
    berth.cli("token", "revoke", revoked_id)
    time.sleep(2)  # the 1 s token expires
    P = model.Principal
    # podman, skopeo and buildah send empty Basic credentials when they have none: anonymous, not a failed login.
    principals = [P("anonymous", "anonymous"), P("empty-basic", "anonymous", "", "")] + [
        P(u, "user", u, pw[u]) for u in model.GRANTS] + [
        P("scoped-token", "token", "writer", scoped, ["repository:priv/app:pull"], token_id=scoped_id),
        P("admin-pull-token", "token", "admin", admin_pull, ["repository:priv/app:pull"], token_id=admin_pull_id),
        P("ns-token", "token", "maintainer", ns_token, ["namespace:priv:pull,push"], token_id=ns_id),
        P("expired-token", "bad", "writer", expired), P("revoked-token", "bad", "writer", revoked),
        P("wrong-password", "bad", "reader", "wrong-" + pw["reader"][3:])]
    if mode == "token":
        principals.append(P("no-token", "notoken"))
    return principals, list(pw.values()) + [scoped, admin_pull, ns_token, expired, revoked]


def by_name(principals):
    return {p.name: p for p in principals}


def api(reg, p, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return reg.berth.call(method, path, data, {**headers, **Registry.creds(p)})


def expect(reg, what, r, status, code=None, test=None):
    problem = "" if r.status == status and (code is None or r.code == code) else f"got {r!r}"
    if not problem and test is not None:
        try:
            good = test(r.json())
        except (TypeError, AttributeError, KeyError):
            good = False
        problem = "" if good else f"unexpected body {r.body[:300]!r}"
    return reg.report.check(not problem, f"{what} -> {status}{' ' + code if code else ''}", problem)


def can(reg, p, repo, action):
    """Whether `p` can pull (GET tags/list) or push (PUT a manifest) on `repo`, asked of Berth, not the model."""
    if reg.mode == "basic":
        headers = Registry.creds(p)
    else:
        # As clients do, ask for what the challenge names: pull,push for a push.
        r = reg.token_request(p, [f"repository:{repo}:{'pull,push' if action == 'push' else action}"])
        if r.status != 200:
            return False
        token = r.json()["token"]
        if action not in access_map(jwt_parts(token)[1]).get(("repository", repo), set()):
            return False
        headers = bearer(token)
    if action == "pull":
        return reg.berth.call("GET", f"/v2/{repo}/tags/list", headers=headers).status == 200
    tag = reg.fresh("c")
    return reg.berth.call("PUT", f"/v2/{repo}/manifests/{tag}", empty_index(tag),
                          {"Content-Type": INDEX, **headers}).status == 201
