"""An HTTP proxy on loopback in front of an S3 endpoint that injects faults on a schedule, to check that
Berth's S3 driver retries what it should (IntegrationTests/scaleout/rig/faultcheck.py). Standard library only.

Every `every`-th new request (known by its identity: method, path and query without the X-Amz-* signature
parameters) is chosen, and its first `repeat` attempts fail, the next goes through (retries are not new
requests); the fault kinds take turns:

    slowdown   503 with S3's SlowDown error document
    internal   500 with S3's InternalError error document
    reset      the request is read whole, then the connection is reset (RST, no answer)
    early      the connection is reset after the request head, while the client may still be sending
    lost       the request is forwarded (and done by the upstream), then the connection is reset instead of
               answering: the client must find that repeating it is harmless

With `lose_completes`, every CompleteMultipartUpload's first attempt is `lost` as well: the upload is complete
and gone when the client asks again.

Other attempts are forwarded to the upstream unchanged (the Host header too, so SigV4 signatures still
verify) and their answers relayed. The client's connection is kept alive between requests. Bounded: at most
`max_connections` connections at once, bodies up to `max_body` bytes, every socket with a timeout.

    python3 IntegrationTests/scaleout/rig/faultproxy.py --upstream 127.0.0.1:8333 [--port P] [--every 4] [--repeat 2]
                                           [--kinds slowdown,internal,reset,early,lost] [--lose-completes]
"""
import argparse
import http.client
import http.server
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

KINDS = ("slowdown", "internal", "reset", "early", "lost")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length", "expect"}
ERRORS = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "internal": (500, "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."),
}


def identity(method, target):
    """The request without its signature: a retry of it has a new date and signature, but this same identity."""
    parts = urllib.parse.urlsplit(target)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith("x-amz-")]
    return f"{method} {parts.path}?{urllib.parse.urlencode(sorted(query))}"


class Schedule:
    """Decides which attempts fail, and counts what happened."""

    def __init__(self, every=4, repeat=1, kinds=KINDS, lose_completes=False):
        if every < 1 or repeat < 0 or not kinds or any(k not in KINDS for k in kinds):
            raise ValueError("every >= 1, repeat >= 0, kinds among " + ",".join(KINDS))
        self.every, self.repeat, self.kinds = every, repeat, list(kinds)
        self.lose_completes = lose_completes
        self.lock = threading.Lock()
        self.armed = False
        self.new_requests = 0
        self.requests = 0
        self.faults = {k: 0 for k in KINDS}
        self.pending = {}  # identity -> (kind, attempts still to fail)
        self.next_kind = 0

    def arm(self, armed=True):
        with self.lock:
            self.armed = armed
            if not armed:
                self.pending.clear()

    def decide(self, method, target):
        """The fault for this attempt, or None to forward it."""
        key = identity(method, target)
        with self.lock:
            self.requests += 1
            if not self.armed:
                return None
            if key in self.pending:
                kind, left = self.pending[key]
                if left == 0:
                    # The attempt after the last fault goes through, and is not counted as new.
                    del self.pending[key]
                    return None
            else:
                self.new_requests += 1
                if self.lose_completes and method == "POST" and "uploadId=" in key:
                    kind, left = "lost", 1
                elif self.new_requests % self.every != 0 or self.repeat == 0:
                    return None
                else:
                    kind, left = self.kinds[self.next_kind % len(self.kinds)], self.repeat
                    self.next_kind += 1
            self.pending[key] = (kind, left - 1)
            self.faults[kind] += 1
            return kind

    def counts(self):
        with self.lock:
            return {"requests": self.requests, "new_requests": self.new_requests, "faults": dict(self.faults)}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # a silent client or a stalled body
    server_version = "faultproxy"

    def log_message(self, *args):
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(8192).strip():  # trailers
                        pass
                    return bytes(body)
                if len(body) + size > self.server.max_body:
                    raise ValueError("body too large")
                body += self.rfile.read(size)
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > self.server.max_body:
            raise ValueError("bad or too large Content-Length")
        return self.rfile.read(length) if length else b""

    def _reset(self):
        """Closes with RST: SO_LINGER on with a zero timeout discards what is unsent and resets."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def _error(self, kind):
        status, reason, code, message = ERRORS[kind]
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                f"<RequestId>faultproxy-{time.monotonic_ns()}</RequestId></Error>").encode()
        self.send_response_only(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body, answer=True):
        upstream = getattr(self, "_upstream", None)
        for attempt in (1, 2):  # an idle upstream connection may have been closed since: one fresh try
            if upstream is None:
                upstream = http.client.HTTPConnection(*self.server.upstream, timeout=120)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        upstream.putheader(name, value)
                if body or self.command in ("PUT", "POST"):
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body or None)
                response = upstream.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                upstream.close()
                upstream = None
                if attempt == 2:
                    raise
        self._upstream = upstream
        if not answer:
            return self._reset()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if self.command == "HEAD":
            # A HEAD's Content-Length is the object's size; there is no body.
            if response.getheader("Content-Length") is not None:
                self.send_header("Content-Length", response.getheader("Content-Length"))
        elif response.status not in (204, 304) and response.status >= 200:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _handle(self):
        kind = self.server.schedule.decide(self.command, self.path)
        if kind == "early":
            return self._reset()
        try:
            body = self._read_body()
        except ValueError:
            return self._reset()
        if kind == "reset":
            return self._reset()
        if kind in ERRORS:
            return self._error(kind)
        try:
            self._forward(body, answer=kind != "lost")
        except (http.client.HTTPException, OSError):
            # The upstream failed: a 502, as a load balancer would answer.
            self.send_response_only(502, "Bad Gateway")
            self.send_header("Content-Length", "0")
            self.end_headers()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        upstream = getattr(self, "_upstream", None)
        if upstream is not None:
            upstream.close()


class FaultProxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """`FaultProxy(upstream_port).start()`; `.url`, `.schedule`, `.stop()`."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port, upstream_host="127.0.0.1", port=0, schedule=None, max_connections=256,
                 max_body=256 << 20):
        super().__init__(("127.0.0.1", port), Handler)
        self.upstream = (upstream_host, upstream_port)
        self.schedule = schedule or Schedule()
        self.max_body = max_body
        self.slots = threading.BoundedSemaphore(max_connections)
        self.thread = None

    @property
    def port(self):
        return self.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the bound: refused, the client retries elsewhere or later
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def start(self):
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(5)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the S3 endpoint")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--lose-completes", action="store_true")
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    schedule = Schedule(args.every, args.repeat, args.kinds.split(","), args.lose_completes)
    schedule.arm()
    proxy = FaultProxy(int(port), host or "127.0.0.1", args.port, schedule).start()
    print(proxy.url, flush=True)
    try:
        while proxy.thread.is_alive():
            proxy.thread.join(1)
    except KeyboardInterrupt:
        pass
    finally:
        print(schedule.counts(), file=sys.stderr)
        proxy.stop()


if __name__ == "__main__":
    main()
