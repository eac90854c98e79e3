"""Child processes with bounded lifetimes: free loopback ports, start with logs to a file, wait until ready,
stop with a signal, then SIGKILL what is left. Every wait here has a deadline."""
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

_handed_out = set()  # ports given to this process already: two services must not get the same one


def free_port():
    """A TCP port free on 127.0.0.1 right now. The kernel picks it; it may be taken again before the
    service binds it, which on a quiet loopback is rare enough for a test rig (the start then fails)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port found in 50 tries")


def _die_with_parent():
    """In the child before exec: SIGKILL it when the rig dies, even by kill -9, so nothing is left behind.
    PR_SET_PDEATHSIG = 1. Not fatal where prctl is missing. It reaches only our direct children: processes
    they fork (nginx's workers) outlive a rig killed with -9; a rig stopped any other way kills whole groups."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
    except OSError:
        pass


class Proc:
    """One child process in its own process group, its output appended to `log`."""

    def __init__(self, name, argv, log, stop_signal=signal.SIGTERM, **popen):
        self.name, self.argv, self.log_path, self.stop_signal = name, argv, log, stop_signal
        self._log = open(log, "ab")
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent, **popen)

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; log tail:\n{self.log_tail()}")

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "(no log)"

    def stop(self, timeout=10.0):
        """Asks politely, waits up to `timeout`, then kills the whole process group. Returns the exit code."""
        if self.alive():
            try:
                os.kill(self.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Leftovers of the group (workers, helpers), and the leader itself if it ignored the signal.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()
        return self.popen.returncode


def run(argv, timeout=60, **kwargs):
    """Runs a short command to completion; raises with its output when it fails or overruns."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{argv[0]} did not finish within {timeout}s")
    if done.returncode != 0:
        out = (done.stdout + done.stderr).decode(errors="replace")
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{out}")
    return done.stdout.decode(errors="replace")


def wait_until(what, probe, timeout, proc=None, interval=0.1):
    """Calls `probe` until it returns a true value (returned) or `timeout` passes (raises). Stops early
    when `proc` has exited, with its log."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None:
            proc.check_alive()
        try:
            result = probe()
            if result:
                return result
        except Exception as error:  # the service is not up yet: any failure means "try again"
            last = error
        time.sleep(interval)
    tail = f"\nlog tail:\n{proc.log_tail()}" if proc is not None else ""
    raise RuntimeError(f"{what} not ready within {timeout}s (last: {last!r}){tail}")


def port_open(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_status(url, method="GET", timeout=2.0):
    """The status of one request, 4xx and 5xx included; raises only when there is no answer."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
