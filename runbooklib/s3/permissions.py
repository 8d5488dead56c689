"""Seed pre-check 2: are the registry's S3 credentials valid, is the region right, may it do what it must?

Each action of the registry's sample IAM policy (Distribution's s3 driver documentation) is tried with the
cheapest call that needs it. Read-only by default; with ``write=True`` one probe object under a dedicated
prefix (outside ``docker/``, so the registry never sees it) is written, read, multipart-uploaded,
aborted and deleted again, and the runbook says if anything was left behind.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from .client import S3Target, connect, mask_key_id, normalise_root, settings_from_registry
from .errors import CREDENTIAL_KINDS, CREDENTIAL_REMEDY, Outcome, S3Failure, attempt

SEED = "Before investigating: IAM permissions and S3 credentials"
BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = ("s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListMultipartUploadParts",
                  "s3:AbortMultipartUpload")
WRITE_ACTIONS = frozenset({"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"})
PROBE_PREFIX = "registry-runbooks-write-probe/"


def registry_policy(bucket: str, actions: tuple[str, ...] | list[str] | None = None) -> dict[str, Any]:
    """The registry's IAM policy (or the statements for just ``actions``) for ``bucket``."""
    wanted = set(actions) if actions else set(BUCKET_ACTIONS) | set(OBJECT_ACTIONS)
    statements = []
    on_bucket = [a for a in BUCKET_ACTIONS if a in wanted]
    on_objects = [a for a in OBJECT_ACTIONS if a in wanted]
    if on_bucket:
        statements.append({"Effect": "Allow", "Action": on_bucket, "Resource": f"arn:aws:s3:::{bucket}"})
    if on_objects:
        statements.append({"Effect": "Allow", "Action": on_objects, "Resource": f"arn:aws:s3:::{bucket}/*"})
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class ActionProbe:
    """One call made to test one IAM action: allowed, denied, error (another failure) or untested."""

    action: str
    operation: str
    result: str
    detail: str = ""
    code: str = ""


@dataclass
class PermissionReport:
    """Every probe made, plus what the write probe may have left behind."""

    bucket: str
    write_probe: bool
    probes: list[ActionProbe] = field(default_factory=list)
    probe_key: str = ""
    leftovers: list[str] = field(default_factory=list)
    blocked_by: S3Failure | None = None
    problem: str = ""
    requests: dict[str, Any] = field(default_factory=dict)

    def by_action(self) -> dict[str, str]:
        """allowed / denied / error / untested per action (denied wins, then error, then untested)."""
        order = {"denied": 3, "error": 2, "untested": 1, "allowed": 0}
        out: dict[str, str] = {}
        for p in self.probes:
            if p.action not in out or order[p.result] > order[out[p.action]]:
                out[p.action] = p.result
        return {a: out.get(a, "untested") for a in (*BUCKET_ACTIONS, *OBJECT_ACTIONS)}

    @property
    def denied(self) -> list[str]:
        return [a for a, r in self.by_action().items() if r == "denied"]

    def table(self):
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.probes], columns=["action", "operation", "result", "code", "detail"])

    def _repr_html_(self) -> str:
        if self.problem:
            import html

            return f"<p>Not probed: {html.escape(self.problem)}</p>"
        return self.table().to_html(index=False, escape=True)


class _Prober:
    def __init__(self, target: S3Target, report: PermissionReport) -> None:
        self.t, self.r = target, report
        self.c, self.b = target.client, target.bucket

    def run(self, action: str, operation: str, call: Any, missing_ok: bool = False, **kwargs: Any) -> Outcome:
        out = attempt(call, Bucket=self.b, **kwargs)
        if out.ok:
            self.r.probes.append(ActionProbe(action, operation, "allowed"))
        else:
            f = out.failure
            assert f is not None
            if f.kind == "access_denied":
                self.r.probes.append(ActionProbe(action, operation, "denied", f.message or "403", f.code))
            elif missing_ok and f.kind == "not_found":
                self.r.probes.append(ActionProbe(action, operation, "allowed", "answered 404 (not found): allowed",
                                                 f.code))
            else:
                self.r.probes.append(ActionProbe(action, operation, "error", f"{f.title}: {f.message}"[:200], f.code))
        return out

    def untested(self, action: str, operation: str, why: str) -> None:
        self.r.probes.append(ActionProbe(action, operation, "untested", why))


