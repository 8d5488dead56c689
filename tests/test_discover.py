"""`runbook discover` on the Omnibus-shaped tree the lab lays out over its real files, and `yaml:` references."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from runbooklib import params as P
from runbooklib.discover import discover, render_params
from tests.conftest import runbook

pytestmark = pytest.mark.lab


def test_discover_derives_the_labs_registry_realm_debug_storage_and_logs(lab):
    found = discover(lab.state_dir / "omnibus-root")
    v = found.values
    assert v["registry_url"] == lab.url("registry")
    assert v["realm_url"] == f"{lab.url('issuer')}/jwt/auth"
    assert v["debug_url"] == lab.url("debug") and v["service"] == "container_registry"
    assert v["s3_bucket"] == "registry" and v["s3_endpoint"] == lab.url("s3") and v["s3_region"] == "us-east-1"
    assert v["registry_config"].endswith("var/opt/gitlab/registry/config.yml")
    assert v["nginx_config"].endswith("var/opt/gitlab/nginx/conf/gitlab-registry.conf")
    assert [os.path.basename(p) for p in v["log_paths"]] == ["registry", "gitlab-rails", "nginx"]
    assert "gitlab.rb" in found.sources["registry_url"] and "registry_external_url" in found.sources["registry_url"]
    assert {"username", "password"} <= set(found.missing)


def test_discovered_s3_keys_are_references_that_resolve_to_the_labs_keys(lab):
    found = discover(lab.state_dir / "omnibus-root")
    assert found.values["s3_secret_key"].startswith("yaml:") and found.values["s3_secret_key"].endswith("#storage.s3.secretkey")
    assert P.resolve_secret("s3_secret_key", found.values["s3_secret_key"]) == lab.secret("s3_secret_key")
    assert P.resolve_secret("s3_access_key", found.values["s3_access_key"]) == lab.secret("s3_access_key")


def test_written_parameter_file_is_valid_comments_each_value_and_holds_no_secret(lab, tmp_path):
    out = tmp_path / "params.yaml"
    r = runbook("discover", "--root", str(lab.state_dir / "omnibus-root"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    for secret in (lab.secret("s3_secret_key"), lab.secret("s3_access_key"), lab.secret("password")):
        assert secret not in text
    values = yaml.safe_load(text)
    assert values["registry_url"] == lab.url("registry")
    assert "# password:" in text  # missing values are comments saying what to set
    P.validate({n: P.VOCABULARY[n] for n in values}, values)  # every name is in the vocabulary
    again = runbook("discover", "--root", str(lab.state_dir / "omnibus-root"), "-o", str(out))
    assert again.returncode == 2 and "exists" in again.stderr and out.read_text() == text


def test_triage_with_discover_runs_on_the_labs_layout_without_a_parameter_file(lab, tmp_path):
    out = tmp_path / "bundle"
    r = runbook("triage", "--discover", "--root", str(lab.state_dir / "omnibus-root"), "-o", str(out))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    summary = json.loads((out / "findings.json").read_text())
    assert summary["parameters"]["registry_url"] == lab.url("registry")
    assert "discovered" in r.stderr and "registry_url" in r.stderr


def test_render_lists_problems_when_a_config_cannot_be_read(tmp_path):
    (tmp_path / "etc/gitlab").mkdir(parents=True)
    (tmp_path / "etc/gitlab/gitlab.rb").write_text("registry_external_url 'https://registry.example.com'\n")
    (tmp_path / "var/opt/gitlab/registry").mkdir(parents=True)
    (tmp_path / "var/opt/gitlab/registry/config.yml").write_text("storage: [unclosed\n")
    found = discover(tmp_path)
    assert found.values["registry_url"] == "https://registry.example.com"
    assert found.problems and "config.yml" in found.problems[0]
    assert "# could not read:" in render_params(found)


def test_yaml_reference_names_a_missing_key_and_refuses_what_is_not_a_regular_file(tmp_path):
    cfg = tmp_path / "config.yml"
    cfg.write_text("storage:\n  s3:\n    secretkey: 's3cr\"t'\n")
    assert P.resolve_secret("s3_secret_key", f"yaml:{cfg}#storage.s3.secretkey") == 's3cr"t'
    with pytest.raises(P.ParamError, match="has no key storage.s3.accesskey"):
        P.resolve_secret("s3_access_key", f"yaml:{cfg}#storage.s3.accesskey")
    with pytest.raises(P.ParamError, match="not a regular file"):
        P.resolve_secret("s3_access_key", "yaml:/dev/zero#a")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(P.ParamError, match="not a regular file"):
        P.resolve_secret("password", f"file:{fifo}")
    with pytest.raises(P.ParamError, match="yaml:PATH#dotted.key"):
        P.resolve_secret("password", f"yaml:{cfg}")
