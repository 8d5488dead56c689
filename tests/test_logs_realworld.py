"""Issue #15: real-world log shapes and wordings (fixtures in tests/data/logs/realworld/, sources in its README).

Each class of the issue is read from a real binary's output (lab/: Debian's docker-registry 2.8 under a TTY,
NGINX 1.22, skopeo 1.9, rsyslog 8.2302) or a public record (public/), or, where neither exists, from the documented
shape around real lines (constructed/)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from runbooklib.findings import Status
from runbooklib.logs import check_logs, iter_events, parse_line, scan_logs, suggested_scenarios
from runbooklib.logs.cli import main as cli_main
from runbooklib.logs.formats import LineContext

DATA = Path(__file__).parent / "data" / "logs" / "realworld"
LAB, PUBLIC, BUILT = DATA / "lab", DATA / "public", DATA / "constructed"
UTC = dt.timezone.utc


def alarms(scan) -> dict[str, str]:
    """signature id -> scenario of every warn/fail the scan found."""
    return {st.signature.id: st.signature.scenario for st in scan.matched if st.effective_severity != "info"}


def first_scenario(scan) -> str | None:
    found = suggested_scenarios(scan)
    return found[0].scenario if found else None


# --- log shapes: events, times, fields ------------------------------------------------------------------------
def test_logrus_tty_output_of_the_real_registry_parses_with_fields_and_colours_gone():
    events = list(iter_events(LAB / "registry-tty.log"))
    formats = {e.format for e in events}
    assert formats == {"logrus", "combined"}
    head = next(e for e in events if e.method == "HEAD" and "blob unknown" in e.message)
    assert head.level == "error" and head.uri.startswith("/v2/group/app/blobs/sha256:")
    assert "\x1b" not in head.message
    untrusted = next(e for e in events if "untrusted key" in e.message)
    assert untrusted.level == "info" and untrusted.time is None  # [0000] is seconds since start, not a time
    access = next(e for e in events if e.format == "combined")
    assert access.time is not None and access.status == 401


def test_logrus_tty_lines_from_a_public_thread_parse_and_name_the_key():
    events = list(iter_events(PUBLIC / "registry-tty-distribution-1143.log"))
    assert [e.format for e in events] == ["logrus", "combined", "logrus"]
    assert events[0].level == "warning" and events[0].method == "GET" and events[0].uri == "/v2/"
    assert events[0].user_agent.startswith("docker/1.12.5")
    scan = scan_logs(PUBLIC / "registry-tty-distribution-1143.log")
    assert scan.stats["token-untrusted-key"].field_summary()["key_id"] == [
        "7K7M:VDNO:YAOL:X4ST:E2XK:HYLF:ROY4:7L7L:SCLH:46TJ:W3LZ:FJCH"]
    assert first_scenario(scan) == "token-untrusted-key"


@pytest.mark.parametrize("name", ["syslog-traditional", "syslog-rfc3339"])
def test_a_panic_split_over_syslog_lines_is_one_event_and_classified(name):
    """rsyslog (real binary) fed the real registry's start-up panic: line by line (tabs as #011) from logger, and
    as one datagram (newlines as #012)."""
    events = list(iter_events(LAB / name))
    assert [e.format for e in events] == ["syslog+go-panic", "syslog+go-panic"]
    split, single = events
    assert split.raw.count("\n") >= 15 and "goroutine 1 [running]:" in split.raw  # the stack came along
    assert split.message.startswith("panic: failed to create new session with aws config")
    assert "goroutine" not in single.message and "\ncaused by: unsupported transport" in single.message
    assert all(e.time is not None and e.level == "panic" for e in events)
    scan = scan_logs(LAB / name)
    assert scan.counts == {"registry-panic": 2, "s3-session-error": 2}
    assert scan.unparsed == 0 and scan.files[0].format.startswith("syslog+")
    assert first_scenario(scan) == "s3-permissions"  # the specific runbook before triage


def test_a_plain_go_panic_is_one_event_with_its_stack():
    events = list(iter_events(LAB / "registry-s3-panic.log"))
    assert len(events) == 1 and events[0].format == "go-panic" and events[0].raw.count("\n") == 16


@pytest.mark.parametrize("name, prefix", [
    ("cri-registry-tty.log", "cri+logrus"),
    ("kubectl-timestamps.log", "ts+logrus"),
    ("glued-timestamps.log", "ts+logrus"),
    ("compose-registry-tty.log", "compose+logrus"),
])
def test_container_runtime_envelopes_around_the_real_tty_lines(name, prefix):
    events = list(iter_events(BUILT / name))
    assert {e.format for e in events} == {prefix}
    if not prefix.startswith("compose"):
        assert all(e.time and e.time.date() == dt.date(2026, 11, 30) for e in events)
    scan = scan_logs(BUILT / name)
    # benign start-up and the routine HEAD stay benign; the untrusted key is still named, with its ID
    assert alarms(scan) == {"token-untrusted-key": "token-untrusted-key"}
    assert scan.stats["blob-unknown"].routine
    assert scan.unparsed == 0


@pytest.mark.parametrize("name, fmt", [
    ("compose-uptime-tag-open-balena-187.log", "compose+uptime+tag+logfmt"),
    ("forego-nginx-ipv6-sourcegraph-1890.log", "compose+nginx-error"),
    ("syslog-nginx-ipv6-apprise-233.log", "syslog+nginx-error"),
    ("s6-timestamp-frigate-9671.log", "ts+nginx-error"),
    ("stern-s3-charts-707.log", "tag+logfmt"),
    ("dockerd-syslog-harbor-20405.log", "syslog+logfmt"),
    ("syslog-tag-harbor-5104.log", "tag+logfmt"),
])
def test_prefixes_from_public_threads_are_peeled(name, fmt):
    events = list(iter_events(PUBLIC / name, include_unparsed=True))
    assert fmt in {e.format for e in events}, [e.format for e in events]
    assert all(e.format != "unknown" for e in events)
    assert any(e.time is not None for e in events)


def test_syslog_times_and_levels_come_from_the_right_place():
    ev = parse_line('May 10 10:18:53 master01 dockerd[2526225]: time="2024-05-10T10:18:53.505245247+07:00" '
                    'level=error msg="Upload failed, retrying: EOF"')
    assert ev.time == dt.datetime(2024, 5, 10, 3, 18, 53, 505245, UTC)  # the line's own zone wins
    assert (ev.level, ev.message) == ("error", "Upload failed, retrying: EOF")
    ev = parse_line("Feb 18 11:51:16 t8plus apprise[3327]: x")
    assert ev is None or ev.time.month == 2  # year inferred; never a crash


def test_rails_plain_production_log_is_read_as_requests_with_their_backtraces():
    events = list(iter_events(PUBLIC / "rails-plain-gitlab-foss-62361.log"))
    started, processing, completed, exc = events
    assert (started.format, started.method, started.uri) == ("rails", "GET", "xxxx/container_registry")
    assert started.time == dt.datetime(2019, 5, 27, 13, 9, 58, tzinfo=UTC)
    assert "Parameters" in processing.raw  # the indented line joined its request
    assert completed.status == 500 and completed.level == "error"
    assert exc.level == "error" and exc.raw.count("\n") == 3  # the backtrace joined its exception
    scan = scan_logs(PUBLIC / "rails-plain-gitlab-foss-62361.log")
    assert alarms(scan) == {"registry-key-invalid": "missing-registry-key"}
    assert scan.unparsed == 0 and scan.files[0].format == "rails"


def test_rails_plain_beside_production_json(tmp_path):
    (tmp_path / "production.log").write_bytes((BUILT / "rails-plain-eacces-source.log").read_bytes())
    (tmp_path / "production_json.log").write_text(json.dumps({
        "method": "GET", "path": "/jwt/auth", "controller": "JwtController", "action": "auth", "status": 200,
        "time": "2026-11-30T22:41:40.000Z"}) + "\n")
    scan = scan_logs(tmp_path)
    assert {f.format for f in scan.files} == {"rails", "rails-json"}
    st = scan.stats["missing-registry-key"]
    assert st.count == 1 and st.field_summary() == {"reason": ["Permission denied"],
                                                    "key_path": ["/home/git/gitlab/config/registry.key"]}
    assert first_scenario(scan) == "missing-registry-key"


# --- clients and CI ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, scenario", [
    (BUILT / "runner-job-push-413.log", "body-limit-413"),
    (BUILT / "runner-job-timestamps-500.log", "s3-push-unexpected-eof"),
    (PUBLIC / "runner-job-gitlab-2995.log", "token-untrusted-key"),
    (PUBLIC / "docker-push-413-https-portal-100.log", "body-limit-413"),
    (PUBLIC / "docker-push-500-hub-feedback-1761.log", "s3-push-unexpected-eof"),
    (PUBLIC / "docker-push-denied-build-push-action-291.log", "push-403"),
    (PUBLIC / "kaniko-210.log", "token-untrusted-key"),
    (PUBLIC / "buildkit-keikoproj-354.log", "jwt-auth-refused"),
    (PUBLIC / "podman-413-pulp-operator-330.log", "body-limit-413"),
    (LAB / "skopeo-push-413.txt", "body-limit-413"),
    (LAB / "skopeo-push-unknown-ca.txt", "x509-unknown-authority"),
    (LAB / "skopeo-push-bad-creds.txt", "jwt-auth-refused"),
])
def test_client_and_ci_logs_name_the_runbook(path, scenario):
    scan = scan_logs(path)
    assert first_scenario(scan) == scenario, alarms(scan)
    assert scan.files[0].format != "unknown"