def probe_permissions(target: S3Target, write: bool = False) -> PermissionReport:
    """Try each action of the registry's policy; write actions only with ``write`` (one probe key, removed)."""
    report = PermissionReport(target.bucket, write)
    if not target.ok:
        report.problem = target.problem
        return report
    before = target.counter.snapshot()
    p = _Prober(target, report)
    listed = p.run("s3:ListBucket", "ListObjectsV2", target.client.list_objects_v2, Prefix=target.prefix, MaxKeys=5)
    if not listed.ok and listed.failure is not None and listed.failure.kind in (
            CREDENTIAL_KINDS | {"no_such_bucket", "unreachable", "timeout", "wrong_region", "bad_endpoint"}):
        report.blocked_by = listed.failure
        report.requests = target.counter.since(before)
        return report
    sample = ""
    if listed.ok:
        keys = [o["Key"] for o in listed.value.get("Contents") or [] if not o["Key"].endswith("/")]
        sample = keys[0] if keys else ""
    p.run("s3:GetBucketLocation", "GetBucketLocation", target.client.get_bucket_location)
    mpu = p.run("s3:ListBucketMultipartUploads", "ListMultipartUploads", target.client.list_multipart_uploads,
                Prefix=target.prefix, MaxUploads=1)
    existing = (mpu.value.get("Uploads") or [None])[0] if mpu.ok else None
    if sample:
        p.run("s3:GetObject", "GetObject (1 byte)", target.client.get_object, Key=sample, Range="bytes=0-0")
        p.run("s3:GetObject", "HeadObject (as during push)", target.client.head_object, Key=sample)
    elif listed.ok:
        ghost = f"{target.prefix}{PROBE_PREFIX}does-not-exist-{uuid.uuid4().hex}"
        p.run("s3:GetObject", "GetObject (missing key)", target.client.get_object, missing_ok=True, Key=ghost)
        p.run("s3:GetObject", "HeadObject (missing key)", target.client.head_object, missing_ok=True, Key=ghost)
    else:
        p.untested("s3:GetObject", "GetObject", "no object known (ListBucket failed): S3 answers 403 for missing keys")
    if existing:
        p.run("s3:ListMultipartUploadParts", "ListParts", target.client.list_parts, Key=existing["Key"],
              UploadId=existing["UploadId"], MaxParts=1)
    elif not write:
        p.untested("s3:ListMultipartUploadParts", "ListParts", "no multipart upload in progress to list (read-only run)")
    if not write:
        for action in sorted(WRITE_ACTIONS):
            p.untested(action, "-", "read-only run: set write_probe: true to test it on one probe key")
    else:
        _write_probe(target, p, report, test_list_parts=not existing)
    report.requests = target.counter.since(before)
    return report


