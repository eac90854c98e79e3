"""What a set-up offers the stress: URLs, ways to collect, views of its stores."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

from .wire import *  # noqa: F401,F403 (the wire helpers and constants)
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, RETRYABLE_PUT, TIMEOUT  # noqa: F401


class Target:
    """What the stress needs of a set-up. `gc_runners`: [(name, fn(dry_run) -> (state, report, detail))] with
    state "ok", "busy" (another collection runs) or "error"; `quiesce()` stops scheduled collections and
    returns the URLs to use afterwards (or None); the rest list or damage the stores."""

    def __init__(self, urls, gc_runners, storage_blobs, db_blobs, db_manifests, db_links, delete_blob, quiesce):
        self.urls, self.gc_runners = list(urls), list(gc_runners)
        self.storage_blobs, self.db_blobs = storage_blobs, db_blobs
        self.db_manifests, self.db_links = db_manifests, db_links
        self.delete_blob, self.quiesce = delete_blob, quiesce


BUSY_WORDS = ("already running", "in progress", "another", "running")


def cli_runner(binary, location_args, timeout=300):
    """`berth gc <location> --grace 0s --untagged --json [--dry-run]`: the report is stdout's last line."""
    import subprocess

    def run(dry_run=False, kill_after=None, grace="0s"):
        argv = [binary, "gc", *location_args, "--grace", grace, "--untagged", "--json"] + (["--dry-run"] if dry_run else [])
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = p.communicate(timeout=kill_after or timeout)
        except subprocess.TimeoutExpired:
            p.kill()  # SIGKILL: a collector dying mid-run (kill_after), or one that overran `timeout`
            stdout, stderr = p.communicate()
            if kill_after:
                return "killed", None, ""
            return "error", None, f"berth gc did not finish within {timeout} s"
        r = subprocess.CompletedProcess(argv, p.returncode, stdout, stderr)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0:
            if any(w in out.lower() for w in BUSY_WORDS):
                return "busy", None, out[-300:]
            return "error", None, f"exit {r.returncode}: {out[-500:]}"
        lines = r.stdout.strip().splitlines()
        try:
            return "ok", json.loads(lines[-1]), ""
        except (ValueError, IndexError):
            return "error", None, f"no JSON report on stdout's last line: {r.stdout[-500:]!r}"
    return run


def api_runner(url_fn, headers):
    """POST /api/v1/gc on url_fn() (called each time, so a restarted server's new port is used)."""
    def run(dry_run=False, kill_after=None, grace="0s"):
        body = json.dumps({"dryRun": dry_run, "grace": grace, "untagged": True}).encode()
        r = call("POST", f"{url_fn()}/api/v1/gc", body, {"Content-Type": "application/json", **headers}, timeout=300)
        if r.status == 409:
            return "busy", None, repr(r)
        if r.status != 200:
            return "error", None, repr(r)
        try:
            return "ok", json.loads(r.body), ""
        except ValueError:
            return "error", None, f"not JSON: {r!r}"
    return run


def has_gc(binary):
    """Whether this build has the `gc` subcommand (the top-level help lists it)."""
    import subprocess
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    return any(line.strip().startswith("gc ") or line.strip() == "gc" for line in (r.stdout + r.stderr).splitlines())
