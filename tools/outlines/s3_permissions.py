"""Notebook outline: s3-permissions."""

SCENARIO = 's3-permissions'

OUTLINE = dict(
    intro="""
**Symptom:** pushes or pulls fail and the registry log shows `AccessDenied`, `status code: 403`,
`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `ExpiredToken` or `NoCredentialProviders`; or the registry
answers 503 "health check failed" because its storage check fails.

Before investigating anything, GitLab's step 2: *for S3-backed registries, verify your IAM permissions and
S3 credentials (including region)*, with the registry's sample IAM policy. This runbook tells the credential
errors apart, compares the bucket's region with the configured one and tries each action of the sample
policy. It is read-only unless `write_probe: true`: then one probe object under
`registry-runbooks-write-probe/` (outside the registry's `docker/` tree) is written, multipart-uploaded,
aborted and deleted again.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.s3 import (connect_s3, check_s3_settings, check_credentials, check_region,
                           probe_permissions, check_permissions)
""",
    steps=[
        ("""
## 1. The registry's configuration
Its `storage.s3` section is what the registry really uses. With `s3_bucket` empty, the runbook tests exactly
those settings and keys; with the `s3_*` parameters given, it tests those and says where they differ.
""", 'rb.read_configs("registry")'),
        ("""
## 2. Which bucket, endpoint and keys are tested
Every S3 call below is bounded by `timeout_s`, retried with backoff when S3 throttles, and counted.
""", "s3 = connect_s3(rb.params, rb.cfg.registry)\nrb.add(check_s3_settings(s3, rb.cfg.registry))"),
        ("""
## 3. Are the credentials valid?
One `ListObjectsV2` call. `InvalidAccessKeyId` (the key ID is unknown), `SignatureDoesNotMatch` (the secret
does not belong to the key) and `ExpiredToken` (temporary credentials ran out) have different fixes. When the
registry config holds other keys than the parameters, both are tried: which of the two is stale?
""", "rb.add(check_credentials(s3, rb.cfg.registry))"),
        ("""
## 4. Region
`GetBucketLocation` (or `HeadBucket`'s `x-amz-bucket-region`) against `s3_region` and `storage.s3.region`.
""", "rb.add(check_region(s3, rb.cfg.registry))"),
        ("""
## 5. Each action of the registry's IAM policy
`ListBucket`, `GetBucketLocation`, `ListBucketMultipartUploads`, `GetObject` (and `HEAD`, as a push does),
`ListMultipartUploadParts`; with `write_probe: true` also `PutObject`, `AbortMultipartUpload` and
`DeleteObject` on the probe key.
""", "perms = probe_permissions(s3, write=rb.p.write_probe)\nperms"),
        ("""
## 6. Denied actions and the policy statement to add
""", "rb.add(check_permissions(perms))"),
    ],
)
