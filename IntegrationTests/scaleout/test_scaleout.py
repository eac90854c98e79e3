"""The scale-out set-up under test: two Berth instances on SeaweedFS (S3) and PostgreSQL behind nginx (the `rig`
session fixture), one test per check family, in this order (later ones see what earlier ones left: the GC check
collects it and then pulls every tagged image earlier steps left; the SIGKILL of an instance goes last, and
restarts the instance after):

  the Swift suites that need a live S3 store and PostgreSQL (BERTH_SCALEOUT_SWIFT=0 skips them; they need the
  release test build); upload sessions and deletes across instances (instances.py); S3 retries through
  injected faults, and failing without them (rig/faultcheck.py); token mode across instances sharing a
  signing-keys folder (token_check.py); `storage.s3.redirect` and skopeo through the redirects
  (redirect_check.py); tag immutability across instances, also for racing pushes (policy_check.py); the OCI
  conformance suite (1.1 and dev) through nginx; the real-client sections through nginx (the clients area's,
  BERTH_SCALEOUT_CLIENTS=0 skips them); `berth migrate-storage` into the set-up (migrate_check.py); online GC
  under load (gc_check.py); SIGKILL of one instance during pushes (kill.py).

They share one rig and depend on its order, so they are one module in one xdist group ("scaleout").
"""
import os, shutil, subprocess

import pytest

from clients.dockerd import Dockerd
from clients.runner import PLAIN, run_sections
from scaleout import gc_check, instances, kill, migrate_check, policy_check, redirect_check, token_check
from scaleout.rig import faultcheck
from scaleout.rig.berth import config_yaml

pytestmark = [pytest.mark.scaleout, pytest.mark.xdist_group("scaleout")]


def test_instances_serve(rig, checks):
    for url in rig.instance_urls:
        status, _, _ = instances.call("GET", f"{url}/healthz")
        checks(status == 200, f"{url}/healthz is 200")


def test_live_swift_suites(rig, repo_root, checks):
    """The driver suites skip without a live S3 and PostgreSQL; here they have both, and must run, not skip."""
    if os.environ.get("BERTH_SCALEOUT_SWIFT", "1") == "0":
        pytest.skip("BERTH_SCALEOUT_SWIFT=0")
    s3 = rig.s3.info()
    cmd = ["swift", "test", "--configuration", "release", "--skip-build",
           "--filter", "S3BlobStoreTests|MetadataStoreBehaviourTests"]
    print("#", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900, env={
        **os.environ, "BERTH_TEST_S3_ENDPOINT": s3["endpoint"], "BERTH_TEST_S3_BUCKET": "berth-swift-tests",
        "AWS_ACCESS_KEY_ID": s3["access_key"], "AWS_SECRET_ACCESS_KEY": s3["secret_key"],
        "AWS_REGION": s3["region"], "BERTH_TEST_POSTGRES_URL": rig.postgres.url})
    output = r.stdout + r.stderr
    print(output[-4000:], flush=True)
    # With both stores live, nothing in these suites may skip (swift-testing marks a skip `➜ ... skipped`).
    skipped = [line for line in output.splitlines() if "skipped" in line and line.startswith("➜")]
    checks(r.returncode == 0 and not skipped, f"Swift suites on live SeaweedFS and PostgreSQL pass, none skipped "
           f"(exit {r.returncode}, {len(skipped)} skipped)")


def test_uploads_and_deletes_across_instances(rig, checks):
    a, b = rig.instance_urls
    instances.cross_instance(checks, a, b)
    instances.cached_deletes(checks, a, b)


def test_s3_faults(rig, berth_binary, work, checks):
    faultcheck.run(checks, rig.s3, berth_binary, folder=work)


def test_token_mode_across_instances(rig, berth_binary, checks):
    token_check.run(checks, rig, berth_binary)


def test_presigned_redirects(rig, berth_binary, checks):
    redirect_check.run(checks, rig, berth_binary)


def test_tag_immutability_across_instances(rig, berth_binary, checks):
    policy_check.run(checks, rig, berth_binary)


def test_conformance_through_nginx(rig, repo_root, work, checks):
    for profile in ("1.1", "dev"):
        r = subprocess.run([os.path.join(repo_root, "scripts/conformance.sh"), rig.url, profile],
                           capture_output=True, text=True, timeout=1200,
                           env={**os.environ, "TMPDIR": work})  # the suite's results go with the test's folder
        print(r.stdout + r.stderr)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        checks(r.returncode == 0, f"OCI conformance {profile} through nginx, two instances: {last}")


def test_real_clients_through_nginx(rig, work, checks):
    """The clients area's plain sections (docker, ctr, skopeo, podman, oras, api) through nginx, with a private
    dockerd of this test's own (its own folder, socket, exec-root and pid file: the clients area's may run at the
    same time on another worker)."""
    if os.environ.get("BERTH_SCALEOUT_CLIENTS", "1") == "0":
        pytest.skip("BERTH_SCALEOUT_CLIENTS=0")
    registry = rig.url.split("://", 1)[1]
    if shutil.which("dockerd") and shutil.which("docker"):
        with Dockerd() as d:
            checks(d.answers(), "docker: private dockerd starts and answers")
            summary = run_sections(checks, registry, PLAIN, work, dock=d.folder)
    else:
        summary = run_sections(checks, registry, PLAIN, work)
    checks(", 0 failed," in summary, f"real clients through nginx, two instances ({summary})")


def test_migrate_storage(rig, berth_binary, checks):
    migrate_check.run(checks, rig, berth_binary, config_yaml)


def test_gc_under_load(rig, berth_binary, checks):
    if not gc_check.tagged_images(rig.url, "gcstress/"):  # run alone: what the other steps would have left
        gc_check.seed_earlier_steps(rig.url)
    gc_check.run(checks, rig, berth_binary)


def test_sigkill_one_instance(rig, checks):
    kill.kill_one(checks, rig)
    victim = rig.instances[0]
    victim.stop()  # reaps the killed process and closes its log
    victim.start().wait_ready()  # the rig is whole again for whatever runs after
    checks(instances.call("GET", f"{victim.url}/healthz")[0] == 200, f"{victim.name} serves again after a restart")
    for instance in rig.instances:
        with open(instance.proc.log_path, errors="replace") as f:
            crashes = [line for line in f if "Fatal error" in line or "runtime failure" in line]
        checks(not crashes, f"no crash in {instance.name}'s log", "; ".join(crashes[:2]))