def test_runbook_logs_on_a_failing_push_job_names_the_runbook(capsys):
    assert cli_main([str(BUILT / "runner-job-push-413.log")]) == 1
    out = capsys.readouterr().out
    assert "next:\n  runbook run body-limit-413" in out
    assert "body-too-large-413" in out and "client-retrying" in out
    assert "\x1b" not in out and "unparsed:" not in out  # every line of a job log is read, colours or not
    events = list(iter_events(BUILT / "runner-job-push-413.log"))
    assert events[2].format == "runner+client" and events[2].time == dt.datetime(2023, 11, 14, 22, 13, 20,
                                                                                    tzinfo=UTC)
    assert cli_main([str(BUILT / "runner-job-push-413.log"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["suggested"][0]["scenario"] == "body-limit-413"


def test_a_successful_skopeo_push_raises_nothing():
    scan = scan_logs(LAB / "skopeo-push-ok.txt")
    assert alarms(scan) == {} and scan.unparsed == 0


# --- wordings across versions -------------------------------------------------------------------------------
def test_registry_2_0_to_2_2_wordings():
    scan = scan_logs([PUBLIC / "registry-2.0-upload-eof-distribution-775.log", PUBLIC / "syslog-tag-harbor-5104.log",
                      BUILT / "registry-2.1-uppercase.log"])
    assert scan.counts["upload-copy-unexpected-eof"] == 2
    assert scan.counts["s3-unexpected-eof"] == 1  # err.code=UNKNOWN
    assert first_scenario(scan) == "s3-push-unexpected-eof"


def test_distribution_3_untrusted_key_ids_of_any_shape_are_carried():
    scan = scan_logs([BUILT / "registry-3x-jwks.log", PUBLIC / "registry-3x-distribution-4299.log"])
    ids = scan.stats["token-untrusted-key"].field_summary()["key_id"]
    assert set(ids) == {"NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg",
                        "xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx"}


def test_older_go_tls_and_x509_wordings():
    scan = scan_logs(BUILT / "tls-wordings.log")
    assert scan.counts == {"tls-handshake-unknown-ca": 2, "x509-expired": 1, "x509-hostname-mismatch": 1}
    assert scan.stats["x509-hostname-mismatch"].field_summary() == {
        "valid_for": ["gitlab.example.com, www.example.com"], "host": ["registry.example.com"]}
    assert set(alarms(scan).values()) == {"x509-unknown-authority"}


def test_nginx_ipv6_refused_and_address_not_available():
    for name in ("forego-nginx-ipv6-sourcegraph-1890.log", "syslog-nginx-ipv6-apprise-233.log"):
        scan = scan_logs(PUBLIC / name)
        assert scan.stats["nginx-ipv6-upstream-refused"].count == 1, name
        assert first_scenario(scan) == "ipv6-listener"
    real = scan_logs(LAB / "nginx-error.log")  # real NGINX 1.22 to [::1] and 127.0.0.1 where nothing listens
    assert real.counts["nginx-ipv6-upstream-refused"] == 1 and real.counts["nginx-upstream-refused"] == 2


def test_s3_as_aws_words_it_in_text_code_and_panic_forms():
    scan = scan_logs(BUILT / "s3-aws-wordings.log")
    assert scan.counts["s3-access-denied"] == 2  # AccessDenied, and the panic's "Access Denied"
    assert scan.counts["s3-bad-credentials"] == 2
    assert scan.counts["s3-slow-down"] == 1 and scan.counts["s3-clock-skew"] == 1
    assert scan.counts["registry-panic"] == 1
    assert set(scan.stats["s3-bad-credentials"].field_summary()["s3_error"]) == {
        "SignatureDoesNotMatch", "InvalidAccessKeyId"}
    assert first_scenario(scan) == "s3-permissions"
    panic = [e for e in iter_events(BUILT / "s3-aws-wordings.log") if e.format == "go-panic"]
    assert len(panic) == 1 and panic[0].message.startswith("panic: Access Denied")


def test_rails_reaching_the_registry_at_localhost_on_ipv6():
    scan = scan_logs(PUBLIC / "rails-plain-ipv6-omnibus-3703.log")
    assert first_scenario(scan) == "ipv6-listener"
    assert scan.stats["rails-registry-ipv6"].field_summary() == {"port": ["5000"]}


def test_a_413_from_nginx_or_an_outer_proxy_is_its_own_signature():
    scan = scan_logs([LAB / "nginx-error.log", LAB / "nginx-access.log", PUBLIC / "docker-push-413-https-portal-100.log"])
    assert scan.counts["body-too-large-413"] == 3
    assert scan.stats["body-too-large-413"].signature.scenario == "body-limit-413"


# --- benign stays benign ----------------------------------------------------------------------------------------
def test_benign_start_up_and_routine_requests_stay_benign_in_every_format():
    scan = scan_logs([PUBLIC / "compose-startup-distribution-1256.log", PUBLIC / "rails-plain-portus-887.log",
                      LAB / "registry-tls-tty.log"])
    assert set(alarms(scan)) <= {"tls-handshake-unknown-ca"}  # the one real failure in those files
    tty = scan_logs(LAB / "registry-tty.log")
    assert tty.stats["blob-unknown"].routine  # HEADs before the push
    assert tty.stats["auth-token-required"].effective_severity == "info"
    debug = [e for e in iter_events(LAB / "registry-tty.log") if e.level == "debug"]
    assert debug and not any(st.count for st in scan_logs(LAB / "registry-tty.log").stats.values()
                             if st.signature.id.startswith("auth-") and st.effective_severity == "fail")


# --- bad input ----------------------------------------------------------------------------------------------
def test_unknown_shapes_are_counted_per_file_with_a_sample(tmp_path, capsys):
    odd = tmp_path / "odd.log"
    odd.write_text("Script started on 2026-11-30\nsomething else entirely\n" + (LAB / "skopeo-push-413.txt").read_text())
    scan = scan_logs([odd, PUBLIC / "kaniko-210.log"])
    info = scan.files[0]
    assert info.unparsed == 2 and info.unparsed_sample == "Script started on 2026-11-30"
    assert scan.files[1].unparsed == 0
    assert scan.counts["body-too-large-413"] == 1  # signatures still match their raw lines
    cli_main([str(odd)])
    assert "unparsed: " + str(odd) + ": 2 line(s)" in capsys.readouterr().out


def test_a_10_mib_line_nul_bytes_mixed_encodings_and_a_truncated_gzip_end_cleanly(tmp_path):
    big = tmp_path / "big.log"
    with open(big, "wb") as fh:
        fh.write(b"x" * (10 << 20) + b" token signed by untrusted key with ID: \"ZZZZ\"\n")
        fh.write(b"\x00\x00\x00 NUL bytes\x00\n")
        fh.write("caf\xe9 latin-1 \xff\n".encode("latin-1"))
        fh.write("d46f9f76f72f: Retrying in 5 seconds\n".encode())
    scan = scan_logs(big)
    assert scan.counts == {"client-retrying": 1} and scan.files[0].unparsed >= 1
    whole = gzip.compress((LAB / "registry-tty.log").read_bytes() * 20)
    cut = tmp_path / "registry.log.1.gz"
    cut.write_bytes(whole[: len(whole) // 3])
    scan = scan_logs(cut)
    assert [p.kind for p in scan.problems] == ["corrupt"] and scan.lines_matched > 0
    assert all(f.status != Status.FAIL or f.id.startswith("logs.") for f in check_logs(scan))
    fake = tmp_path / "fake.log"
    fake.write_bytes(b"\x1f\x8b\x08 not an archive: denied: requested access to the resource is denied\n")
    scan = scan_logs(fake)
    assert scan.counts == {"client-denied": 1} and scan.problems == []


def test_parse_line_never_raises_on_hostile_envelopes():
    for raw in (b"section_start:", b"Jan  1 00:00:00 h t[", b"\x1b[" * 1000, b"registry_1  | " * 50,
                b"2024-01-01T00:00:00Z stderr F ", b"[pod/x/y] " + b"\x00" * 10, b"#" * 5000, b"INFO[",
                b"panic: ", b"Started GET \"", b"\r\r\r", "\u2028 \ufeff".encode()):
        ctx = LineContext()
        parse_line(raw, "", ctx)
        parse_line(raw)
