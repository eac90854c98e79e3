"""The stress's view of one Berth on the embedded stores (SQLite + filesystem): its URL, the two ways to
collect (`berth gc` and POST /api/v1/gc), its blob files and tables, and a restart without scheduled
collections for the final phase."""
import glob, os, sqlite3

from garbage.target import Target, api_runner, cli_runner
from harness.httpclient import basic

ADMIN, SECRET = "gcadmin", "gc-admin-secret-1"


def config(gc, every):
    """Scheduled collections every `every` (grace 0, untagged too) and short-lived upload sessions."""
    if not gc:
        return ""
    return f"gc:\n  every: {every}\n  grace: 0s\n  untagged: true\nuploads:\n  expire_after: 10s\n"


def metadata(root, readonly=True):
    path = os.path.join(root, "metadata.db")
    if readonly:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    return sqlite3.connect(path, timeout=30)


def target(berth, gc):
    root = berth.root

    def url():
        return berth.url  # after quiesce() the port is a new one

    def storage_blobs():
        out = set()
        for path in glob.glob(os.path.join(root, "blobs", "*", "*", "*")):
            algorithm = os.path.basename(os.path.dirname(os.path.dirname(path)))
            out.add(f"{algorithm}:{os.path.basename(path)}")
        return out

    def rows(sql, *params):
        con = metadata(root)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def delete_blob(d):
        """Sabotage "delete": a collector that deletes too much (a referenced blob's file and row)."""
        algorithm, hexpart = d.split(":", 1)
        os.remove(os.path.join(root, "blobs", algorithm, hexpart[:2], hexpart))
        con = metadata(root, readonly=False)
        try:
            con.execute("DELETE FROM blobs WHERE digest = ?", (d,))
            con.commit()
        finally:
            con.close()

    def quiesce():
        """Restarts the server without scheduled collections, for the final phase."""
        berth.stop()
        with open(berth.config, "w") as f:
            f.write(config(gc, "off"))
        berth.start()
        return [url()]

    runners = []
    if gc:
        runners = [("cli", cli_runner(berth.binary, ["--config", berth.config, "--root", root])),
                   ("api", api_runner(url, basic(ADMIN, SECRET)))]
    return Target(
        [url()], runners, storage_blobs,
        lambda: {r[0] for r in rows("SELECT digest FROM blobs")},
        lambda prefix: set(rows("SELECT repository, digest FROM manifests WHERE repository LIKE ?", prefix + "%")),
        lambda prefix: set(rows("SELECT repository, digest FROM repository_blobs WHERE repository LIKE ?",
                                prefix + "%")),
        delete_blob, quiesce)
