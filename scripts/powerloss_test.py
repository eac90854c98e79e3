#!/usr/bin/env python3
"""Power-loss check: every write Berth acknowledges must be on stable storage before its response leaves.

A kill -9 test cannot see a missing sync (the page cache survives a killed process), so this one runs Berth
under `strace -f` and, for each acknowledged write request sent one at a time, checks in the syscall trace that
before the response's first byte was written to the client's socket:
  - every file the request wrote under the data root (blobs, staged uploads, the SQLite WAL and database) was
    fsync'd or fdatasync'd after its last write;
  - every rename into place was followed by an fsync of the target's folder;
  - every folder created was followed by an fsync of its parent, the data root's own creation (and its missing
    parents') included: Berth starts on a root that does not exist yet;
  - every new file created with O_EXCL that stays in place (a resumable upload) was followed by an fsync of
    its folder;
  - the metadata commit happened at all (the WAL was written), so the check cannot pass vacuously.

With --token-mode, Berth issues its own tokens with signing keys in a folder outside the root that does not
exist yet (`auth.token.keys`): the key file written at startup must be synced and renamed into a synced
folder, and the folders made for it synced, before the first acknowledged write; every request carries a
registry JWT. The per-request file rules are left to the other runs there (the audit log's once-a-second
background flush writes the WAL between requests).

usage: scripts/powerloss_test.py PATH_TO_BERTH [--rounds N] [--expect-violations] [--stale-blob-folder]
                                 [--token-mode] [-- extra berth serve args]
With --stale-blob-folder, the root exists with the first blob's folder made and never synced, as after a crash
between a mkdir and its sync: Berth must still sync its parent before acknowledging a blob renamed into it.
With --expect-violations (used with `-- --no-fsync`), it succeeds only when violations are found: proof that
the check can fail.
"""
import argparse, base64, hashlib, http.client, json, os, re, shutil, signal, subprocess, sys, tempfile, time

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SYSCALLS = ("openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,write,pwrite64,writev,pwritev,pwritev2,"
            "fsync,fdatasync,sendmsg,sendto,unlink,unlinkat,ftruncate")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Berth:
    """Berth under strace, on a root that does not exist yet (two levels of it), or with --stale-blob-folder on
    one holding an unsynced blob folder."""

    def __init__(self, binary, extra, first_blob, stale_folder=False, token_mode=False):
        self.work = os.path.realpath(tempfile.mkdtemp(prefix="berth-powerloss."))
        self.root = os.path.join(self.work, "new", "data")
        self.binary, self.token, self.keys = binary, None, None
        if stale_folder:
            os.makedirs(os.path.join(self.root, "blobs", "sha256", hashlib.sha256(first_blob).hexdigest()[:2]))
        if token_mode:
            # Beside the root, two levels that do not exist yet: Berth makes (and must sync) both.
            self.keys = os.path.join(self.work, "new", "keys", "signing")
            config = os.path.join(self.work, "berth.yml")
            with open(config, "w") as f:
                f.write(f"auth:\n  mode: token\n  token:\n    keys: {self.keys}\n")
            extra = ["--config", config, *extra]
        self.trace = os.path.join(self.work, "trace.txt")
        self.log = open(os.path.join(self.work, "berth.log"), "w")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-yy", "-s", "24", "-e", "trace=" + SYSCALLS, "-o", self.trace,
             binary, "serve", "--address", "127.0.0.1:0", "--root", self.root, *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(self.log.name) as f:
                ports = re.findall(r"listening on 127\.0\.0\.1:(\d+)", f.read())
            if ports:
                self.port = int(ports[-1])
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise SystemExit("berth did not start under strace:\n" + open(self.log.name).read()[-2000:])

    def stop(self):
        """Stops Berth itself, then strace: a signal to strace only detaches it and leaves Berth running."""
        if self.proc.poll() is None:
            for pid in self.traced():
                os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in self.traced():
                    os.kill(pid, signal.SIGKILL)
                self.proc.kill()
                self.proc.wait()

    def traced(self):
        """The process strace started (its child)."""
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                return [int(pid) for pid in f.read().split()]
        except OSError:
            return []

    def authorize(self, repositories):
        """Token mode: a registry JWT for these repositories (as a client logs in), sent with later requests.
        The user is added with the CLI while Berth serves (the root did not exist before Berth made it)."""
        if self.keys is None:
            return
        if self.token is None:
            subprocess.run([self.binary, "user", "add", "pl", "--password-stdin", "--admin", "--root", self.root],
                           input=b"powerloss-pass1\n", check=True, capture_output=True)
            time.sleep(2.5)  # Berth reloads users written by another process every second
        status, headers, _, _ = self.request("GET", "/v2/")
        challenge = headers.get("WWW-Authenticate", "")
        service = re.search(r'service="([^"]*)"', challenge)
        if status != 401 or not service:
            raise SystemExit(f"token mode: expected a Bearer challenge on /v2/, got {status} {challenge!r}")
        scopes = "&".join(f"scope=repository:{r}:pull,push,delete" for r in repositories)
        basic = base64.b64encode(b"pl:powerloss-pass1").decode()
        self.token = None
        status, _, body, _ = self.request("GET", f"/auth/token?service={service.group(1)}&{scopes}",
                                          headers={"Authorization": f"Basic {basic}"})
        if status != 200:
            raise SystemExit(f"token mode: /auth/token gave {status}: {body[:200]!r}")
        self.token = json.loads(body)["token"]

    def request(self, method, path, body=None, headers=None):
        """One request on its own connection; returns (status, headers, body, client port)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        port = conn.sock.getsockname()[1]
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, dict(response.headers), data, port


def run_workload(berth, rounds, first_blob):
    """Sends acknowledged writes of every kind, one at a time; returns [(description, status, client port)]."""
    done = []

    def call(desc, method, path, body=None, headers=None, expect=None, commits=True):
        """`commits`: the request must change metadata (a PATCH only appends bytes; re-pushing a stored
        manifest by digest changes nothing)."""
        status, headers_, data, port = berth.request(method, path, body, headers)
        if expect is not None and status != expect:
            raise SystemExit(f"{desc}: expected {expect}, got {status}: {data[:300]!r}")
        done.append((desc, method, status, port, commits))
        return headers_

    for r in range(rounds):
        repo, other = f"powerloss/app{r}", f"powerloss/mirror{r}"
        berth.authorize([repo, other])
        mono = first_blob if r == 0 else os.urandom(64 * 1024 + r)
        call("blob POST ?digest= (monolithic)", "POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(mono)}",
             mono, {"Content-Type": "application/octet-stream"}, 201)
        # A chunked upload: session start, two PATCHes, PUT with the last chunk.
        chunks = [os.urandom(256 * 1024), os.urandom(256 * 1024), os.urandom(1000 + r)]
        whole = b"".join(chunks)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["Location"]
        offset = 0
        for chunk in chunks[:2]:
            rng = f"{offset}-{offset + len(chunk) - 1}"
            loc = call("upload PATCH", "PATCH", loc, chunk, {"Content-Type": "application/octet-stream",
                                                            "Content-Range": rng}, 202, commits=False)["Location"]
            offset += len(chunk)
        sep = "&" if "?" in loc else "?"
        call("chunked upload PUT", "PUT", f"{loc}{sep}digest={sha256(whole)}", chunks[2],
             {"Content-Type": "application/octet-stream",
              "Content-Range": f"{offset}-{offset + len(chunks[2]) - 1}"}, 201)
        # A session completed by one PUT carrying the whole blob.
        single = os.urandom(32 * 1024 + r)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["Location"]
        sep = "&" if "?" in loc else "?"
        call("upload PUT with whole body", "PUT", f"{loc}{sep}digest={sha256(single)}", single,
             {"Content-Type": "application/octet-stream"}, 201)
        config = json.dumps({"architecture": "amd64", "os": "linux", "round": r}).encode()
        call("config blob POST", "POST", f"/v2/{repo}/blobs/uploads/?digest={sha256(config)}", config,
             {"Content-Type": "application/octet-stream"}, 201)

        def manifest(layers):
            return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": sha256(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": sha256(l), "size": len(l)} for l in layers]}).encode()
        first, second = manifest([mono, whole]), manifest([single])
        call("manifest PUT by tag", "PUT", f"/v2/{repo}/manifests/v1", first, {"Content-Type": OCI_MANIFEST}, 201)
        call("tag move (manifest PUT to an existing tag)", "PUT", f"/v2/{repo}/manifests/v1", second,
             {"Content-Type": OCI_MANIFEST}, 201)
        call("manifest re-PUT by digest", "PUT", f"/v2/{repo}/manifests/{sha256(first)}", first,
             {"Content-Type": OCI_MANIFEST}, 201, commits=False)
        call("cross-repository mount", "POST", f"/v2/{other}/blobs/uploads/?mount={sha256(mono)}&from={repo}",
             b"", {}, 201)
        loc = call("upload session POST", "POST", f"/v2/{repo}/blobs/uploads/", b"", {}, 202)["Location"]
        call("upload cancel", "DELETE", loc, None, {}, 204)
        call("tag delete", "DELETE", f"/v2/{repo}/manifests/v1", None, {}, 202)
        call("manifest delete", "DELETE", f"/v2/{repo}/manifests/{sha256(first)}", None, {}, 202)
        call("blob delete", "DELETE", f"/v2/{other}/blobs/{sha256(mono)}", None, {}, 202)
    return done


LINE = re.compile(r"^(\d+)\s+(.*)$")
FD = re.compile(r"^\w+\((\d+)<([^>]*)>")
RESPONSE = re.compile(r'"HTTP/1\.1 (\d{3})')
STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_trace(path):
    """Yields (index, syscall, text, result) for completed syscalls, joining unfinished/resumed halves."""
    pending, events = {}, []
    with open(path, errors="replace") as f:
        for index, raw in enumerate(f):
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, rest = m.groups()
            if rest.endswith("<unfinished ...>"):
                pending[pid] = rest[: -len("<unfinished ...>")]
                continue
            resumed = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
            if resumed:
                rest = pending.pop(pid, resumed.group(1) + "(") + resumed.group(2)
            name = re.match(r"^(\w+)\(", rest)
            result = re.search(r"\)\s+=\s+(-?\d+)", rest)
            if name and result:
                events.append((index, name.group(1), rest, int(result.group(1))))
    return events


def check(events, root, requests, work=None, keys=None):
    """Returns (checked count, violations) for the 2xx requests, each judged on its own trace window."""
    # The response to each request: the first write to its connection that starts an HTTP response.
    responses = {}
    for i, (_, name, text, _) in enumerate(events):
        if name in ("write", "writev", "sendmsg", "sendto"):
            m = re.match(r"^\w+\(\d+<TCP:\[[^>]*->127\.0\.0\.1:(\d+)\]>", text)
            status = RESPONSE.search(text)
            if m and status and int(m.group(1)) not in responses:
                responses[int(m.group(1))] = i
    # Folders synced so far, with the trace position of each sync, for checks that span requests.
    dir_syncs = {}
    for i, (_, name, text, result) in enumerate(events):
        fd = FD.match(text)
        if name == "fsync" and fd and result == 0:
            dir_syncs.setdefault(fd.group(2), []).append(i)
    violations, checked, start = [], 0, 0
    made = folders_made(events, work or root)
    if keys:
        # The signing key, written before Berth listens: durable before the first acknowledged write.
        first = min((responses.get(port, len(events)) for _, method, status, port, _ in requests
                     if 200 <= status < 300 and method != "GET"), default=len(events))
        window = events[:first]
        if not any(n in ("rename", "renameat", "renameat2") and keys + "/" in t for _, n, t, _ in window):
            violations.append("token mode: no signing key was renamed into the keys folder before the first write")
        violations += [f"signing key: {v}" for v in judge(window, keys, False)]
    for desc, method, status, port, commits in requests:
        end = responses.get(port)
        if end is None:
            violations.append(f"{desc}: no response found in the trace for client port {port}")
            continue
        if 200 <= status < 300 and method != "GET":
            checked += 1
            if not keys:
                # In token mode the audit log's background flush (buffered by design, once a second) writes
                # the WAL between requests, so its last write is not the request's: the per-request file rules
                # run in the modes without it; this run judges the signing key and every folder.
                violations += [f"{desc}: {v}" for v in judge(events[start:end], root, commits)]
            violations += [f"{desc}: {v}" for v in folders_durable(events[start:end], root, dir_syncs, end)]
            violations += [f"{desc}: {v}" for v in made_durable(made, dir_syncs, end, work or root)]
        start = end + 1
    return checked, violations


def folders_made(events, work):
    """Every folder created under the test's folder, whenever (at startup too), with its trace position."""
    made = []
    for i, (_, name, text, result) in enumerate(events):
        if name in ("mkdir", "mkdirat") and result == 0:
            paths = STRINGS.findall(text)
            if paths and paths[0].startswith(work + "/"):
                made.append((i, paths[0]))
    return made


