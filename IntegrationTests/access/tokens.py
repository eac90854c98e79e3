"""The token service (token mode) and secrets kept out of the log and the store."""
import base64, json, os, re, sqlite3, stat, time, urllib.parse
from access.common import EXPIRES_IN, ISSUER, by_name, expect
from harness.content import INDEX, empty_index
from harness.httpclient import access_map, b64url, basic, bearer, jwt_parts


def token_service(reg, principals, found_secrets):
    P, b, check = by_name(principals), reg.berth, reg.report.check
    reader = P["reader"]
    r = reg.token_request(reader, ["repository:priv/app:pull,push"], extra=[("offline_token", "true")])
    body = r.json() or {}
    expect(reg, "GET /auth/token as reader for priv/app:pull,push", r, 200,
           test=lambda j: all(k in j for k in ("token", "access_token", "expires_in", "issued_at", "refresh_token")))
    jwt = body.get("token") or "x.e30.x"
    found_secrets += [jwt, body.get("access_token", ""), body.get("refresh_token", "")]
    head, claims = jwt_parts(jwt) if jwt.count(".") == 2 else ({}, {})
    check(head.get("alg") == "ES256" and isinstance(head.get("kid"), str) and head["kid"],
          "JWT header: alg ES256 with a kid", f"{head}")
    aud = claims.get("aud")
    check(claims.get("iss") == ISSUER and (aud == "berth" or (isinstance(aud, list) and "berth" in aud)),
          "JWT claims: iss is the configured issuer, aud the service", f"{claims}")
    check(claims.get("sub") == "reader", "JWT claims: sub is the user", f"{claims}")
    start = claims.get("iat", claims.get("nbf", -10**9))
    check(body.get("expires_in") == EXPIRES_IN and abs(claims.get("exp", 0) - start - EXPIRES_IN) <= 2,
          f"expires_in and the JWT's lifetime are the configured {EXPIRES_IN} s", f"{body.get('expires_in')} {claims}")
    check(access_map(claims) == {("repository", "priv/app"): {"pull"}},
          "asking push where reader may only pull gives access with only pull", f"{claims.get('access')}")
    keys = os.path.join(b.root, "keys")
    files = [os.path.join(keys, f) for f in os.listdir(keys)] if os.path.isdir(keys) else []
    files = [f for f in files if os.path.isfile(f)]
    check(files and all(stat.S_IMODE(os.stat(f).st_mode) & 0o077 == 0 for f in files),
          "signing key under <root>/keys/ is readable by its owner only",
          f"{[(f, oct(os.stat(f).st_mode)) for f in files]}")

    form = lambda fields: urllib.parse.urlencode(fields).encode()
    ct = {"Content-Type": "application/x-www-form-urlencoded"}
    r = b.call("POST", "/auth/token", form({"grant_type": "password", "username": "writer",
                                            "password": P["writer"].secret, "service": "berth",
                                            "scope": "repository:priv/app:pull,push,delete repository:sec/src:pull",
                                            "client_id": "authtest", "access_type": "offline"}), ct)
    body = r.json() or {}
    expect(reg, "POST /auth/token grant_type=password access_type=offline", r, 200,
           test=lambda j: all(k in j for k in ("access_token", "scope", "expires_in", "issued_at", "refresh_token")))
    refresh = body.get("refresh_token", "")
    found_secrets += [body.get("access_token", ""), refresh]
    acc = access_map(jwt_parts(body["access_token"])[1]) if r.status == 200 else {}
    check(acc.get(("repository", "priv/app")) == {"pull", "push"} and not acc.get(("repository", "sec/src")),
          "password grant: access is the intersection (priv/app pull,push; sec/src nothing)", f"{acc}")
    r = b.call("POST", "/auth/token", form({"grant_type": "refresh_token", "refresh_token": refresh,
                                            "service": "berth", "scope": "repository:priv/app:pull",
                                            "client_id": "authtest"}), ct)
    expect(reg, "POST /auth/token grant_type=refresh_token", r, 200, test=lambda j: "access_token" in j)
    jwt = (r.json() or {}).get("access_token", "x.e30.x")
    found_secrets.append(jwt)
    check(r.status == 200 and b.call("GET", "/v2/priv/app/tags/list", headers=bearer(jwt)).status == 200,
          "the refreshed token pulls priv/app")
    r = b.call("POST", "/auth/token", form({"grant_type": "refresh_token", "refresh_token": "x" + refresh[1:],
                                            "service": "berth", "client_id": "authtest"}), ct)
    expect(reg, "POST /auth/token with a wrong refresh token", r, 401)
    r = b.call("POST", "/auth/token", form({"grant_type": "password", "username": "writer", "password": "nope",
                                            "service": "berth", "client_id": "authtest"}), ct)
    expect(reg, "POST /auth/token grant_type=password with a wrong password", r, 401)
    for name in ("wrong-password", "expired-token", "revoked-token"):
        expect(reg, f"GET /auth/token as {name}", reg.token_request(P[name], ["repository:pub/app:pull"]), 401)
    r = b.call("POST", "/auth/token", form({"grant_type": "password", "username": "writer", "service": "berth",
                                            "password": P["revoked-token"].secret, "client_id": "authtest"}), ct)
    expect(reg, "POST /auth/token with a revoked access token as password", r, 401)
    for scope in ("repository:priv/app", "nonsense", "repository::pull"):
        expect(reg, f"GET /auth/token with malformed scope {scope!r}", reg.token_request(reader, [scope]), 400)
    expect(reg, "GET /auth/token for an unknown service", reg.token_request(reader, [], service="other"), 400)
    r = reg.token_request(P["anonymous"], ["repository:priv/app:pull", "repository:pub/app:pull"])
    acc = access_map(jwt_parts(r.json()["token"])[1]) if r.status == 200 else None
    check(acc is not None and acc.get(("repository", "pub/app")) == {"pull"} and not acc.get(("repository",
          "priv/app")), "anonymous token: pub/app pull only", f"{r!r} {acc}")

    # Key rotation, with the server running: new tokens get the new key, tokens of the old one still verify.
    old = reg.token_request(reader, ["repository:priv/app:pull"]).json()["token"]
    b.cli("key", "rotate")
    time.sleep(1.5)
    new = reg.token_request(reader, ["repository:priv/app:pull"]).json()["token"]
    kids = (jwt_parts(old)[0].get("kid"), jwt_parts(new)[0].get("kid"))
    check(kids[0] != kids[1], "after berth key rotate, new tokens carry the new key's kid", f"{kids}")
    for what, jwt in (("old", old), ("new", new)):
        r = b.call("GET", "/v2/priv/app/tags/list", headers=bearer(jwt))
        check(r.status == 200, f"a token signed with the {what} key verifies", repr(r))
    found_secrets += [old, new]
    # Removing the old key's file: its tokens stop verifying at once, even one verified (and cached) before.
    removed = [f for f in os.listdir(keys) if kids[0] and kids[0] in f]
    for f in removed:
        os.remove(os.path.join(keys, f))
    time.sleep(1.5)
    reg.jwts.clear()  # the matrix's JWTs were signed with the removed key
    r = b.call("GET", "/v2/priv/app/tags/list", headers=bearer(old))
    check(removed and r.status == 401 and r.code == "UNAUTHORIZED",
          "after the old key's file is removed, a token signed with it -> 401", f"{removed} {r!r}")
    r = b.call("GET", "/api/v1/namespaces", headers=bearer(old))
    expect(reg, "the removed key's token on the admin API", r, 401, "UNAUTHORIZED")
    r = b.call("GET", "/v2/priv/app/tags/list", headers=bearer(new))
    check(r.status == 200, "a token of the remaining key still verifies", repr(r))

    # Forged tokens: a payload changed under the same signature, and alg none.
    good = reg.token_request(reader, ["repository:priv/app:pull"]).json()["token"]
    head, payload, sig = good.split(".")
    claims = json.loads(b64url(payload))
    claims.update(sub="admin", access=[{"type": "repository", "name": "priv/app", "actions": ["pull", "push"]}])
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    tag = reg.fresh("forged")
    for what, forged in (("changed payload", f"{head}.{enc(claims)}.{sig}"),
                         ("alg none", f"{enc({'alg': 'none', 'typ': 'JWT'})}.{enc(claims)}.")):
        r = b.call("PUT", f"/v2/priv/app/manifests/{tag}", empty_index(tag), {"Content-Type": INDEX,
                                                                              **bearer(forged)})
        expect(reg, f"push with a forged JWT ({what})", r, 401, "UNAUTHORIZED")


