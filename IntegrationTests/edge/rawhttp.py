"""Requests written byte by byte on a socket (http.client would refuse or repair most of them), and the
verdicts the edge checks share: a 4xx must carry a spec error body."""
import json, re, socket

SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
              "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN",
              "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
              "PAGINATION_NUMBER_INVALID"}


def raw(port, head, body=b"", shut=False, timeout=10):
    """Sends a raw request; returns (status or None when the server closed without answering, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode("latin-1") + body)
        if shut:
            s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                header, _, rest = data.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", header)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    if not data.startswith(b"HTTP/1.1 "):
        return None, {}, b""
    header, _, rest = data.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def request(port, method, path, body=b"", headers=None, shut=False):
    """A request with the headers given verbatim (Content-Length may lie); the connection closes after it."""
    hdrs = {"Host": "127.0.0.1", "Connection": "close"}
    if body or method in ("PUT", "PATCH", "POST"):
        hdrs["Content-Length"] = str(len(body))
    hdrs.update(headers or {})
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    return raw(port, head, body, shut)


def spec_error(status, body):
    try:
        return json.loads(body)["errors"][0]["code"] in SPEC_CODES
    except Exception:
        return False


def judge(ok, what, status, body, valid_number, parser_level=False):
    """4xx with a spec body; a valid number may also get a 2xx. `parser_level`: values HTTP's own parser
    rejects (Content-Length) may get a bare 400 or a closed connection."""
    if status is None:
        ok(parser_level, f"{what}: connection closed without an answer")
    elif 400 <= status < 500:
        ok(spec_error(status, body) or parser_level, f"{what}: {status} with a spec error body", repr(body[:120]))
    else:
        ok(valid_number and status < 400, f"{what}: answered {status}")


def alive(ok, port, what):
    status, _, _ = request(port, "GET", "/v2/")
    ok(status == 200, f"server alive after {what}")


def new_session(port, repo="edge/app"):
    status, headers, _ = request(port, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, f"no upload session opened: {status}"
    return headers["location"]


def offset(port, location):
    """The session's next offset from its Range header, or None when the session is gone."""
    status, headers, _ = request(port, "GET", location)
    if status != 204:
        return None
    return int(headers["range"].split("-")[1]) + 1 if headers.get("range") != "0-0" else 0
