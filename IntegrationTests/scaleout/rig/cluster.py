"""The whole rig: SeaweedFS (S3), PostgreSQL, N Berth instances (or stand-in upstreams) and nginx in front.

    with Cluster(berth="/path/to/berth", instances=2) as c:
        c.url            # nginx
        c.instance_urls  # each Berth directly
        c.info()         # everything, as `python3 -m scaleout up` prints it

Starts in dependency order and stops in reverse; a failed start stops what had started. The folder is a new
temporary one (removed afterwards unless keep=True) or `folder` (kept)."""
import os
import shutil
import tempfile

from .berth import BerthInstance, EchoInstance
from .nginx import Nginx
from .postgres import Postgres
from .seaweed import SeaweedS3


class Cluster:
    def __init__(self, berth=None, instances=2, folder=None, keep=False, bucket="berth",
                 berth_config_extra=None, berth_args=(), check_credentials=True):
        """`berth=None` puts stand-in upstreams (scaleout.rig.echo) behind nginx instead of Berth, to check the
        rig itself."""
        if instances < 1:
            raise ValueError("instances must be at least 1")
        self.berth, self.count = berth, instances
        self.given_folder, self.keep = folder, keep
        self.bucket = bucket
        self.berth_config_extra, self.berth_args = berth_config_extra, berth_args
        self.check_credentials = check_credentials
        self.folder = None
        self.s3 = self.postgres = self.nginx = None
        self.instances = []
        self._started = []  # what to stop, in start order

    # -- lifecycle

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self.given_folder:
            os.makedirs(self.given_folder, exist_ok=True)
            self.folder = os.path.abspath(self.given_folder)
        else:
            self.folder = tempfile.mkdtemp(prefix="berth-scaleout-")
        # The postgres user must traverse it (not list it): PostgreSQL's folder inside is its own.
        os.chmod(self.folder, 0o711)

        self.s3 = self._start(SeaweedS3(self._sub("seaweedfs"), bucket=self.bucket))
        if self.check_credentials:
            self.s3.check_credentials()
        self.postgres = self._start(Postgres(self._sub("postgres", create=False)))
        for index in range(1, self.count + 1):
            folder = self._sub(f"berth{index}")
            if self.berth:
                instance = BerthInstance(self.berth, folder, index, self.s3.info(), self.postgres.url,
                                         self.berth_config_extra, self.berth_args)
            else:
                instance = EchoInstance(folder, index)
            self.instances.append(instance)
            self._start(instance)
        for instance in self.instances:
            instance.wait_ready()
        self.nginx = self._start(Nginx(self._sub("nginx"), [i.port for i in self.instances]))
        return self

    def _start(self, service):
        self._started.append(service)
        return service.start()

    def _sub(self, name, create=True):
        path = os.path.join(self.folder, name)
        if create:
            os.makedirs(path, exist_ok=True)
        return path

    def stop(self):
        """Stops everything started, newest first; each stop is bounded and kills what does not exit."""
        errors = []
        while self._started:
            service = self._started.pop()
            try:
                service.stop()
            except Exception as error:  # keep stopping the rest
                errors.append(f"{type(service).__name__}: {error}")
        if self.folder and not self.given_folder and not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        if errors:
            raise RuntimeError("stopping the rig: " + "; ".join(errors))

    # -- what tests and the CLI need

    @property
    def url(self):
        return self.nginx.url

    @property
    def instance_urls(self):
        return [i.url for i in self.instances]

    def info(self):
        return {
            "folder": self.folder,
            "url": self.nginx.url if self.nginx else None,
            "nginx": self.nginx.info() if self.nginx else None,
            "instances": [i.info() for i in self.instances],
            "s3": self.s3.info() if self.s3 else None,
            "postgres": self.postgres.info() if self.postgres else None,
            "upstreams": "berth" if self.berth else "echo",
        }
