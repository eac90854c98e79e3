"""The access-control contract of docs/SECURITY.md over real HTTP, on a Berth in `auth.mode: token`.

The same principals and matrix as test_basic_mode.py, plus a caller with no token at all; every /v2/ request
carries a registry JWT asked of the token service, whose `access` claim must be what was asked intersected with
the principal's rights. Then the token service itself (claims, grants, refresh, malformed scopes, key rotation,
removed keys, forged JWTs), the admin API (registry JWTs included), the audit records, every credential kind
against every admin route, and no secret in the log or the store. The tests share one Berth and run in this
order (access/provisioned.py).
"""
import pytest

from access.provisioned import provisioned

pytestmark = [pytest.mark.auth, pytest.mark.xdist_group("auth")]


@pytest.fixture(scope="module")
def token_mode(berth_binary, request):
    yield from provisioned(berth_binary, "token", request)


def test_matrix(token_mode, checks):
    token_mode.matrix(checks)


def test_token_service(token_mode, checks):
    token_mode.token_service(checks)


def test_admin_api(token_mode, checks):
    token_mode.admin_api(checks)


def test_audit(token_mode, checks):
    token_mode.audit(checks)


def test_credentials(token_mode, checks):
    token_mode.credentials(checks)


def test_secrets(token_mode, checks):
    token_mode.secrets_kept(checks)
