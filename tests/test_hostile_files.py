"""Files and answers that attack the readers: devices, FIFOs, deep JSON, Infinity, includes reaching out of
the config's tree, ENV.fetch defaults, terminal escapes. Each becomes a named problem or finding, quickly."""

from __future__ import annotations

import json
import os

import pytest

from runbooklib.config import ConfigError, parse_gitlab_rb, read_registry_config
from runbooklib.config.nginx import read_nginx_config
from runbooklib.logs import scan_logs
from runbooklib.logs.cli import main as logs_main
from runbooklib.probes.har import HarError, load_har
from runbooklib.probes.tls import check_tls
from runbooklib.safefile import UnsafeFile, read_bytes

pytestmark = pytest.mark.timeout(30)  # a wait forever on a FIFO fails here instead of hanging the suite


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_as_a_config_is_refused_by_name(target, request):
    path = str(request.getfixturevalue("fifo")) if target == "fifo" else target
    with pytest.raises(ConfigError) as err:
        read_registry_config(path)
    assert "not a regular file" in str(err.value) and path in str(err.value)


def test_safe_read_refuses_more_than_the_cap_without_trusting_st_size(tmp_path):
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1025)
    with pytest.raises(UnsafeFile) as err:
        read_bytes(big, cap=1024)
    assert err.value.kind == "too_large"
    assert read_bytes(big, cap=1025) == b"x" * 1025


def test_fifo_and_device_as_log_paths_are_named_problems_and_other_files_still_scanned(fifo, tmp_path):
    good = tmp_path / "current"
    good.write_text('time="2024-01-01T00:00:00Z" level=error msg="token signed by untrusted key with ID: \\"AAAA:BBBB\\""\n')
    scan = scan_logs([str(fifo), "/dev/zero", str(good)])
    reasons = {p.path: p.reason for p in scan.problems}
    assert "FIFO" in reasons[str(fifo)] and "character device" in reasons["/dev/zero"]
    assert scan.lines_matched == 1


def test_har_with_infinity_or_deep_nesting_or_a_fifo_is_a_har_error(tmp_path, fifo):
    inf = tmp_path / "inf.har"
    inf.write_text('{"log": {"entries": [{"response": {"status": Infinity}}]}}')
    deep = tmp_path / "deep.har"
    deep.write_text('{"log": ' + "[" * 100_000 + "]" * 100_000 + "}")
    for path, words in ((inf, "Infinity"), (deep, "nested too deeply"), (fifo, "FIFO")):
        with pytest.raises(HarError) as err:
            load_har(path)
        assert words in str(err.value) and str(path) in str(err.value)


def test_nginx_include_outside_the_config_tree_is_not_read(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    secret = tmp_path / "outside.conf"
    secret.write_text("server_name leaked-secret-value;\n")
    (conf / "nginx.conf").write_text(f"http {{ include {secret}; include /dev/zero; server {{ listen 5050; }} }}\n")
    cfg = read_nginx_config(conf / "nginx.conf")
    text = json.dumps(cfg.to_dict() if hasattr(cfg, "to_dict") else repr(cfg), default=str)
    assert "leaked-secret-value" not in text
    assert any("outside the config's folder" in p for p in cfg.problems)


def test_gitlab_rb_env_fetch_default_of_a_secret_is_masked_in_not_understood():
    rb = parse_gitlab_rb("gitlab_rails['db_password'] = ENV.fetch('DB_PASSWORD', 'hunter22')\n"
                         "registry['storage'] = { 's3' => { 'secretkey' => ENV.fetch('S3', 's3cr3t') } }\n")
    text = json.dumps(rb.to_dict())
    assert "hunter22" not in text and "s3cr3t" not in text
    assert len(rb.not_understood) == 2


def test_runbook_logs_prints_terminal_escapes_escaped(tmp_path, capsys):
    log = tmp_path / "current"
    log.write_text('time="2024-01-01T00:00:00Z" level=error msg="token signed by untrusted key with ID: '
                   '\\"AAAA:BBBB\\"" \x1b]0;pwned\x07 \x1b[2J \x9b31m\n')
    logs_main([str(log)])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "\\x1b]0;pwned\\x07" in out


def test_an_unusable_ca_bundle_is_a_finding_not_an_exception(tmp_path, fifo):
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    for bundle in (str(garbage), str(fifo), str(tmp_path / "missing.pem")):
        (finding,) = check_tls("https://127.0.0.1:9/", bundle, 2)
        assert finding.id == "tls.registry.ca_bundle_unusable" and bundle in finding.detail
