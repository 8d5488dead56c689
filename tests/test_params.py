import pytest

from runbooklib import params as P
from runbooklib import scenarios
from tests.conftest import runbook

SCHEMA = scenarios.get("triage").schema


def test_defaults_fill_what_is_not_given():
    v = P.validate(SCHEMA, {"registry_url": "http://r"})
    assert v["service"] == "container_registry" and v["timeout_s"] == 10.0


def test_unknown_name_is_named_and_valid_names_listed():
    with pytest.raises(P.ParamError) as e:
        P.validate(SCHEMA, {"registry_url": "http://r"}, [("registy_url", "x")], scenario="triage")
    msg = str(e.value)
    assert "'registy_url'" in msg and "registry_url" in msg.split("valid:")[1]


def test_vocabulary_names_of_other_scenarios_in_a_shared_file_are_dropped_but_typos_are_not():
    v = P.validate(SCHEMA, {"registry_url": "http://r", "s3_bucket": "b"})
    assert "s3_bucket" not in v
    with pytest.raises(P.ParamError, match="'s3_bukcet'"):
        P.validate(SCHEMA, {"registry_url": "http://r", "s3_bukcet": "b"})


def test_wrong_type_is_named():
    with pytest.raises(P.ParamError, match="'timeout_s'.*number"):
        P.validate(SCHEMA, {"registry_url": "http://r", "timeout_s": "soon"})


def test_missing_required_is_named():
    with pytest.raises(P.ParamError, match="'registry_url' is required"):
        P.validate(SCHEMA, {})


def test_literal_secret_is_refused():
    with pytest.raises(P.ParamError, match="'password' is a secret"):
        P.validate(SCHEMA, {"registry_url": "http://r", "password": "hunter2"})


def test_env_and_file_references_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("RB_TEST_PW", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    assert P.resolve_secret("password", "env:RB_TEST_PW") == "from-env"
    assert P.resolve_secret("password", f"file:{tmp_path / 'pw'}") == "from-file"


def test_missing_env_reference_names_the_variable(monkeypatch):
    monkeypatch.delenv("RB_NOPE", raising=False)
    with pytest.raises(P.ParamError, match="RB_NOPE is not set"):
        P.resolve_secret("password", "env:RB_NOPE")


def test_relative_file_reference_in_a_parameter_file_is_relative_to_that_file(tmp_path):
    v = P.validate(SCHEMA, {"registry_url": "http://r", "password": "file:secrets/pw"}, file_base=tmp_path)
    assert v["password"] == f"file:{tmp_path / 'secrets' / 'pw'}"


def test_override_values_parse_like_papermill():
    assert P.parse_override("12") == 12 and P.parse_override("true") is True
    assert P.parse_override("[a, b]") == ["a", "b"] and P.parse_override("http://x:1") == "http://x:1"


def test_cli_bad_parameter_is_one_line_exit_2_and_nothing_written(tmp_path):
    out = tmp_path / "out"
    r = runbook("run", "triage", "-p", "registry_url", "http://127.0.0.1:9", "-p", "bogus", "1", "-o", str(out))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "'bogus'" in r.stderr
    assert not out.exists()


def test_cli_literal_secret_refused_before_running(tmp_path):
    out = tmp_path / "out"
    r = runbook("run", "triage", "-p", "registry_url", "http://r", "-p", "password", "s3cr3t", "-o", str(out))
    assert r.returncode == 2 and "secret" in r.stderr and "s3cr3t" not in r.stderr
    assert not out.exists()


def test_cli_missing_parameter_file_is_named(tmp_path):
    r = runbook("run", "triage", "-f", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "nope.yaml" in r.stderr and "not found" in r.stderr


def test_cli_unreadable_secret_file_is_named_before_running(tmp_path):
    r = runbook("run", "triage", "-p", "registry_url", "http://r", "-p", "password",
                f"file:{tmp_path / 'missing'}", "-o", str(tmp_path / "o"))
    assert r.returncode == 2 and "missing" in r.stderr
    assert not (tmp_path / "o").exists()
