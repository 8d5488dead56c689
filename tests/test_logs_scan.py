"""scan_logs and check_logs: files, folders, globs, compression, bad input, windows, findings, helpers."""

from __future__ import annotations

import bz2
import datetime as dt
import gzip
import json
import lzma
import os
import random
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooklib.findings import Finding, Status
from runbooklib.logs import (check_logs, expand_paths, parse_line, plot_timeline, read_events, scan_logs,
                             signature_table, suggested_scenarios, top_failing_requests)
from runbooklib.logs import scan as scan_mod
from runbooklib.logs.cli import main as cli_main
from runbooklib.timebounds import parse_bound
from runbooklib.logs.signatures import LINE_SIGNATURES

from .test_logs_signatures import HEALTHY as OK_LINES
from .test_logs_signatures import SAMPLES

DATA = Path(__file__).parent / "data" / "logs"
UTC = dt.timezone.utc
KEY_ID = "4CC4:VB3L:K3VJ:FUCL:FH4C:23TN:7J7Y:6DUT:J4IY:6HQY:XXDP:QSW3"


def untrusted(t: str = "16:57:38", key: str = KEY_ID) -> str:
    return (f'2026-11-27_{t}.15222 time="2026-11-27T{t}.152116601Z" level=info msg="token signed by untrusted key '
            f'with ID: \\"{key}\\""')


def access(t: str, method: str, uri: str, status: int, ua: str = "docker/24.0.7") -> str:
    return f'2026-11-27_{t}.00001 10.0.0.5 - - [27/Nov/2026:{t} +0000] "{method} {uri} HTTP/1.1" {status} 0 "" "{ua}"'


HEALTHY = '2026-11-27_16:00:00.00001 10.0.0.5 - - [27/Nov/2026:16:00:00 +0000] "GET /v2/ HTTP/1.1" 200 2 "" "curl/8"'


def write(path: Path, lines: list[str] | str, opener=open) -> Path:
    text = lines if isinstance(lines, str) else "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wb") as fh:
        fh.write(text.encode("utf-8", "surrogateescape"))
    return path


def naive_matches(data: bytes) -> int:
    """What grep counts: lines (cut at newlines) with any signature match."""
    return sum(1 for line in data.split(b"\n") if line and any(s.search(line) for s in LINE_SIGNATURES))


# --- where lines come from ---------------------------------------------------------------------------------------
def test_folder_is_read_with_its_svlogd_rotations_oldest_first(tmp_path):
    d = tmp_path / "registry"
    write(d / "@400000006928b0000a000000.s", [untrusted("10:00:00", "AAAA:AAAA")])
    write(d / "@400000006928a0000a000000.u", [untrusted("09:00:00", "BBBB:BBBB")])
    write(d / "current", [untrusted("11:00:00", "CCCC:CCCC")])
    for control in ("lock", "state", "newstate", "config"):
        write(d / control, [untrusted("12:00:00", "DDDD:DDDD")])
    files, problems = expand_paths(d)
    assert [f.name for f in files] == ["@400000006928a0000a000000.u", "@400000006928b0000a000000.s", "current"]
    assert problems == []
    scan = scan_logs(d)
    st_ = scan.stats["token-untrusted-key"]
    assert st_.count == 3
    assert st_.examples[0].find("BBBB:BBBB") > 0  # oldest file first
    # svlogd's stamp, not the registry's time= inside: every line is timed the same way, kept as an event or not
    assert st_.first_seen == dt.datetime(2026, 11, 27, 9, 0, 0, 152220, UTC)
    assert st_.last_seen == dt.datetime(2026, 11, 27, 11, 0, 0, 152220, UTC)


def test_logrotate_files_are_read_oldest_first(tmp_path):
    for name in ("registry.log", "registry.log.1", "registry.log.2.gz", "registry.log.10.gz"):
        write(tmp_path / name, [HEALTHY], gzip.open if name.endswith(".gz") else open)
    files, _ = expand_paths(tmp_path)
    assert [f.name for f in files] == ["registry.log.10.gz", "registry.log.2.gz", "registry.log.1", "registry.log"]


