"""One Berth process for a test: its folder (data root, YAML config, logs), its CLI on the same root, its
port once it listens. Every Berth the integration tests start on the embedded stores is one of these; the
scale-out rig's instances (scaleout/rig) add S3 and PostgreSQL settings to the same idea.

    b = Berth(binary, work, "basic", config="auth:\\n  mode: basic\\n")
    b.cli("user", "add", "alice", "--password-stdin", stdin="pw\\n")
    b.start(); b.call("GET", "/v2/"); b.stop()
"""
import ctypes, json, os, re, signal, subprocess, time

from .httpclient import request

BERTHS = []  # every Berth made in this process, for stop_all() and the crash scan of their logs
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class Berth:
    """`config` is the YAML text of --config (none when empty); `root` defaults to <folder>/data and need not
    exist; `args` go after `serve`'s own; `wrapper` runs Berth under another program (strace)."""

    # Set by a fixture wider than one test (several tests share one provisioned Berth): stop_all() leaves it
    # running and listed, so its log is still scanned after each test, until that fixture calls release().
    shared = False

    def __init__(self, binary, work, name, config="", root=None, args=(), wrapper=(), env=None):
        self.binary, self.dir = binary, os.path.join(work, name)
        os.makedirs(self.dir, exist_ok=True)
        self.root = root or os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "config.yml") if config else None
        if config:
            with open(self.config, "w") as f:
                f.write(config)
        self.log_path = os.path.join(self.dir, "berth.log")  # standard output
        self.err_path = os.path.join(self.dir, "berth.err")  # standard error
        self.args, self.wrapper, self.env = list(args), list(wrapper), env
        self.proc, self.port = None, None
        BERTHS.append(self)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def cli(self, *args, stdin=None, check=True):
        """A `berth` subcommand on this root; raises with its output when it fails (unless check=False)."""
        r = subprocess.run([self.binary, *args, "--root", self.root], input=stdin, capture_output=True, text=True,
                           timeout=120)
        if check and r.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r.stdout if check else r

    def argv(self):
        config = ["--config", self.config] if self.config else []
        return [*self.wrapper, self.binary, "serve", "--address", "127.0.0.1:0", "--root", self.root, *config,
                *self.args]

    def start(self, timeout=30):
        """Starts `berth serve` on a free port and waits for its `listening on` line; returns the port."""
        seen = len(LISTENING.findall(self.log())) if os.path.exists(self.err_path) else 0  # an earlier start's
        with open(self.log_path, "a") as out, open(self.err_path, "a") as err:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err, preexec_fn=die_with_parent,
                                         env=None if self.env is None else {**os.environ, **self.env})
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            found = LISTENING.findall(self.log())
            if len(found) > seen:
                self.port = int(found[-1])
                return self.port
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"berth did not start:\n{self.log()[-3000:]}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM (Berth lets requests in flight finish), then SIGKILL after `timeout`."""
        if self.running():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def kill(self):
        """SIGKILL, as a crash: nothing is flushed or closed."""
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=20)

    def stdout(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log(self):
        """Standard output and standard error."""
        try:
            with open(self.err_path, errors="replace") as f:
                return self.stdout() + f.read()
        except FileNotFoundError:
            return self.stdout()

    def crashed(self):
        """Whether the log shows a Swift runtime trap or fatal error."""
        text = self.log()
        return "Fatal error" in text or "runtime failure" in text

    def audit_lines(self):
        """The `{"audit": {...}}` JSON lines of standard output."""
        out = []
        for line in self.stdout().splitlines():
            start = line.find('{"audit"')
            if start < 0:
                continue
            try:
                out.append(json.loads(line[start:])["audit"])
            except (ValueError, KeyError):
                pass
        return out

    def call(self, method, path, body=b"", headers=None, timeout=60):
        return request(self.port, method, path, body, headers, timeout)

    def release(self):
        """Stops a shared Berth and forgets it (its fixture's teardown)."""
        self.shared = False
        self.stop()
        if self in BERTHS:
            BERTHS.remove(self)


def stop_all():
    """Stops every Berth made in this process (the fixtures call it after each test), but shared ones."""
    for b in BERTHS:
        if b.shared:
            continue
        try:
            b.stop()
        except Exception:  # keep stopping the rest
            pass
    BERTHS[:] = [b for b in BERTHS if b.shared]
