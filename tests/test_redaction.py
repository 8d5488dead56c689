"""Structure-aware redaction (issue #13, items 1 and 4).

Secrets are masked on objects before serialization (strings inside findings, notebook outputs, evidence),
never by regexes over serialized JSON or HTML; every known secret is masked in its raw, JSON-escaped,
HTML-escaped, URL-encoded and base64 forms (HTTP Basic included); what is written is re-parsed; and what
cannot be made safe is withheld with a note instead of shipped half-masked.
"""

from __future__ import annotations

import base64
import html
import json
import subprocess
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import markupsafe
import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooklib import params as P
from runbooklib import scenarios
from runbooklib.logs.redact import redact_line
from runbooklib.report import sanitize
from runbooklib.redact import MASK, KnownSecrets
from runbooklib.report.sanitize import Redactor, html_structure, recheck_tree
from tests.conftest import runbook

CANARY = "c4n\"ary <>&'pw/Secret9"  # quotes, markup, a space and a slash: every escaping rule has work to do
USER = "alice"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb290In0.c2lnbmF0dXJlLXNlY3JldA"
OPAQUE = "opaque-tok3n-Zx81"


def encodings_of(secret: str, username: str = "") -> dict[str, str]:
    """Every form ``secret`` can take in an artifact, by name (base64 without its padding: a prefix of both)."""
    data = secret.encode()
    forms = {
        "raw": secret,
        "JSON-escaped": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON-escaped (ASCII)": json.dumps(secret)[1:-1],
        "JSON-escaped twice": json.dumps(json.dumps(secret))[3:-3],
        "Python repr": repr(secret)[1:-1],
        "HTML-escaped": html.escape(secret),
        "HTML-escaped (text only)": html.escape(secret, quote=False),
        "HTML-escaped (Jinja)": str(markupsafe.escape(secret)),
        "HTML-escaped JSON": html.escape(json.dumps(secret)[1:-1]),
        "URL-encoded (quote)": urllib.parse.quote(secret, safe=""),
        "URL-encoded (quote, / kept)": urllib.parse.quote(secret),
        "URL-encoded (quote_plus)": urllib.parse.quote_plus(secret),
        "base64": base64.b64encode(data).decode().rstrip("="),
        "URL-safe base64": base64.urlsafe_b64encode(data).decode().rstrip("="),
    }
    if username:
        forms["HTTP Basic base64 of username:secret"] = base64.b64encode(f"{username}:{secret}".encode()).decode().rstrip("=")
    return forms


def assert_no_form_in(folder: Path, secret: str, username: str = "") -> list[Path]:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".tar.gz")]
    assert files
    for path in files:
        data = path.read_bytes()
        for name, form in encodings_of(secret, username).items():
            assert form.encode() not in data, f"{path.name} holds the secret {name}"
    return files


def assert_valid_artifacts(folder: Path) -> None:
    for nb in folder.glob("*.ipynb"):
        nbformat.validate(nbformat.read(str(nb), as_version=4))
    for js in folder.glob("*.json"):
        json.loads(js.read_text(encoding="utf-8"))
    for page in folder.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert text.rstrip().endswith("</html>"), page.name
        html_structure(text)


# --- known secrets, every form ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(encodings_of(CANARY, USER)))
def test_secret_with_quotes_is_masked_in_each_encoded_form(name):
    form = encodings_of(CANARY, USER)[name]
    padded = form + "=" * (-len(form) % 4) if "base64" in name else form
    known = KnownSecrets([CANARY], [USER])
    assert known.mask(f"before {padded} after") == f"before {MASK} after"
    assert known.find(f"before {padded} after") is not None
    assert known.find(known.mask(f"before {padded} after")) is None


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"xyz", b'{"password": "'])
def test_base64_of_a_secret_inside_a_longer_base64_text_is_masked(prefix):
    known = KnownSecrets([CANARY])
    blob = base64.b64encode(prefix + CANARY.encode() + b'", "more": 1}').decode()
    assert known.find(blob) is not None
    assert known.find(known.mask(blob)) is None


