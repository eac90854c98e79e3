"""python3 -m scaleout.rig (run from IntegrationTests/, or with IntegrationTests/ on PYTHONPATH)

  up --berth PATH [--instances N] [--dir D] [--keep] [--echo]
      Starts SeaweedFS, PostgreSQL, N Berth instances and nginx, prints one JSON object with the URLs and
      credentials, then runs until SIGTERM or SIGINT and stops everything. --echo puts stand-in upstreams
      behind nginx instead of Berth.
  check [--berth PATH] [--instances N] [--dir D] [--keep]
      Starts the rig and checks S3 credentials and PostgreSQL, then nginx's routing (stand-in upstreams) or,
      with --berth, a chunked push through nginx and pulls from every instance.
  faults --berth PATH [--keep]
      S3 retries through a fault-injecting proxy in front of SeaweedFS (scaleout.rig.faultcheck)."""
import argparse
import json
import signal
import sys
import threading

from . import faultcheck, selfcheck
from .cluster import Cluster


def up(args):
    if not args.berth and not args.echo:
        sys.exit("up: --berth PATH is required (or --echo for stand-in upstreams)")
    stop = threading.Event()
    # Handlers before starting, so a signal during start-up still stops what has started.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    cluster = Cluster(berth=None if args.echo else args.berth, instances=args.instances, folder=args.dir,
                      keep=args.keep)
    try:
        cluster.start()
        print(json.dumps(cluster.info(), indent=2), flush=True)
        while not stop.is_set():
            stop.wait(1.0)
            for service in [cluster.s3, cluster.postgres, cluster.nginx] + cluster.instances:
                if service.proc is not None and not service.proc.alive():
                    print(f"scaleout: {service.proc.name} exited ({service.proc.popen.returncode}); stopping",
                          file=sys.stderr, flush=True)
                    stop.set()
    finally:
        cluster.stop()
    print("scaleout: stopped", file=sys.stderr, flush=True)


def check(args):
    results = selfcheck.main(instances=args.instances, folder=args.dir, keep=args.keep, berth=args.berth)
    print(json.dumps(results, indent=2))
    print("scaleout check: all passed", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m scaleout.rig")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "check"):
        command = commands.add_parser(name)
        command.add_argument("--instances", type=int, default=2)
        command.add_argument("--dir", help="folder for everything (kept); default: a temporary one (removed)")
        command.add_argument("--keep", action="store_true", help="keep the temporary folder")
        command.add_argument("--berth", help="the berth binary")
        if name == "up":
            command.add_argument("--echo", action="store_true", help="stand-in upstreams instead of Berth")
    faults = commands.add_parser("faults")
    faults.add_argument("--berth", required=True, help="the berth binary")
    faults.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.command == "faults":
        sys.exit(1 if faultcheck.main(args.berth, keep=args.keep) else 0)
    {"up": up, "check": check}[args.command](args)


if __name__ == "__main__":
    main()