@pytest.mark.parametrize("opener,kind", [(gzip.open, "gzip"), (bz2.open, "bzip2"), (lzma.open, "xz")])
def test_compressed_files_are_recognised_by_their_bytes_not_their_name(tmp_path, opener, kind):
    path = write(tmp_path / "@400000006928a0000a000000.s", [HEALTHY, untrusted()] * 3, opener)
    scan = scan_logs(path)
    assert scan.counts == {"token-untrusted-key": 3}
    assert scan.files[0].compression == kind
    assert scan.files[0].format == "svlogd+combined+svlogd+logfmt"


def test_a_truncated_archive_counts_what_it_holds_and_says_so(tmp_path):
    whole = gzip.compress(("\n".join([untrusted()] * 2000) + "\n").encode())
    path = tmp_path / "@400000006928a0000a000000.s"
    path.write_bytes(whole[: len(whole) // 2])
    scan = scan_logs(path)
    assert 0 < scan.counts["token-untrusted-key"] < 2000
    assert [p.kind for p in scan.problems] == ["corrupt"]
    assert "logs.file_corrupt" in [f.id for f in check_logs(scan)]


def test_text_that_merely_starts_like_an_archive_is_read_as_text(tmp_path):
    path = write(tmp_path / "current", ["BZh" + untrusted(), untrusted()])
    scan = scan_logs(path)
    assert scan.counts == {"token-untrusted-key": 2}
    assert scan.problems == []


def test_a_glob_reads_every_match(tmp_path):
    write(tmp_path / "a" / "current", [untrusted()])
    write(tmp_path / "b" / "current", [untrusted(), untrusted()])
    scan = scan_logs(str(tmp_path / "*" / "current"))
    assert scan.counts == {"token-untrusted-key": 3}
    assert len(scan.files) == 2


def test_missing_and_unreadable_paths_give_one_finding_each_and_the_rest_is_scanned(tmp_path, monkeypatch):
    good = write(tmp_path / "good.log", [untrusted()])
    locked = write(tmp_path / "locked.log", [untrusted()])
    real_compression = scan_mod.compression

    def refuse(path):  # root reads anything, so the permission error is simulated
        if Path(path).name == "locked.log":
            raise PermissionError(13, "Permission denied", str(path))
        return real_compression(path)

    monkeypatch.setattr(scan_mod, "compression", refuse)
    scan = scan_logs([tmp_path / "missing.log", str(tmp_path / "nothing-*.log"), locked, good, tmp_path / "empty"])
    assert scan.counts == {"token-untrusted-key": 1}
    kinds = {p.path: p.kind for p in scan.problems}
    assert kinds == {str(tmp_path / "missing.log"): "missing", str(tmp_path / "nothing-*.log"): "missing",
                     str(locked): "unreadable", str(tmp_path / "empty"): "missing"}
    findings = check_logs(scan)
    about_paths = [f for f in findings if f.id in ("logs.path_missing", "logs.path_unreadable")]
    assert len(about_paths) == 4
    assert all(f.status == Status.ERROR for f in about_paths)
    assert any(f.id == "logs.token_untrusted_key" for f in findings)


def test_empty_folder_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    scan = scan_logs(tmp_path / "empty")
    assert [p.kind for p in scan.problems] == ["empty"]
    assert [f.id for f in check_logs(scan)] == ["logs.path_empty"]


# --- bad input ---------------------------------------------------------------------------------------------------
def test_malformed_binary_and_mixed_encoding_lines_are_counted_as_unparsed(tmp_path):
    lines = [
        HEALTHY,
        "\x00\x01\x02\x03 binary junk \xff".encode("latin-1").decode("utf-8", "surrogateescape"),
        "caf\xe9 latin-1 text".encode("latin-1").decode("utf-8", "surrogateescape"),
        '{"level":"error","msg":"truncated json',
        "some other program's line",
        # syslog around a signature: read since issue #15 (it used to be an unknown format, counted unparsed)
        'Nov 27 15:40:37 host registry[42]: token signed by untrusted key with ID: "AAAA:BBBB"',
        untrusted(),
    ]
    path = write(tmp_path / "mixed.log", lines)
    scan = scan_logs(path)
    assert scan.counts == {"token-untrusted-key": 2}
    assert scan.unparsed == 4
    assert set(scan.stats["token-untrusted-key"].field_summary()["key_id"]) == {KEY_ID, "AAAA:BBBB"}
    assert check_logs(scan)  # and checks still run


@pytest.fixture(params=["read", "mmap"])
def plain_mode(request, monkeypatch):
    """Plain files are read (live files) or memory-mapped (files quiet for a while): test both ways."""
    monkeypatch.setattr(scan_mod, "QUIET_S", 10**9 if request.param == "read" else -(10**9))
    return request.param


def test_only_quiet_files_are_memory_mapped(tmp_path, monkeypatch):
    mapped = []
    real = scan_mod._Scanner.scan_mmap
    monkeypatch.setattr(scan_mod._Scanner, "scan_mmap", lambda self, *a: mapped.append(a[3]) or real(self, *a))
    write(tmp_path / "current", [untrusted()])  # written just now: read, not mapped
    rotated = write(tmp_path / "@400000006928a0000a000000.s", [untrusted()])
    os.utime(rotated, (1_700_000_000, 1_700_000_000))
    assert scan_logs(tmp_path).counts == {"token-untrusted-key": 2}
    assert mapped == [str(rotated)]


def test_lines_longer_than_1_mib_are_skipped_and_counted_as_unparsed(tmp_path, plain_mode):
    long_line = "x" * (2 << 20) + " token signed by untrusted key with ID: \"ZZZZ:ZZZZ\""
    path = write(tmp_path / "long.log", [untrusted(), long_line, untrusted(), "y" * (3 << 20)])
    scan = scan_logs(path)
    assert scan.counts == {"token-untrusted-key": 2}
    assert scan.unparsed == 2
    gz = write(tmp_path / "long.log.gz", [untrusted(), long_line, untrusted()], gzip.open)
    scan = scan_logs(gz)
    assert scan.counts == {"token-untrusted-key": 2}
    assert scan.unparsed == 1


def test_a_file_without_final_newline_still_counts_its_last_line(tmp_path, plain_mode):
    path = write(tmp_path / "current", "\n".join([HEALTHY, untrusted()]))
    assert scan_logs(path).counts == {"token-untrusted-key": 1}
    gz = write(tmp_path / "current.gz", "\n".join([HEALTHY, untrusted()]), gzip.open)
    assert scan_logs(gz).counts == {"token-untrusted-key": 1}


def _random_log(rng: random.Random, n: int) -> bytes:
    pool_bad = [line for lines in SAMPLES.values() for line in lines]
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(rng.choice(pool_bad))
        elif r < 0.12:
            out.append("z" * rng.randrange(1000, 9000))  # longer than the patched MAX_LINE below
        elif r < 0.13:
            out.append("")
        else:
            out.append(rng.choice(OK_LINES))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("compressed", [False, True])
def test_window_and_buffer_edges_lose_and_double_no_line(tmp_path, monkeypatch, compressed, plain_mode):
    """Tiny windows/buffers put many line starts, ends and over-long lines on the edges."""
    monkeypatch.setattr(scan_mod, "WINDOW", 16 << 10)
    monkeypatch.setattr(scan_mod, "CHUNK", 16 << 10)
    monkeypatch.setattr(scan_mod, "MAX_LINE", 4 << 10)
    data = _random_log(random.Random(7), 3000)
    path = tmp_path / ("edge.gz" if compressed else "edge.log")
    with (gzip.open if compressed else open)(path, "wb") as fh:
        fh.write(data)
    scan = scan_logs(path)
    short = b"\n".join(line for line in data.split(b"\n") if len(line) <= 4 << 10)
    assert scan.lines_matched == naive_matches(short)
    assert scan.bytes_scanned == len(data)
    assert scan.unparsed >= sum(1 for line in data.split(b"\n") if len(line) > 4 << 10)


def test_parallel_scan_gives_the_single_process_result(tmp_path, monkeypatch, plain_mode):
    data = _random_log(random.Random(11), 20000)
    path = tmp_path / "big.log"
    path.write_bytes(data)
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN", 1)
    one = scan_logs(path, workers=1)
    two = scan_logs(path, workers=2)
    assert two.lines_matched == one.lines_matched == naive_matches(data)
    assert two.counts == one.counts
    assert two.bytes_scanned == one.bytes_scanned == len(data)
    for sid, st_ in one.stats.items():
        other = two.stats[sid]
        assert (other.first_seen, other.last_seen, other.examples) == (st_.first_seen, st_.last_seen, st_.examples)
        assert other.fields == st_.fields
    assert two._rows == one._rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=4000), st.lists(st.sampled_from([
    b"\n", b"\r\n", b"\x00", b"\xff\xfe", b'"', b"\\", b"{", b"token signed by untrusted key with ID: \\\"A",
    b"/blobs/uploads/", b"2026-11-27_16:57:38.15222 ", b'"POST /v2/a/blobs/uploads/ HTTP/1.1" 202 ',
    b"err.code=unknown err.detail=\"unexpected EOF", b"http.request.method=PUT ", b"\xe9",
]), max_size=30))
def test_arbitrary_bytes_never_crash_the_scanner(tmp_path, noise, pieces):
    data = noise + b"".join(pieces) + noise[::-1]
    path = tmp_path / "fuzz.log"
    path.write_bytes(data)
    scan = scan_logs(path, workers=1)
    assert 0 <= scan.lines_matched <= data.count(b"\n") + 1
    assert scan.lines_matched == naive_matches(data)
    assert scan.bytes_scanned == len(data)
    assert all(isinstance(f, Finding) for f in check_logs(scan))
    json.dumps(scan.to_json())
    for line in data.split(b"\n")[:50]:
        parse_line(line)


