"""Notebook outline: gc-broke-pulls."""

SCENARIO = 'gc-broke-pulls'

OUTLINE = dict(
    intro="""
**Symptom:** after a `registry garbage-collect` (`gitlab-ctl registry-garbage-collect`, a cron job, a Helm
job), pulls of images that are still listed fail with `manifest unknown` or `blob unknown`; GitLab's UI still
shows the tags.

The offline garbage collector removes what it believes nothing
references. Two ways it is wrong: with `--delete-untagged` (`gitlab-ctl registry-garbage-collect -m`),
registry 2.x counts the platform manifests of a multi-arch image (an OCI index or Docker manifest list, as
`docker buildx --platform …` pushes) as untagged and deletes them with their layers; and without read-only
mode, blobs of pushes in flight are not referenced yet and are deleted under them.

This runbook reads the GC output for what it marked, found eligible and deleted, walks every listed tag like
a pull, compares the repositories' links in storage with the data still there, and says whether the bucket
can give the deleted objects back (versioning).
""",
    imports="""
from runbooklib.session import Session
from runbooklib.logs.gc import check_gc_output, gc_repositories
from runbooklib.probes.gcpulls import check_tagged_pulls
from runbooklib.s3 import connect_s3
from runbooklib.s3.gclinks import check_bucket_versioning, check_gc_storage
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Registry configuration
""", 'rb.read_configs("registry")'),
        ("""
## 2. What the garbage collection did (`gc_output`)
The run's own lines: `marking manifest`/`marking blob` (kept), `manifest eligible for deletion` (untagged,
with `--delete-untagged`), `blob eligible for deletion`, and in a real run `deleting manifest:` /
`Deleting blob:`. A digest both marked as a blob (an index references it) and deleted as an untagged manifest
is a platform manifest of a multi-arch image.
""", "rb.add(check_gc_output(rb.p.gc_output))"),
        ("""
## 3. Do the listed tags still pull?
Read-only, like a pull: `tags/list`, each tag's manifest, each platform manifest of an index by digest, a HEAD
of every config and layer. Repositories are those of the GC output (else the catalog's first ones).
""", "rb.add(check_tagged_pulls(rb.http, rb.registry, gc_repositories(rb.p.gc_output)))"),
        ("""
## 4. The bucket
From the `s3_*` parameters, or the registry config's `storage.s3`.
""", "s3 = connect_s3(rb.params, rb.cfg.registry)\ns3"),
        ("""
## 5. Links in storage against the data
For each repository of the GC output: tags whose manifest, or whose index's platform manifests, have no
revision link any more, and layer or revision links whose blob data is gone.
""", "rb.add(check_gc_storage(s3, gc_repositories(rb.p.gc_output)))"),
        ("""
## 6. Can the bucket give it back?
With versioning on, a deletion is a delete marker over the previous version: the objects listed above can be
restored. Without it, the tags must be pushed again.
""", "rb.add(check_bucket_versioning(s3))"),
        ("""
## 7. What the logs say
`manifest unknown` / `blob unknown` answers to pulls, and GC lines, when `log_paths` includes them.
""", 'rb.add(check_logs_for(rb.log_scan, "gc-broke-pulls"))'),
    ],
)
