"""Notebook outline: bucket-metrics."""

SCENARIO = 'bucket-metrics'

OUTLINE = dict(
    intro="""
**Symptom:** the registry's bucket grows without bound, storage costs surprise you, pushes leave debris, or
you need numbers before a garbage collection or a migration.

For the registry's storage (S3), the runbook counts blobs and their sizes, repositories, tags and
layer links (the top repositories by the bytes they reference), upload sessions left in `_uploads/` (age
from `startedat`) and incomplete multipart uploads (count, bytes, age, and the lifecycle rule that should
abort them), plus CloudWatch's daily figures when they can be read. The blobs are listed along their 256
shards and the repositories along their top-level groups, in parallel.

**Buckets too large to list:** give `inventory` (an S3 Inventory `manifest.json`, `s3://` or an `aws s3 sync`
copy): DuckDB reads its CSV/Parquet/ORC files one at a time (MD5-checked, streamed from S3 with the same
client) and computes the same numbers within `memory_limit`, spilling to a private folder under `spill_dir`
that is removed afterwards. Too large for one machine: `runbook inventory-sql --dialect athena|trino`
writes the same analysis as SQL for Athena or Trino; put the CSV of each result set in one folder and give
it as `inventory_results`. The tables and plots below are the same wherever the numbers were computed.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.s3 import (connect_s3, bucket_metrics, check_blobs, check_repositories, check_uploads,
                           top_repositories, scan_multipart, check_multipart, check_cloudwatch, check_scan_cost,
                           plot_blob_sizes, plot_bytes_by_repository, plot_upload_ages)
""",
    steps=[
        ("""
## 1. The registry's configuration and the bucket
""", 'rb.read_configs("registry")\ns3 = connect_s3(rb.params, rb.cfg.registry)\ns3'),
        ("""
## 2. List the blobs and the repositories (or read the inventory, or the query results)
""", "m = bucket_metrics(s3, rb.p.inventory, memory_limit=rb.p.memory_limit, spill_dir=rb.p.spill_dir,\n"
     "                   results=rb.p.inventory_results)\nm"),
        ("""
## 3. Blobs
Count, bytes, size classes, and the blobs no repository links to (what garbage collection reclaims).
""", "rb.add(check_blobs(m))"),
        ("""
Blob sizes (log scale): a few huge layers or a mass of tiny ones?
""", "plot_blob_sizes(m)"),
        ("""
## 4. Repositories, tags and layer links
""", "rb.add(check_repositories(m, rb.p.top_n))"),
        ("""
Top repositories by the bytes their layer links reference:
""", "top_repositories(m, rb.p.top_n)"),
        ("""
The same as a picture:
""", "plot_bytes_by_repository(m, rb.p.top_n)"),
        ("""
## 5. Upload sessions left in `_uploads/`
A push that breaks off leaves its session behind; the registry's upload purging removes them after
`age` (168 h by default) when it is enabled.
""", "rb.add(check_uploads(m, rb.cfg.registry))"),
        ("""
Ages of the upload sessions (the dashed line marks the 24 h after which a session counts as abandoned):
""", "plot_upload_ages(m)"),
        ("""
## 6. Incomplete multipart uploads
Billed but invisible to listings; a lifecycle rule (`AbortIncompleteMultipartUpload`) should abort them.
""", "mpu = scan_multipart(s3)\nrb.add(check_multipart(mpu, metrics=m))"),
        ("""
## 7. CloudWatch
Daily `BucketSizeBytes` and `NumberOfObjects`, when this identity may read them (AWS only).
""", "rb.add(check_cloudwatch(s3, m))"),
        ("""
## 8. What this cost
""", "rb.add(check_scan_cost(m))"),
    ],
)
