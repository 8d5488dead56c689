"""Notebook outline: empty-name-tags."""

SCENARIO = 'empty-name-tags'

OUTLINE = dict(
    intro="""
**Symptom:** the GitLab UI or API shows a container image tag without a name; `GET /v2/<name>/tags/list`
returns `""` among the tags. Usually after the registry's bucket was copied with AWS DataSync (or another
tool that writes zero-byte "folder" objects).

GitLab's documentation says to delete the zero-byte object at each repository's
root. Measured on registry 2.8, the empty tag comes from the zero-byte object at `<name>/_manifests/tags/`,
so this runbook finds **every** zero-byte marker below `repositories/`, says which ones make an empty tag,
asks the registry which repositories really list `""`, and removes markers only by an explicit plan.

**Safe by default:** a run only plans. To delete, run again with `apply: true` **and** `confirm_digest`
equal to the plan's digest shown below; each key is re-checked (still zero bytes, same ETag) before it is
deleted, keys are deleted one by one by name (DeleteObjects, never a prefix, never recursive), and the audit
record goes into this report.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.s3 import (connect_s3, find_markers, check_markers, registry_tags, check_empty_tags,
                           plan_marker_cleanup, check_marker_cleanup)
""",
    steps=[
        ("""
## 1. The bucket
""", "s3 = connect_s3(rb.params)\ns3"),
        ("""
## 2. Find the markers
One flat listing of the `repositories/` subtree (never the blobs), split by its top-level groups and listed in
parallel, keeping the zero-byte keys that end in `/`: about 100 times fewer requests than walking folder by
folder, and it sees the `_manifests/tags/` marker that a folder-by-folder listing hides. For very large
buckets, give `inventory` (an S3 Inventory manifest) and no LIST call is made: DuckDB reads it within
`memory_limit`, spilling to a private folder under `spill_dir` that is removed afterwards.
""", "scan = find_markers(s3, rb.p.inventory, memory_limit=rb.p.memory_limit, spill_dir=rb.p.spill_dir)\n"
     "rb.add(check_markers(scan))"),
        ("""
The markers, one row each (`tags-dir` is the kind that the registry lists as the empty tag):
""", "scan"),
        ("""
## 3. What the registry says
`GET /v2/<name>/tags/list` for every repository that has a marker (a pull token each, through the realm).
""", "tags = registry_tags(rb.http, rb.registry)\nrb.add(check_empty_tags(scan, tags))"),
        ("""
## 4. The cleanup plan
Exactly the keys found above, each with its size (0) and ETag, and the digest that pins them.
""", "plan = plan_marker_cleanup(scan)\nplan"),
        ("""
## 5. Apply (only with `apply: true` and `confirm_digest`)
Without them nothing is deleted and the finding tells you the command to apply this very plan. With them,
the audit record (deleted keys, skipped keys and why, requests, tags/list afterwards) is the evidence below.
GitLab's documented alternative, copying the registry to a new bucket with `aws s3 sync`, is explained in the remedy.
""", "rb.add(check_marker_cleanup(plan, rb.p.apply, rb.p.confirm_digest, tags))"),
    ],
)
