"""Generated from the scenario spec: every lab fault makes the runbook that claims it raise the alarm (warn or
fail; exit 1 exactly when something failed), naming a cause with its evidence. A new fault or scenario gets
this test by being in the spec, with nothing to write."""

from __future__ import annotations

import json

import pytest

from runbooklib import scenarios as S
from tests.conftest import runbook

CASES = [(sc.id, fault) for sc in S.CATALOGUE.values() for fault in sc.faults]


@pytest.mark.parametrize(("scenario_id", "fault"), CASES, ids=[f"{f}->{s}" for s, f in CASES])
def test_the_fault_makes_its_runbook_alarm_naming_a_cause_with_evidence(scenario_id, fault, lab_with, tmp_path):
    lab = lab_with(fault)
    out = tmp_path / "out"
    run = runbook("run", scenario_id, "-f", str(lab.params_path), "-o", str(out), timeout=900)
    assert run.returncode in (0, 1), (run.returncode, run.stderr[-2000:])
    findings = json.loads((out / f"{scenario_id}.findings.json").read_text())["findings"]
    assert run.returncode == (1 if any(f["status"] == "fail" for f in findings) else 0)
    named = [f for f in findings if f["status"] in ("warn", "fail", "error") and f.get("cause") and f.get("evidence")]
    assert named, [(f["id"], f["status"], f.get("cause")) for f in findings if f["status"] != "ok"]