def test_a_key_file_sized_secret_is_masked_in_its_usual_encodings_without_slow_patterns():
    secret = "-----BEGIN KEY-----\n" + base64.b64encode(bytes(range(256)) * 40).decode() + '\n"<&-----END KEY-----'
    known = KnownSecrets([secret])
    for form in (secret, json.dumps(secret), html.escape(secret), base64.b64encode(secret.encode()).decode()):
        assert known.mask(f"a {form} b") in (f"a {MASK} b", f'a "{MASK}" b')


def test_leak_check_names_the_form_never_the_secret():
    label = KnownSecrets([CANARY], [USER]).find("Basic " + encodings_of(CANARY, USER)["HTTP Basic base64 of username:secret"])
    assert label and "Basic" in label and CANARY not in label and "Secret9" not in label


def test_short_values_are_not_treated_as_secrets():
    assert KnownSecrets(["abc", ""]).mask("abc abc") == "abc abc"


# --- secrets by shape, on strings ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("line", "expected"), [
    ('GET /v2/?token=abc123"', f'GET /v2/?token={MASK}"'),
    (f'authorization="Bearer {JWT}"', f'authorization="Bearer {MASK}"'),
    (f'msg="headers authorization=\\"Bearer {OPAQUE}\\""', f'msg="headers authorization=\\"Bearer {MASK}\\""'),
    (f'{{\\"token\\":\\"{OPAQUE}\\"}}', f'{{\\"token\\":\\"{MASK}\\"}}'),
    (f"{{'Authorization': 'Bearer {OPAQUE}'}}", f"{{'Authorization': 'Bearer {MASK}'}}"),
    ("echo: Basic YWxpY2U6aHVudGVyMg==", f"echo: Basic {MASK}"),
    ("PRIVATE-TOKEN: glpat-abcdefgh1234", f"PRIVATE-TOKEN: {MASK}"),
    ("GET /x?X-Amz-Signature=abcdef0123&b=1", f"GET /x?X-Amz-Signature={MASK}&b=1"),
    ('Bearer realm="https://gitlab/jwt/auth",service="container_registry"',
     'Bearer realm="https://gitlab/jwt/auth",service="container_registry"'),
    ("Basic authentication and Bearer tokens", "Basic authentication and Bearer tokens"),
    ("{'signature': 'token_untrusted_key'}", "{'signature': 'token_untrusted_key'}"),
])
def test_shape_rules_mask_values_and_never_eat_an_escape(line, expected):
    assert redact_line(line) == expected
    assert redact_line(expected) == expected  # idempotent: a second pass changes nothing


def test_secret_shaped_strings_inside_objects_keep_the_json_valid():
    lines = ['?token=abc123"', f'authorization="Bearer {JWT}"', f'authorization=\\"Bearer {OPAQUE}\\"', 'a\\"b\\\\']
    data = {"findings": [{"evidence": {"examples": lines, "line": "\n".join(lines)}}]}
    out = Redactor().obj(data)
    text = json.dumps(out, indent=2, ensure_ascii=False)
    assert json.loads(text) == out
    for secret in ("abc123", JWT, OPAQUE):
        assert secret not in text
    assert out["findings"][0]["evidence"]["examples"][3] == 'a\\"b\\\\'


def test_keys_holding_a_secret_are_masked_without_losing_entries():
    out = Redactor([CANARY]).obj({f"/v2/?pw={CANARY}": 1, f"x{CANARY}": 2, "[REDACTED]": 3, "plain": 4})
    assert len(out) == 4 and out["plain"] == 4
    assert KnownSecrets([CANARY]).find(json.dumps(out)) is None


# --- the property: same shape, no secret --------------------------------------------------------------------------
_KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyz_0123456789"
_KEYS = st.text(_KEY_ALPHABET, max_size=8)
_SECRETS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=4, max_size=16).filter(
    lambda s: any(c not in _KEY_ALPHABET for c in s) and MASK not in s)  # a secret no key can hold


