"""What the grace promises and what it does not (a mixin of Stress), checked once the load is over and no
scheduled collection runs, with a collection whose grace is GRACE seconds:

- a layer uploaded again shortly before the collection keeps its link (an upload renews the link's time);
- a layer a HEAD found present does not: a HEAD renews nothing, so a link older than the grace that nothing
  references goes, and the manifest whose push skipped that layer is refused with MANIFEST_BLOB_UNKNOWN;
- an untagged manifest pushed again keeps its first push time, so an index child re-pushed shortly before
  the collection goes with it, and the index listing it is refused the same way;
- either refusal stores nothing, and pushing again (HEAD, upload what is missing, PUT) is acknowledged.

docs/GARBAGE-COLLECTION.md makes exactly this promise; a build that renewed on HEAD or re-push would fail the
refusals here and should change both."""
import json, os, time

from .wire import INDEX, MANIFEST, Image, call, sha

GRACE = 2


class Grace:
    def grace_promise(self):
        check, base, repo = self.check, self.t.urls[0], f"{self.ns}/grace"
        headed, renewed = os.urandom(7_001), os.urandom(7_002)
        child_body, child_blobs = self.image_body(repo)
        for data in [headed, renewed] + child_blobs:
            self.upload(repo, data)
        self.req("PUT", f"{base}/v2/{repo}/manifests/{sha(child_body)}", child_body, {"Content-Type": MANIFEST},
                 (201,), "grace: index child")
        time.sleep(GRACE + 1.5)  # every stamp above is now older than the grace
        r = self.req("HEAD", f"{base}/v2/{repo}/blobs/{sha(headed)}", None, None, (200,), "grace: blob HEAD")
        self.upload(repo, renewed)
        self.req("PUT", f"{base}/v2/{repo}/manifests/{sha(child_body)}", child_body, {"Content-Type": MANIFEST},
                 (201,), "grace: index child pushed again")
        config = json.dumps({"grace": self.next_nonce(), "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        self.upload(repo, config)  # fresh: within the grace
        report = None
        for _ in range(30):  # a collection another way started may still run
            name, runner = self.t.gc_runners[0]
            report = self.run_gc(name, lambda **kw: runner(grace=f"{GRACE}s", **kw), dry_run=False)
            if report is not None:
                break
            time.sleep(1)
        check(report is not None, f"a collection with a grace of {GRACE} s ran ({report})")

        image_body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                            "digest": sha(config), "size": len(config)},
                                 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(d),
                                             "size": len(d)} for d in (headed, renewed)]}).encode()
        index_body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
            {"mediaType": MANIFEST, "digest": sha(child_body), "size": len(child_body)}]}).encode()
        heads = {what: call("HEAD", f"{base}/v2/{repo}/{kind}/{sha(data)}").status
                 for what, kind, data in (("uploaded again", "blobs", renewed), ("found by HEAD", "blobs", headed),
                                          ("config", "blobs", config), ("child pushed again", "manifests", child_body))}
        check(heads == {"uploaded again": 200, "found by HEAD": 404, "config": 200, "child pushed again": 404},
              f"grace {GRACE} s: an upload renews a link, a HEAD and a manifest pushed again renew nothing ({heads})")
        image_put = call("PUT", f"{base}/v2/{repo}/manifests/grace-image", image_body, {"Content-Type": MANIFEST})
        index_put = call("PUT", f"{base}/v2/{repo}/manifests/grace-index", index_body, {"Content-Type": INDEX})
        check((image_put.status, image_put.code) == (400, "MANIFEST_BLOB_UNKNOWN")
              and (index_put.status, index_put.code) == (400, "MANIFEST_BLOB_UNKNOWN"),
              f"the image whose push skipped a collected layer and the index of a collected child are refused "
              f"with MANIFEST_BLOB_UNKNOWN ({image_put!r}; {index_put!r})")
        stored = [call("HEAD", f"{base}/v2/{repo}/manifests/{ref}").status for ref in ("grace-image", "grace-index")]
        check(stored == [404, 404], f"and neither refused manifest was stored ({stored})")

        # The client pushes again: HEAD, upload what went, PUT. Then it is all deleted, for the final
        # collection to remove and the final checks to find gone.
        image = Image(repo, image_body, MANIFEST, {sha(d): len(d) for d in (config, headed, renewed)}, tag="grace-image")
        child = Image(repo, child_body, MANIFEST, {sha(d): len(d) for d in child_blobs})
        index = Image(repo, index_body, INDEX, {}, children=[child], tag="grace-index")
        again = (self.put_manifest(repo, "grace-image", image_body, MANIFEST, [config, headed, renewed], "grace: push again")
                 and self.put_manifest(repo, "grace-index", index_body, INDEX, [], "grace: index again",
                                       [(child_body, child_blobs)]))
        check(again and self.pull(image, urls=[base], what="grace pull") + self.pull(index, urls=[base], what="grace pull") == 0,
              "pushed again, the image and the index are acknowledged and pull back")
        with self.lock:
            for img in (image, index, child):
                self.manifests[img.digest] = img
        for img in (image, index, child):
            self.req("DELETE", f"{base}/v2/{repo}/manifests/{img.digest}", None, None, (202,), "grace: delete")