def _write_probe(target: S3Target, p: _Prober, report: PermissionReport, test_list_parts: bool) -> None:
    c = target.client
    key = f"{normalise_root(target.settings.root)}{PROBE_PREFIX}{uuid.uuid4().hex}"
    report.probe_key = key
    put = p.run("s3:PutObject", "PutObject (probe key)", c.put_object, Key=key, Body=b"registry-runbooks write probe\n")
    if put.ok:
        p.run("s3:GetObject", "HeadObject (probe key)", c.head_object, Key=key)
    started = p.run("s3:PutObject", "CreateMultipartUpload", c.create_multipart_upload, Key=key)
    upload_id = started.value.get("UploadId") if started.ok else ""
    if upload_id:
        p.run("s3:PutObject", "UploadPart", c.upload_part, Key=key, UploadId=upload_id, PartNumber=1, Body=b"probe")
        if test_list_parts:
            p.run("s3:ListMultipartUploadParts", "ListParts", c.list_parts, Key=key, UploadId=upload_id)
        aborted = p.run("s3:AbortMultipartUpload", "AbortMultipartUpload", c.abort_multipart_upload, Key=key,
                        UploadId=upload_id)
        if not aborted.ok:
            report.leftovers.append(f"multipart upload {upload_id} on s3://{target.bucket}/{key}")
    else:
        if test_list_parts:
            p.untested("s3:ListMultipartUploadParts", "ListParts", "no multipart upload could be started (PutObject)")
        p.untested("s3:AbortMultipartUpload", "AbortMultipartUpload", "no multipart upload could be started (PutObject)")
    if put.ok:
        deleted = p.run("s3:DeleteObject", "DeleteObject (probe key)", c.delete_object, Key=key)
        still = attempt(c.head_object, Bucket=target.bucket, Key=key)
        if not deleted.ok or still.ok:
            report.leftovers.append(f"s3://{target.bucket}/{key}")
    else:
        p.untested("s3:DeleteObject", "DeleteObject", "the probe key could not be written (PutObject)")


# ------------------------------------------------------------------------------------------------ findings


def _not_checked(fid: str, what: str, problem: str) -> list[Finding]:
    return [Finding(fid, Status.SKIP, f"{what}: not checked", detail=problem,
                    remedy="Give `s3_bucket` (and region, endpoint, keys) or a registry config with storage.s3.", refs=(SEED,))]


def check_s3_settings(target: S3Target, registry: RegistryConfig | None = None) -> list[Finding]:
    """Which settings are tested, and where the parameters and the registry's config disagree."""
    ev: dict[str, Any] = {"tested": target.settings.describe()}
    if target.problem:
        return [Finding("s3.settings.missing", Status.SKIP, "No S3 bucket to check", detail=target.problem, evidence=ev,
                        remedy="Give `s3_bucket` or `registry_config` (its storage.s3 section).", refs=(SEED,))]
    reg = None
    if registry is not None:
        if getattr(registry.storage, "driver", None) not in ("s3", "s3_v2", None):
            ev["registry_driver"] = registry.storage.driver
        reg = settings_from_registry(registry)
    if reg is None or reg is target.settings or target.settings.source == "registry config":
        return [Finding("s3.settings", Status.OK, f"S3 settings from the {target.settings.source}",
                        detail=f"Bucket {target.bucket!r}, region {target.settings.region or '(unset)'}, endpoint "
                        f"{target.settings.endpoint or 'AWS'}, key prefix {target.prefix!r}.", evidence=ev, refs=(SEED,))]
    ev["registry_config"] = reg.describe()
    differ = []
    s = target.settings
    for name, a, b in (("bucket", s.bucket, reg.bucket), ("region", s.region, reg.region),
                       ("endpoint", s.endpoint.rstrip("/"), reg.endpoint.rstrip("/")),
                       ("rootdirectory", normalise_root(s.root), normalise_root(reg.root))):
        if a != b:
            differ.append(f"{name}: parameters {a or '(empty)'!r}, registry {b or '(empty)'!r}")
    if s.access_key and reg.access_key and s.access_key != reg.access_key:
        differ.append(f"access key: parameters {mask_key_id(s.access_key)}, registry {mask_key_id(reg.access_key)}")
    elif s.secret_key and reg.secret_key and s.secret_key != reg.secret_key:
        differ.append("secret key: the parameters' secret is not the one in the registry config (same key ID)")
    if differ:
        ev["differences"] = differ
        return [Finding("s3.settings.differ", Status.WARN, "Parameters and registry config disagree on S3",
                        detail="This runbook tests the parameters' settings; the registry uses its config's: "
                        + "; ".join(differ) + ".", evidence=ev,
                        remedy="Make the parameters match the registry's storage.s3 (or leave `s3_bucket` empty to test the "
                        "registry config's own settings).", refs=(SEED,))]
    return [Finding("s3.settings", Status.OK, "S3 settings agree with the registry config",
                    detail=f"Bucket {s.bucket!r}, region {s.region or '(unset)'}, endpoint {s.endpoint or 'AWS'}, "
                    f"key prefix {target.prefix!r}.", evidence=ev, refs=(SEED,))]


