#!/usr/bin/env python3
"""Online garbage collection under concurrent load on PostgreSQL + S3 with two instances: the stress of
the gc area (IntegrationTests/garbage) through nginx and both instances directly (an upload's chunks spread over all three),
collections by `berth gc --config <instance's config>` and `POST /api/v1/gc` through nginx (grace 0,
untagged), and both instances' scheduled collections every 2 s racing them. Then the final checks: every
acknowledged, not deleted image pulls through nginx and each instance; every blob nothing references is gone
from the bucket and the `blobs` table; and the tagged images other steps left in the set-up still pull whole.

Used by test_scaleout.py with the session's rig (run(check, cluster, binary)); the instances are restarted
with a `gc:` section for the load, without scheduled collections for the final phase, and with their own
configuration again at the end. Standalone, it starts its own rig:

    python3 -m scaleout.gc_check BERTH_BINARY [--seconds N] [--workers N] [--repos N] [--tags N]
                                 [--kill-collector] [--sabotage delete|leak] [--no-gc]   (from IntegrationTests/)

BERTH_GC_STRESS_SECONDS sets the load's duration (default 40)."""
import hashlib, json, os, subprocess, sys, time

import garbage as gcstress  # the gc area's load generator and final checks (IntegrationTests/garbage)

ADMIN, SECRET = "gcadmin", "gc-admin-secret-1"


def gc_section(every):
    return f"gc:\n  every: {every}\n  grace: 0s\n  untagged: true\nuploads:\n  expire_after: 10s\n"


def restart(cluster, extra):
    for instance in cluster.instances:
        instance.stop()
        instance.extra_config = extra
        instance.start()
    for instance in cluster.instances:
        instance.wait_ready()
    # nginx marked the instances down while they restarted (max_fails=1 fail_timeout=5s).
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if all(gcstress.call("GET", f"{cluster.url}/v2/", timeout=5).status == 200 for _ in range(4)):
                return
        except OSError:
            pass
        time.sleep(0.5)


