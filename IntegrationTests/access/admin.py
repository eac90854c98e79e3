"""The admin API (/api/v1/) and the audit records."""
import json, re, time, urllib.parse
from access import model
from access.common import api, by_name, can, expect, password


def admin_api(reg, principals, found_secrets):
    P, mode = by_name(principals), reg.mode
    admin, reader, writer, nsadmin = P["admin"], P["reader"], P["writer"], P["nsadmin"]
    new, pw, check = f"new{mode}", password("new"), reg.report.check
    found_secrets.append(pw)
    expect(reg, "admin POST /api/v1/users", api(reg, admin, "POST", "/api/v1/users",
                                                {"name": new, "password": pw, "admin": False}), 201)
    expect(reg, "reader POST /api/v1/users", api(reg, reader, "POST", "/api/v1/users",
                                                 {"name": "intruder", "password": pw, "admin": True}), 403, "DENIED")
    expect(reg, "anonymous POST /api/v1/users", api(reg, P["anonymous"], "POST", "/api/v1/users",
                                                    {"name": "intruder", "password": pw}), 401, "UNAUTHORIZED")
    expect(reg, "admin GET /api/v1/users", api(reg, admin, "GET", "/api/v1/users"), 200,
           test=lambda j: any(u["name"] == new and u["admin"] is False for u in j)
           and any(u["name"] == "admin" and u["admin"] is True for u in j))
    expect(reg, "reader GET /api/v1/users", api(reg, reader, "GET", "/api/v1/users"), 403, "DENIED")
    newp = model.Principal(new, "user", new, pw)
    check(not can(reg, newp, "priv/app", "pull"), "a new user without a role cannot pull priv/app")
    members = f"/api/v1/namespaces/priv/members/{new}"
    expect(reg, "nsadmin grants reader in priv", api(reg, nsadmin, "PUT", members, {"role": "reader"}), 204)
    check(can(reg, newp, "priv/app", "pull"), "the granted user now pulls priv/app")
    expect(reg, "nsadmin GET priv members", api(reg, nsadmin, "GET", "/api/v1/namespaces/priv/members"), 200,
           test=lambda j: any(m["user"] == new and m["role"] == "reader" for m in j)
           and any(m["user"] == "nsadmin" and m["role"] == "admin" for m in j))
    for ns in ("sec", "pub"):
        expect(reg, f"nsadmin grants in {ns}", api(reg, nsadmin, "PUT", f"/api/v1/namespaces/{ns}/members/{new}",
                                                   {"role": "writer"}), 403, "DENIED")
    check(not can(reg, newp, "sec/src", "pull"), "the refused grant gave nothing in sec")
    expect(reg, "writer grants in priv", api(reg, writer, "PUT", members, {"role": "admin"}), 403, "DENIED")
    anonymous = P["anonymous"]
    for visibility in ("public", "private"):
        expect(reg, f"nsadmin makes priv {visibility}", api(reg, nsadmin, "PATCH", "/api/v1/namespaces/priv",
                                                           {"visibility": visibility}), 204)
        check(can(reg, anonymous, "priv/app", "pull") == (visibility == "public"),
              f"anonymous {'now' if visibility == 'public' else 'no longer'} pulls priv/app")
    expect(reg, "nsadmin PATCH sec visibility", api(reg, nsadmin, "PATCH", "/api/v1/namespaces/sec",
                                                    {"visibility": "public"}), 403, "DENIED")
    check(not can(reg, anonymous, "sec/src", "pull"), "sec stays private")
    expect(reg, "nsadmin POST /api/v1/namespaces", api(reg, nsadmin, "POST", "/api/v1/namespaces",
                                                       {"name": "nsx", "visibility": "private"}), 403, "DENIED")
    expect(reg, "admin POST /api/v1/namespaces", api(reg, admin, "POST", "/api/v1/namespaces",
                                                     {"name": f"made{mode}", "visibility": "private"}), 201)
    names = lambda j: {n.get("name") for n in j}
    # A global administrator's first push into a missing namespace creates it, private; nobody else's does.
    auto, other = f"auto{mode}", f"other{mode}"
    check(can(reg, admin, f"{auto}/app", "push"), f"admin pushes into the missing namespace {auto}")
    check(not can(reg, writer, f"{other}/app", "push"), f"writer cannot push into the missing namespace {other}")
    check(not can(reg, anonymous, f"{auto}/app", "pull"), f"anonymous cannot pull {auto}/app")
    expect(reg, f"admin GET /api/v1/namespaces: {auto} private, no {other}",
           api(reg, admin, "GET", "/api/v1/namespaces"), 200,
           test=lambda j: {"name": auto, "visibility": "private"} in [{k: n.get(k) for k in ("name", "visibility")}
                                                                      for n in j] and other not in names(j))
    expect(reg, "reader GET /api/v1/namespaces: priv, not sec", api(reg, reader, "GET", "/api/v1/namespaces"),
           200, test=lambda j: "priv" in names(j) and "sec" not in names(j))
    expect(reg, "admin GET /api/v1/namespaces: all", api(reg, admin, "GET", "/api/v1/namespaces"), 200,
           test=lambda j: {"priv", "pub", "sec", f"made{mode}"} <= names(j))
    expect(reg, "nsadmin removes the member", api(reg, nsadmin, "DELETE", members), 204)
    check(not can(reg, newp, "priv/app", "pull"), "the removed member no longer pulls priv/app")

    # The CLI changes the store under the running server, which sees it within a second.
    reg.berth.cli("grant", new, "sec", "reader")
    time.sleep(1.5)
    check(can(reg, newp, "sec/src", "pull"), "a CLI grant is seen by the server within a second")
    reg.berth.cli("revoke", new, "sec")
    time.sleep(1.5)
    check(not can(reg, newp, "sec/src", "pull"), "a CLI revoke is seen by the server within a second")

    pw2 = password("new2")
    found_secrets.append(pw2)
    expect(reg, "reader changes another's password", api(reg, reader, "PUT", f"/api/v1/users/{new}/password",
                                                         {"password": "x" * 12}), 403, "DENIED")
    expect(reg, "a user changes its own password", api(reg, newp, "PUT", f"/api/v1/users/{new}/password",
                                                       {"password": pw2, "current_password": pw}), 204)
    expect(reg, "the old password is refused", api(reg, newp, "GET", "/api/v1/tokens"), 401, "UNAUTHORIZED")
    newp.secret = pw2
    expect(reg, "the new password works", api(reg, newp, "GET", "/api/v1/tokens"), 200)

    r = api(reg, writer, "POST", "/api/v1/tokens", {"scopes": ["repository:priv/app:pull"], "expires": "1h"})
    expect(reg, "writer POST /api/v1/tokens", r, 201, test=lambda j: all(k in j for k in ("id", "token",
                                                                                         "expires_at")))
    tid, secret = (r.json() or {}).get("id", "?"), (r.json() or {}).get("token", "?")
    found_secrets.append(secret)
    tok = model.Principal("api-token", "token", "writer", secret, ["repository:priv/app:pull"])
    check(can(reg, tok, "priv/app", "pull") and not can(reg, tok, "priv/app", "push"),
          "the API token pulls priv/app but cannot push (its scope)")
    expect(reg, "writer lists its tokens, without secrets", api(reg, writer, "GET", "/api/v1/tokens"), 200,
           test=lambda j: tid in {t.get("id") for t in j} and secret not in json.dumps(j))
    expect(reg, "reader makes a token for writer", api(reg, reader, "POST", "/api/v1/tokens", {
        "user": "writer", "scopes": ["repository:priv/app:pull,push"], "expires": "1h"}), 403, "DENIED")
    r = api(reg, reader, "DELETE", f"/api/v1/tokens/{tid}")
    check(r.status in (403, 404) and can(reg, tok, "priv/app", "pull"),
          "reader cannot revoke writer's token (403 or 404)", repr(r))
    expect(reg, "writer revokes its token", api(reg, writer, "DELETE", f"/api/v1/tokens/{tid}"), 204)
    check(not can(reg, tok, "priv/app", "pull"), "the revoked token is refused at once")
    r = api(reg, reader, "POST", "/api/v1/tokens", {"scopes": ["repository:priv/app:pull,push"], "expires": "1h"})
    found_secrets.append((r.json() or {}).get("token", "?"))
    over = model.Principal("over", "token", "reader", (r.json() or {}).get("token", "?"), [])
    check(r.status != 201 or not can(reg, over, "priv/app", "push"),
          "a reader's token scoped for push still cannot push", repr(r))

    tmp, tmp_pw = f"tmp{mode}", password("tmp")
    found_secrets.append(tmp_pw)
    api(reg, admin, "POST", "/api/v1/users", {"name": tmp, "password": tmp_pw, "admin": False})
    api(reg, admin, "PUT", f"/api/v1/namespaces/priv/members/{tmp}", {"role": "reader"})
    r = api(reg, model.Principal(tmp, "user", tmp, tmp_pw), "POST", "/api/v1/tokens",
            {"scopes": ["repository:priv/app:pull"], "expires": "1h"})
    found_secrets.append((r.json() or {}).get("token", "?"))
    tmp_tok = model.Principal("tmp-token", "token", tmp, (r.json() or {}).get("token", "?"), [])
    check(r.status == 201 and can(reg, tmp_tok, "priv/app", "pull"), "a user's own token works", repr(r))
    expect(reg, "reader DELETE /api/v1/users/writer", api(reg, reader, "DELETE", "/api/v1/users/writer"), 403,
           "DENIED")
    expect(reg, "admin deletes the user", api(reg, admin, "DELETE", f"/api/v1/users/{tmp}"), 204)
    check(not can(reg, tmp_tok, "priv/app", "pull"), "a deleted user's token stops working")
    if mode == "token":
        # A registry JWT is no admin login: it does what its access claim grants (access/credentials.py).
        for p, scopes, status in ((admin, [], 403), (admin, ["admin:users:*"], 200), (reader, ["admin:users:*"], 403)):
            jwt = reg.auth(p, [])["Authorization"] if not scopes else "Bearer " + reg.token_request(
                p, scopes).json()["token"]
            r = reg.berth.call("GET", "/api/v1/users", headers={"Authorization": jwt})
            expect(reg, f"{p} GET /api/v1/users with a Berth JWT for {scopes or 'no scope'}", r, status)