def no_secrets_logged(berth, reg, principals, found_secrets):
    text = berth.log()
    jwts = list(reg.jwts.values())
    bad = [s for s in found_secrets + jwts if s and len(s) >= 8 and s in text]
    basics = [basic(p.user or "", p.secret)["Authorization"][6:] for p in principals if p.secret]
    bad += [s for s in basics if s in text]
    reg.report.check(not bad and text, f"no password, token or Authorization value among "
                     f"{len(found_secrets) + len(jwts)} secrets appears in the log", f"found {bad[:3]}")
    reg.report.check(not re.search(r"(?i)authorization:\s*(basic|bearer)\s|bearer ey|basic [a-z0-9+/]{20}", text),
                     "no Authorization header in the log")


def stored_secrets(berth, reg, found_secrets):
    """The store (read once the server stopped): bcrypt cost 10 for Berth's own users, no secret kept as is."""
    costs, plain = [], set()
    con = sqlite3.connect(os.path.join(berth.root, "metadata.db"))
    try:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    text = value.decode(errors="ignore") if isinstance(value, bytes) else str(value)
                    m = re.match(r"\$2[aby]\$(\d\d)\$", text)
                    if m:
                        costs.append(int(m.group(1)))
    finally:
        con.close()
    reg.report.check(costs and set(costs) == {10}, "stored passwords are bcrypt hashes of cost 10",
                     f"{len(costs)} bcrypt hashes, costs {sorted(set(costs))}")
    for folder, dirs, files in os.walk(berth.root):
        dirs[:] = [d for d in dirs if d not in ("blobs", "uploads")]
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                data = f.read()
            plain |= {s for s in found_secrets if s and len(s) >= 8 and s.encode() in data}
    reg.report.check(not plain, f"none of {len(found_secrets)} passwords and tokens is kept as is in the store",
                     f"found {sorted(plain)[:3]}")