# --- time window -------------------------------------------------------------------------------------------------
def test_since_and_until_keep_only_lines_in_the_window(tmp_path):
    path = write(tmp_path / "current", [untrusted("09:00:00"), untrusted("10:00:00"), untrusted("11:00:00")])
    os.utime(path, (2_000_000_000, 2_000_000_000))  # written after the window, whatever today's date
    assert scan_logs(path, since="2026-11-27T09:30:00Z").counts == {"token-untrusted-key": 2}
    assert scan_logs(path, until=dt.datetime(2026, 11, 27, 10, 30)).counts == {"token-untrusted-key": 2}
    only = scan_logs(path, since="2026-11-27T09:30:00Z", until="2026-11-27T10:30:00+00:00")
    assert only.counts == {"token-untrusted-key": 1}
    assert only.stats["token-untrusted-key"].first_seen.hour == 10
    with pytest.raises(ValueError, match="not a time"):
        scan_logs(path, since="last tuesday")


def test_files_last_written_before_since_are_skipped_unread(tmp_path):
    old = write(tmp_path / "@400000006928a0000a000000.s", [untrusted("09:00:00")])
    os.utime(old, (1_700_000_000, 1_700_000_000))  # 2023
    new = write(tmp_path / "current", [untrusted("11:00:00")])
    os.utime(new, (2_000_000_000, 2_000_000_000))
    scan = scan_logs([old, new], since="2026-11-27T10:00:00Z")
    assert scan.counts == {"token-untrusted-key": 1}
    assert [f.skipped for f in scan.files] == ["last written before since", None]


