"""The access-control contract of docs/SECURITY.md over real HTTP, on a Berth in `auth.mode: basic`.

The Berth is set up with the CLI (users reader, writer, maintainer, nsadmin, admin; namespaces priv (private),
pub (public), sec (private); access tokens: scoped, namespace-scoped, expired, revoked). Every principal (those,
anonymous, empty Basic credentials, a wrong password) sends every /v2/ request to existing and missing
repositories; the expected answer of each comes from an independent model of the contract (access/model.py).
Then the admin API, the audit records, every credential kind against every admin route, and no secret in the
log or the store. The tests share one Berth and run in this order (access/provisioned.py).
"""
import pytest

from access.provisioned import provisioned

pytestmark = [pytest.mark.auth, pytest.mark.xdist_group("auth")]


@pytest.fixture(scope="module")
def basic_mode(berth_binary, request):
    yield from provisioned(berth_binary, "basic", request)


def test_matrix(basic_mode, checks):
    basic_mode.matrix(checks)


def test_admin_api(basic_mode, checks):
    basic_mode.admin_api(checks)


def test_audit(basic_mode, checks):
    basic_mode.audit(checks)


def test_credentials(basic_mode, checks):
    basic_mode.credentials(checks)


def test_secrets(basic_mode, checks):
    basic_mode.secrets_kept(checks)