def _credential_probe(target: S3Target) -> Outcome:
    return attempt(target.client.list_objects_v2, Bucket=target.bucket, Prefix=target.prefix, MaxKeys=1)


def _credential_finding(target: S3Target, out: Outcome, label: str, fid: str) -> Finding:
    s = target.settings
    ev: dict[str, Any] = {"credentials": label, "access_key": mask_key_id(s.access_key) or "(default chain)",
                          "call": "ListObjectsV2"}
    if out.ok:
        return Finding(fid + ".ok", Status.OK, f"S3 accepts the {label}",
                       detail=f"ListObjectsV2 on {target.bucket!r} answered with these credentials.", evidence=ev, refs=(SEED,))
    f = out.failure
    assert f is not None
    ev.update(f.evidence())
    if f.kind == "access_denied":
        return Finding(fid + ".ok", Status.OK, f"S3 authenticates the {label}",
                       detail="The signature is accepted (S3 answered AccessDenied, not a credential error): the identity is "
                       "valid; see the permission probes for what it may do.", evidence=ev, refs=(SEED,))
    if f.kind in CREDENTIAL_KINDS:
        return Finding(f"{fid}.{f.kind}", Status.FAIL, f"The {label} are refused: {f.title}",
                       detail=f"S3 answered {f.code}: {f.message}".strip(), evidence=ev, remedy=CREDENTIAL_REMEDY.get(f.kind, ""), refs=(SEED,))
    if f.kind == "no_such_bucket":
        return Finding("s3.bucket.missing", Status.FAIL, f"Bucket {target.bucket!r} does not exist",
                       detail=f"S3 answered NoSuchBucket for {target.bucket!r}.", evidence=ev,
                       remedy="Fix the bucket name (`storage.s3.bucket`; Omnibus `registry['storage']['s3']['bucket']`; Helm "
                       "the storage Secret) or create the bucket in the right account and region.", refs=(SEED,))
    if f.kind == "wrong_region":
        return Finding("s3.region.redirect", Status.FAIL, "The bucket is in another region",
                       detail=f"S3 answered {f.code}" + (f": the bucket is in {f.region_hint}" if f.region_hint else "") + ".",
                       evidence=ev, remedy=_REGION_REMEDY, refs=(SEED,))
    return Finding("s3.endpoint.unreachable" if f.kind in ("unreachable", "timeout", "bad_endpoint") else f"{fid}.error",
                   Status.ERROR, f"S3 could not be asked: {f.title}", detail=f"{f.code}: {f.message}".strip(), evidence=ev,
                   remedy="Check `s3_endpoint` / `storage.s3.regionendpoint` (scheme, host, port) and that this host reaches "
                   "it; for AWS leave the endpoint empty.", refs=(SEED,))