def test_relative_since_is_understood():
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_bound("2h", now) == dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert parse_bound("7d", now) == dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert parse_bound(None) is None


# --- what the scan reports ---------------------------------------------------------------------------------------
SECRET_JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQ0QifQ.eyJpc3MiOiJnaXRsYWItaXNzdWVyIn0.c2lnbmF0dXJlLXNpZw"
SECRET_AWS = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_examples_and_events_are_redacted(tmp_path):
    lines = [
        f'2026-11-27_16:57:38.1 time="2026-11-27T16:57:38Z" level=warning msg="error authorizing context: invalid '
        f'token" http.request.header.authorization="Bearer {SECRET_JWT}" http.request.uri="/v2/?password=hunter2"',
        f'2026-11-27_16:57:39.1 time="2026-11-27T16:57:39Z" level=error msg="response completed with error" '
        f'err.code=unknown err.detail="s3aws: AccessDenied: Access Denied secretkey={SECRET_AWS}"',
        f'2026-11-27_16:57:40.1 time="2026-11-27T16:57:40Z" level=error msg="response completed with error" '
        f'err.code=unknown err.detail="s3aws: AccessDenied: Access Denied key {SECRET_AWS} token={SECRET_JWT}"',
    ]
    scan = scan_logs(write(tmp_path / "current", lines))
    blob = json.dumps(scan.to_json()) + json.dumps([f.to_dict() for f in check_logs(scan)])
    blob += scan.events.to_json(date_format="iso")
    for secret in (SECRET_JWT, SECRET_AWS, "hunter2", "c2lnbmF0dXJl"):
        assert secret not in blob
    assert "[REDACTED]" in blob


