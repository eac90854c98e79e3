"""The scale-out rig as one session fixture: SeaweedFS (S3), PostgreSQL, two Berth instances and nginx, started
once for every scale-out test (they run in one xdist group, so on one worker) and stopped after the last.
Its folder is kept when a scale-out test failed (its path printed)."""
import pytest

from scaleout.rig import Cluster


@pytest.fixture(scope="session")
def rig(berth_binary, request):
    cluster = Cluster(berth=berth_binary, instances=2)
    with cluster:
        print(f"# scale-out rig: nginx {cluster.url}, instances {' '.join(cluster.instance_urls)}, "
              f"folder {cluster.folder}", flush=True)
        yield cluster
        if request.session.testsfailed:
            cluster.keep = True
            print(f"\n(scale-out rig folder kept: {cluster.folder})")