def check_credentials(target: S3Target, registry: RegistryConfig | None = None) -> list[Finding]:
    """Are the credentials valid? Unknown key ID, wrong secret and expired token are told apart; when the
    registry config holds other credentials, those are tried as well (which of the two is stale?)."""
    if not target.ok:
        return _not_checked("s3.credentials.not_checked", "Credentials", target.problem)
    out = _credential_probe(target)
    found = [_credential_finding(target, out, f"{target.settings.source} credentials", "s3.credentials")]
    reg = settings_from_registry(registry) if registry is not None else None
    if reg is None or target.settings.source == "registry config" or not (reg.access_key and reg.secret_key):
        return found
    if reg.same_credentials(target.settings):
        return found
    reg_target = connect(reg, target.timeout_s, 2)
    if not reg_target.ok:
        return found
    reg_out = _credential_probe(reg_target)
    reg_finding = _credential_finding(reg_target, reg_out, "registry config's credentials", "s3.credentials.registry")
    found.append(reg_finding)
    if not out.ok and out.failure is not None and out.failure.kind in CREDENTIAL_KINDS and reg_finding.status is Status.OK:
        same_id = reg.access_key == target.settings.access_key
        found.append(Finding(
            "s3.credentials.parameters_stale", Status.WARN, "The parameters hold other credentials than the registry",
            detail="The registry's own credentials work, the parameters' do not"
            + (" (same access key ID, another secret): the parameter file's secret is stale or mistyped."
               if same_id else " (another access key ID)."),
            evidence={"parameters": mask_key_id(target.settings.access_key), "registry": mask_key_id(reg.access_key)},
            remedy="Point `s3_access_key` / `s3_secret_key` at the registry's current credentials (or leave `s3_bucket` "
            "empty to test the registry config's settings).", refs=(SEED,)))
    return found


_REGION_REMEDY = (
    "Set the bucket's region in the registry config:\n"
    "- Omnibus: `registry['storage'] = { 's3' => { ..., 'region' => '<region>' } }` in /etc/gitlab/gitlab.rb, "
    "`gitlab-ctl reconfigure`.\n- Helm: `region:` in the storage Secret's s3 block, then restart the registry pods.\n"
    "- Source: `storage.s3.region` in config.yml.\nWith an S3-compatible endpoint, use the region it expects "
    "(often `us-east-1`).")