def test_to_json_is_the_cli_contract(tmp_path):
    scan = scan_logs(write(tmp_path / "current", [untrusted(), HEALTHY]))
    data = json.loads(json.dumps(scan.to_json()))
    assert set(data) >= {"signatures", "unparsed", "lines_matched", "files", "unreadable", "suggested"}
    (sig,) = data["signatures"]
    assert set(sig) >= {"id", "scenario", "count", "first_seen", "last_seen", "fields", "examples"}
    assert (sig["id"], sig["scenario"], sig["count"]) == ("token-untrusted-key", "token-untrusted-key", 1)
    assert sig["fields"] == {"key_id": [KEY_ID]}
    assert sig["first_seen"] == "2026-11-27T16:57:38.152220+00:00"  # the svlogd stamp
    assert data["suggested"][0]["scenario"] == "token-untrusted-key"


def test_untrusted_key_finding_names_the_scenario_and_carries_the_key_id(tmp_path):
    scan = scan_logs(write(tmp_path / "current", [untrusted(), untrusted("16:58:00")]))
    (f,) = [f for f in check_logs(scan) if f.id == "logs.token_untrusted_key"]
    assert f.status == Status.FAIL
    assert "`token-untrusted-key`" in f.detail and KEY_ID in f.detail
    assert f.evidence["fields"] == {"key_id": [KEY_ID]}
    assert f.evidence["count"] == 2 and f.evidence["first_seen"] < f.evidence["last_seen"]
    assert len(f.evidence["examples"]) == 1  # identical lines are shown once
    assert "Omnibus" in f.remedy and "Helm" in f.remedy and "Source" in f.remedy
    assert any("token signed by untrusted key" in r for r in f.refs)


def test_nothing_matched_gives_one_ok_finding(tmp_path):
    scan = scan_logs(write(tmp_path / "current", [HEALTHY] * 10))
    (f,) = check_logs(scan)
    assert (f.id, f.status) == ("logs.no_known_errors", Status.OK)


def test_routine_head_blob_unknown_is_context_but_a_get_is_a_warning(tmp_path):
    head = ('2026-11-27_16:55:04.27866 time="2026-11-27T16:55:04.278285529Z" level=error msg="response completed '
            'with error" err.code="blob unknown" http.request.method=HEAD http.response.status=404')
    scan = scan_logs(write(tmp_path / "a" / "current", [head] * 3))
    statuses = {f.id: f.status for f in check_logs(scan)}
    assert statuses["logs.blob_unknown"] == Status.INFO
    assert "logs.no_known_errors" in statuses
    assert suggested_scenarios(scan) == []
    scan = scan_logs(write(tmp_path / "b" / "current", [head, head.replace("=HEAD", "=GET")]))
    assert {f.id: f.status for f in check_logs(scan)}["logs.blob_unknown"] == Status.WARN


