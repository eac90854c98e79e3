"""A stand-in upstream for checking nginx's routing without Berth: answers every method with 200 and a JSON
body naming its port, after reading the request body. `python3 -m scaleout.rig.echo PORT`."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keepalive, as nginx's upstream connections expect

    def _answer(self):
        length = self.headers.get("Content-Length")
        received = 0
        if length is not None:
            received = len(self.rfile.read(int(length)))
        elif self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                received += len(self.rfile.read(size))
                self.rfile.readline()
                if size == 0:
                    break
        body = json.dumps({"port": self.server.server_address[1], "method": self.command, "path": self.path,
                           "received": received, "host": self.headers.get("Host"),
                           "forwarded_for": self.headers.get("X-Forwarded-For")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1])
    ThreadingHTTPServer(("127.0.0.1", port), Echo).serve_forever()


if __name__ == "__main__":
    main()
