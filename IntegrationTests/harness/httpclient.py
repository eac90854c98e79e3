"""Plain HTTP to a registry on loopback, credentials as clients send them, and JWTs read without a library
(tests inspect claims; they never trust them)."""
import base64, http.client, json, re


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def code(self):
        """The first error code of a spec error body, or None."""
        try:
            return json.loads(self.body)["errors"][0]["code"]
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def __repr__(self):
        auth = self.headers.get("www-authenticate")
        return f"{self.status} {self.code or ''}" + (f" [{auth}]" if auth else "") + f" {self.body[:160]!r}"


def request(port, method, path, body=b"", headers=None, timeout=60, host="127.0.0.1"):
    """One request on a new connection; header names of the response are lower-cased."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def basic(user, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def bearer(jwt):
    return {"Authorization": "Bearer " + jwt}


def challenge(header):
    """`Bearer realm="x",service="y"` -> ("bearer", {"realm": "x", "service": "y"})."""
    if not header:
        return None, {}
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


def b64url(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(jwt):
    """A JWT's header and payload, decoded but not verified."""
    head, payload, _ = jwt.split(".")
    return json.loads(b64url(head)), json.loads(b64url(payload))


def access_map(claims):
    """The `access` claim as {(type, name): set(actions)}."""
    return {(a.get("type"), a.get("name")): set(a.get("actions") or []) for a in claims.get("access") or []}