def test_counts_and_times_stay_exact_when_the_events_table_is_full(tmp_path):
    head = ('2026-11-27_16:{m:02d}:04.27866 time="2026-11-27T16:{m:02d}:04.278285529Z" level=error msg="response '
            'completed with error" err.code="blob unknown" http.request.method=HEAD http.response.status=404')
    lines = [head.format(m=m) for m in range(60)] + [untrusted(f"17:{m:02d}:00") for m in range(60)]
    path = write(tmp_path / "current", lines)
    scan = scan_logs(path, max_events=10)
    assert scan.counts["blob-unknown"] == 60 and scan.counts["token-untrusted-key"] == 60
    assert len(scan.events) == 10 and scan.events_dropped == 110
    assert scan.stats["blob-unknown"].routine  # methods still read when lines are only counted
    st_ = scan.stats["token-untrusted-key"]
    assert (st_.first_seen.minute, st_.last_seen.minute) == (0, 59)
    os.utime(path, (2_000_000_000, 2_000_000_000))  # written "after" the window, whatever today's date
    windowed = scan_logs(path, max_events=10, since="2026-11-27T17:30:00Z")
    assert windowed.counts == {"token-untrusted-key": 30}


def test_unknown_format_file_is_flagged(tmp_path):
    scan = scan_logs(write(tmp_path / "notes.txt", ["hello", "world"]))
    ids = [f.id for f in check_logs(scan)]
    assert "logs.unknown_format" in ids


# --- the retry-loop detector --------------------------------------------------------------------------------------
def _push(t: str, repo: str, complete: bool) -> list[str]:
    uid = "1f7ad7f6-aff3-474c-8837-95d74a9d47f1"
    out = [
        access(t, "POST", f"/v2/{repo}/blobs/uploads/", 202),
        f'2026-11-27_{t}.00002 time="2026-11-27T{t}Z" level=info msg="response completed" '
        f"http.request.method=POST http.request.uri=/v2/{repo}/blobs/uploads/ http.response.status=202",
        access(t, "PATCH", f"/v2/{repo}/blobs/uploads/{uid}?_state=abc", 202),
    ]
    if complete:
        out.append(access(t, "PUT", f"/v2/{repo}/blobs/uploads/{uid}?_state=abc&digest=sha256%3A01", 201))
    return out


def test_uploads_restarted_again_and_again_are_a_retry_loop(tmp_path):
    lines = []
    for i in range(8):
        lines += _push(f"16:{i:02d}:00", "group/stuck", complete=False)
        lines += _push(f"16:{i:02d}:30", "group/fine", complete=True)
    scan = scan_logs(write(tmp_path / "current", lines))
    (loop,) = scan.uploads.loops()
    assert (loop.repository, loop.starts, loop.completed) == ("group/stuck", 8, 0)
    (f,) = [f for f in check_logs(scan) if f.id == "logs.push_retry_loop"]
    assert f.status == Status.FAIL and "`push-retry-relative-urls`" in f.detail
    assert f.evidence["repositories"][0]["repository"] == "group/stuck"
    assert suggested_scenarios(scan)[0].scenario == "push-retry-relative-urls"
    assert any(s["id"] == "push-retry-loop" for s in scan.to_json()["signatures"])


