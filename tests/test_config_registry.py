"""The registry's config.yml (Omnibus, plain Distribution, Helm values, a ConfigMap) becomes one typed,
frozen, redacted view; bad input is one ConfigError naming file and line."""

from __future__ import annotations

import dataclasses
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooklib.config import ConfigError, RegistryConfig, parse_gitlab_yml, parse_registry_config, read_registry_config
from runbooklib.config.registry import S3_DEFAULT_CHUNKSIZE
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "config"


def test_omnibus_config_yml_is_read_with_token_auth_storage_and_debug_server():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    assert cfg.flavour == "omnibus"
    assert cfg.http.addr == "localhost:5000" and cfg.http.has_secret
    assert cfg.http.debug is not None
    assert (cfg.http.debug.addr, cfg.http.debug.prometheus_enabled, cfg.http.debug.prometheus_path) == (
        "localhost:5001", True, "/metrics")
    assert cfg.auth_kind == "token"
    assert cfg.token is not None
    assert cfg.token.realm == "https://gitlab.example.com/jwt/auth"
    assert cfg.token.service == "container_registry"
    assert cfg.token.issuer == "omnibus-gitlab-issuer"
    assert cfg.token.rootcertbundle == "/var/opt/gitlab/registry/gitlab-registry.crt"
    assert cfg.token.autoredirect is False
    st = cfg.storage
    assert (st.driver, st.bucket, st.region, st.rootdirectory) == ("s3", "gitlab-registry-prod", "eu-west-1", "/registry")
    assert st.regionendpoint == "https://s3.eu-west-1.amazonaws.com"
    assert st.accesskey == "AKIAEXAMPLEACCESS" and st.has_secretkey
    assert st.delete_enabled and not st.redirect_disabled and not st.readonly
    assert (cfg.log.level, cfg.log.formatter, cfg.log.accesslog_disabled) == ("info", "text", False)
    assert cfg.schema1_enabled is False
    assert (cfg.health_storagedriver_enabled, cfg.health_storagedriver_interval, cfg.health_storagedriver_threshold) == (
        True, "10s", 3)
    assert [(n.name, n.url) for n in cfg.notifications] == [
        ("geo_event", "https://gitlab.example.com/api/v4/container_registry_event/events")]
    assert cfg.line_of("auth.token.rootcertbundle") == 56
    assert cfg.where("storage.s3.bucket") == f"{DATA / 'omnibus-config.yml'}:19"


def test_s3_chunksize_absent_defaults_to_10_mib_and_is_marked_defaulted():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    assert cfg.storage.chunksize == S3_DEFAULT_CHUNKSIZE == 10 * 1024 * 1024
    assert cfg.storage.chunksize_defaulted
    assert "storage.s3.chunksize" in cfg.defaulted
    ev = cfg.evidence("storage.s3.chunksize")["storage.s3.chunksize"]
    assert ev == {"value": 10 * 1024 * 1024, "line": 16, "defaulted": True}  # line of the s3 block


def test_the_seeds_source_install_chunksize_snippet_is_read():
    cfg = parse_registry_config(
        "storage:\n"
        "  s3:\n"
        "    accesskey: 'AKIAKIAKI'\n"
        "    secretkey: 'secret123'\n"
        "    bucket: 'gitlab-registry-bucket-AKIAKIAKI'\n"
        "    chunksize: 25000000\n"
    )
    assert cfg.storage.chunksize == 25000000 and not cfg.storage.chunksize_defaulted
    assert cfg.line_of("storage.s3.chunksize") == 6
    assert "no `auth` section" in " ".join(cfg.notes)


def test_chunksize_given_as_a_string_below_the_minimum_or_not_a_number_is_noted():
    assert parse_registry_config("storage: {s3: {chunksize: '26214400'}}").storage.chunksize == 26214400
    small = parse_registry_config("storage: {s3: {chunksize: 1048576}}")
    assert "below the 5 MiB minimum" in " ".join(small.notes)
    bad = parse_registry_config("storage: {s3: {chunksize: 25MB}}")
    assert bad.storage.chunksize is None and "not a whole number" in " ".join(bad.notes)


