"""Login throttling on Berths of their own (a lockout after 3 failures would disturb the matrix): per user and
address, anonymous callers never counted, and X-Forwarded-For believed only from a trusted proxy."""
import pytest

from access import common, throttling

pytestmark = [pytest.mark.auth, pytest.mark.xdist_group("auth")]
CONFIG = common.config("basic", attempts=3)


def test_throttling(berth, checks):
    throttling.throttling(berth, checks, CONFIG)


def test_throttling_behind_proxy(berth, checks):
    throttling.behind_proxy(berth, checks, CONFIG)
