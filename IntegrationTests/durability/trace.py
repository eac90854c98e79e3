"""Reading Berth's syscall trace (strace -f -yy) and judging, for each acknowledged write request, whether
everything it depends on reached stable storage before the response's first byte was written to the client's
socket:
  - every file the request wrote under the data root (blobs, staged uploads, the SQLite WAL and database) was
    fsync'd or fdatasync'd after its last write;
  - every rename into place was followed by an fsync of the target's folder;
  - every folder created was followed by an fsync of its parent, the data root's own creation (and its missing
    parents') included: Berth starts on a root that does not exist yet;
  - every new file created with O_EXCL that stays in place (a resumable upload) was followed by an fsync of
    its folder;
  - the metadata commit happened at all (the WAL was written), so the check cannot pass vacuously.
In token mode the signing key written at startup (and its new folders) must be durable before the first
acknowledged write."""
import codecs, os, re

SYSCALLS = ("openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,write,pwrite64,writev,pwritev,pwritev2,"
            "fsync,fdatasync,sendmsg,sendto,unlink,unlinkat,ftruncate")
LINE = re.compile(r"^(\d+)\s+(.*)$")
FD = re.compile(r"^\w+\((\d+)<([^>]*)>")
RESPONSE = re.compile(r'"HTTP/1\.1 (\d{3})')
STRINGS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace_argv(trace_path):
    """The wrapper that traces Berth and every thread it starts into `trace_path`."""
    return ["strace", "-f", "-qq", "-yy", "-s", "24", "-e", "trace=" + SYSCALLS, "-o", trace_path]


def parse_trace(path):
    """Returns [(line, syscall, text, result)] for completed syscalls in the order they returned, joining
    unfinished/resumed halves; `line` is where the call was entered (for a call in flight across another's)."""
    pending, events = {}, []
    with open(path, errors="replace") as f:
        for index, raw in enumerate(f):
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, rest = m.groups()
            if rest.endswith("<unfinished ...>"):
                pending[pid] = (index, rest[: -len("<unfinished ...>")])
                continue
            resumed = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
            if resumed:
                entry, head = pending.pop(pid, (index, resumed.group(1) + "("))
                rest, index = head + resumed.group(2), entry
            name = re.match(r"^(\w+)\(", rest)
            result = re.search(r"\)\s+=\s+(-?\d+)", rest)
            if name and result:
                events.append((index, name.group(1), rest, int(result.group(1))))
    return events


def acknowledged(request):
    _, _, method, status, _, _ = request
    return 200 <= status < 300 and method != "GET"


def check(events, root, requests, work=None, keys=None):
    """Judges each request, as [(label, violations)]: one verdict per acknowledged write (each on its own
    trace window), one per request whose response is missing from the trace, and in token mode one for the
    signing key. `requests`: [(label, description, method, status, client port, commits)] in the order sent."""
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
    verdicts, start = [], 0
    made = folders_made(events, work or root)
    if keys:
        # The signing key, written before Berth listens: durable before the first acknowledged write.
        first = min((responses.get(r[4], len(events)) for r in requests if acknowledged(r)), default=len(events))
        window, problems = events[:first], []
        if not any(n in ("rename", "renameat", "renameat2") and keys + "/" in t for _, n, t, _ in window):
            problems.append("no signing key was renamed into the keys folder before the first write")
        problems += judge(window, keys, False)
        verdicts.append(("token mode: the signing key is durable before the first acknowledged write", problems))
    for request in requests:
        label, desc, method, status, port, commits = request
        end = responses.get(port)
        if end is None:
            verdicts.append((f"{label}: its response is in the trace",
                             [f"no response found in the trace for client port {port}"]))
            continue
        if acknowledged(request):
            problems = []
            if not keys:
                # In token mode the audit log's background flush (buffered by design, once a second) writes
                # the WAL between nearly all requests: the per-request file rules run in the modes where it is
                # rare (see judge); this run judges the signing key and every folder.
                problems += judge(events[start:end], root, commits, wal_sync_in_flight(events, end))
            problems += folders_durable(events[start:end], root, dir_syncs, end)
            problems += made_durable(made, dir_syncs, end, work or root)
            verdicts.append((f"{label}: durable before its response", problems))
        start = end + 1
    return verdicts


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


def wal_commit_header(text, result):
    """Whether a write is a SQLite WAL frame header (24 bytes) of a commit frame: its bytes 4-7, the database's
    size in pages after the commit, are nonzero only there (sqlite.org/fileformat.html, "WAL Frame Format")."""
    strings = STRINGS.findall(text)
    if result != 24 or not strings:
        return False
    header = codecs.escape_decode(strings[0].encode())[0]
    return len(header) == 24 and int.from_bytes(header[4:8], "big") != 0


def wal_sync_in_flight(events, end):
    """Whether a sync of the WAL was entered before the response at `end` and returned after it."""
    line = events[end][0]
    return any(name in ("fsync", "fdatasync") and text.split(">", 1)[0].endswith("-wal") and entered < line
               for entered, name, text, _ in events[end + 1:end + 200])


def judge(window, root, commits, wal_in_flight=False):
    """The file rules within one request's window (see the module's docstring); returns its violations."""
    written, synced_after, problems = {}, {}, []
    renames, mkdirs, creates = [], [], []
    wal_written = False
    wal, wal_last, wal_commit, commit_page_next, commits_seen = None, None, None, False, []
    for pos, (_, name, text, result) in enumerate(window):
        fd = FD.match(text)
        path = fd.group(2) if fd else None
        if name in ("write", "pwrite64", "writev", "pwritev", "pwritev2") and path and path.startswith(root + "/"):
            if path.endswith("-shm"):
                continue  # SQLite's shared-memory index: rebuilt from the WAL, never needed for durability
            if path.endswith("metadata.db-wal"):
                wal_written, wal, wal_last = True, path, pos
                if commit_page_next:  # the commit frame's page, written after its header
                    wal_commit, commit_page_next = pos, False
                    commits_seen.append(pos)
                elif wal_commit_header(text, result):
                    wal_commit, commit_page_next = pos, True
                continue
            written[path] = pos
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

    if wal_last is not None:
        # The request's commit ends with the last commit frame written before its response; WAL frames after it
        # belong to a transaction still open then (a background flush), which this response does not acknowledge.
        # Without a recognizable commit frame every WAL write counts.
        written[wal] = wal_commit if wal_commit is not None else wal_last

    def synced(path, after):
        return any(p > after for p in synced_after.get(path, []))

    if wal_in_flight and wal_commit is not None and not synced(wal, wal_commit) and \
            any(synced(wal, p) for p in commits_seen[:-1]):
        # A commit synced before the response, then another whose sync was still running as the response left:
        # Berth answers only after its own commit returns, so the later one is a concurrent background commit
        # (the audit log's once-a-second flush), not this request's. A commit never synced still fails.
        del written[wal]

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
