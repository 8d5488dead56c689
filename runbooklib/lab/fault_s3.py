"""S3 faults (seed: IAM permissions and credentials, tags with an empty name, large pushes to S3).

* ``empty-name-tags``: zero-byte "directory marker" objects at every folder level of some repositories,
  as an AWS DataSync copy leaves them (plus the levels above and the blob folders it would also create).
* ``s3-bad-secret``: the parameter file's S3 secret does not match its access key. moto accepts any key
  unless its IAM authentication is switched on, so this fault switches it on (moto's own
  ``/moto-api/reset-auth``) after creating an IAM user with the registry's sample policy: the registry
  signs with that user's real key and keeps working; S3 answers the parameters' wrong secret with a real
  ``SignatureDoesNotMatch`` computed by moto's SigV4 check.
* ``s3-missing-permissions``: the same IAM mode, with the registry's policy later stripped of
  ``s3:DeleteObject`` and ``s3:ListBucketMultipartUploads`` (moto evaluates the IAM policy on every call).
* ``stale-uploads``: blob uploads started through the registry and abandoned (one broken off mid-PATCH,
  which the registry logs as ``client disconnected during blob PATCH ... unexpected EOF``), with their S3
  multipart uploads left open, an orphaned multipart upload whose session folder is gone, and the
  sessions' ``startedat`` set three days back (the lab cannot wait days; ``startedat`` is exactly what the
  registry's upload purger reads).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

MARKED_REPOSITORIES = ("group/project/app", "group/sub/deep/img")
CLEAN_REPOSITORIES = ("group/project/tools",)
STALE_AGE = dt.timedelta(days=3)
REGISTRY_USER = "gitlab-registry"
ADMIN_USER = "lab-admin"


# ------------------------------------------------------------------------------------------ helpers


def _write_secret(lab: "Lab", name: str, value: str) -> None:
    path = lab.secrets_dir / name
    path.write_text(value + "\n")
    os.chmod(path, 0o600)


def lab_s3(lab: "Lab", service: str = "s3") -> Any:
    """A client for the lab's S3 that always works: the IAM admin's key when IAM auth is on, else the lab's."""
    import boto3
    from botocore.config import Config

    admin = lab.secrets_dir / "s3_admin_access_key"
    if admin.exists():
        key, secret = lab.secret("s3_admin_access_key"), lab.secret("s3_admin_secret_key")
    else:
        key, secret = lab.secret("s3_access_key"), lab.secret("s3_secret_key")
    return boto3.client(service, endpoint_url=lab.url("s3"), region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, use_ssl=False,
                        config=Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3},
                                      s3={"addressing_style": "path"}))


def _token(lab: "Lab", *scopes: str) -> str:
    """A token the registry trusts, minted with the lab's own trusted key (an admin path): it does not go
    through the realm, which another fault may have broken on purpose (untrusted key, clock skew)."""
    from .issuer import Issuer

    cfg = {**lab.issuer_config(), "key_path": str(lab.issuer_key_path), "clock_offset_s": 0}
    return Issuer(cfg).token("lab-user", "container_registry", list(scopes))


