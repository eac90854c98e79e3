#!/usr/bin/env python3
"""Scale-out benchmark: Berth against CNCF Distribution, each as two instances behind nginx on one SeaweedFS.

usage: scripts/bench_scaleout.py --berth PATH --berth-bench PATH --registry PATH [--rounds 3]
           [--json OUT.jsonl] [--dir D] [--timeout S] [--direct] [--no-pid] [-- more berth-bench arguments]

One rig (IntegrationTests/scaleout/rig): SeaweedFS (S3, credentials), PostgreSQL, two Berth instances (S3 + PostgreSQL) and
nginx in front. Beside it, on the SAME SeaweedFS (its own bucket, same credentials): two Distribution
`registry serve` instances with its s3 driver (path style, v4 auth, redirects off, shared http.secret,
`blobdescriptor: inmemory`, delete enabled), behind a second nginx started from the same class with the same
configuration (round robin; upload-session URLs `/v2/<name>/blobs/uploads/<id>` hashed on the id, for both).
Then `berth-bench A=Berth's nginx B=Distribution's nginx`, which alternates A B A B per round and prints the
table. Every start, and the benchmark itself, is bounded in time; everything is stopped at the end.

Sizes are berth-bench's defaults, the same for both sides; arguments after `--` go to berth-bench (e.g.
`-- --only head-blob,tags-list --blobs 32`). Distribution runs with OTEL_TRACES_EXPORTER=none: v3.1.1 always
traces, and without a collector its default OTLP exporter retries https://localhost:4318 in the background.
The rig's SeaweedFS is given room for 200 volumes of 256 MiB instead of 32 (8 GiB, too few): three full rounds
of both registries fill about 9 GiB of volumes (both copy a blob within the bucket when its upload completes,
and the space of deleted objects is reclaimed only by a later vacuum)."""
import argparse
import json
import os
import secrets
import subprocess
import sys
import time

# The rig lives with the integration tests; its process helpers in their harness.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "IntegrationTests"))
from scaleout.rig import Cluster  # noqa: E402
from scaleout.rig.nginx import Nginx  # noqa: E402
from harness.procs import Proc, free_port, http_status, wait_until  # noqa: E402

DISTRIBUTION_BUCKET = "distribution"
VOLUMES = 200


def more_seaweed_volumes(volumes=VOLUMES):
    """Appends -volume.max=N to the rig's `weed server` command line (for Go's flags the last one wins)."""
    import scaleout.rig.seaweed as seaweed
    original = seaweed.Proc
    seaweed.Proc = lambda name, argv, *rest, **options: original(
        name, list(argv) + [f"-volume.max={volumes}"], *rest, **options)


