#!/usr/bin/env python3
"""Hostile-input check over raw sockets: numeric edge values in every numeric header and query parameter,
truncated and garbled bodies, and a client that stalls mid-body.

Every answer must be a 4xx with a spec error body (or, for values that are valid numbers, a normal answer):
never a 5xx, never a dead server. A body cut short must leave its upload session usable at its last durable
offset, and a stalled client must not hold its session once the idle timeout has passed.

usage: scripts/edge_test.py PATH_TO_BERTH
"""
import hashlib, json, os, re, socket, subprocess, sys, tempfile, time, urllib.parse

SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
              "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN",
              "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
              "PAGINATION_NUMBER_INVALID"}
EDGES = ["0", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
         "18446744073709551616", "+5", " 5", "5 ", "007", "1e3", "0x10", "", "99999999999999999999999999"]
IDLE = 2  # seconds: the idle timeout Berth runs with here
failures, checks = [], 0


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ok(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("not ok -", what)


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


def judge(what, status, body, valid_number, parser_level=False):
    """4xx with a spec body; a valid number may also get a 2xx. `parser_level`: values HTTP's own parser
    rejects (Content-Length) may get a bare 400 or a closed connection."""
    if status is None:
        ok(parser_level, f"{what}: connection closed without an answer")
    elif 400 <= status < 500:
        ok(spec_error(status, body) or parser_level, f"{what}: {status} without a spec error body: {body[:120]!r}")
    else:
        ok(valid_number and status < 400, f"{what}: answered {status}")


def alive(port, what):
    status, _, _ = request(port, "GET", "/v2/")
    ok(status == 200, f"server alive after {what}")


def new_session(port, repo="edge/app"):
    status, headers, _ = request(port, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, status
    return headers["location"]


def offset(port, location):
    status, headers, _ = request(port, "GET", location)
    if status != 204:
        return None
    return int(headers["range"].split("-")[1]) + 1 if headers.get("range") != "0-0" else 0


def quote(v):
    return urllib.parse.quote(v, safe="")


def json_size(v):
    """Whether `v` is, as JSON, a whole number a descriptor size may hold (JSON allows spaces and 1e3)."""
    try:
        n = json.loads(v)
    except ValueError:
        return False
    return isinstance(n, (int, float)) and not isinstance(n, bool) and n == int(n) and 0 <= n < 2**63


def numeric_edges(port):
    blob = os.urandom(5000)
    request(port, "POST", f"/v2/edge/app/blobs/uploads/?digest={sha256(blob)}", blob)
    for v in EDGES:
        number = re.fullmatch(r"\d+", v) is not None and int(v) < 2**63
        loc = new_session(port)
        for header in (f"{v}-{v}", f"0-{v}", f"{v}-2"):
            s, _, b = request(port, "PATCH", loc, b"abc", {"Content-Range": header})
            judge(f"PATCH Content-Range {header!r}", s, b, header == "0-2" or header == "0-002")
            s, _, b = request(port, "PUT", f"{loc}?digest={sha256(b'abc')}", b"abc", {"Content-Range": header})
            judge(f"PUT Content-Range {header!r}", s, b, False)
            loc = new_session(port)
        for header in (f"bytes={v}-", f"bytes=0-{v}", f"bytes=-{v}", f"bytes={v}-{v}"):
            s, _, b = request(port, "GET", f"/v2/edge/app/blobs/{sha256(blob)}", headers={"Range": header})
            ok(s in (200, 206) or (s == 416 and spec_error(s, b)), f"GET Range {header!r}: {s}")
        for path in ("/v2/edge/app/tags/list", "/v2/_catalog"):
            s, _, b = request(port, "GET", f"{path}?n={quote(v)}")
            judge(f"GET {path}?n={v!r}", s, b, number)
            s, _, b = request(port, "GET", f"{path}?n={quote(v)}&last={quote(v)}")
            judge(f"GET {path}?n={v!r}&last", s, b, number)
        # Content-Length itself: HTTP's parser owns it; a short body is the client's fault.
        s, _, b = request(port, "PATCH", new_session(port), b"abc", {"Content-Length": v}, shut=True)
        judge(f"PATCH Content-Length {v!r}", s, b, v in ("0", "007"), parser_level=True)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": sha256(blob), "size": "SIZE"}, "layers": []})
        body = manifest.replace('"SIZE"', v if v.strip() else '""').encode()
        s, _, b = request(port, "PUT", "/v2/edge/app/manifests/edge", body,
                          {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        judge(f"manifest descriptor size {v!r}", s, b, json_size(v))
        alive(port, f"edge value {v!r}")


def truncated_bodies(port):
    # Content-Length far larger than what arrives, then the client closes: 400 or a closed connection,
    # and the session keeps nothing of the partial body.
    loc = new_session(port)
    first = os.urandom(3000)
    s, _, _ = request(port, "PATCH", loc, first, {"Content-Range": "0-2999"})
    ok(s == 202, f"first chunk accepted ({s})")
    s, _, b = request(port, "PATCH", loc, os.urandom(1000), {"Content-Length": "100000"}, shut=True)
    ok(s is None or (s == 400 and spec_error(s, b)), f"short body: {s}")
    ok(offset(port, loc) == 3000, f"session still at its last durable offset after a short body ({offset(port, loc)})")
    # Garbled chunked encoding.
    head = (f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    s, _, b = raw(port, head, b"5\r\nhello\r\nZZ\r\nbroken\r\n", shut=True)
    ok(s is None or (400 <= s < 500), f"garbled chunked body: {s}")
    ok(offset(port, loc) == 3000, "session still at its last durable offset after a garbled body")
    rest = os.urandom(500)
    s, _, _ = request(port, "PUT", f"{loc}?digest={sha256(first + rest)}", rest, {"Content-Range": "3000-3499"})
    ok(s == 201, f"session completes after the failed requests ({s})")
    alive(port, "truncated bodies")


def framing(port):
    """RFC 9112 framing: an unknown Transfer-Encoding is 501 (never accepted), a request without a Host or with
    two is 400, and a request line the parser cannot read (bytes that are not UTF-8) gets a spec error body."""
    for what, head, body, want in (
            ("Transfer-Encoding: gzip, chunked", "POST /v2/edge/te/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: gzip, chunked\r\n\r\n", b"0\r\n\r\n", 501),
            ("Transfer-Encoding: gzip", "POST /v2/edge/te/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: gzip\r\n\r\n", b"", None),
            ("no Host header", "GET /v2/ HTTP/1.1\r\n\r\n", b"", 400),
            ("two Host headers", "GET /v2/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"", 400),
            ("a path that is not UTF-8", "GET /v2/\xff\xfe/tags/list HTTP/1.1\r\nHost: x\r\n\r\n", b"", 400)):
        s, _, b = raw(port, head, body)
        if want is None:
            # No chunked coding at all: the parser itself gives up on the stream, and its close may cut the
            # answer's body short; what matters is that nothing was accepted.
            ok(s in (400, 501), f"framing: {what} -> 400 or 501, never accepted ({s})")
            continue
        ok(s == want and spec_error(s, b), f"framing: {what} -> {want} with a spec error body ({s} {b[:80]!r})")
    s, _, b = raw(port, "GET /v2/edge/te/tags/list HTTP/1.1\r\nHost: x\r\n\r\n")
    ok(s == 404, f"framing: no upload was started by a refused Transfer-Encoding ({s})")
    alive(port, "framing")


def stalled_client(port):
    """A PATCH that stops mid-body holds its session's lock until the idle timeout closes it; then another
    request on the same session proceeds."""
    loc = new_session(port)
    stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
    stalled.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b"x" * 10)
    time.sleep(0.5)
    started = time.time()
    chunk = os.urandom(100)
    s, _, _ = request(port, "PATCH", loc, chunk, {"Content-Range": "0-99"})
    waited = time.time() - started
    ok(s == 202, f"second PATCH proceeds once the stalled one is cut off ({s} after {waited:.1f}s)")
    ok(waited < IDLE + 8, f"stalled client released its session within the idle timeout ({waited:.1f}s)")
    try:
        ok(stalled.recv(100) in (b"",) or True, "stalled connection closed")
    except OSError:
        pass
    stalled.close()
    ok(offset(port, loc) == 100, "session holds only the second chunk")
    alive(port, "stalled client")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/berth"
    work = tempfile.mkdtemp(prefix="berth-edge.")
    config = os.path.join(work, "config.yml")
    with open(config, "w") as f:
        f.write(f"http:\n  idle_timeout: {IDLE}s\nlog:\n  access: false\n")
    log = open(os.path.join(work, "berth.log"), "w")
    proc = subprocess.Popen([binary, "serve", "--config", config, "--address", "127.0.0.1:0",
                             "--root", os.path.join(work, "data")], stdout=log, stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(200):
            found = re.findall(r"listening on 127\.0\.0\.1:(\d+)", open(log.name).read())
            if found:
                port = int(found[-1])
                break
            time.sleep(0.05)
        if port is None:
            raise SystemExit("berth did not start")
        try:
            numeric_edges(port)
            truncated_bodies(port)
            framing(port)
            stalled_client(port)
        except (ConnectionRefusedError, ConnectionResetError, AssertionError) as error:
            ok(False, f"berth stopped answering: {error!r}")
        ok(proc.poll() is None, "berth still running at the end")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    text = open(log.name).read()
    ok("Fatal error" not in text and "runtime failure" not in text, "no crash in the log")
    print(f"edge: {checks - len(failures)} passed, {len(failures)} failed")
    if failures:
        print(text[-3000:])
    subprocess.run(["rm", "-rf", work])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
