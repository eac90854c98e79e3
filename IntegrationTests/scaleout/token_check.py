"""Token mode across instances: two more instances over the scale-out rig's S3 and PostgreSQL, in token mode,
sharing one signing-keys folder (`auth.token.keys`). A token issued by one instance must be accepted by the
other; a request without one is challenged. Used by test_scaleout.py with the session's rig."""
import base64, json, os, subprocess, tempfile, urllib.error, urllib.request

from scaleout.rig.berth import BerthInstance, config_yaml


def call(method, url, headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def run(check, cluster, binary):
    work = tempfile.mkdtemp(prefix="berth-token-", dir=cluster.folder)
    keys = os.path.join(work, "keys")
    extra = f"auth:\n  mode: token\n  token:\n    keys: {json.dumps(keys)}\n"
    admin_config = os.path.join(work, "admin.yml")
    with open(admin_config, "w") as f:
        f.write(config_yaml("127.0.0.1:0", os.path.join(work, "admin-root"), cluster.s3.info(), cluster.postgres.url, extra))
    for args, stdin in ((["key", "rotate"], None), (["user", "add", "shared-ci", "--password-stdin"], "ci-secret-1\n"),
                        (["namespace", "create", "shared"], None), (["grant", "shared-ci", "shared", "writer"], None)):
        r = subprocess.run([binary, *args, "--config", admin_config], input=stdin, capture_output=True, text=True)
        check(r.returncode == 0, f"berth {' '.join(args[:2])} on the shared database ({r.stderr.strip()[:200]})")
    instances = [BerthInstance(binary, os.path.join(work, f"i{n}"), 10 + n, cluster.s3.info(), cluster.postgres.url, extra)
                 for n in (1, 2)]
    try:
        for instance in instances:
            os.makedirs(instance.folder, exist_ok=True)
            instance.start()
        for instance in instances:
            instance.wait_ready()
        first, second = (i.url for i in instances)
        basic = "Basic " + base64.b64encode(b"shared-ci:ci-secret-1").decode()
        status, body = call("GET", f"{first}/auth/token?service=berth&scope=repository:shared/app:push,pull",
                            {"Authorization": basic})
        check(status == 200, f"instance one issues a token ({status})")
        token = json.loads(body).get("token", "") if status == 200 else ""
        status, _ = call("POST", f"{second}/v2/shared/app/blobs/uploads/", {"Authorization": f"Bearer {token}"})
        check(status == 202, f"instance two accepts instance one's token for a push ({status})")
        status, _ = call("POST", f"{second}/v2/shared/app/blobs/uploads/")
        check(status == 401, f"instance two challenges a push without a token ({status})")
    finally:
        for instance in instances:
            instance.stop()
