"""Authentication with real clients (docs/SECURITY.md), one test per run: a Berth in `basic` or `token` mode
over plain HTTP or TLS (a throwaway CA), which the auth section starts on a root it prepares with the CLI
(users, namespaces, grants, an access token). Each run checks logins, pushes and pulls, refusals and the audit
log with docker, skopeo, podman, ctr and the oras-py SDK, then the anonymous pulls of a public namespace by each
client (sh/auth-anonymous.sh), and that Berth's log holds no secret."""
import pytest

from clients.runner import run_sections

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("clients")]
RUNS = ("basic/http", "token/http", "basic/tls", "token/tls")


@pytest.mark.parametrize("run", RUNS)
def test_auth_run(run, berth_binary, dockerd, work, checks):
    checks(dockerd is not None and dockerd.answers(), "docker: private dockerd answers")
    run_sections(checks, None, ["auth"], work, dock=dockerd and dockerd.folder,
                 berth_binary=berth_binary, env={"BERTH_RC_AUTH_RUNS": run})
