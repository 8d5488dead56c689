"""Garbage collection that broke pulls (issue #19, beyond GitLab's troubleshooting page).

* ``gc-delete-untagged``: a multi-arch image (an OCI index tagged ``latest`` over two platform manifests pushed
  by digest, as ``docker buildx --platform linux/amd64,linux/arm64 --push`` does) in ``group/project/multi``, then
  the registry's own offline garbage collection, run the way ``gitlab-ctl registry-garbage-collect -m`` runs it:
  registry stopped, ``docker-registry garbage-collect --delete-untagged CONFIG``, registry started again.
  Registry 2.8 counts the platform manifests as untagged: it deletes their revision links and, as nothing else
  marks them, their layers and configs. The index is still tagged, so ``tags/list`` shows ``latest`` while
  every pull of it fails with ``manifest unknown``. The GC output is kept as ``<state_dir>/gc/garbage-collect.log``
  and given to runbooks as ``gc_output``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

REPOSITORY = "group/project/multi"
TAG = "latest"
PLATFORMS = (("amd64", "linux"), ("arm64", "linux"))
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def gc_output_path(lab: "Lab"):
    return lab.state_dir / "gc" / "garbage-collect.log"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_multiarch(lab: "Lab", repository: str = REPOSITORY, tag: str = TAG) -> dict[str, Any]:
    """An OCI index over one manifest per platform (each with its own config and layer), children by digest."""
    import gzip
    import io
    import tarfile

    import httpx

    from .control import LabError
    from .fault_s3 import _token

    token = _token(lab, f"repository:{repository}:pull,push")
    base = lab.url("registry")
    children = []
    with httpx.Client(timeout=10, trust_env=False, verify=False, headers={"Authorization": f"Bearer {token}"}) as c:
        def blob(data: bytes) -> str:
            digest = _digest(data)
            r = c.post(f"{base}/v2/{repository}/blobs/uploads/")
            if r.status_code != 202:
                raise LabError(f"fault gc-delete-untagged: upload start answered {r.status_code}")
            loc = r.headers["location"]
            loc = loc if loc.startswith("http") else base + loc
            sep = "&" if "?" in loc else "?"
            p = c.put(f"{loc}{sep}digest={digest}", content=data, headers={"Content-Type": "application/octet-stream"})
            if p.status_code != 201:
                raise LabError(f"fault gc-delete-untagged: blob PUT answered {p.status_code}")
            return digest

        def put(ref: str, media: str, body: bytes) -> None:
            r = c.put(f"{base}/v2/{repository}/manifests/{ref}", content=body, headers={"Content-Type": media})
            if r.status_code != 201:
                raise LabError(f"fault gc-delete-untagged: manifest PUT {ref} answered {r.status_code}")

        for arch, os_name in PLATFORMS:
            raw = io.BytesIO()
            with tarfile.open(fileobj=raw, mode="w") as tar:
                payload = f"{arch} binary\n".encode()
                info = tarfile.TarInfo(f"bin/{arch}")
                info.size, info.mtime = len(payload), 0
                tar.addfile(info, io.BytesIO(payload))
            layer = gzip.compress(raw.getvalue(), mtime=0)
            config = json.dumps({"architecture": arch, "os": os_name, "rootfs": {
                "type": "layers", "diff_ids": [_digest(raw.getvalue())]}}).encode()
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config),
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob(layer),
                            "size": len(layer)}]}).encode()
            put(_digest(manifest), OCI_MANIFEST, manifest)
            children.append({"mediaType": OCI_MANIFEST, "digest": _digest(manifest), "size": len(manifest),
                             "platform": {"architecture": arch, "os": os_name}})
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}).encode()
        put(tag, OCI_INDEX, index)
    return {"repository": repository, "tag": tag, "index": _digest(index), "children": [m["digest"] for m in children]}


def run_garbage_collect(lab: "Lab", *flags: str) -> str:
    """``docker-registry garbage-collect [flags] CONFIG`` as Omnibus runs it: registry stopped, then started."""
    import yaml

    from .control import LabError, _start_registry, _wait_registry_ready, clean_env

    binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    for name in ("registry", "registry-log"):
        lab.stop_component(name)
    res = subprocess.run([binary, "garbage-collect", *flags, str(lab.registry_config_path)], capture_output=True,
                         text=True, timeout=120, env={**clean_env(), **lab.options.get("registry_env", {})})
    out = res.stdout + res.stderr
    path = gc_output_path(lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out)
    cfg = yaml.safe_load(lab.registry_config_path.read_text())
    _start_registry(lab, cfg)
    _wait_registry_ready(lab)
    if res.returncode != 0:
        raise LabError(f"fault gc-delete-untagged: garbage-collect exited {res.returncode}: {out.strip()[-300:]}")
    return out


def _gc_delete_untagged(lab: "Lab") -> None:
    pushed = push_multiarch(lab)
    run_garbage_collect(lab, "--delete-untagged")
    lab.options["gc_delete_untagged"] = pushed
    given = lab.options.get("client_params", {})
    logs = given.get("log_paths") or [str(lab.registry_log_dir), str(lab.rails_log_path.parent)]
    lab.options["client_params"] = {**given, "gc_output": str(gc_output_path(lab)),
                                    "log_paths": logs + [str(gc_output_path(lab).parent)]}


register(Fault("gc-delete-untagged",
               "a multi-arch OCI index (children pushed by digest), then offline garbage-collect --delete-untagged",
               after_start=_gc_delete_untagged, sets_up_data=True))
