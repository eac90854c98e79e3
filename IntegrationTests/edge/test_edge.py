"""Hostile input over raw sockets: numeric edge values in every numeric header and query parameter, truncated
and garbled bodies, RFC 9112 framing, and a client that stalls mid-body.

Every answer must be a 4xx with a spec error body (or, for values that are valid numbers, a normal answer):
never a 5xx, never a dead server. A body cut short must leave its upload session usable at its last durable
offset, and a stalled client must not hold its session once the idle timeout has passed. Each part runs on
its own Berth, which must still be running at the end (and, as every Berth here, not have crashed)."""
import json, os, re, socket, time, urllib.parse

import pytest

from edge.rawhttp import alive, judge, new_session, offset, raw, request, spec_error
from harness.content import digest

pytestmark = [pytest.mark.edge, pytest.mark.xdist_group("edge")]
EDGES = ["0", "-1", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
         "18446744073709551616", "+5", " 5", "5 ", "007", "1e3", "0x10", "", "99999999999999999999999999"]
IDLE = 2  # seconds: the idle timeout Berth runs with here


@pytest.fixture
def edge_berth(berth):
    """A started Berth with a short idle timeout."""
    b = berth("edge", f"http:\n  idle_timeout: {IDLE}s\nlog:\n  access: false\n")
    b.start()
    return b


def still_running(checks, b):
    """Each test's last check (in its body: checks made after it, in fixture teardown, are not counted)."""
    checks.section = "end"
    checks(b.running(), "berth still running at the end")


def quote(v):
    return urllib.parse.quote(v, safe="")


def json_size(v):
    """Whether `v` is, as JSON, a whole number a descriptor size may hold (JSON allows spaces and 1e3)."""
    try:
        n = json.loads(v)
    except ValueError:
        return False
    return isinstance(n, (int, float)) and not isinstance(n, bool) and n == int(n) and 0 <= n < 2**63