def test_plain_distribution_config_with_gcs_is_detected_and_its_credentials_masked():
    cfg = read_registry_config(DATA / "distribution-gcs.yml")
    assert cfg.flavour == "distribution"
    assert cfg.storage.driver == "gcs" and cfg.storage.bucket == "registry-images"
    assert cfg.storage.chunksize is None and not cfg.storage.chunksize_defaulted
    assert cfg.storage.redirect_disabled
    assert cfg.http.relativeurls and cfg.http.host == "https://registry.example.com"
    assert (cfg.http.tls_certificate, cfg.http.tls_key) == ("/etc/registry/tls.crt", "/etc/registry/tls.key")
    assert cfg.http.debug is None
    assert cfg.middleware == (("storage", "googlecdn"),)
    opts = cfg.storage.redacted_options()
    assert opts["keyfile"] == "/etc/registry/gcs-key.json"  # a path is not a secret
    assert opts["credentials"]["private_key"] == "[REDACTED]"
    assert opts["credentials"]["client_email"].startswith("registry@")
    assert "BEGIN PRIVATE KEY" not in repr(cfg) + str(cfg.to_dict())
    # the raw value is still there for a check that needs it
    assert "BEGIN PRIVATE KEY" in cfg.storage.options["credentials"]["private_key"]


def test_the_labs_storage_section_is_read():
    cfg = parse_registry_config(yaml.safe_dump({
        "version": 0.1,
        "storage": {"s3": {"accesskey": "ak", "secretkey": "sk-lab", "region": "us-east-1",
                           "regionendpoint": "http://127.0.0.1:9000", "bucket": "registry", "secure": False,
                           "v4auth": True, "rootdirectory": "/"},
                    "redirect": {"disable": True}, "delete": {"enabled": True}},
        "http": {"addr": "127.0.0.1:5000", "debug": {"addr": "127.0.0.1:5001",
                                                     "prometheus": {"enabled": True, "path": "/metrics"}}},
        "auth": {"token": {"realm": "http://127.0.0.1:8080/jwt/auth", "service": "container_registry",
                           "issuer": "lab-issuer", "rootcertbundle": "/tmp/lab/issuer.crt", "autoredirect": False}},
        "health": {"storagedriver": {"enabled": True, "interval": "2s", "threshold": 2}},
    }))
    assert cfg.flavour == "distribution"
    assert cfg.storage.regionendpoint == "http://127.0.0.1:9000" and cfg.storage.redirect_disabled
    assert cfg.storage.delete_enabled and cfg.storage.rootdirectory == "/"
    assert cfg.http.debug == cfg.http.debug.__class__("127.0.0.1:5001", True, "/metrics")
    assert cfg.health_storagedriver_interval == "2s" and cfg.health_storagedriver_threshold == 2


def test_helm_values_are_mapped_to_the_config_keys_the_chart_renders():
    cfg = read_registry_config(DATA / "helm-values.yaml")
    assert cfg.flavour == "helm"
    assert cfg.token is not None
    assert cfg.token.realm == "https://gitlab.example.com/jwt/auth"
    assert cfg.token.issuer == "gitlab-issuer"
    assert cfg.token.service == "container_registry" and "auth.token.service" in cfg.defaulted
    assert cfg.token.autoredirect is True
    assert cfg.token.rootcertbundle == "k8s-secret:gitlab-registry/registry-auth.crt"
    assert cfg.http.debug is not None and cfg.http.debug.addr == ":5005"
    assert cfg.http.debug.prometheus_enabled and cfg.http.debug.prometheus_path == "/metrics"
    assert cfg.http.addr == ":5000" and cfg.http.relativeurls
    assert cfg.log.level == "debug" and cfg.log.formatter == "json"
    assert cfg.schema1_enabled is True
    assert cfg.health_storagedriver_enabled is True
    assert cfg.middleware == (("storage", "cloudfront"),)
    assert [n.name for n in cfg.notifications] == ["FooListener"]
    assert cfg.external_host == "registry.example.com"
    mapped = {m.helm_key: m.config_key for m in cfg.helm_mappings}
    assert mapped["registry.tokenIssuer"] == "auth.token.issuer"
    assert mapped["registry.debug.addr.port"] == "http.debug.addr"
    assert mapped["registry.storage.secret"] == "storage"
    assert mapped["registry.compatibility"] == "compatibility"
    # lines point into the values file
    assert cfg.line_of("auth.token.issuer") == 13
    assert cfg.line_of("compatibility.schema1.enabled") == 28
    assert cfg.line_of("log.level") == 24
    # storage is in a Kubernetes Secret: say so instead of guessing
    assert cfg.storage.driver is None
    assert any("gitlab-registry-storage" in n and "helm_storage" in n for n in cfg.notes)


