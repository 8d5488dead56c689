"""HAR import: captures end in a table naming the failing hop; anything that is not HAR is one clear error."""

import json
from pathlib import Path

import pytest

from runbooklib.probes.har import HarError, check_har, har_table, load_har
from runbooklib.probes.hops import hop_from_parts, origin, strip_url

DATA = Path(__file__).parent / "data" / "push"


def _ids(findings):
    return {f.id: f for f in findings}


def test_seed_mitmproxy_trace_names_storage_as_the_403_hop():
    found = _ids(check_har(str(DATA / "mitm-403.har")))
    f = found["hops.forbidden.storage"]
    assert f.status.value == "fail" and f.evidence["scenario"] == "push-403"
    assert {r["origin"] for r in f.evidence["hops"]} == {"storage"}
    assert "hops.forbidden.registry" not in found
    assert len(found["har.loaded"].evidence["hops"]) == 8


def test_capture_evidence_masks_presigned_credentials():
    text = json.dumps([f.to_dict() for f in check_har(str(DATA / "mitm-403.har"))])
    assert "0f1e2d3c4b5a" not in text and "AKIAEXAMPLE" not in text
    assert "X-Amz-Signature=%5BREDACTED%5D" in text or "X-Amz-Signature=[REDACTED]" in text


def test_retry_loop_capture_names_the_http_location_and_the_restarts():
    found = _ids(check_har(str(DATA / "retry-loop.har"), "https://registry.example.com:5050"))
    down = found["hops.location.scheme_downgrade"]
    assert down.status.value == "fail" and "plain HTTP" in down.detail
    assert down.evidence["hops"][0]["location"].startswith("http://registry.example.com:5050/")
    restarts = found["hops.upload_restarts"]
    assert restarts.status.value == "fail" and "4 blob uploads" in restarts.detail


def test_har_table_has_one_row_per_request_with_its_origin():
    table = har_table(str(DATA / "mitm-403.har"))
    assert len(table) == 8
    assert list(table["origin"])[-2:] == ["storage", "storage"]
    assert list(table["origin"])[1] == "realm"


@pytest.mark.parametrize("content, message", [
    ("this is not json {", "not JSON"),
    ('{"foo": 1}', "no log.entries"),
    ('{"log": {"entries": [{"request": {}}]}}', "entry 0 has no request"),
    ("", "not JSON"),
])
def test_bad_captures_are_one_line_errors(tmp_path, content, message):
    p = tmp_path / "x.har"
    p.write_text(content)
    with pytest.raises(HarError, match=message):
        load_har(p)
    found = check_har(str(p))
    assert [f.id for f in found] == ["har.invalid"] and found[0].status.value == "error"
    assert "\n" not in found[0].detail and message.split()[0] in found[0].detail


def test_missing_capture_and_no_capture(tmp_path):
    assert check_har(str(tmp_path / "none.har"))[0].id == "har.invalid"
    assert check_har(str(tmp_path))[0].id == "har.invalid"
    skipped = check_har("")[0]
    assert skipped.status.value == "skip" and "mitmdump" in skipped.remedy
    assert har_table("").empty


def test_strip_url_masks_userinfo_signatures_and_state():
    url = "https://user:pw@r:5050/v2/a/blobs/uploads/u?_state=abc&digest=sha256:1&X-Goog-Signature=zz"
    out = strip_url(url)
    assert "pw" not in out and "abc" not in out and "zz" not in out and "digest=sha256:1" in out


@pytest.mark.parametrize("headers, body, status, expected", [
    ({"server": "nginx", "content-type": "text/html"}, b"<html>413</html>", 413, "proxy"),
    ({"server": "nginx", "docker-distribution-api-version": "registry/2.0", "content-type": "application/json"},
     b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', 403, "registry"),
    ({"content-type": "application/xml", "x-amz-request-id": "1"}, b"<Error><Code>AccessDenied</Code></Error>", 403,
     "storage"),
    ({"content-type": "application/json", "x-gitlab-meta": "{}"}, b'{"errors":[{"code":"DENIED"}]}', 403, "realm"),
])
def test_origin_of_an_answer(headers, body, status, expected):
    hop = hop_from_parts("HEAD", "https://r:5050/v2/a/blobs/sha256:1", status, headers, body)
    assert origin(hop, "r:5050") == expected
