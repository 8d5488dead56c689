"""gc-broke-pulls: garbage-collect output read in the three wordings (real 2.8.2 lines from the lab), listed tags
walked like a pull, storage links against data, and the real lab fault (--delete-untagged over a multi-arch
index) named by the runbook, by triage and by a real client."""

from __future__ import annotations

import json
import re

import httpx

from runbooklib.findings import Finding
from runbooklib.logs.gc import check_gc_output, check_gc_text, gc_repositories, parse_gc_output
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.gcpulls import check_tagged_pulls
from runbooklib.scenarios import route
from tests.conftest import ROOT, runbook

REAL = ROOT / "tests" / "data" / "gc" / "registry-2.8.2-delete-untagged.log"
REAL_TEXT = REAL.read_text()
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def test_real_2_8_output_names_the_index_children_it_deleted():
    run = parse_gc_output(REAL_TEXT)
    assert run.flavour == "distribution 2" and run.dry_run is False
    assert run.repositories == ["group/project/app", "group/project/multi"]
    eligible = re.findall(r"^manifest eligible for deletion: (sha256:[0-9a-f]{64})", REAL_TEXT, re.M)
    assert len(eligible) == 2 and sorted(c["digest"] for c in run.index_children_deleted()) == sorted(eligible)
    assert {c["repository"] for c in run.index_children_deleted()} == {"group/project/multi"}
    assert run.summary["blobs_to_delete"] == len(run.blobs_eligible) == len(run.deleted_blobs)
    assert run.summary["manifests_to_delete"] == len(run.deleted_manifests)
    f = {x.id: x for x in check_gc_text(REAL_TEXT)}["gc.index_children_deleted"]
    assert f.status.value == "fail" and "group/project/multi" in f.title and f.evidence["scenario"] == "gc-broke-pulls"
    assert "readonly" in f.remedy and "list-object-versions" in f.remedy


def test_the_same_run_as_a_dry_run_warns_instead():
    dry = "\n".join(line for line in REAL_TEXT.splitlines() if "level=info" not in line)
    found = {x.id: x for x in check_gc_text(dry)}
    assert found["gc.index_children_at_risk"].status.value == "warn" and "gc.index_children_deleted" not in found
    assert "dry run" in found["gc.summary"].title


def test_distribution_3_and_gitlab_fork_wordings_are_read():
    v3 = parse_gc_output(f"group/app\ngroup/app: marking manifest {D1} \nmanifest eligible for deletion: "
                         f"{{group/app {D2} [latest v1]}}\n\n1 blobs marked, 0 blobs and 1 manifests eligible for "
                         "deletion\n")
    assert v3.flavour == "distribution 3" and v3.manifests_eligible == [("group/app", D2)]
    assert v3.index_children_deleted() == []  # v3 follows index references: an unmarked manifest is really untagged
    fork = parse_gc_output("\n".join([
        'time="2026-12-01T02:43:57Z" level=info msg="marking repository" repo=group/app',
        f'time="2026-12-01T02:43:57Z" level=info msg="marking manifest" digest={D1} digest_type=layer '
        'referenced_by=tag repository=group/app',
        json.dumps({"level": "info", "msg": "manifest eligible for deletion", "digest": D2,
                    "time": "2026-12-01T02:43:57Z"}),
        'time="2026-12-01T02:43:58Z" level=info msg="mark stage complete" blobs_marked=3 blobs_to_delete=1 '
        'duration_s=0.1 manifests_to_delete=1 storage_use_estimate_bytes=10',
    ]))
    assert fork.flavour == "gitlab" and fork.repositories == ["group/app"]
    assert fork.summary == {"blobs_marked": 3, "blobs_to_delete": 1, "manifests_to_delete": 1}
    assert fork.manifests_eligible == [("group/app", D2)] and fork.dry_run is True


def test_bad_inputs_skip_and_say_what_to_give(tmp_path):
    none = check_gc_output("")
    assert none[0].status.value == "skip" and "gc_output" in none[0].detail and "registry-garbage-collect" in none[0].detail
    (tmp_path / "other.log").write_text("hello\nworld\n")
    assert check_gc_output(str(tmp_path / "other.log"))[0].id == "gc.output_unrecognised"
    assert check_gc_output(str(tmp_path))[0].id == "gc.output_unreadable"
    assert gc_repositories(str(tmp_path)) == [] and gc_repositories(str(REAL)) == ["group/project/app",
                                                                                   "group/project/multi"]
    assert "registry_url" in check_tagged_pulls(httpx.Client(), RegistryEndpoint(""))[0].detail