def test_helm_storage_secret_contents_fill_in_the_driver():
    cfg = read_registry_config(DATA / "helm-values.yaml", helm_storage=DATA / "helm-storage-secret.yaml")
    st = cfg.storage
    assert (st.driver, st.bucket, st.region, st.chunksize) == ("s3", "gitlab-registry-storage", "us-east-1", 52428800)
    assert st.redirect_disabled and st.delete_enabled and "storage.delete.enabled" in cfg.defaulted
    assert cfg.where("storage.s3.chunksize") == f"{DATA / 'helm-storage-secret.yaml'}:7"
    assert cfg.where("log.level") == f"{DATA / 'helm-values.yaml'}:24"
    assert "helmS3cretKeyDoNotShow" not in repr(cfg) + str(cfg.to_dict()) + str(cfg.evidence("storage.s3.secretkey"))


def test_helm_values_without_storage_point_at_the_bundled_minio():
    cfg = parse_registry_config("registry:\n  enabled: true\nglobal:\n  hosts:\n    domain: example.org\n")
    assert cfg.flavour == "helm" and cfg.storage.driver == "s3"
    assert cfg.token is not None and cfg.token.realm == "https://gitlab.example.org/jwt/auth"
    assert "auth.token.realm" in cfg.defaulted and cfg.http.debug is not None and cfg.http.debug.addr == ":5001"
    assert any("MinIO" in n for n in cfg.notes)


def test_a_rendered_configmap_is_read_as_the_config_it_embeds():
    inner = "version: 0.1\nhttp:\n  addr: :5000\nauth:\n  token:\n    issuer: gitlab-issuer\nstorage:\n  inmemory: {}\n"
    cm = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gitlab-registry"},
                         "data": {"config.yml": inner}}, default_style=None)
    cfg = parse_registry_config(cm, "configmap.yaml")
    assert cfg.flavour == "distribution" and cfg.storage.driver == "inmemory"
    assert cfg.token is not None and cfg.token.issuer == "gitlab-issuer"


def test_the_seeds_debug_log_snippet_at_top_level_is_flagged_as_ignored():
    cfg = parse_registry_config("version: 0.1\nlevel: debug\nlog:\n  level: info\nstorage:\n  filesystem: {}\n")
    assert cfg.log.level == "info"
    assert any("top-level `level:`" in n for n in cfg.notes)


def test_environment_overrides_apply_like_distribution():
    cfg = read_registry_config(DATA / "omnibus-config.yml",
                               env={"REGISTRY_HTTP_RELATIVEURLS": "true", "REGISTRY_LOG_LEVEL": "debug",
                                    "GODEBUG": "http2client=0"})
    assert cfg.http.relativeurls is True and cfg.log.level == "debug"
    assert cfg.env_overrides == ("http.relativeurls", "log.level")
    assert cfg.line_of("http.relativeurls") == 36  # no line of its own: the enclosing `http:` block


def test_problems_that_stop_the_registry_are_noted():
    two = parse_registry_config("storage:\n  s3: {bucket: a}\n  filesystem: {rootdirectory: /x}\n")
    assert two.storage.other_drivers == ("filesystem",)
    assert any("more than one storage driver" in n for n in two.notes)
    dup = parse_registry_config("version: 0.1\nhttp:\n  addr: :5000\nhttp:\n  addr: :5001\n")
    assert dup.http.addr == ":5001"
    assert any("lines 2 and 4" in n for n in dup.notes)