def failed(rec):
    return str(rec.get("outcome", "")).lower() not in ("success", "succeeded", "ok", "allowed", "granted")


def audit_records(reg, admin, page=200, pages=50):
    """Every audit record, newest first, a page (`limit`) at a time going back with `before`."""
    out, before = [], ""
    for _ in range(pages):
        r = api(reg, admin, "GET", f"/api/v1/audit?limit={page}{before}")
        batch = r.json() if r.status == 200 and isinstance(r.json(), list) else None
        if batch is None:
            return out, r
        out += batch
        if len(batch) < page or "id" not in batch[-1]:
            return out, r
        before = f"&before={urllib.parse.quote(str(batch[-1]['id']))}"
    return out, r


def audit(reg, principals):
    P, check = by_name(principals), reg.report.check
    # A failed login: a refused outcome, an action about logging in, naming the user tried (as the actor, or as
    # the target with an anonymous actor).
    login = lambda rec: (failed(rec) and re.search(r"login|auth|credential|password", str(rec.get("action")), re.I)
                         and "reader" in (rec.get("actor"), rec.get("target"), rec.get("detail")))
    push = lambda rec: re.search(r"push|manifest", str(rec.get("action")), re.I) and not failed(rec)
    admin_push = lambda rec: push(rec) and rec.get("actor") == "admin" and "priv/app" in str(rec.get("target"))
    records, r = audit_records(reg, P["admin"])
    check(records, "admin GET /api/v1/audit answers records", repr(r))
    check(any(login(x) and str(x.get("address", "")).startswith("127.0.0.1") for x in records),
          "audit has reader's failed login, from 127.0.0.1")
    check(any(admin_push(x) for x in records), "audit has admin's manifest push into priv/app")
    token_id = P["ns-token"].token_id
    check(any(push(x) and "maintainer" in json.dumps(x) and token_id in json.dumps(x) for x in records),
          "audit names the access token's id on ns-token's manifest pushes")
    keys = {"id", "at", "actor", "action", "target", "outcome"}
    check(records and all(keys <= set(x) for x in records), f"audit records have {sorted(keys)}",
          f"{[x for x in records if not keys <= set(x)][:1]}")
    for key in ("address", "detail"):  # the API's shape lists both
        lacking = [x for x in records if key not in x]
        check(records and not lacking, f"audit records have the {key} field",
              f"{len(lacking)} of {len(records)} lack it, e.g. {lacking[:1]}")
    ids = [str(x.get("id")) for x in records]
    older = [(a, b) for a, b in zip(records, records[1:]) if str(a.get("at")) < str(b.get("at"))]
    check(not older and len(set(ids)) == len(ids), "audit records come newest first, each once (paged with "
          "limit and before)", f"{len(ids) - len(set(ids))} repeated; {len(older)} listed before a newer one, "
          f"e.g. {older[:1]}")
    r = api(reg, P["admin"], "GET", "/api/v1/audit?limit=2")
    check(r.status == 200 and isinstance(r.json(), list) and len(r.json()) == 2, "?limit=2 gives 2 records",
          repr(r))
    expect(reg, "reader GET /api/v1/audit", api(reg, P["reader"], "GET", "/api/v1/audit"), 403, "DENIED")
    lines = reg.berth.audit_lines()
    check(any(login(x) for x in lines), 'stdout has the failed login as a {"audit":...} line', f"{lines[:3]}")
    check(any(admin_push(x) for x in lines), 'stdout has the push as a {"audit":...} line')