def _registry(children_status: int):
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"digest": D1, "platform": {"os": "linux", "architecture": "arm64"}}]}
    image = {"schemaVersion": 2, "config": {"digest": D2}, "layers": []}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        api = {"Docker-Distribution-Api-Version": "registry/2.0"}
        if path == "/jwt/auth":
            return httpx.Response(200, json={"token": "t"})
        if "authorization" not in request.headers:
            return httpx.Response(401, headers={**api, "Www-Authenticate":
                                  'Bearer realm="https://r.example/jwt/auth",service="container_registry"'})
        if path.endswith("/tags/list"):
            return httpx.Response(200, json={"tags": ["", "latest"]}, headers=api)
        if path.endswith("/manifests/latest"):
            return httpx.Response(200, json=index, headers=api)
        if path.endswith(f"/manifests/{D1}"):
            if children_status == 200:
                return httpx.Response(200, json=image, headers=api)
            return httpx.Response(children_status, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]}, headers=api)
        if "/blobs/" in path:
            return httpx.Response(200, headers=api)
        return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]}, headers=api)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_listed_tag_whose_platform_manifest_is_gone_is_a_broken_pull():
    found = check_tagged_pulls(_registry(404), RegistryEndpoint("https://r.example", "u", "p"), repositories=["group/app"])
    f = found[0]
    assert f.id == "gc.pull_broken" and "manifest unknown" in f.title
    assert f.evidence["broken"] == [{"repository": "group/app", "tag": "latest", "missing": "platform manifest linux/arm64",
                                     "reference": D1, "status": 404, "error_code": "MANIFEST_UNKNOWN"}]
    assert {r["scenario"] for r in route(found)} == {"gc-broke-pulls"}
    ok = check_tagged_pulls(_registry(200), RegistryEndpoint("https://r.example", "u", "p"), repositories=["group/app"])
    assert [x.id for x in ok] == ["gc.pulls_ok"] and ok[0].evidence["checked"] == ["group/app:latest"]
    other = check_tagged_pulls(_registry(500), RegistryEndpoint("https://r.example", "u", "p"), repositories=["group/app"])
    assert [x.id for x in other] == ["gc.pulls_ok"]  # a 500 is not content that is gone


# ------------------------------------------------------------------------------------------------ the lab


def _findings(path):
    return {f["id"]: f for f in json.loads(path.read_text())["findings"]}


def _s3(lab):
    from runbooklib.lab import control
    from runbooklib.s3.client import S3Settings, connect

    return connect(S3Settings(bucket=control.BUCKET, region=control.REGION, endpoint=lab.url("s3"),
                              access_key=lab.secret("s3_access_key"), secret_key=lab.secret("s3_secret_key")))


def test_healthy_lab_tags_pull_and_links_lead_to_data(lab):
    from runbooklib.lab import control
    from runbooklib.probes.http import make_client
    from runbooklib.s3.gclinks import check_gc_storage

    pulls = check_tagged_pulls(make_client(10), RegistryEndpoint(lab.url("registry"), control.USERNAME, lab.secret("password")))
    storage = check_gc_storage(_s3(lab), [control.SEED_IMAGE])
    assert {f.id: f.status.value for f in pulls + storage} == {"gc.pulls_ok": "ok", "gc.storage_consistent": "ok"}


def test_delete_untagged_over_an_index_is_named_by_the_runbook_triage_and_a_real_pull(lab_with, tmp_path):
    import base64
    import subprocess

    from runbooklib.lab import control

    lab = lab_with("gc-delete-untagged")  # read-only: shared with the generated fault test
    pushed = lab.options["gc_delete_untagged"]
    r = runbook("run", "gc-broke-pulls", "-f", str(lab.params_path), "-o", str(tmp_path / "run"))
    assert r.returncode == 1, r.stderr
    found = _findings(tmp_path / "run" / "gc-broke-pulls.findings.json")
    deleted = found["gc.index_children_deleted"]
    assert deleted["cause"] == "gc-deleted-referenced"
    assert sorted(m["digest"] for m in deleted["evidence"]["manifests"]) == sorted(pushed["children"])
    broken = found["gc.pull_broken"]["evidence"]["broken"]
    assert {(b["repository"], b["tag"], b["status"]) for b in broken} == {(pushed["repository"], pushed["tag"], 404)}
    assert sorted(b["reference"] for b in broken) == sorted(pushed["children"])
    links = found["gc.storage_dangling"]["evidence"]["links"]
    assert {link["digest"] for link in links if "platform manifest" in link["problem"]} == set(pushed["children"])
    assert any("blob data that is gone" in link["problem"] for link in links)
    assert found["gc.versioning_off"]["status"] == "info"

    bundle = tmp_path / "bundle"
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(bundle))
    assert r.returncode == 1, r.stderr
    triage = [Finding.from_dict(x) for x in json.loads((bundle / "triage.findings.json").read_text())["findings"]]
    assert "gc-broke-pulls" in {x["scenario"] for x in route(triage)}
    assert (bundle / "gc-broke-pulls.findings.json").exists()

    host = lab.url("registry").split("://", 1)[1]
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"{control.USERNAME}:{lab.secret('password')}".encode()).decode()
    auth.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    pull = subprocess.run(["skopeo", "--insecure-policy", "copy", "--retry-times", "0", "--src-tls-verify=false",
                           "--src-authfile", str(auth), "--override-arch", "arm64",
                           f"docker://{host}/{pushed['repository']}:{pushed['tag']}", f"oci:{tmp_path / 'out'}:x"],
                          capture_output=True, text=True, timeout=60, env=control.clean_env())
    assert pull.returncode != 0 and "manifest unknown" in pull.stderr
