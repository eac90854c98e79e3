"""The plain sections against a Berth without auth, in their order (each reuses what the earlier ones pushed, so
they are one test): docker CLI (build, push, pull by tag and digest, cross-repository mount, a two-platform
list), ctr, skopeo (OCI layouts from umoci, v2s2, an index, delete), podman, the oras-py SDK (referrers) and the
catalog. Then Berth must still run, with no fatal line in its log."""
import re

import pytest

from clients.runner import PLAIN, run_sections
from harness.httpclient import request

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("clients")]


def test_plain_sections(berth, dockerd, work, checks):
    b = berth("registry")
    b.start()
    r = request(b.port, "GET", "/healthz")
    checks(r.status == 200 and r.body.strip() == b'{"status":"ok"}', f"berth: serves /healthz on {b.address} ({r})")
    checks(dockerd is not None and dockerd.answers(), "docker: private dockerd starts and answers")
    run_sections(checks, b.address, PLAIN, work, dock=dockerd and dockerd.folder,
                 log=b.log_path)
    checks(b.running(), "berth: still running after all clients")
    bad = [line for line in b.log().splitlines() if re.search("fatal|panic|crash", line, re.I)]
    checks(not bad, "berth: log has no fatal/panic/crash lines", "; ".join(bad[:5]))
