"""A harness Berth run under `strace -f`, and requests that know their client port (the trace names each
connection by it, which is how a response is found in the trace)."""
import http.client, json, os, signal, subprocess, time

from durability.trace import strace_argv
from harness.berth import Berth
from harness.httpclient import Response, basic, challenge


class TracedBerth(Berth):
    """The process started is strace; Berth is its child. A signal to strace only detaches it and leaves Berth
    running, so stopping and killing go to the traced child first. `work` is resolved (the trace shows real
    paths, which the checks compare with the root's)."""

    def __init__(self, binary, work, name, config="", root=None, args=()):
        work = os.path.realpath(work)
        self.trace = os.path.join(work, name, "trace.txt")
        super().__init__(binary, work, name, config, root=root, args=args, wrapper=strace_argv(self.trace))
        self.token = None

    def traced(self):
        """The processes strace started (its children)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(pid) for pid in f.read().split()]
        except OSError:
            return []

    def signal_traced(self, signum):
        for pid in self.traced():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def stop(self, timeout=20):
        """SIGTERM to Berth (strace exits with it); SIGKILL to both after `timeout`."""
        if self.running():
            self.signal_traced(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_traced(signal.SIGKILL)
                self.proc.kill()
                self.proc.wait(timeout=20)

    def kill(self):
        if self.running():
            self.signal_traced(signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(timeout=20)

    def send(self, method, path, body=None, headers=None):
        """One request on its own connection, with the registry token once there is one; returns
        (Response, client port)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.connect()
            port = conn.sock.getsockname()[1]
            headers = dict(headers or {})
            if self.token and "Authorization" not in headers:
                headers["Authorization"] = f"Bearer {self.token}"
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data), port
        finally:
            conn.close()

    def authorize(self, repositories, user="pl", password="powerloss-pass1"):
        """Token mode: a registry JWT for these repositories (as a client logs in), sent with later requests.
        The user is added with the CLI while Berth serves (the root did not exist before Berth made it)."""
        if self.token is None:
            self.cli("user", "add", user, "--password-stdin", "--admin", stdin=password + "\n")
            time.sleep(2.5)  # Berth reloads users written by another process every second
        r, _ = self.send("GET", "/v2/")
        scheme, params = challenge(r.headers.get("www-authenticate"))
        assert r.status == 401 and scheme == "bearer" and "service" in params, \
            f"token mode: expected a Bearer challenge on /v2/, got {r!r}"
        scopes = "&".join(f"scope=repository:{name}:pull,push,delete" for name in repositories)
        self.token = None
        r, _ = self.send("GET", f"/auth/token?service={params['service']}&{scopes}", headers=basic(user, password))
        assert r.status == 200, f"token mode: /auth/token gave {r!r}"
        self.token = json.loads(r.body)["token"]
