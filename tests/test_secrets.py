"""A secret given by reference never lands in any artifact, even when a step quotes it."""

from runbooklib.redact import MASK, redact_text
from tests.conftest import runbook


def test_canary_password_appears_in_no_output_file(fresh_lab, tmp_path):
    lab = fresh_lab
    canary = lab.secret("password")  # the lab's real password: the token flow must use it and succeed
    assert canary.startswith("lab-")
    out = tmp_path / "out"
    r = runbook("run", "triage", "-f", str(lab.params_path), "-p", "password", "env:RB_CANARY_PW",
                "-o", str(out), env={"RB_CANARY_PW": canary})
    assert r.returncode == 0, r.stderr
    files = list(out.rglob("*"))
    assert len(files) == 3
    for path in files:
        data = path.read_bytes()
        assert canary.encode() not in data, path.name
    assert "env:RB_CANARY_PW" in (out / "triage.findings.json").read_text()
    assert canary not in r.stdout + r.stderr


def test_redaction_masks_values_and_their_json_escaped_form():
    secret = 'pa"ss\\word'
    text = f'{{"x": "{secret}", "y": "{secret.encode("unicode_escape").decode()}"}}'
    clean = redact_text(text, [secret])
    assert clean.count(MASK) == 2
    assert secret not in clean and "word" not in clean
