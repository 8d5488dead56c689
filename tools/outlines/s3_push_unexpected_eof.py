"""Notebook outline: s3-push-unexpected-eof."""

SCENARIO = 's3-push-unexpected-eof'

OUTLINE = dict(
    intro="""
**Symptom:** pushing a large image fails (the client retries a layer and gives up) and the registry log says
`level=error msg="response completed with error" err.code=unknown err.detail="unexpected EOF"
err.message="unknown error"`.

GitLab's fix: set `chunksize` in the
registry's s3 storage section, starting between 25000000 (25 MB) and 50000000 (50 MB). This runbook reads
`chunksize` from the registry's config.yml and gitlab.rb (absent means the driver's 10 MiB default), looks
for the error in the logs, and looks for the multipart uploads that broken pushes leave open in the bucket.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.s3 import connect_s3, check_chunksize, scan_multipart, check_broken_pushes
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. `chunksize`
""", "rb.add(check_chunksize(rb.cfg.registry, rb.cfg.gitlab_rb))"),
        ("""
## 3. The error in the registry log
""", 'rb.add(check_logs_for(rb.log_scan, "s3-push-unexpected-eof"))'),
        ("""
## 4. Broken uploads left in the bucket
Each blob upload is an S3 multipart upload; a push that broke off leaves it open (and billed).
""", "s3 = connect_s3(rb.params, rb.cfg.registry)\nmpu = scan_multipart(s3)\nrb.add(check_broken_pushes(mpu))"),
    ],
)
