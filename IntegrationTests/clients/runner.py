"""Runs the real-client sections (sh/sections.sh, the docker/skopeo/podman/ctr command lines) against a registry
and counts what they print: each `ok - ...` line is a passed check, each `not ok - ...` a failed one, `# SKIP`
lines are shown but not counted. Callable against any registry (a harness Berth here, nginx of the scale-out
rig there):

    run_sections(checks, "127.0.0.1:5000", ["docker", "ctr"], work, dock=dockerd.folder, log=berth.log_path)
"""
import os, re, shutil, subprocess, tempfile, threading

HERE = os.path.dirname(os.path.abspath(__file__))
SECTIONS = os.path.join(HERE, "sh", "sections.sh")
PLAIN = ("docker", "ctr", "skopeo", "podman", "oras", "api")  # in this order: later ones use earlier pushes
LINE = re.compile(r"^(not ok|ok) - (.*)$")


def run_sections(checks, registry, sections, work, dock=None, log=None, berth_binary=None, env=None, timeout=1800):
    """Runs `sections` (names of sections.sh); returns the closing summary line. `registry` is host:port for the
    plain sections, `log` that registry's access log (for the mount check), `dock` the private dockerd's folder
    (clients.dockerd), `berth_binary` the berth for the auth section. The sections' folder is a short one in
    /tmp (podman refuses a run root longer than 50 characters), linked from `work` as `clients`; it is removed
    when every check of the run passed, and kept (its path printed) otherwise."""
    folder = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
    os.symlink(folder, os.path.join(work, "clients"))
    before = len(checks.failed)
    try:
        return _run(checks, registry, sections, folder, dock, log, berth_binary, env, timeout)
    finally:
        if len(checks.failed) == before:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"(real-client folder kept: {folder})", flush=True)


def _run(checks, registry, sections, folder, dock, log, berth_binary, env, timeout):
    settings = {"BERTH_RC_ONLY": ",".join(sections), "BERTH_RC_WORK": folder}
    if registry:
        settings["BERTH_RC_REGISTRY"] = registry
    if log:
        settings["BERTH_RC_LOG"] = log
    if dock:
        settings["BERTH_RC_DOCK"] = dock
    if berth_binary:
        settings["BERTH_BIN"] = berth_binary
    proc = subprocess.Popen(["bash", SECTIONS], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True,
                            env={**os.environ, **settings, **(env or {})})
    # The sections bound every client call; this bounds the whole run in case one of their waits does not hold.
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 15))
    timer.start()
    summary, failed_lines = "", 0
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            m = LINE.match(line)
            if m and not line.endswith("# SKIP"):
                failed_lines += m.group(1) == "not ok"
                # The section's own wording, as one counted check each (the section name starts it); the
                # check prints its own ok/not ok line.
                checks(m.group(1) == "ok", m.group(2))
                continue
            print(line, flush=True)
            if line.startswith("real-clients: "):
                summary = line
        status = proc.wait(timeout=60)
    finally:
        timer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)
    if status != 0 and failed_lines == 0:
        checks(False, f"real-client sections {','.join(sections)} ran to completion (exit {status})")
    return summary
