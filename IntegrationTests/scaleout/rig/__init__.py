"""Scale-out test rig: SeaweedFS (S3), PostgreSQL, N Berth instances and nginx on loopback (see cluster.py)."""
from .cluster import Cluster

__all__ = ["Cluster"]