def test_numeric_edges(edge_berth, checks):
    port = edge_berth.port
    blob = os.urandom(5000)
    request(port, "POST", f"/v2/edge/app/blobs/uploads/?digest={digest(blob)}", blob)
    for v in EDGES:
        checks.section = f"edge value {v!r}"
        number = re.fullmatch(r"\d+", v) is not None and int(v) < 2**63
        loc = new_session(port)
        for header in (f"{v}-{v}", f"0-{v}", f"{v}-2"):
            s, _, b = request(port, "PATCH", loc, b"abc", {"Content-Range": header})
            judge(checks, f"PATCH Content-Range {header!r}", s, b, header == "0-2" or header == "0-002")
            s, _, b = request(port, "PUT", f"{loc}?digest={digest(b'abc')}", b"abc", {"Content-Range": header})
            judge(checks, f"PUT Content-Range {header!r}", s, b, False)
            loc = new_session(port)
        for header in (f"bytes={v}-", f"bytes=0-{v}", f"bytes=-{v}", f"bytes={v}-{v}"):
            s, _, b = request(port, "GET", f"/v2/edge/app/blobs/{digest(blob)}", headers={"Range": header})
            checks(s in (200, 206) or (s == 416 and spec_error(s, b)), f"GET Range {header!r}: {s}")
        for path in ("/v2/edge/app/tags/list", "/v2/_catalog"):
            s, _, b = request(port, "GET", f"{path}?n={quote(v)}")
            judge(checks, f"GET {path}?n={v!r}", s, b, number)
            s, _, b = request(port, "GET", f"{path}?n={quote(v)}&last={quote(v)}")
            judge(checks, f"GET {path}?n={v!r}&last", s, b, number)
        # Content-Length itself: HTTP's parser owns it; a short body is the client's fault.
        s, _, b = request(port, "PATCH", new_session(port), b"abc", {"Content-Length": v}, shut=True)
        judge(checks, f"PATCH Content-Length {v!r}", s, b, v in ("0", "007"), parser_level=True)
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": digest(blob), "size": "SIZE"}, "layers": []})
        body = manifest.replace('"SIZE"', v if v.strip() else '""').encode()
        s, _, b = request(port, "PUT", "/v2/edge/app/manifests/edge", body,
                          {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        judge(checks, f"manifest descriptor size {v!r}", s, b, json_size(v))
        alive(checks, port, f"edge value {v!r}")
    still_running(checks, edge_berth)


def test_truncated_bodies(edge_berth, checks):
    port = edge_berth.port
    checks.section = "truncated bodies"
    # Content-Length far larger than what arrives, then the client closes: 400 or a closed connection,
    # and the session keeps nothing of the partial body.
    loc = new_session(port)
    first = os.urandom(3000)
    s, _, _ = request(port, "PATCH", loc, first, {"Content-Range": "0-2999"})
    checks(s == 202, f"first chunk accepted ({s})")
    s, _, b = request(port, "PATCH", loc, os.urandom(1000), {"Content-Length": "100000"}, shut=True)
    checks(s is None or (s == 400 and spec_error(s, b)), f"short body: {s}")
    at = offset(port, loc)
    checks(at == 3000, f"session still at its last durable offset after a short body ({at})")
    # Garbled chunked encoding.
    head = f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    s, _, b = raw(port, head, b"5\r\nhello\r\nZZ\r\nbroken\r\n", shut=True)
    checks(s is None or (400 <= s < 500), f"garbled chunked body: {s}")
    at = offset(port, loc)
    checks(at == 3000, f"session still at its last durable offset after a garbled body ({at})")
    rest = os.urandom(500)
    s, _, _ = request(port, "PUT", f"{loc}?digest={digest(first + rest)}", rest, {"Content-Range": "3000-3499"})
    checks(s == 201, f"session completes after the failed requests ({s})")
    alive(checks, port, "truncated bodies")
    still_running(checks, edge_berth)


def test_framing(edge_berth, checks):
    """RFC 9112 framing: an unknown Transfer-Encoding is 501 (never accepted), a request without a Host or with
    two is 400, and a request line the parser cannot read (bytes that are not UTF-8) gets a spec error body."""
    port = edge_berth.port
    checks.section = "framing"
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
            checks(s in (400, 501), f"{what} -> 400 or 501, never accepted ({s})")
            continue
        checks(s == want and spec_error(s, b), f"{what} -> {want} with a spec error body ({s} {b[:80]!r})")
    s, _, b = raw(port, "GET /v2/edge/te/tags/list HTTP/1.1\r\nHost: x\r\n\r\n")
    checks(s == 404, f"no upload was started by a refused Transfer-Encoding ({s})")
    alive(checks, port, "framing")
    still_running(checks, edge_berth)


def closed_by_server(sock, timeout=30):
    """Whether the server closes the connection (EOF or reset, after any answer) within `timeout`."""
    sock.settimeout(timeout)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def test_stalled_client(edge_berth, checks):
    """A PATCH that stops mid-body holds its session's lock until the idle timeout closes it; then another
    request on the same session proceeds."""
    port = edge_berth.port
    checks.section = "stalled client"
    loc = new_session(port)
    stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        stalled.sendall(f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b"x" * 10)
        time.sleep(0.5)
        started = time.time()
        s, _, _ = request(port, "PATCH", loc, os.urandom(100), {"Content-Range": "0-99"})
        waited = time.time() - started
        checks(s == 202, f"second PATCH proceeds once the stalled one is cut off ({s} after {waited:.1f}s)")
        checks(waited < IDLE + 8, f"stalled client released its session within the idle timeout ({waited:.1f}s)")
        # The script this replaces only required that reading did not fail; now the server must really close it.
        checks(closed_by_server(stalled), "stalled connection closed by the server")
    finally:
        stalled.close()
    at = offset(port, loc)
    checks(at == 100, f"session holds only the second chunk ({at})")
    alive(checks, port, "stalled client")
    still_running(checks, edge_berth)
