"""A private dockerd for the real-client sections: vfs storage, no networking, and everything it owns under one
short folder of its own (/tmp/bd-XXXX: socket `s`, exec-root `e` with the containerd it spawns, data-root `d`,
pid file `p`), so two of them (the clients area and the scale-out rig, on different xdist workers) never share a
socket, a containerd, a data root or a pid file. The folder's layout is what sections.sh expects of
BERTH_RC_DOCK.

    with Dockerd() as d:
        d.folder   # BERTH_RC_DOCK
"""
import os, shutil, subprocess, tempfile

from harness.procs import Proc, wait_until


class Dockerd:
    def __init__(self):
        self.folder, self.proc = None, None

    @property
    def socket(self):
        return os.path.join(self.folder, "s")

    @property
    def env(self):
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}"}

    def answers(self):
        """`docker version` reaches this daemon (client and server)."""
        try:
            return subprocess.run(["docker", "version"], env=self.env, capture_output=True, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def start(self, timeout=90):
        # Unix socket paths are limited to 107 bytes: containerd's live under the exec-root, so keep it short.
        self.folder = tempfile.mkdtemp(prefix="bd-", dir="/tmp")
        for sub in ("d", "e"):
            os.makedirs(os.path.join(self.folder, sub))
        f = self.folder
        self.proc = Proc("dockerd", [
            "dockerd", "--iptables=false", "--ip-masq=false", "--bridge=none", "--storage-driver=vfs",
            "--data-root", f"{f}/d", "--exec-root", f"{f}/e", "--host", f"unix://{f}/s", "--pidfile", f"{f}/p"],
            os.path.join(f, "dockerd.log"))
        wait_until("dockerd", lambda: os.path.exists(self.socket) and self.answers(), timeout, self.proc,
                   interval=0.5)
        # dockerd spawns containerd with its socket under the exec-root; ctr talks to that one.
        sock = os.path.join(f, "e/containerd/containerd.sock")
        try:
            wait_until("dockerd's containerd", lambda: os.path.exists(sock), 10, self.proc, interval=0.25)
        except RuntimeError:
            pass  # the ctr section says so (or finds a system containerd)
        return self

    def stop(self):
        """SIGTERM (dockerd stops the containerd it spawned), SIGKILL after 20 s; then a containerd that outlived
        it (not our child: found by its pid file and checked by name and folder), the private mounts dockerd
        makes of its data-root, and the folder."""
        if self.proc is not None:
            self.proc.stop(timeout=20)
            self.proc = None
        if not self.folder:
            return
        try:
            with open(os.path.join(self.folder, "e/containerd/containerd.pid")) as fh:
                pid = int(fh.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ").decode(errors="replace")
            if "containerd" in cmdline and self.folder + "/" in cmdline:
                os.kill(pid, 9)
        except (OSError, ValueError):
            pass
        with open("/proc/self/mounts") as fh:
            mounts = [line.split()[1] for line in fh]
        for m in sorted((m for m in mounts if m == self.folder or m.startswith(self.folder + "/")), reverse=True):
            if subprocess.run(["umount", m], capture_output=True, timeout=30).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
        return False