def distribution_config(address, s3, bucket, secret):
    """Distribution's example configuration minus auth, with the s3 driver on the rig's SeaweedFS."""
    s3 = {key: json.dumps(value) for key, value in s3.items()}  # JSON strings are YAML scalars
    return f"""\
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  s3:
    accesskey: {s3['access_key']}
    secretkey: {s3['secret_key']}
    region: {s3['region']}
    regionendpoint: {s3['endpoint']}
    forcepathstyle: true
    bucket: {json.dumps(bucket)}
    secure: false
    v4auth: true
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  redirect:
    disable: true
  tag:
    concurrencylimit: 8
http:
  addr: {address}
  secret: {json.dumps(secret)}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


class DistributionInstance:
    """One `registry serve` process; same interface as scaleout.rig.berth.BerthInstance."""

    def __init__(self, binary, folder, index, s3, bucket, secret):
        self.binary, self.folder, self.index = os.path.abspath(binary), folder, index
        self.s3, self.bucket, self.secret = s3, bucket, secret
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        os.makedirs(self.folder, exist_ok=True)
        config = os.path.join(self.folder, "config.yml")
        with open(config, "w") as f:
            f.write(distribution_config(f"127.0.0.1:{self.port}", self.s3, self.bucket, self.secret))
        os.chmod(config, 0o600)
        env = dict(os.environ, OTEL_TRACES_EXPORTER="none")
        self.proc = Proc(f"registry{self.index}", [self.binary, "serve", config],
                         os.path.join(self.folder, "registry.log"), cwd=self.folder, env=env)
        return self

    def wait_ready(self, timeout=60):
        wait_until(f"registry{self.index}", lambda: http_status(self.url + "/v2/", timeout=3) == 200, timeout,
                   self.proc, interval=0.2)
        return self

    def stop(self):
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None


def tree_cpu(roots):
    """CPU seconds (utime + stime, and reaped children's) of each root process and its live descendants, from
    /proc: PostgreSQL's backends and nginx's workers count to their service."""
    stats, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    totals = {}
    for pid, (_, seconds) in stats.items():
        ancestor = pid
        while ancestor in stats and ancestor not in roots.values():
            ancestor = stats[ancestor][0]
        for name, root in roots.items():
            if root == ancestor:
                totals[name] = totals.get(name, 0) + seconds
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--berth", required=True)
    parser.add_argument("--berth-bench", required=True)
    parser.add_argument("--registry", required=True, help="Distribution's registry binary")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--json", default="scaleout-compare.jsonl", help="berth-bench appends JSON lines here")
    parser.add_argument("--dir", help="folder for everything (kept); default: a temporary one (removed)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for berth-bench before it is killed")
    parser.add_argument("--direct", action="store_true",
                        help="benchmark the first instance of each directly, not through nginx (to see nginx's share)")
    parser.add_argument("--no-pid", action="store_true", help="do not pass instance PIDs (no RSS figures)")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="after --: more berth-bench arguments")
    args = parser.parse_args()
    extra = [a for a in args.bench_args if a != "--"] if args.bench_args else []
    for path in (args.berth, args.berth_bench, args.registry):
        if not os.access(path, os.X_OK):
            sys.exit(f"not an executable: {path}")

    more_seaweed_volumes()
    started = time.monotonic()
    with Cluster(berth=args.berth, instances=args.instances, folder=args.dir) as cluster:
        s3 = cluster.s3.info()
        client = cluster.s3.client()
        client.create_bucket(Bucket=DISTRIBUTION_BUCKET)
        secret = secrets.token_hex(32)  # one http.secret for every instance: upload state signed by any
        services = []
        try:
            registries = []
            for index in range(1, args.instances + 1):
                instance = DistributionInstance(args.registry, os.path.join(cluster.folder, f"registry{index}"),
                                                index, s3, DISTRIBUTION_BUCKET, secret)
                services.append(instance.start())
                registries.append(instance)
            for instance in registries:
                instance.wait_ready()
            front = Nginx(os.path.join(cluster.folder, "nginx-distribution"), [i.port for i in registries])
            services.append(front.start())

            pids = {f"berth{i.index}": i.proc.pid for i in cluster.instances}
            pids.update({f"registry{i.index}": i.proc.pid for i in registries})
            pids.update({"seaweedfs": cluster.s3.proc.pid, "postgres": cluster.postgres.proc.pid,
                         "nginx-berth": cluster.nginx.proc.pid, "nginx-distribution": front.proc.pid})
            a, b = (cluster.instance_urls[0], registries[0].url) if args.direct else (cluster.url, front.url)
            argv = [args.berth_bench, a, b, "--rounds", str(args.rounds), "--json", args.json]
            if not args.no_pid:
                argv += ["--pid", str(cluster.instances[0].proc.pid), "--pid", str(registries[0].proc.pid)]
            argv += extra
            print(f"bench_scaleout: rig up in {time.monotonic() - started:.0f}s, folder {cluster.folder}",
                  flush=True)
            print(f"bench_scaleout: A = Berth via {cluster.url} ({', '.join(cluster.instance_urls)})", flush=True)
            print(f"bench_scaleout: B = Distribution via {front.url} ({', '.join(r.url for r in registries)})",
                  flush=True)
            print("bench_scaleout: " + " ".join(argv), flush=True)
            before, bench_started = tree_cpu(pids), time.monotonic()
            try:
                subprocess.run(argv, stdin=subprocess.DEVNULL, check=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                sys.exit(f"bench_scaleout: berth-bench did not finish within {args.timeout:.0f}s")
            except subprocess.CalledProcessError as error:
                sys.exit(f"bench_scaleout: berth-bench failed ({error.returncode})")
            after = tree_cpu(pids)
            print(f"bench_scaleout: benchmark took {time.monotonic() - bench_started:.0f}s; "
                  "CPU seconds per process over the whole run (both sides alternate, the store is shared):")
            for name in pids:
                print(f"  {name:18s} {after.get(name, 0) - before.get(name, 0):8.1f}")
        finally:
            for service in reversed(services):
                service.stop()
    print(f"bench_scaleout: done in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
