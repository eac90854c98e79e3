"""The plumbing of the access-control check: reporting, a Berth process, its CLI, HTTP, content, JWTs."""
import base64, ctypes, hashlib, http.client, json, os, re, shutil, signal, subprocess, sys, tempfile, time

PROCESSES = []  # every Berth process started here, stopped by stop_all()
BERTHS = []  # every Berth set up here, for their logs


FAILED = []  # what check() found wrong, in the single-Berth policy tests


def check(cond, what):
    """One check of a single-Berth test (immutability, lifecycle, quotas): prints ok / not ok."""
    print(("ok - " if cond else "not ok - ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def run_with_berth(label, config, body):
    """Runs body(berth, work) with a Berth (sys.argv[1]) set up in a fresh folder with the YAML `config`,
    stops every process and removes the folder after, prints `<label>: N failed` and exits 1 on a failure."""
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix=f"berth-{label}-")
    try:
        body(Berth(binary, work, "b", config), work)
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{label}: {len(FAILED)} failed", flush=True)
    sys.exit(1 if FAILED else 0)


class Report:
    def __init__(self):
        self.passed, self.failed, self.by_section = 0, [], {}
        self.section = "setup"

    def check(self, cond, what, detail=""):
        counts = self.by_section.setdefault(self.section, [0, 0])
        counts[0 if cond else 1] += 1
        if cond:
            self.passed += 1
            print(f"ok - {self.section}: {what}", flush=True)
        else:
            self.failed.append(f"{self.section}: {what}: {detail}")
            print(f"not ok - {self.section}: {what}" + (f" -- {detail}" if detail else ""), flush=True)
        return bool(cond)


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


def request(port, method, path, body=b"", headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
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


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_for(config, layer, subject=None):
    m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(config),
                    "size": len(config)},
         "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest(layer),
                     "size": len(layer)}]}
    if subject:
        m["artifactType"] = "application/vnd.berth.test"
        m["subject"] = subject
    return json.dumps(m).encode()


def empty_index(note):
    """A manifest that references nothing, so it can be pushed into any repository; `note` makes it unique."""
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": [], "annotations": {"test": note}}).encode()


INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Berth:
    """One Berth: its data root, YAML config and log; the CLI works on the same root."""

    def __init__(self, binary, work, name, config):
        self.binary, self.dir = binary, os.path.join(work, name)
        os.makedirs(self.dir)
        self.root = os.path.join(self.dir, "data")
        self.config = os.path.join(self.dir, "config.yml")
        self.log_path = os.path.join(self.dir, "berth.log")  # standard output
        self.err_path = os.path.join(self.dir, "berth.err")  # standard error
        with open(self.config, "w") as f:
            f.write(config)
        self.proc, self.port = None, None
        BERTHS.append(self)

    def cli(self, *args, stdin=None):
        r = subprocess.run([self.binary, *args, "--root", self.root], input=stdin, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return r.stdout

    def start(self):
        listening = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
        seen = len(listening.findall(self.log())) if os.path.exists(self.err_path) else 0  # from an earlier start
        with open(self.log_path, "a") as out, open(self.err_path, "a") as err:
            self.proc = subprocess.Popen([self.binary, "serve", "--address", "127.0.0.1:0", "--root", self.root,
                                          "--config", self.config], stdout=out, stderr=err,
                                         preexec_fn=die_with_parent)
        PROCESSES.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline and self.proc.poll() is None:
            found = listening.findall(self.log())
            if len(found) > seen:
                self.port = int(found[-1])
                return self.port
            time.sleep(0.05)
        raise RuntimeError(f"berth did not start:\n{self.log()[-3000:]}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def stdout(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def log(self):
        """Standard output and standard error."""
        with open(self.err_path, errors="replace") as f:
            return self.stdout() + f.read()

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

    def call(self, method, path, body=b"", headers=None):
        return request(self.port, method, path, body, headers)


def die_with_parent():
    """In the child before exec: SIGTERM when this script dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def stop_all():
    for proc in PROCESSES:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def on_signal(signum, _frame):
    stop_all()
    raise SystemExit(128 + signum)


def install_signal_handlers():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