@st.composite
def _objects_with_secret(draw):
    secret = draw(_SECRETS)
    forms = list(encodings_of(secret, USER).values())
    strings = st.one_of(
        st.text(max_size=30),
        st.builds(lambda a, f, b: a + f + b, st.text(max_size=10), st.sampled_from(forms), st.text(max_size=10)),
        st.sampled_from(['?token=abc123"', f'authorization="Bearer {JWT}"', 'x\\"y', "&quot;<b>"]),
    )
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), strings)
    obj = draw(st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(_KEYS, inner, max_size=4)),
                            max_leaves=20))
    return secret, obj


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects_with_secret())
def test_redacted_objects_reparse_to_the_same_shape_and_hold_no_secret(case):
    secret, obj = case
    redactor = Redactor([secret], [USER])
    out = redactor.obj(obj)
    parsed = json.loads(json.dumps(out, ensure_ascii=False))
    assert parsed == out
    assert _shape(parsed) == _shape(obj)  # same types, same keys (keys here hold no secret)
    for text in _strings(out):
        assert redactor.known.find(text) is None, text
        assert secret not in text.replace(MASK, "\0")
    assert redactor.obj(out) == out  # a second pass changes nothing


# --- notebooks and HTML -------------------------------------------------------------------------------------------
def _notebook_with_secrets() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source=f'scan("{CANARY}")')
    b64 = base64.b64encode(CANARY.encode()).decode()
    table = (f'<table><tr><td title="authorization=&quot;Bearer {OPAQUE}&quot;">'
             f"authorization=&quot;Bearer {JWT}&quot; ?token=abc123&quot;</td>"
             f"<td>{html.escape(CANARY)}</td><td>{html.escape(json.dumps(CANARY))}</td></tr></table>")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f'GET /v2/?token=abc123"\nsecret {CANARY}\n'),
        nbformat.v4.new_output("display_data", data={
            "text/html": table, "text/plain": repr({"line": f'authorization="Bearer {JWT}"'}),
            "image/png": "iVBORw0KGgo" + b64, "application/json": {"password": CANARY, f"k{CANARY}": [CANARY]}}),
        nbformat.v4.new_output("error", ename="ValueError", evalue=f"bad {CANARY}",
                               traceback=[f"\x1b[31mValueError\x1b[0m: bad {json.dumps(CANARY)}"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# Step"), cell]
    nb.metadata["papermill"] = {"parameters": {"password": "file:/x", "note": CANARY}}
    return nb


def test_notebook_outputs_are_masked_mime_type_by_mime_type_and_stay_valid():
    nb = _notebook_with_secrets()
    out = Redactor([CANARY], [USER]).notebook(nb)
    nbformat.validate(out)
    text = nbformat.writes(out)
    nbformat.validate(nbformat.reads(text, as_version=4))
    for name, form in encodings_of(CANARY, USER).items():
        assert form not in text, name
    for secret in ("abc123", JWT, OPAQUE):
        assert secret not in text
    data = out.cells[1].outputs[1].data
    assert html_structure(data["text/html"]) == html_structure(nb.cells[1].outputs[1].data["text/html"])
    assert "authorization=&quot;Bearer [REDACTED]&quot;" in data["text/html"]
    assert out.cells[1].outputs[0].text.startswith('GET /v2/?token=[REDACTED]"\n')
    assert nb.cells[1].outputs[0].text.startswith('GET /v2/?token=abc123"')  # the input is not changed


def test_html_page_check_replaces_whole_escapes_only_and_keeps_the_document():
    b64 = base64.b64encode(CANARY.encode()).decode()
    page = ("<!DOCTYPE html><html><head><style>.a{color:red}</style><title>t</title></head><body>"
            f"<!-- {CANARY} --><p class=\"x\" data-v='{html.escape(CANARY)}'>{html.escape(CANARY)} &amp; more</p>"
            f'<img src="data:image/png;base64,{b64}"><pre>{html.escape(json.dumps({"pw": CANARY}))}</pre>'
            "<p>a < b and c > d</p></body></html>")
    out = Redactor([CANARY]).html(page)
    assert html_structure(out) == html_structure(page)
    assert KnownSecrets([CANARY]).find(out) is None
    assert "&amp; more" in out and "<p>a < b and c > d</p>" in out and "<style>.a{color:red}</style>" in out


def test_a_replacement_that_would_cut_a_character_reference_withholds_the_page(tmp_path):
    redactor = Redactor(["x&am"])  # matches inside "x&amp;": masking it would leave "p;" behind
    page = "<html><body><p>x&amp;y</p></body></html>"
    note = redactor.write_html(page, tmp_path / "r.html")
    assert note is not None and note.artifact == "r.html" and "survived" in note.reason
    text = (tmp_path / "r.html").read_text()
    assert "x&amp;y" not in text and "withheld" in text


def test_recheck_redacts_artifacts_with_a_secret_learned_later(tmp_path):
    nbformat.write(_notebook_with_secrets(), str(tmp_path / "a.ipynb"))
    (tmp_path / "a.findings.json").write_text(json.dumps({"scenario": "a", "findings": [], "x": [CANARY]}))
    (tmp_path / "a.html").write_text(f"<html><body><p title=\"{html.escape(CANARY)}\">{html.escape(CANARY)}</p></body></html>")
    (tmp_path / "notes.txt").write_text(f"pw {CANARY}\n")
    (tmp_path / "clean.json").write_text('{"ok": true}')
    assert recheck_tree(tmp_path, Redactor([CANARY], [USER])) == []
    assert_valid_artifacts(tmp_path)
    assert_no_form_in(tmp_path, CANARY, USER)
    assert (tmp_path / "clean.json").read_text() == '{"ok": true}'


def test_an_artifact_that_cannot_be_parsed_is_withheld_not_shipped(tmp_path):
    (tmp_path / "a.ipynb").write_text('{"cells": [' + CANARY)
    notes = recheck_tree(tmp_path, Redactor([CANARY]))
    assert [n.artifact for n in notes] == ["a.ipynb"] and not (tmp_path / "a.ipynb").exists()
    assert CANARY not in notes[0].reason
    finding = notes[0].finding()
    assert finding.id == "report.artifact_withheld" and finding.evidence["artifact"] == "a.ipynb"


# --- the real CLI ---------------------------------------------------------------------------------------------------
DANGEROUS_LOG = [
    'time="2024-05-01T10:00:00Z" level=error msg="response completed with error" err.code="manifest unknown" '
    'http.request.uri="/v2/foo/manifests/latest?token=abc123" http.response.status=404',
    'time="2024-05-01T10:00:01Z" level=info msg="GET /v2/?token=abc123\\"" http.request.method=GET',
    f'time="2024-05-01T10:00:02Z" level=debug msg="request headers" authorization="Bearer {JWT}"',
    f'time="2024-05-01T10:00:03Z" level=error msg="token signed by untrusted key with ID: \\"ABCD\\"" '
    f'authorization="Bearer {JWT}"',
    f'time="2024-05-01T10:00:04Z" level=error msg="error authorizing context: invalid token" '
    f'http.request.header.authorization="Bearer {OPAQUE}" extra="authorization=\\"Bearer {OPAQUE}\\""',
]


def test_secret_shaped_log_lines_give_valid_artifacts_and_no_secret(tmp_path):
    log = tmp_path / "registry.log"
    log.write_text("\n".join(DANGEROUS_LOG) + "\n")
    out = tmp_path / "out"
    r = runbook("run", "logs", "-p", "log_paths", str(log), "-o", str(out))
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["logs.findings.json", "logs.html", "logs.ipynb"]
    assert_valid_artifacts(out)
    for path in out.iterdir():
        data = path.read_text(encoding="utf-8")
        for secret in ("abc123", JWT, OPAQUE, "c2lnbmF0dXJl"):
            assert secret not in data, (path.name, secret)
    assert "[REDACTED]" in (out / "logs.ipynb").read_text()


class _EchoingRegistry(BaseHTTPRequestHandler):
    """A registry whose token realm refuses every login and echoes what it was sent, in every encoding."""

    secret = ""

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server's name
        s, port = self.secret, self.server.server_address[1]
        if self.path.startswith("/jwt/auth"):
            auth = self.headers.get("Authorization", "")
            body = json.dumps({"error": "denied", "you_sent": auth, "pw": s, "b64": base64.b64encode(s.encode()).decode()})
            self._send(401, body, {
                "Content-Type": "application/json", "Server": f"echo {auth.split()[-1]}",
                "Location": f"/login?pw={urllib.parse.quote(s, safe='')}&pp={urllib.parse.quote_plus(s)}",
                "WWW-Authenticate": f'Basic realm="{html.escape(s)}"'})
        elif self.path.startswith("/v2/"):
            self._send(401, json.dumps({"errors": [{"code": "UNAUTHORIZED", "detail": html.escape(s)}]}), {
                "Content-Type": "application/json", "Docker-Distribution-Api-Version": "registry/2.0",
                "WWW-Authenticate": f'Bearer realm="http://127.0.0.1:{port}/jwt/auth",service="container_registry",'
                                    'scope="registry:catalog:*"'})
        else:
            self._send(404, "not found", {})


@pytest.fixture
def echoing_registry():
    handler = type("Handler", (_EchoingRegistry,), {"secret": CANARY})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _canary_inputs(tmp_path: Path) -> tuple[Path, Path]:
    secret_file = tmp_path / "pw.txt"
    secret_file.write_text(CANARY + "\n")
    forms = encodings_of(CANARY, USER)
    log = tmp_path / "registry.log"
    log.write_text("\n".join(DANGEROUS_LOG + [
        f'time="2024-05-01T10:00:05Z" level=error msg="response completed with error" err.code="unauthorized" '
        f'http.request.uri="/v2/?pw={forms["URL-encoded (quote)"]}" http.response.status=401',
        f'time="2024-05-01T10:00:06Z" level=warning msg="error authorizing context: authorization token required" '
        f'http.request.header.authorization="Basic {forms["HTTP Basic base64 of username:secret"]}="',
        f'time="2024-05-01T10:00:07Z" level=error msg="response completed with error" err.code="unauthorized" '
        f'err.detail="login failed: {forms["JSON-escaped"]}" http.response.status=401',
    ]) + "\n")
    return secret_file, log


@pytest.mark.parametrize("command", ["run", "triage"])
def test_canary_secret_with_quotes_appears_in_no_artifact_in_any_encoding(echoing_registry, tmp_path, command):
    secret_file, log = _canary_inputs(tmp_path)
    out = tmp_path / "out"
    args = ["-p", "registry_url", echoing_registry, "-p", "username", USER, "-p", "password", f"file:{secret_file}",
            "-p", "log_paths", str(log), "-o", str(out)]
    r = runbook(*(["run", "triage"] if command == "run" else ["triage", "--archive"]), *args)
    assert r.returncode == 1, r.stdout + r.stderr  # the realm refused the login: a fail finding
    files = assert_no_form_in(out, CANARY, USER)
    assert CANARY not in r.stdout + r.stderr
    assert_valid_artifacts(out)
    findings = json.loads((out / "triage.findings.json").read_text())
    realm = next(f for f in findings["findings"] if f["id"] == "token.bad_credentials")
    assert "[REDACTED]" in realm["evidence"]["body"]  # the echo reached the report, masked
    assert not any(f["id"] == "report.artifact_withheld" for f in findings["findings"])
    if command == "triage":
        assert {"index.html", "findings.json", "MANIFEST.sha256", "MANIFEST.sig"} <= {p.name for p in files}
        check = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=out, capture_output=True)
        assert check.returncode == 0


# --- fail closed ------------------------------------------------------------------------------------------------------
def _logs_values(tmp_path: Path) -> dict:
    log = tmp_path / "registry.log"
    log.write_text("\n".join(DANGEROUS_LOG) + "\n")
    sc = scenarios.get("logs")
    return P.validate(sc.schema, {}, [("log_paths", [str(log)])], scenario="logs")


@pytest.mark.slow
def test_runner_withholds_a_notebook_it_cannot_redact_and_says_so(tmp_path, monkeypatch):
    from runbooklib.report.runner import run_scenario

    def boom(self, nb):
        raise RuntimeError(f"redaction bug near {CANARY}")

    monkeypatch.setattr(sanitize.Redactor, "notebook", boom)
    out = tmp_path / "out"
    result = run_scenario("logs", _logs_values(tmp_path), out, progress=False, extra_secrets=[CANARY])
    assert sorted(p.name for p in out.iterdir()) == ["logs.findings.json", "logs.html"]
    findings = json.loads((out / "logs.findings.json").read_text())["findings"]
    note = next(f for f in findings if f["id"] == "report.artifact_withheld")
    assert note["status"] == "error" and note["evidence"]["artifact"] == "logs.ipynb"
    assert note["evidence"]["reason"] == "RuntimeError: redaction bug near [REDACTED]"
    assert "logs.ipynb withheld" in (out / "logs.html").read_text()
    assert any(f.id == "report.artifact_withheld" for f in result.report.findings)
    assert_no_form_in(out, CANARY)


@pytest.mark.slow
def test_runner_withholds_findings_it_cannot_redact_and_exits_2(tmp_path, monkeypatch):
    from runbooklib.report.runner import run_scenario

    real = sanitize.Redactor.obj

    def fails_on_the_kernels_findings(self, value):
        if isinstance(value, dict) and "findings" in value and not any(
                f.get("id") == "report.artifact_withheld" for f in value["findings"]):
            raise ValueError("cannot walk this")
        return real(self, value)

    monkeypatch.setattr(sanitize.Redactor, "obj", fails_on_the_kernels_findings)
    out = tmp_path / "out"
    result = run_scenario("logs", _logs_values(tmp_path), out, progress=False)
    assert result.exit_code == 2 and "logs.findings.json withheld" in result.error
    findings = json.loads((out / "logs.findings.json").read_text())["findings"]
    assert [f["id"] for f in findings] == ["report.artifact_withheld"]
    assert findings[0]["evidence"] == {"artifact": "logs.findings.json", "reason": "ValueError: cannot walk this"}
    nbformat.validate(nbformat.read(str(out / "logs.ipynb"), as_version=4))


def test_bundle_completes_when_redaction_fails_and_names_what_it_withheld(echoing_registry, tmp_path, monkeypatch):
    from runbooklib.report.bundle import BundleRequest, run_bundle

    def boom(self, nb):
        raise RuntimeError("notebook redaction failed")

    real_html = sanitize.Redactor.html

    def index_fails(self, markup):
        if "rb-index-summary" in markup:
            raise RuntimeError("index redaction failed")
        return real_html(self, markup)

    monkeypatch.setattr(sanitize.Redactor, "notebook", boom)
    monkeypatch.setattr(sanitize.Redactor, "html", index_fails)
    secret_file, log = _canary_inputs(tmp_path)
    out = tmp_path / "bundle"
    result = run_bundle(BundleRequest(out_dir=out, overrides=[
        ("registry_url", echoing_registry), ("username", USER), ("password", f"file:{secret_file}"),
        ("log_paths", [str(log)])], incident="INC-13"))
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "findings.json", "MANIFEST.sha256", "MANIFEST.sig", "triage.html",
            "triage.findings.json"} <= names
    assert not any(n.endswith(".ipynb") for n in names)
    summary = json.loads((out / "findings.json").read_text())
    withheld = {(f["scenario"], f["evidence"]["artifact"]) for f in summary["findings"]
                if f["id"] == "report.artifact_withheld"}
    assert ("triage", "triage.ipynb") in withheld and ("bundle", "index.html") in withheld
    assert summary["withheld"] == [{"artifact": "index.html", "reason": "RuntimeError: index redaction failed"}]
    index = (out / "index.html").read_text()
    assert "withheld" in index and "index.html" in index
    assert result.summary["status"] in ("error", "fail")
    check = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=out, capture_output=True)
    assert check.returncode == 0
    assert_no_form_in(out, CANARY, USER)