def copy_image(lab: "Lab", source: str, target: str, tag: str, source_tag: str = "latest") -> None:
    """Make another real repository through the registry API: mount the blobs, put the manifest."""
    import httpx

    from .control import LabError

    token = _token(lab, f"repository:{source}:pull", f"repository:{target}:pull,push")
    base = lab.url("registry")
    with httpx.Client(timeout=10, trust_env=False, verify=False, headers={"Authorization": f"Bearer {token}"}) as c:
        accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        r = c.get(f"{base}/v2/{source}/manifests/{source_tag}", headers={"Accept": accept})
        if r.status_code != 200:
            raise LabError(f"fault: reading {source}:{source_tag} answered {r.status_code}")
        manifest = r.json()
        for digest in [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]:
            m = c.post(f"{base}/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
            if m.status_code != 201:
                raise LabError(f"fault: mounting {digest} into {target} answered {m.status_code}")
        p = c.put(f"{base}/v2/{target}/manifests/{tag}", content=r.content,
                  headers={"Content-Type": r.headers["content-type"]})
        if p.status_code != 201:
            raise LabError(f"fault: putting {target}:{tag} answered {p.status_code}")


def _all_keys(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents") or [])
    return out


def folder_levels(key: str) -> list[str]:
    """Every folder a key sits in: ``a/b/c`` -> ``a/``, ``a/b/``."""
    parts = key.split("/")[:-1]
    return ["/".join(parts[:i]) + "/" for i in range(1, len(parts) + 1)]


# ------------------------------------------------------------------------------------ empty-name-tags


def _empty_name_tags(lab: "Lab") -> None:
    """DataSync-like markers at every folder level of some repositories (and above them, and their blobs)."""
    from .control import BUCKET, SEED_IMAGE

    copy_image(lab, SEED_IMAGE, MARKED_REPOSITORIES[1], "v1")
    copy_image(lab, SEED_IMAGE, CLEAN_REPOSITORIES[0], "stable")
    s3 = lab_s3(lab)
    root = "docker/registry/v2/"
    markers: set[str] = set()
    for repo in MARKED_REPOSITORIES:
        for obj in _all_keys(s3, BUCKET, f"{root}repositories/{repo}/"):
            markers.update(folder_levels(obj["Key"]))
    for obj in _all_keys(s3, BUCKET, f"{root}blobs/"):
        markers.update(folder_levels(obj["Key"]))
    for key in sorted(markers):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"")
    lab.options["empty_name_tags"] = {"marked": list(MARKED_REPOSITORIES), "clean": list(CLEAN_REPOSITORIES),
                                      "markers": len(markers)}


# ----------------------------------------------------------------------------------------- IAM mode


def _enable_iam(lab: "Lab", cfg: dict[str, Any], params_secret_ok: bool = True) -> None:
    """Create the registry's IAM user (sample policy) and an admin, give the registry its real key, switch
    moto's authentication on. The parameters get the registry's key ID and, unless told otherwise, its secret."""
    import httpx

    from ..s3.permissions import registry_policy
    from .control import BUCKET, LabError

    if lab.options.get("s3_iam"):
        return
    iam = lab_s3(lab, "iam")
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="admin", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    admin = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    iam.create_user(UserName=REGISTRY_USER)
    iam.put_user_policy(UserName=REGISTRY_USER, PolicyName="registry-s3",
                        PolicyDocument=json.dumps(registry_policy(BUCKET)))
    key = iam.create_access_key(UserName=REGISTRY_USER)["AccessKey"]
    cfg["storage"]["s3"]["accesskey"] = key["AccessKeyId"]
    cfg["storage"]["s3"]["secretkey"] = key["SecretAccessKey"]
    _write_secret(lab, "s3_admin_access_key", admin["AccessKeyId"])
    _write_secret(lab, "s3_admin_secret_key", admin["SecretAccessKey"])
    _write_secret(lab, "s3_access_key", key["AccessKeyId"])
    _write_secret(lab, "s3_secret_key", key["SecretAccessKey"] if params_secret_ok else
                  key["SecretAccessKey"][:-6] + "WRONG0")
    r = httpx.post(f"{lab.url('s3')}/moto-api/reset-auth", content=b"0", timeout=10, trust_env=False)
    if r.status_code != 200:
        raise LabError(f"fault: moto refused to switch IAM authentication on ({r.status_code})")
    lab.options["s3_iam"] = True


def _bad_secret(lab: "Lab", cfg: dict[str, Any]) -> None:
    _enable_iam(lab, cfg, params_secret_ok=False)


def _iam_on(lab: "Lab", cfg: dict[str, Any]) -> None:
    _enable_iam(lab, cfg, params_secret_ok=True)


MISSING_ACTIONS = ("s3:DeleteObject", "s3:ListBucketMultipartUploads")


def _strip_policy(lab: "Lab") -> None:
    """After seeding: the registry's policy loses two actions it needs."""
    from ..s3.permissions import BUCKET_ACTIONS, OBJECT_ACTIONS, registry_policy
    from .control import BUCKET

    keep = [a for a in (*BUCKET_ACTIONS, *OBJECT_ACTIONS) if a not in MISSING_ACTIONS]
    lab_s3(lab, "iam").put_user_policy(UserName=REGISTRY_USER, PolicyName="registry-s3",
                                       PolicyDocument=json.dumps(registry_policy(BUCKET, keep)))
    lab.options["s3_missing_actions"] = list(MISSING_ACTIONS)


# ------------------------------------------------------------------------------------- stale-uploads


def _start_upload(lab: "Lab", repo: str, token: str, data: bytes) -> str:
    import httpx

    from .control import LabError

    base = lab.url("registry")
    with httpx.Client(timeout=10, trust_env=False, verify=False, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post(f"{base}/v2/{repo}/blobs/uploads/")
        if r.status_code != 202:
            raise LabError(f"fault: starting an upload to {repo} answered {r.status_code}")
        location = r.headers["location"]
        p = c.patch(location if location.startswith("http") else base + location, content=data,
                    headers={"Content-Type": "application/octet-stream"})
        if p.status_code != 202:
            raise LabError(f"fault: PATCH of an upload to {repo} answered {p.status_code}")
    return r.headers.get("docker-upload-uuid", "")


def _broken_patch(lab: "Lab", repo: str, token: str) -> str:
    """A PATCH that announces 20 MB, sends 3 MB and hangs up: a push that broke off."""
    import time

    import httpx

    base = lab.url("registry")
    with httpx.Client(timeout=10, trust_env=False, verify=False, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post(f"{base}/v2/{repo}/blobs/uploads/")
    location = urlsplit(r.headers["location"])
    path = location.path + ("?" + location.query if location.query else "")
    sock = socket.create_connection(("127.0.0.1", lab.ports["registry"]), timeout=10)
    if lab.options.get("registry_scheme") == "https":  # composes with self-signed-tls
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    try:
        head = (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{lab.ports['registry']}\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/octet-stream\r\nContent-Length: 20000000\r\n\r\n")
        sock.sendall(head.encode() + os.urandom(3_000_000))
        time.sleep(0.3)
    finally:
        sock.close()
    time.sleep(0.3)
    return r.headers.get("docker-upload-uuid", "")


def _stale_uploads(lab: "Lab") -> None:
    from .control import BUCKET, SEED_IMAGE

    token = _token(lab, f"repository:{SEED_IMAGE}:pull,push")
    uuids = [_start_upload(lab, SEED_IMAGE, token, os.urandom(1_500_000 + 100_000 * i)) for i in range(2)]
    uuids.append(_broken_patch(lab, SEED_IMAGE, token))
    s3 = lab_s3(lab)
    uploads = f"docker/registry/v2/repositories/{SEED_IMAGE}/_uploads/"
    old = (dt.datetime.now(dt.timezone.utc) - STALE_AGE).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for u in uuids:
        s3.put_object(Bucket=BUCKET, Key=f"{uploads}{u}/startedat", Body=old.encode())
    orphan = f"{uploads}{uuid.uuid4()}/data"  # its session folder was purged, its multipart upload was not
    mpu = s3.create_multipart_upload(Bucket=BUCKET, Key=orphan)
    s3.upload_part(Bucket=BUCKET, Key=orphan, UploadId=mpu["UploadId"], PartNumber=1, Body=os.urandom(5 * 2 ** 20))
    lab.options["stale_uploads"] = {"sessions": uuids, "orphan_multipart": orphan}


register(Fault("empty-name-tags", "zero-byte folder markers (as DataSync leaves them) in some repositories", after_start=_empty_name_tags, sets_up_data=True))
register(Fault("s3-bad-secret", "the parameters' S3 secret does not match their access key (moto IAM auth on)", registry_config=_bad_secret))
register(Fault("s3-missing-permissions", "the registry's IAM policy lacks s3:DeleteObject and "
               "s3:ListBucketMultipartUploads (moto IAM auth on)",
               registry_config=_iam_on, after_start=_strip_policy))
register(Fault("stale-uploads", "abandoned registry uploads (one broken off mid-push) and open multipart uploads", after_start=_stale_uploads, sets_up_data=True))