@pytest.mark.parametrize("envelope", ["bare", "svlogd", "cri", "docker-json-file"])
def test_json_upload_lines_count_behind_any_envelope(tmp_path, envelope):
    """CNG's registry logs JSON; kubectl, containerd and docker wrap it. A start (POST 202) that also matched
    a signature, and a failing PUT beside it, are read the same way as text lines."""
    def wrap(obj: dict) -> str:
        text = json.dumps(obj)
        return {"bare": text, "svlogd": "2026-11-27_16:00:00.00001 " + text,
                "cri": "2026-11-27T16:00:00.000000001Z stderr F " + text,
                "docker-json-file": json.dumps({"log": text + "\n", "stream": "stderr",
                                                 "time": "2026-11-27T16:00:00Z"})}[envelope]

    lines = []
    for i in range(6):
        t = f"2026-11-27T16:{i:02d}:00Z"
        lines.append(wrap({"level": "info", "method": "POST", "msg": "response completed", "status": 202,
                           "time": t, "uri": "/v2/group/stuck/blobs/uploads/"}))
        lines.append(wrap({"code": "UNKNOWN", "detail": "s3aws: AccessDenied: Access Denied", "level": "error",
                           "method": "PUT", "msg": "response completed with error", "status": 500, "time": t,
                           "uri": f"/v2/group/stuck/blobs/uploads/{i}a?_state=x&digest=sha256%3A01"}))
    scan = scan_logs(write(tmp_path / "current", lines))
    (loop,) = scan.uploads.loops()
    assert (loop.repository, loop.starts, loop.completed) == ("group/stuck", 6, 0)
    assert loop.first == dt.datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert scan.counts["s3-access-denied"] == 6


def test_a_few_retries_are_not_a_loop(tmp_path):
    lines = _push("16:00:00", "group/flaky", False) + _push("16:00:05", "group/flaky", True)
    assert scan_logs(write(tmp_path / "current", lines)).uploads.loops() == []


# --- real lines from the lab -------------------------------------------------------------------------------------
def test_the_lab_registry_log_fixture_is_read_in_full():
    scan = scan_logs(DATA / "lab-registry-svlogd")
    assert scan.unparsed == 0
    assert scan.files[0].format.startswith("svlogd+logfmt")
    expect = {"token-untrusted-key": 1, "token-no-signing-key": 1, "token-untrusted-issuer": 1,
              "token-wrong-audience": 1, "token-expired": 1, "token-not-yet-valid": 1, "auth-invalid-token": 6,
              "auth-insufficient-scope": 1, "auth-token-required": 2, "blob-unknown": 4, "manifest-unknown": 1,
              "http-503": 2, "request-error": 5}
    assert scan.counts == expect
    assert scan.stats["token-untrusted-key"].field_summary() == {"key_id": [KEY_ID]}
    assert scan.uploads.loops() == []  # the seeding push completed every upload
    repo = scan.uploads.repos["group/project/app"]
    assert (repo.n_starts, repo.n_completed) == (2, 2)


def test_the_registry_json_fixture_is_read():
    scan = scan_logs(DATA / "registry-2.8-json-auth.log")
    assert scan.counts == {"auth-token-required": 1, "token-untrusted-issuer": 1, "auth-invalid-token": 1}
    assert scan.files[0].format.startswith("json")
    assert scan.stats["token-untrusted-issuer"].field_summary() == {"issuer": ["x"]}


# --- notebook helpers --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab_scan():
    return scan_logs(DATA / "lab-registry-svlogd")


def test_signature_table_lists_matches_worst_first(lab_scan):
    table = signature_table(lab_scan)
    assert list(table.columns) == ["id", "scenario", "severity", "count", "first_seen", "last_seen", "fields",
                                   "meaning"]
    assert table.iloc[0]["severity"] == "fail"
    assert table.iloc[-1]["severity"] == "info"
    row = table.set_index("id").loc["token-untrusted-key"]
    assert KEY_ID in row["fields"]
    assert len(signature_table(lab_scan, include_unmatched=True)) == len(LINE_SIGNATURES)


def test_plot_timeline_returns_a_figure_per_signature(lab_scan):
    from matplotlib.figure import Figure

    fig = plot_timeline(lab_scan)
    assert isinstance(fig, Figure)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "token-untrusted-key" in labels and "request-error" not in labels
    assert "minute" in fig.axes[0].get_ylabel()
    empty = plot_timeline(scan_logs([]))
    assert isinstance(empty, Figure)


