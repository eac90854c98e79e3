"""A throwaway PostgreSQL 15 cluster (Debian's /usr/lib/postgresql/15/bin) on 127.0.0.1 with a database
`berth`.

initdb and postgres refuse to run as root, so both run as the `postgres` user (Popen's user=, the same as
runuser without an intermediate process to forward signals through); the data folder is owned by postgres.
postgres runs in the foreground as our child, not daemonized by pg_ctl, so stopping it is a signal and a wait.
Authentication is `trust`: the server listens on loopback only, in a folder no one else uses."""
import os
import pwd
import signal
import subprocess

from harness.procs import Proc, free_port, run, wait_until

PG_BIN = os.environ.get("BERTH_PG_BIN", "/usr/lib/postgresql/15/bin")
USER = "berth"
DATABASE = "berth"


class Postgres:
    def __init__(self, folder, os_user="postgres"):
        self.folder = folder
        self.data = os.path.join(folder, "data")
        self.sockets = os.path.join(folder, "sockets")
        self.port = free_port()
        self.os_user = os_user
        self.proc = None

    @property
    def url(self):
        return f"postgres://{USER}@127.0.0.1:{self.port}/{DATABASE}?sslmode=disable"

    def _as_postgres(self):
        """Popen arguments that run a command as the postgres user, from a folder it may enter."""
        account = pwd.getpwnam(self.os_user)
        env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": self.folder, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "env": env,
                "cwd": self.folder}

    def start(self, timeout=60):
        if not os.path.exists(os.path.join(PG_BIN, "postgres")):
            raise RuntimeError(f"no PostgreSQL in {PG_BIN} (apt-get install postgresql)")
        account = pwd.getpwnam(self.os_user)
        os.makedirs(self.sockets, exist_ok=True)
        for path in (self.folder, self.sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
            os.chmod(path, 0o700)
        _require_traversable(os.path.dirname(self.folder), self.os_user)
        # The cluster's superuser is `berth` itself: a throwaway cluster needs no other role.
        run([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync"],
            timeout=120, **self._as_postgres())
        argv = [f"{PG_BIN}/postgres", "-D", self.data, "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.sockets}",
                "-c", "max_connections=200", "-c", "logging_collector=off"]
        # SIGINT is PostgreSQL's fast shutdown: open transactions are rolled back, then it exits.
        self.proc = Proc("postgres", argv, os.path.join(self.folder, "postgres.log"),
                         stop_signal=signal.SIGINT, **self._as_postgres())
        ready = [f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-t", "1"]
        wait_until("PostgreSQL", lambda: subprocess.run(ready, capture_output=True, timeout=5).returncode == 0,
                   timeout, self.proc, interval=0.2)
        run([f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE], timeout=30)
        return self

    def psql(self, sql):
        """Runs SQL in the berth database over TCP; returns the unaligned output."""
        return run([f"{PG_BIN}/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", DATABASE,
                    "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], timeout=30).strip()

    def info(self):
        return {"url": self.url, "host": "127.0.0.1", "port": self.port, "user": USER, "database": DATABASE,
                "socket_dir": self.sockets}

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None


def _require_traversable(path, user):
    """The postgres user must be able to reach the cluster's folder: every parent needs o+x (a folder from
    mkdtemp is 0700; the rig opens its top folder to traversal, not to listing)."""
    path = os.path.abspath(path)
    while True:
        mode = os.stat(path).st_mode
        if not mode & 0o001:
            raise RuntimeError(f"{user} cannot enter {path} (mode {oct(mode & 0o777)}); "
                               f"choose a --dir whose parents are world-traversable")
        parent = os.path.dirname(path)
        if parent == path:
            return
        path = parent