def tagged_images(url, skip_prefix, limit=60):
    """{(repo, tag): manifest bytes} of what the set-up holds outside the stress's namespace (bounded)."""
    out = {}
    r = gcstress.call("GET", f"{url}/v2/_catalog?n=1000")
    repos = json.loads(r.body).get("repositories") or [] if r.status == 200 else []
    for repo in repos:
        if repo.startswith(skip_prefix):
            continue
        r = gcstress.call("GET", f"{url}/v2/{repo}/tags/list")
        for tag in (json.loads(r.body).get("tags") or [] if r.status == 200 else [])[:5]:
            m = gcstress.call("GET", f"{url}/v2/{repo}/manifests/{tag}", None, {"Accept": ", ".join((
                gcstress.MANIFEST, gcstress.INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json"))})
            if m.status == 200:
                out[(repo, tag)] = m.body
            if len(out) >= limit:
                return out
    return out


def deep_pull(url, repo, body, depth=0):
    """Problems pulling a manifest's children and blobs (each blob's sha256 checked)."""
    problems = []
    try:
        doc = json.loads(body)
    except ValueError:
        return [f"{repo}: manifest is not JSON"]
    accept = {"Accept": ", ".join((gcstress.MANIFEST, gcstress.INDEX,
                                   "application/vnd.docker.distribution.manifest.v2+json"))}
    for child in doc.get("manifests") or []:
        r = gcstress.call("GET", f"{url}/v2/{repo}/manifests/{child['digest']}", None, accept)
        if r.status != 200 or gcstress.sha(r.body) != child["digest"]:
            problems.append(f"{repo}@{child['digest']}: {r.status}")
        elif depth < 2:
            problems += deep_pull(url, repo, r.body, depth + 1)
    for blob in ([doc["config"]] if isinstance(doc.get("config"), dict) else []) + (doc.get("layers") or []):
        d = blob.get("digest", "")
        if not d.startswith("sha256:") or blob.get("urls"):
            continue  # non-distributable layers live elsewhere
        r = gcstress.call("GET", f"{url}/v2/{repo}/blobs/{d}", timeout=120)
        if r.status != 200 or gcstress.sha(r.body) != d:
            problems.append(f"{repo}@{d}: {r.status}")
    return problems


def run(check, cluster, binary, seconds=None, sabotage=None, stub=False, workers=6, repos=4, tags=8,
        kill_collector=False):
    """`stub`: a build without `berth gc`: the load with collections stubbed out (development only)."""
    seconds = seconds or float(os.environ.get("BERTH_GC_STRESS_SECONDS", "40"))
    started = time.time()
    if not stub and not gcstress.has_gc(binary):
        check(False, f"scale-out gc: {binary} has a `gc` subcommand")
        return
    gc_yaml = (lambda every: "") if stub else gc_section
    config = cluster.instances[0].config_path
    r = subprocess.run([binary, "user", "add", ADMIN, "--password-stdin", "--admin", "--config", config],
                       input=SECRET + "\n", capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 or "exists" in r.stderr, f"scale-out gc: admin user added ({r.stderr.strip()[:200]})")
    original = [i.extra_config for i in cluster.instances]
    before = tagged_images(cluster.url, "gcstress/")
    # What already failed to pull before any collection (a step may break an image on purpose) is not GC's doing.
    broken_before = {key: set(deep_pull(cluster.url, key[0], body)) for key, body in before.items()}
    print(f"# scale-out gc: {len(before)} tagged images of earlier steps recorded "
          f"({sum(1 for v in broken_before.values() if v)} already incomplete)", flush=True)
    s3 = cluster.s3.client()
    bucket, prefix = cluster.s3.bucket, cluster.s3.info().get("prefix", "")

    def storage_blobs():
        out = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "blobs/"):
            for obj in page.get("Contents") or []:
                parts = obj["Key"][len(prefix):].split("/")
                if len(parts) == 4:
                    out.add(f"{parts[1]}:{parts[3]}")
        return out

    def pairs(sql):
        out = set()
        for line in cluster.postgres.psql(sql).splitlines():
            if line:
                out.add(tuple(line.split("|")))
        return out

    def delete_blob(d):
        algorithm, hexpart = d.split(":", 1)
        s3.delete_object(Bucket=bucket, Key=f"{prefix}blobs/{algorithm}/{hexpart[:2]}/{hexpart}")
        cluster.postgres.psql(f"DELETE FROM blobs WHERE digest = '{d}'")

    def quiesce():
        restart(cluster, (original[0] or "") + gc_yaml("off"))
        return None

    target = gcstress.Target(
        [cluster.url] + cluster.instance_urls,
        [] if stub else [("cli", gcstress.cli_runner(binary, ["--config", config])),
                         ("api", gcstress.api_runner(lambda: cluster.url, {"Authorization": basic(ADMIN, SECRET)}))],
        storage_blobs,
        lambda: {p[0] for p in pairs("SELECT digest FROM blobs")},
        lambda ns: pairs(f"SELECT repository, digest FROM manifests WHERE repository LIKE '{ns}%'"),
        lambda ns: pairs(f"SELECT repository, digest FROM repository_blobs WHERE repository LIKE '{ns}%'"),
        delete_blob, quiesce)
    try:
        if not stub:
            # What earlier steps left (their garbage, their abandoned upload sessions, now past the 10 s expiry)
            # is collected first, so that the load's collections run back to back rather than behind one long one.
            restart(cluster, (original[0] or "") + gc_yaml("off"))
            t0, state, detail = time.time(), "busy", ""
            while state == "busy" and time.time() - t0 < 300:
                state, report, detail = target.gc_runners[0][1](dry_run=False)
                if state == "busy":
                    time.sleep(1)
            check(state == "ok", f"scale-out gc: a first collection over what earlier steps left took "
                                 f"{time.time() - t0:.1f} s: {report if state == 'ok' else detail}")
        restart(cluster, (original[0] or "") + gc_yaml("2s"))
        stats = gcstress.Stress(target, lambda ok, what, *detail: check(ok, "scale-out gc: " + what, *detail),
                                 seconds=seconds, workers=workers, sabotage=sabotage, repos=repos, tags_per_repo=tags,
                                 kill_collector=kill_collector,
                                 log=lambda s: print(s, flush=True)).run()
        problems = []
        for (repo, tag), body in before.items():
            r = gcstress.call("GET", f"{cluster.url}/v2/{repo}/manifests/{tag}", None, {"Accept": ", ".join((
                gcstress.MANIFEST, gcstress.INDEX, "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json"))})
            if r.status != 200 or r.body != body:
                problems.append(f"{repo}:{tag}: {r.status}")
            else:
                problems += sorted(set(deep_pull(cluster.url, repo, body)) - broken_before[(repo, tag)])
        check(not problems, f"scale-out gc: the {len(before)} tagged images earlier steps left still pull whole "
                            f"({len(problems)} problems: {problems[:3]})")
        scheduled = {}
        for instance in cluster.instances:
            with open(instance.proc.log_path, errors="replace") as f:
                lines = f.readlines()
            crashes = [l for l in lines if "Fatal error" in l]
            check(not crashes, f"scale-out gc: no crash in {instance.name}'s log ({crashes[:2]})")
            runs = [l for l in lines if '"action":"gc.run"' in l and f'"actor":"{ADMIN}"' not in l]
            scheduled[instance.name] = len(runs)
            for line in runs[-20:]:
                try:
                    a = json.loads(line[line.index('{"audit"'):])["audit"]
                    print(f"#   {instance.name} scheduled run at {a.get('at')}: {a.get('detail')}", flush=True)
                except (ValueError, KeyError):
                    pass
        check(stub or sum(scheduled.values()) >= 1, f"scale-out gc: the instances' scheduled collections ran during "
                                                    f"the load and removed garbage (runs that removed something: {scheduled})")
        print(f"# scale-out gc: {', '.join(f'{k}={v}' for k, v in stats.items())}", flush=True)
    finally:
        for instance, extra in zip(cluster.instances, original):
            instance.extra_config = extra
        restart(cluster, original[0])
        print(f"# scale-out gc took {time.time() - started:.1f} s", flush=True)


def basic(user, secret):
    import base64
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def seed_earlier_steps(url):
    """Standalone, what the other steps would have left: two tagged images and an untagged one."""
    for tag in ("v1", "v2", None):
        config, layer = json.dumps({"earlier": tag}).encode(), os.urandom(3000)
        for data in (config, layer):
            gcstress.call("POST", f"{url}/v2/earlier/app/blobs/uploads/?digest={gcstress.sha(data)}", data)
        body = json.dumps({"schemaVersion": 2, "mediaType": gcstress.MANIFEST,
                           "config": {"mediaType": gcstress.CONFIG, "digest": gcstress.sha(config), "size": len(config)},
                           "layers": [{"mediaType": gcstress.LAYER, "digest": gcstress.sha(layer), "size": len(layer)}]}).encode()
        r = gcstress.call("PUT", f"{url}/v2/earlier/app/manifests/{tag or gcstress.sha(body)}", body,
                           {"Content-Type": gcstress.MANIFEST})
        assert r.status == 201, r


def main():
    import argparse
    from scaleout.rig import Cluster
    p = argparse.ArgumentParser()
    p.add_argument("binary")
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--sabotage", choices=("delete", "leak"))
    p.add_argument("--no-gc", action="store_true", help="collections stubbed out (a build without berth gc)")
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--kill-collector", action="store_true", help="SIGKILL half the `berth gc` runs mid-collection")
    p.add_argument("--repos", type=int, default=4)
    p.add_argument("--tags", type=int, default=8)
    args = p.parse_args()
    binary = os.path.abspath(args.binary)
    failures = []

    def check(ok, what):
        print(("ok - " if ok else "not ok - ") + what, flush=True)
        if not ok:
            failures.append(what)

    t0 = time.time()
    with Cluster(berth=binary, instances=2) as cluster:
        print(f"# rig up in {time.time() - t0:.1f} s: nginx {cluster.url}, instances {cluster.instance_urls}", flush=True)
        seed_earlier_steps(cluster.url)
        run(check, cluster, binary, args.seconds, args.sabotage, stub=args.no_gc, workers=args.workers,
            repos=args.repos, tags=args.tags, kill_collector=args.kill_collector)
    print(f"# took {time.time() - t0:.1f} s", flush=True)
    if args.sabotage:
        print(f"scale-out gc (sabotage {args.sabotage}): {'caught' if failures else 'NOT caught'}, "
              f"{len(failures)} failed", flush=True)
        sys.exit(0 if failures else 1)
    print(f"scale-out gc: {len(failures)} failed", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