def test_registry_config_is_frozen():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.flavour = "helm"  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.storage.options["secretkey"] = "x"  # type: ignore[index]
    assert cfg.get("storage.s3.region") == "eu-west-1"
    assert cfg.get("notifications.endpoints.0.name") == "geo_event"
    assert cfg.get("nope.nope", "d") == "d"


# ---------------------------------------------------------------------------------------------- bad input


def test_the_seeds_auth_snippet_with_arrow_markers_is_invalid_yaml_with_its_line():
    snippet = (
        "## Container registry certificate\n"
        "   auth:\n"
        "     token:\n"
        "       realm: https://gitlab.my.net/jwt/auth\n"
        "       service: container_registry\n"
        "       issuer: omnibus-gitlab-issuer\n"
        "  -->  rootcertbundle: /var/opt/gitlab/registry/gitlab-registry.crt\n"
        "       autoredirect: false\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_registry_config(snippet, "config.yml")
    assert exc.value.line == 7 and str(exc.value).startswith("config.yml:7: invalid YAML")
    assert "\n" not in str(exc.value)
    fixed = parse_registry_config(snippet.replace("-->", "   "))
    assert fixed.token is not None and fixed.token.rootcertbundle == "/var/opt/gitlab/registry/gitlab-registry.crt"


@pytest.mark.parametrize("text, line", [
    ("version: 0.1\nhttp:\n\taddr: :5000\n", 3),
    ("version: 0.1\nstorage:\n  s3:\n    bucket: [a\n", 5),
    ("a: b: c\n", 1),
])
def test_invalid_yaml_raises_config_error_with_file_and_line(tmp_path, text, line):
    path = tmp_path / "config.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        read_registry_config(path)
    assert (exc.value.file, exc.value.line, exc.value.kind) == (str(path), line, "invalid")
    assert str(exc.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_a_config_that_is_not_a_mapping_is_invalid(text):
    with pytest.raises(ConfigError, match=r"^<text>:1: "):
        parse_registry_config(text)


def test_missing_or_unreadable_file_raises_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError) as exc:
        read_registry_config(tmp_path / "absent.yml")
    assert exc.value.kind == "unreadable" and str(tmp_path / "absent.yml") in str(exc.value)
    with pytest.raises(ConfigError, match="is a directory"):
        read_registry_config(tmp_path)
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"version: 0.1\n\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"bin.yml:2: is not UTF-8"):
        read_registry_config(binary)
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.yml"
        locked.write_text("version: 0.1\n")
        locked.chmod(0)
        with pytest.raises(ConfigError, match="permission denied"):
            read_registry_config(locked)


def test_yaml_tags_that_would_build_objects_are_refused():
    with pytest.raises(ConfigError, match="invalid YAML"):
        parse_registry_config("version: !!python/object/apply:os.system ['echo pwned']\n")


def test_repr_is_a_registry_config_without_secrets():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    assert isinstance(cfg, RegistryConfig)
    text = repr(cfg) + repr(cfg.storage)
    assert "RegistryConfig(" in text and "wJalrXUtnFEMI" not in text and "AKIAEXAMPLEACCESS" not in text and "AKIA…CESS" in text


_YAMLISH = st.lists(st.sampled_from([
    "registry:", "storage:", "s3:", "http:", "debug:", "addr:", "port:", " ", "  ", "\n", "- ", "&a ", "*a", "<<: ",
    "{", "}", "[", "]", ",", "'", '"', "5001", "true", "production:", "enabled:", "key:", "secretkey:", "#", ":",
    "!!python/name:os.system", "\t", "global:", "kind: ConfigMap\n", "data:\n", "  config.yml: |\n", "chunksize:",
    "endpoints:", "auth:", "token:", "log:", "level:", "tokenService:", "middleware:",
]), max_size=50).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_YAMLISH)
def test_yaml_readers_fail_only_with_a_one_line_config_error(text):
    for parse in (parse_registry_config, parse_gitlab_yml):
        try:
            view = parse(text)
        except ConfigError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("<text>")
        else:
            view.to_dict(), view.evidence(), repr(view)
