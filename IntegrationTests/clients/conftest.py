"""The private dockerd of the clients area: one for the session's real-client tests (as the old suite had one
for all its sections), in a short folder of its own (clients.dockerd), stopped after the last of them."""
import shutil

import pytest

from clients.dockerd import Dockerd


@pytest.fixture(scope="session")
def dockerd():
    """The running Dockerd, or None where dockerd or docker is not installed (the docker and ctr sections then
    fail on their own `need` checks)."""
    if not (shutil.which("dockerd") and shutil.which("docker")):
        yield None
        return
    with Dockerd() as d:
        yield d