def made_durable(made, dir_syncs, end, work):
    """Each folder made before this response (the data root's own creation included) must have had its parent
    synced after its mkdir and before the response: every acknowledged write beneath it depends on it."""
    return [f"folder {os.path.relpath(path, work)} was made (trace line {i}) but its parent was never synced "
            "before this response"
            for i, path in made if i < end and not any(i < p < end for p in dir_syncs.get(os.path.dirname(path), []))]


def folders_durable(window, root, dir_syncs, end):
    """A folder a blob is renamed into must itself be durable: its parent synced at some point before this
    response, whoever created the folder and whenever (the root is fresh, so nothing predates this process)."""
    problems = []
    for _, name, text, result in window:
        if name in ("rename", "renameat", "renameat2") and result == 0:
            paths = STRINGS.findall(text)
            if len(paths) >= 2 and paths[-1].startswith(root + "/blobs/"):
                folder = os.path.dirname(paths[-1])
                if not any(p < end for p in dir_syncs.get(os.path.dirname(folder), [])):
                    problems.append(f"folder {os.path.relpath(folder, root)} was never made durable (its parent "
                                    "never synced) before a blob was acknowledged in it")
    return problems


def judge(window, root, commits):
    written, synced_after, problems = {}, {}, []
    renames, mkdirs, creates = [], [], []
    wal_written = False
    for pos, (_, name, text, result) in enumerate(window):
        fd = FD.match(text)
        path = fd.group(2) if fd else None
        if name in ("write", "pwrite64", "writev", "pwritev", "pwritev2") and path and path.startswith(root + "/"):
            if path.endswith("-shm"):
                continue  # SQLite's shared-memory index: rebuilt from the WAL, never needed for durability
            written[path] = pos
            wal_written = wal_written or path.endswith("metadata.db-wal")
        elif name in ("fsync", "fdatasync") and path and result == 0:
            synced_after.setdefault(path, []).append(pos)
        elif name in ("rename", "renameat", "renameat2") and result == 0:
            paths = STRINGS.findall(text)
            if len(paths) >= 2 and paths[-1].startswith(root + "/"):
                renames.append((pos, paths[-2], paths[-1]))
        elif name in ("mkdir", "mkdirat") and result == 0:
            paths = STRINGS.findall(text)
            if paths and paths[0].startswith(root + "/"):
                mkdirs.append((pos, paths[0]))
        elif name in ("openat", "open") and result >= 0 and "O_CREAT" in text and "O_EXCL" in text:
            paths = STRINGS.findall(text)
            if paths and paths[0].startswith(root + "/"):
                creates.append((pos, paths[0]))

    def synced(path, after):
        return any(p > after for p in synced_after.get(path, []))

    for path, last in written.items():
        if not synced(path, last):
            problems.append(f"{os.path.relpath(path, root)} written but not synced before the response")
    for pos, source, target in renames:
        if not synced(os.path.dirname(target), pos):
            problems.append(f"rename to {os.path.relpath(target, root)} not made durable (folder not synced)")
    for pos, folder in mkdirs:
        if not synced(os.path.dirname(folder), pos):
            problems.append(f"new folder {os.path.relpath(folder, root)} not made durable (parent not synced)")
    moved = {source for _, source, _ in renames}
    for pos, path in creates:
        if path not in moved and not synced(os.path.dirname(path), pos):
            problems.append(f"new file {os.path.relpath(path, root)} not made durable (folder not synced)")
    if commits and not wal_written:
        problems.append("no metadata commit seen (the WAL was not written)")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("berth")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--expect-violations", action="store_true")
    parser.add_argument("--stale-blob-folder", action="store_true")
    parser.add_argument("--token-mode", action="store_true")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if shutil.which("strace") is None:
        raise SystemExit("powerloss: strace is not installed (Debian package strace)")
    first_blob = os.urandom(64 * 1024)
    berth = Berth(os.path.realpath(args.berth), extra, first_blob, args.stale_blob_folder, args.token_mode)
    try:
        requests = run_workload(berth, args.rounds, first_blob)
    finally:
        berth.stop()
    events = parse_trace(berth.trace)
    checked, violations = check(events, berth.root, requests, berth.work, berth.keys)
    made = folders_made(events, berth.work)
    if berth.keys and not any(path == berth.keys for _, path in made):
        violations.append("the trace shows no mkdir of the keys folder: the check could not see its creation")
    if not args.stale_blob_folder and not any(path == berth.root for _, path in made):
        violations.append("the trace shows no mkdir of the data root: the check could not see its creation")
    kinds = sorted({r[0] for r in requests if 200 <= r[2] < 300})
    minimum = 15 * args.rounds
    print(f"powerloss: {checked} acknowledged writes checked ({len(kinds)} kinds), {len(violations)} violations")
    for v in violations[: 5 if args.expect_violations else 40]:
        print("  violation:", v)
    shutil.rmtree(berth.work, ignore_errors=True)
    if checked < minimum:
        print(f"powerloss: FAILED, only {checked} acknowledged writes (need {minimum})")
        return 1
    if args.expect_violations:
        print("powerloss (expecting violations):", "ok, the check caught them" if violations else "FAILED, none found")
        return 0 if violations else 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
