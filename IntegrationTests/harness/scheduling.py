"""How pytest-xdist hands areas to workers. Its stock `loadgroup` sorts groups by their number of tests and
gives each worker a second group while the first still runs, so one worker can sit on a queue of two long areas
while another is idle. Here the groups go out longest first (LONGEST_FIRST, measured on the CI machine) and a
worker gets its next group only when its current one is down to the test it is running (an xdist worker holds
its last test until it has another or is told to stop, so it cannot wait for zero)."""
from xdist.scheduler import LoadGroupScheduling

# Group names (xdist_group marks), slowest first; groups not listed follow, in collection order.
LONGEST_FIRST = ["scaleout", "clients", "fuzz", "auth", "durability", "gc", "swift", "policies", "edge",
                 "conformance", "tls"]


def rank(group):
    return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)


class AreaScheduling(LoadGroupScheduling):
    def __init__(self, config, log=None):
        super().__init__(config, log)
        config.option.loadscopereorder = False  # keep the order pytest_collection_modifyitems gave

    def _reschedule(self, node):
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        if self._pending_of(self.assigned_work[node]) > 1:
            return
        self._assign_work_unit(node)
