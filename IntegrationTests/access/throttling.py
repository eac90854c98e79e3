"""Login throttling: per user and address, a higher limit per address, anonymous callers never counted, and the
client's address taken from X-Forwarded-For only behind a trusted proxy."""
from access.common import password
from harness.httpclient import basic

EMPTY_BASIC = {"Authorization": "Basic Og=="}  # what podman and skopeo send without credentials


def xff(address):
    return {"X-Forwarded-For": address}


def throttling(berth, report, config):
    """`berth` is the test's Berth factory (conftest.py), `report` its checks."""
    report.section = "throttling"
    b = berth("throttle", config)
    pw = password("victim")
    b.cli("user", "add", "victim", "--password-stdin", stdin=pw + "\n")
    b.cli("namespace", "create", "pub", "--visibility", "public")
    b.start()
    check = report.check
    try:
        # Anonymous pulls as podman sends them are not failed logins: ten of them lock nobody out.
        for i in range(10):
            r = b.call("GET", "/v2/pub/lib/tags/list", headers=EMPTY_BASIC)
            if not check(r.status == 404 and r.code == "NAME_UNKNOWN",
                         f"anonymous (empty Basic) pull {i + 1} of a public namespace -> 404 NAME_UNKNOWN, not 401",
                         repr(r)):
                break
        r = b.call("GET", "/v2/", headers=basic("victim", pw))
        check(r.status == 200, "after them, the right password from the same address -> 200", repr(r))
        for i in range(3):
            r = b.call("GET", "/v2/", headers=basic("victim", f"wrong-{i}"))
            check(r.status == 401 and r.code == "UNAUTHORIZED", f"wrong password {i + 1} of 3 -> 401", repr(r))
        for what, secret in (("the right password", pw), ("a fourth wrong password", "wrong-4")):
            r = b.call("GET", "/v2/", headers=basic("victim", secret))
            after = r.headers.get("retry-after", "")
            check(r.status == 429 and r.code == "TOOMANYREQUESTS" and after.isdigit() and 0 < int(after) <= 60,
                  f"then {what} -> 429 TOOMANYREQUESTS, Retry-After 1..60 s", f"{r!r} Retry-After {after!r}")
        # Without trusted proxies, X-Forwarded-For is anyone's to send: it neither escapes nor moves a lockout.
        r = b.call("GET", "/v2/", headers={**basic("victim", pw), **xff("10.9.9.9")})
        check(r.status == 429, "no trusted proxy: X-Forwarded-For does not escape the lockout", repr(r))
    finally:
        b.stop()
    check(pw not in b.log(), "the throttled password is not in the log")


def behind_proxy(berth, report, config):
    """A Berth whose balancer is 127.0.0.1: the client is the right-most untrusted X-Forwarded-For address."""
    report.section = "throttling behind a proxy"
    check = report.check
    b = berth("proxied", config.replace("log:\n", "http:\n  trusted_proxies: [127.0.0.1/32, 10.0.0.0/24]\nlog:\n", 1)
              .replace("    window: 1m\n", "    window: 1m\n    address_attempts: 6\n", 1))
    pw, ci_pw = password("victim"), password("ci")
    b.cli("user", "add", "victim", "--password-stdin", stdin=pw + "\n")
    b.cli("user", "add", "ci", "--password-stdin", stdin=ci_pw + "\n")
    b.start()
    try:
        for i in range(3):
            # The client 192.0.2.7 behind a second trusted hop 10.0.0.5: the right-most untrusted is the client.
            r = b.call("GET", "/v2/", headers={**basic("victim", f"wrong-{i}"), **xff("198.51.100.1, 192.0.2.7, 10.0.0.5")})
            check(r.status == 401, f"wrong password {i + 1} of 3 from 192.0.2.7 (via two proxies) -> 401", repr(r))
        r = b.call("GET", "/v2/", headers={**basic("victim", pw), **xff("192.0.2.7")})
        check(r.status == 429, "then victim from 192.0.2.7 -> 429", repr(r))
        r = b.call("GET", "/v2/", headers={**basic("victim", pw), **xff("192.0.2.8")})
        check(r.status == 200, "victim from another client address behind the balancer -> 200", repr(r))
        r = b.call("GET", "/v2/", headers=basic("victim", pw))
        check(r.status == 200, "victim from the balancer's own address (no header) -> 200", repr(r))
        # A spoofed left-most entry is the client's own claim, not believed: the untrusted hop after it counts.
        r = b.call("GET", "/v2/", headers={**basic("victim", pw), **xff("192.0.2.8, 192.0.2.7")})
        check(r.status == 429, "a spoofed left-most X-Forwarded-For does not escape the lockout", repr(r))
        # Nobody can lock a named CI user out from elsewhere: failures count per user and address.
        for i in range(3):
            b.call("GET", "/v2/", headers={**basic("ci", f"wrong-{i}"), **xff("203.0.113.9")})
        r = b.call("GET", "/v2/", headers={**basic("ci", ci_pw), **xff("192.0.2.50")})
        check(r.status == 200, "ci, failed 3 times from 203.0.113.9, still logs in from 192.0.2.50", repr(r))
        # One address trying many names meets the per-address limit (6 here).
        statuses = [b.call("GET", "/v2/", headers={**basic(f"guess{i}", "x"), **xff("203.0.113.77")}).status
                    for i in range(7)]
        check(statuses[:6] == [401] * 6 and statuses[6] == 429,
              "6 failures under different names from one address, then 429 (per-address limit)", f"{statuses}")
        r = b.call("GET", "/v2/", headers={**basic("ci", ci_pw), **xff("203.0.113.77")})
        check(r.status == 429, "and that address is held back for every user", repr(r))
    finally:
        b.stop()
    audit = b.audit_lines()
    check(any(a.get("address") == "192.0.2.7" and a.get("outcome") == "denied" for a in audit),
          "the audit log records the client's address, not the balancer's",
          f"{[a.get('address') for a in audit][:10]}")
    check(not any(a.get("address") == "198.51.100.1" for a in audit), "the spoofed left-most address is never recorded")
