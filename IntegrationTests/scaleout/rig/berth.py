"""Berth instances sharing one S3 bucket and one PostgreSQL database, each with its own port and scratch
root. `config_yaml` is the one place that knows the configuration keys for the S3 and PostgreSQL drivers."""
import json
import os
import sys

from harness.procs import Proc, free_port, http_status, wait_until


def _yaml_str(value):
    """A YAML scalar for any string: JSON strings are valid YAML double-quoted scalars."""
    return json.dumps(str(value))


def config_yaml(address, root, s3, postgres_url, extra=None):
    """The instance's configuration file. `s3` is SeaweedS3.info(); `extra` is appended verbatim (log level,
    auth, ...). Adjust here when the driver keys change."""
    lines = [
        f"address: {address}",
        f"root: {_yaml_str(root)}          # local scratch only",
        "storage:",
        "  driver: s3",
        "  s3:",
        f"    endpoint: {_yaml_str(s3['endpoint'])}",
        f"    region: {_yaml_str(s3['region'])}",
        f"    bucket: {_yaml_str(s3['bucket'])}",
        f"    prefix: {_yaml_str(s3.get('prefix', ''))}",
        "    path_style: true",
        f"    access_key: {_yaml_str(s3['access_key'])}",
        f"    secret_key: {_yaml_str(s3['secret_key'])}",
        *(["    redirect: true"] if s3.get("redirect") else []),
        "metadata:",
        "  driver: postgres",
        "  postgres:",
        f"    url: {_yaml_str(postgres_url)}",
    ]
    return "\n".join(lines) + "\n" + (extra or "")


class BerthInstance:
    """One instance of the rig. The same idea as harness.berth.Berth (one `berth serve` with its folder, config
    and log), but its address is fixed before it starts (nginx's upstreams and the checks that add instances
    need it), its configuration is the S3 + PostgreSQL file above, it runs as a harness.procs.Proc (its own
    process group, killed with the rig) and is ready when /healthz answers; the rig restarts it with other
    settings (`extra_config`) and a check may SIGKILL it (`proc.popen.kill()`)."""

    def __init__(self, binary, folder, index, s3, postgres_url, extra_config=None, args=()):
        self.binary = os.path.abspath(binary)
        self.folder = folder
        self.index = index
        self.port = free_port()
        self.s3, self.postgres_url = s3, postgres_url
        self.extra_config, self.args = extra_config, list(args)
        self.proc = None

    @property
    def name(self):
        return f"berth{self.index}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self):
        return os.path.join(self.folder, "berth.yml")

    def start(self):
        """Starts the process; `wait_ready` waits for it (instances start side by side)."""
        root = os.path.join(self.folder, "root")
        os.makedirs(root, exist_ok=True)
        with open(self.config_path, "w") as f:
            f.write(config_yaml(f"127.0.0.1:{self.port}", root, self.s3, self.postgres_url, self.extra_config))
        os.chmod(self.config_path, 0o600)  # it holds the S3 secret
        argv = [self.binary, "serve", "--config", self.config_path] + self.args
        self.proc = Proc(self.name, argv, os.path.join(self.folder, "berth.log"), cwd=self.folder)
        return self

    def wait_ready(self, timeout=60):
        wait_until(self.name, lambda: http_status(self.url + "/healthz", timeout=3) == 200, timeout, self.proc,
                   interval=0.2)
        return self

    def info(self):
        return {"name": self.name, "url": self.url, "config": self.config_path,
                "log": os.path.join(self.folder, "berth.log"), "pid": self.proc.pid if self.proc else None}

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=15)  # SIGTERM: Berth lets requests in flight finish
            self.proc = None


class EchoInstance:
    """An upstream that is not Berth (scaleout.rig.echo), for checking the rig's routing on its own."""

    def __init__(self, folder, index):
        self.folder, self.index = folder, index
        self.port = free_port()
        self.proc = None

    @property
    def name(self):
        return f"echo{self.index}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        os.makedirs(self.folder, exist_ok=True)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # IntegrationTests/
        self.proc = Proc(self.name, [sys.executable, "-m", "scaleout.rig.echo", str(self.port)],
                         os.path.join(self.folder, "echo.log"), cwd=here)
        return self

    def wait_ready(self, timeout=20):
        wait_until(self.name, lambda: http_status(self.url + "/", timeout=2) == 200, timeout, self.proc)
        return self

    def info(self):
        return {"name": self.name, "url": self.url, "pid": self.proc.pid if self.proc else None}

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=5)
            self.proc = None
