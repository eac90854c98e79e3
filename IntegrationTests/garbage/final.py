"""After the load: dry runs, final collections and the exact checks (a mixin of Stress)."""
import hashlib, http.client, json, os, random, threading, time, urllib.parse

from .wire import *  # noqa: F401,F403 (the wire helpers and constants)
from .wire import ACCEPT, CONFIG, INDEX, LAYER, MANIFEST, RETRYABLE_PUT, TIMEOUT  # noqa: F401


class Checks:
    def final(self):
        check, ns = self.check, self.ns
        gc = bool(self.t.gc_runners)
        if gc:
            self.grace_promise()
            self.dry_runs()
            reports = []
            self.final_gc_at = time.time()
            for name, runner in (self.t.gc_runners * 2)[:2]:
                for _ in range(30):  # a collection still running (CLI from before, another instance): retry
                    report = self.run_gc(name, runner, dry_run=False)
                    if report is not None:
                        reports.append((name, report))
                        break
                    time.sleep(1)
            check(len(reports) == 2, f"two final collections ran: {reports}")
            if reports and self.dry_reports:
                first, dry = reports[0][1], self.dry_reports[-1]
                check(all(int(first.get(k) or 0) >= int(dry.get(k) or 0) for k in ("manifests", "links", "blobs")),
                      f"the real collection removes at least what the dry run reported (dry {dry}, real {first})")
            if len(reports) == 2:
                second = reports[1][1]
                self.log(f"# final collections: {reports}")
                check(all(int(second.get(k) or 0) == 0 for k in ("manifests", "links", "blobs")),
                      f"the second final collection found nothing left to collect ({second})")
        if self.sabotage == "leak":
            data = os.urandom(3_333)
            self.log(f"# sabotage: uploading orphan {sha(data)} after the final collection")
            self.upload(self.repos[0], data)

        expected = self.expected()
        referenced = {}
        for img in expected.values():
            referenced.update(img.blobs)
        links = {(img.repo, d) for img in expected.values() for d in img.blobs}
        urls = self.t.urls
        bad = 0
        tops = [img for img in self.pinned + [i for i in self.tags.values() if i is not None]]
        for img in tops:
            bad += self.pull(img, urls=urls, what="final pull")
        for ref in self.referrers:
            if ref.digest in expected:
                bad += self.pull(ref, by_tag=False, urls=urls, what="final pull (referrer)")
        blob_count = sum(len(i.blobs) for i in expected.values())
        check(bad == 0, f"every acknowledged, not deleted image pulls by tag and digest through {len(urls)} URL(s), "
                        f"every blob with its sha256 and size: {len(tops)} tagged images, {len(expected)} manifests, "
                        f"{blob_count} blob reads per URL, {bad} problems (missing blobs or mismatches)")
        for img in tops:
            if img.media_type == MANIFEST and img.tag and not img.repo.endswith("/pinned"):
                r = call("GET", f"{urls[0]}/v2/{img.repo}/referrers/{img.digest}")
                want = {x.digest for x in self.referrers if x.subject == img.digest and x.repo == img.repo}
                got = {m["digest"] for m in json.loads(r.body).get("manifests", [])
                       if (img.repo, m["digest"]) not in self.uncertain_manifests} if r.status == 200 else None
                if got != want:
                    check(False, f"referrers of {img.repo}:{img.tag}: {got} != {want}")
                    break
        gone = [i for d, i in self.manifests.items() if d not in expected and (i.repo, d) not in self.uncertain_manifests]
        answers = {}
        for img in gone[:400]:
            r = call("HEAD", f"{urls[0]}/v2/{img.repo}/manifests/{img.digest}", None, {"Accept": ACCEPT})
            answers[r.status] = answers.get(r.status, 0) + 1
        if gc:
            check(set(answers) <= {404}, f"{len(gone[:400])} deleted, moved-away, untagged or orphaned manifests "
                                         f"answer 404 by digest after the final collection ({answers})")

        if gc:
            old = [p for p, at in self.sessions if self.final_gc_at - at > self.upload_expiry + 2]
            answers = {}
            for p in old:
                r = call("GET", f"{urls[0]}{p}")
                answers[(r.status, r.code)] = answers.get((r.status, r.code), 0) + 1
            check(set(answers) <= {(404, "BLOB_UPLOAD_UNKNOWN")},
                  f"the {len(old)} upload sessions abandoned over {self.upload_expiry} s before are gone: {answers}")
        mine = set(self.pushed)
        garbage = mine - set(referenced) - self.uncertain_blobs
        storage, rows = self.t.storage_blobs(), self.t.db_blobs()
        missing_storage = sorted(set(referenced) - storage)
        missing_rows = sorted(set(referenced) - rows)
        check(not missing_storage and not missing_rows,
              f"every referenced blob ({len(referenced)}) is in the storage and the blobs table "
              f"({len(missing_storage)} missing from storage, {len(missing_rows)} from the table: "
              f"{(missing_storage + missing_rows)[:3]})")
        if gc:
            left_storage, left_rows = sorted(garbage & storage), sorted(garbage & rows)
            check(not left_storage and not left_rows,
                  f"every blob pushed and referenced by nothing ({len(garbage)}) is gone from the storage and the "
                  f"blobs table ({len(left_storage)} left in storage, {len(left_rows)} in the table: "
                  f"{(left_storage + left_rows)[:3]})")
            db_manifests = self.t.db_manifests(ns + "/") - self.uncertain_manifests
            db_links = {l for l in self.t.db_links(ns + "/") if l in links or l[1] not in self.uncertain_blobs}
            want_manifests = {(i.repo, i.digest) for i in expected.values()}
            check(db_manifests == want_manifests,
                  f"the namespace's manifests in the database are exactly the expected {len(want_manifests)} "
                  f"(extra {sorted(db_manifests - want_manifests)[:3]}, missing {sorted(want_manifests - db_manifests)[:3]})")
            check(db_links == links,
                  f"the namespace's blob links are exactly the {len(links)} the expected manifests need "
                  f"(extra {sorted(db_links - links)[:3]}, missing {sorted(links - db_links)[:3]})")
        s = self.stats
        self.log(f"# totals: {s['pushes']} acknowledged pushes ({s['new_tags']} new tags, {s['tag_moves']} tag moves, "
                 f"{s['indexes']} indexes, {s['referrers']} referrers), {s['deletes_digest']} deletes by digest, "
                 f"{s['deletes_tag']} by tag, {s['mounts']} mounts ({s['mount_fallbacks']} refused, uploaded), "
                 f"{s['head_skips']} HEAD skips, {s['rollbacks']} rollbacks, {s['retried_pushes']} retried pushes, {s['given_up_pushes']} given up, "
                 f"{s['sessions_lost']} upload sessions lost, {s['gc_runs']} collections ({s['gc_busy']} busy), "
                 f"{s['gc_blobs']} blobs / {s['gc_bytes']} bytes / {s['gc_manifests']} manifests / {s['gc_links']} links / "
                 f"{s['gc_uploads']} uploads collected, {len(mine)} distinct blobs pushed, {len(garbage)} garbage, "
                 f"{len(referenced)} referenced at the end")

    def dry_runs(self):
        """Known garbage (an orphan blob, an untagged image); each way's dry run reports it and removes
        nothing; then the real collections may go."""
        repo = self.repos[0]
        orphan, unlinked = os.urandom(4_321), os.urandom(1_234)
        self.upload(repo, orphan)
        self.upload(repo, unlinked)  # then unlinked by a blob DELETE: a blob no repository links
        self.req("DELETE", f"{self.t.urls[0]}/v2/{repo}/blobs/{sha(unlinked)}", None, None, (202,), "blob delete")
        body, data = self.image_body(repo)
        self.put_manifest(repo, "dry-run", body, MANIFEST, data, "dry-run push")
        img = Image(repo, body, MANIFEST, {sha(d): len(d) for d in data}, tag=None)
        self.manifests[img.digest] = img
        self.req("DELETE", f"{self.t.urls[0]}/v2/{repo}/manifests/dry-run", None, None, (202,), "untag")
        before = (self.t.storage_blobs(), self.t.db_blobs(), self.t.db_manifests(self.ns + "/"), self.t.db_links(self.ns + "/"))
        for name, runner in self.t.gc_runners:
            report = None
            for _ in range(30):
                report = self.run_gc(name, runner, dry_run=True)
                if report is not None:
                    break
                time.sleep(1)
            after = (self.t.storage_blobs(), self.t.db_blobs(), self.t.db_manifests(self.ns + "/"), self.t.db_links(self.ns + "/"))
            self.check(report is not None and report.get("dryRun") is True and int(report.get("blobs") or 0) >= 1
                       and int(report.get("manifests") or 0) >= 1 and int(report.get("links") or 0) >= 1,
                       f"a dry run via {name} reports the garbage ({report})")
            self.check(after == before and sha(orphan) in after[0] and sha(unlinked) in after[0]
                       and (repo, img.digest) in after[2], f"and removes nothing (storage, blobs, manifests and links unchanged)")
            self.dry_reports.append(report or {})
            r = call("GET", f"{self.t.urls[0]}/v2/{repo}/blobs/{sha(orphan)}")
            self.check(r.status == 200 and r.body == orphan, f"the orphan still reads back after the dry run via {name} ({r.status})")