def bucket_region(target: S3Target) -> tuple[str | None, str]:
    """The bucket's region (GetBucketLocation; HeadBucket's x-amz-bucket-region when that is denied)."""
    out = attempt(target.client.get_bucket_location, Bucket=target.bucket)
    if out.ok:
        loc = out.value.get("LocationConstraint")
        return ({None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(loc, loc), "GetBucketLocation")
    head = attempt(target.client.head_bucket, Bucket=target.bucket)
    if head.ok:
        region = (head.value.get("ResponseMetadata", {}).get("HTTPHeaders") or {}).get("x-amz-bucket-region")
        if region:
            return region, "HeadBucket"
    elif head.failure is not None and head.failure.region_hint:
        return head.failure.region_hint, "HeadBucket"
    assert out.failure is not None
    return None, f"{out.failure.title} ({out.failure.code})"


def check_region(target: S3Target, registry: RegistryConfig | None = None) -> list[Finding]:
    """The bucket's region against the configured one (parameters and registry config)."""
    if not target.ok:
        return _not_checked("s3.region.not_checked", "Region", target.problem)
    region, how = bucket_region(target)
    configured = {"parameters" if target.settings.source == "parameters" else "registry config": target.settings.region}
    reg = settings_from_registry(registry) if registry is not None else None
    if reg is not None and target.settings.source == "parameters":
        configured["registry config"] = reg.region
    ev = {"bucket_region": region, "found_by": how, "configured": configured}
    if region is None and "(" in how and any(k in how for k in ("SignatureDoesNotMatch", "InvalidAccessKeyId",
                                                                  "ExpiredToken", "NoCredentials", "InvalidToken")):
        return [Finding("s3.region.not_checked", Status.SKIP, "Region not checked: the credentials are refused",
                        detail=f"GetBucketLocation failed: {how}. Fix the credentials first.", evidence=ev, refs=(SEED,))]
    if region is None:
        return [Finding("s3.region.unknown", Status.WARN, "The bucket's region could not be read",
                        detail=f"GetBucketLocation and HeadBucket gave no region: {how}.", evidence=ev,
                        remedy="Allow `s3:GetBucketLocation` (it is in the registry's sample policy).", refs=(SEED,))]
    wrong = {where: r for where, r in configured.items() if r and r != region}
    unset = [where for where, r in configured.items() if not r]
    if wrong:
        return [Finding("s3.region.mismatch", Status.FAIL, "Configured region is not the bucket's region",
                        detail=f"The bucket is in {region} ({how}); configured: "
                        + ", ".join(f"{w} {r}" for w, r in wrong.items())
                        + ". Requests signed for the wrong region are refused or redirected (PermanentRedirect, "
                        "AuthorizationHeaderMalformed).", evidence=ev, remedy=_REGION_REMEDY, refs=(SEED,))]
    if unset and target.settings.endpoint == "":
        return [Finding("s3.region.unset", Status.WARN, "No region configured",
                        detail=f"The bucket is in {region}; {', '.join(unset)} name no region.", evidence=ev, remedy=_REGION_REMEDY, refs=(SEED,))]
    return [Finding("s3.region.ok", Status.OK, "Region matches the bucket",
                    detail=f"The bucket is in {region} ({how}), as configured.", evidence=ev, refs=(SEED,))]


def check_permissions(report: PermissionReport) -> list[Finding]:
    """Denied actions and the policy statement that grants them; untested write actions are named."""
    if report.problem:
        return _not_checked("s3.permissions.not_checked", "Permissions", report.problem)
    actions = report.by_action()
    ev: dict[str, Any] = {"actions": actions, "write_probe": report.write_probe, "requests": report.requests,
                          "probes": [p.__dict__ for p in report.probes]}
    if report.blocked_by is not None:
        f = report.blocked_by
        return [Finding("s3.permissions.not_checked", Status.SKIP, "Permissions not probed",
                        detail=f"The first call already failed ({f.title}): fix that first (see the credentials finding).",
                        evidence={**ev, **f.evidence()}, refs=(SEED,))]
    out: list[Finding] = []
    denied = report.denied
    errors = [p for p in report.probes if p.result == "error"]
    untested = [a for a, r in actions.items() if r == "untested"]
    if denied:
        policy = registry_policy(report.bucket, denied)
        ev["policy_to_add"] = policy
        out.append(Finding(
            "s3.permissions.denied", Status.FAIL, f"S3 denies {len(denied)} action(s) the registry needs",
            detail=f"Denied: {', '.join(denied)}. Pushes, pulls, deletes or upload cleanup fail where they need them "
            "(the registry logs AccessDenied / status code: 403).", evidence=ev,
            remedy="Add these statements to the IAM policy of the user or role the registry uses (or to the bucket "
            "policy):\n```json\n" + json.dumps(policy, indent=2) + "\n```\nThe full sample policy: "
            "https://distribution.github.io/distribution/storage-drivers/s3/", refs=(SEED,)))
    if errors:
        out.append(Finding("s3.permissions.errors", Status.ERROR, "Some permission probes failed for another reason",
                           detail="; ".join(f"{p.action} ({p.operation}): {p.detail}" for p in errors[:8]), evidence=ev, refs=(SEED,)))
    if report.leftovers:
        out.append(Finding("s3.permissions.probe_leftover", Status.WARN, "The write probe left objects behind",
                           detail="Remove by hand: " + "; ".join(report.leftovers), evidence=ev,
                           remedy="`aws s3api delete-object` / `abort-multipart-upload` for the keys named.", refs=(SEED,)))
    if not denied and not errors:
        note = ("" if not untested else f" Not tested: {', '.join(untested)}"
                + (" (read-only run: set `write_probe: true`)." if not report.write_probe else "."))
        out.append(Finding("s3.permissions.ok", Status.OK, "Every tested action is allowed",
                           detail=f"Allowed: {', '.join(a for a, r in actions.items() if r == 'allowed')}.{note}", evidence=ev,
                           refs=(SEED,)))
    return out
