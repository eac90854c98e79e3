"""Online garbage collection under concurrent load: the stress test_gc.py runs on the embedded set-up (SQLite +
filesystem, one Berth) and scaleout/gc_check.py on PostgreSQL + S3 (two instances behind nginx). Named
`garbage`, not `gc`, which is a standard-library module.

For a bounded time, worker threads push images whose layers come from a small shared pool (so layers are
shared across images and repositories) plus unique ones, with the client pattern HEAD-then-skip, monolithic,
single-PUT and chunked uploads (the chunks of one session spread over every URL given), cross-repository
mounts (falling back to the upload session a 202 opens), tag moves, indexes whose children are pushed by
digest, referrers, deletes by digest and by tag, abandoned upload sessions and orphan blobs, and pull back the
images they hold; meanwhile a GC thread runs collections back to back (grace 0, untagged), alternating the
ways the target offers (CLI, admin API), while the servers' scheduled collections run too.

The accounting is exact: each (repository, tag) is held by one worker at a time, every manifest is unique,
and the expected set at the end is the last acknowledged push of every tag still there, the children of the
indexes among them, the referrers whose subject is among them, and the pinned images pushed before the load.
A manifest PUT refused with 400 MANIFEST_BLOB_UNKNOWN / MANIFEST_UNKNOWN (a link collected between upload and
PUT, legitimate with grace 0) is not acknowledged: the push is retried from the HEADs. Any 5xx, transport
error, or other unexpected answer is a failure.

After the load: scheduled collections are stopped (target.quiesce), known garbage is made, dry runs (every
way) must report it and remove nothing, two real collections follow, and then: every expected image pulls
by tag and by digest through every URL with every blob's sha256 and size; every blob digest ever pushed
and not referenced by an expected image is gone from the storage and from the `blobs` table, every
referenced one is in both; the namespace's manifests and repository links in the database are exactly the
expected ones; and deleted or untagged manifests answer 404.

`sabotage` proves the checks can fail: "delete" removes one referenced blob's bytes and `blobs` row mid-run
(a collector that deletes too much); "leak" uploads an orphan after the final collection (one that deletes
too little)."""
from .stress import Stress  # noqa: F401
from .target import Target, api_runner, cli_runner, has_gc  # noqa: F401
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, Failure, Image, call, sha  # noqa: F401