def test_top_failing_requests_groups_by_path_and_status(lab_scan):
    top = top_failing_requests(lab_scan, n=3)
    assert list(top.columns) == ["method", "path", "status", "count", "first_seen", "last_seen", "signatures"]
    first = top.iloc[0]
    assert (first["method"], first["path"], first["status"]) == ("GET", "/v2/group/project/app/tags/list", "-")
    assert first["count"] == 7
    assert len(top) == 3


def test_suggested_scenarios_puts_failures_first_and_says_why(lab_scan):
    got = suggested_scenarios(lab_scan)
    assert got[0].scenario in ("token-untrusted-key", "triage")
    assert {s.scenario for s in got} == {"token-untrusted-key", "triage", "debug-server-metrics"}
    assert [s.scenario for s in got].index("debug-server-metrics") == 2  # only warnings there
    why = dict(got)["token-untrusted-key"]
    assert "token-untrusted-key: 1 line(s) (key_id " + KEY_ID + ")" in why


def test_read_events_gives_every_line_as_a_row():
    frame = read_events(DATA / "lab-registry-svlogd")
    assert len(frame) == 67
    assert list(frame.columns) == ["time", "source", "format", "level", "message", "uri", "method", "status",
                                   "user_agent", "correlation_id", "raw"]
    assert str(frame["time"].dtype).startswith("datetime64[") and str(frame["time"].dt.tz) == "UTC"


# --- the command line ----------------------------------------------------------------------------------------------
def test_cli_prints_json_and_exits_1_on_a_failure(tmp_path, capsys):
    path = write(tmp_path / "current", [untrusted()])
    assert cli_main([str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["signatures"][0]["fields"]["key_id"] == [KEY_ID]
    assert data["findings"][0]["id"] == "logs.token_untrusted_key"


def test_cli_exit_codes_for_clean_logs_bad_times_and_nothing_to_read(tmp_path, capsys):
    path = write(tmp_path / "current", [HEALTHY])
    assert cli_main([str(path)]) == 0
    assert "logs.no_known_errors" in capsys.readouterr().out
    assert cli_main([str(path), "--since", "someday"]) == 2
    assert cli_main([str(tmp_path / "nope")]) == 2
    assert cli_main([]) == 2


def test_a_truncated_gz_counts_every_complete_line_read_before_the_error(tmp_path):
    """An over-long line ends inside the read that hits the cut: the complete lines after it still count."""
    sig = untrusted().encode()
    text = b"\n".join([sig] * 30000) + b"\n" + b"y" * (3 << 20) + b"\n" + b"\n".join([sig] * 2000) + b"\n"
    packed = gzip.compress(text, compresslevel=1)
    cut = packed[:len(packed) - 1000]
    (tmp_path / "registry.log.1.gz").write_bytes(cut)
    got = zlib.decompressobj(31).decompress(cut)  # what any reader gets before the error
    complete = got[:got.rfind(b"\n") + 1]
    expected = sum(1 for line in complete.split(b"\n") if b"untrusted key" in line and len(line) < 1 << 20)
    assert expected > 30000  # some lines after the over-long one made it
    scan = scan_logs(tmp_path / "registry.log.1.gz")
    assert scan.counts == {"token-untrusted-key": expected}
    assert [p.kind for p in scan.problems] == ["corrupt"]


def test_a_json_upload_line_without_a_readable_time_takes_its_envelopes_time():
    from runbooklib.logs.uploads import UploadTracker

    line = ('2026-11-27_10:00:00.00000 {"method":"POST","status":202,"time":1764237600,'
            '"uri":"/v2/group/app/blobs/uploads/"}').encode()
    since = dt.datetime(2026, 11, 27, 16, tzinfo=UTC)
    tracker = UploadTracker()
    tracker.add_line(line, since, None)  # 10:00 by its svlogd stamp: before the window
    assert tracker.repos == {}
    tracker.add_line(line)
    assert tracker.repos["group/app"].first == dt.datetime(2026, 11, 27, 10, tzinfo=UTC)
