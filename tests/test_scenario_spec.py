"""The scenario spec (runbooklib.scenarios) is the one place a runbook is described; every other table that
names a scenario is held to it: routes, lab faults, log signatures, causes, outlines, GitLab's headings."""

from __future__ import annotations

import ast
import importlib.util
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from runbooklib import scenarios as S
from runbooklib.causes import CAUSES
from runbooklib.lab import faults as F
from runbooklib.logs.signatures import AGGREGATES, CATALOGUE as SIGNATURES

ROOT = Path(__file__).resolve().parent.parent
HEADINGS = ROOT / "tests" / "data" / "reference" / "troubleshooting-headings.txt"
_ID = re.compile(r"^[a-z0-9_*]+(\.[a-z0-9_*-]+)+$")


def emitted_finding_ids(package: Path) -> set[str]:
    """Every dotted id the code can emit: string literals and f-strings (each formatted part a ``*``)."""
    found: set[str] = set()
    for path in package.rglob("*.py"):
        if "lab" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            else:
                continue
            if _ID.match(text):
                found.add(text)
    return found


def unrouted(routes: tuple[S.Route, ...], emitted: set[str]) -> list[str]:
    """Route patterns that no emitted id can match (a template's ``*`` may stand for anything)."""
    anchored = [t for t in emitted if "*" not in t.split(".")[0]]  # "{prefix}.x" could be anything: not evidence
    return [r.finding for r in routes if not any(fnmatchcase(t.replace("*", "x"), r.finding) for t in anchored)]


def page_anchors() -> set[str]:
    """docs.gitlab.com anchors of the page's headings (a repeated heading gets -1, -2... as on the site)."""
    seen: dict[str, int] = {}
    out = {""}
    for line in HEADINGS.read_text().splitlines():
        if not line.startswith("#") or line.startswith("# "):
            continue
        anchor = S.doc_anchor(line.lstrip("#").strip())
        n = seen.get(anchor, 0)
        seen[anchor] = n + 1
        out.add(anchor if n == 0 else f"{anchor}-{n}")
    return out


def fault_problems(catalogue: dict[str, S.Scenario], registered: set[str]) -> list[str]:
    problems = []
    claimed: dict[str, list[str]] = {}
    for sc in catalogue.values():
        for name in sc.faults:
            claimed.setdefault(name, []).append(sc.id)
            if name not in registered:
                problems.append(f"{sc.id} names unknown lab fault {name!r}")
        if not sc.faults and not sc.no_fault:
            problems.append(f"{sc.id} has no lab fault and no reason why none can reproduce it")
        if sc.faults and sc.no_fault:
            problems.append(f"{sc.id} has lab faults and a reason for having none")
    for name in sorted(registered - {"none"}):
        owners = claimed.get(name, [])
        if len(owners) != 1:
            problems.append(f"lab fault {name!r} is claimed by {owners or 'no scenario'}")
    return problems


def _outlines() -> dict[str, dict]:
    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.outlines()


def outline_repeats(scenario: S.Scenario, outline: dict) -> list[str]:
    """What an outline retypes from the spec: a title heading, the GitLab section it quotes. (The title's words
    may well appear in a symptom: an error message is often the title.)"""
    intro = outline["intro"]
    out = []
    if re.search(r"(?m)^# ", intro):
        out.append("a '# ' title heading (the spec's title is the notebook's heading)")
    if f'"{scenario.seed_section}"' in intro:
        out.append(f"the quoted section {scenario.seed_section!r}")
    if "From GitLab's documentation" in intro:
        out.append("the GitLab section line (the spec's seed_section and doc_url make it)")
    return out


# --- the tree as it is ---------------------------------------------------------------------------------


def test_every_route_names_a_finding_some_check_emits():
    assert unrouted(S.ROUTES, emitted_finding_ids(ROOT / "runbooklib")) == []


def test_every_scenario_has_a_lab_fault_or_says_why_none_can_and_every_fault_has_one_scenario():
    F.load_plugins()
    assert fault_problems(S.CATALOGUE, set(F.FAULTS)) == []


def test_every_scenario_links_a_heading_that_exists_on_gitlabs_page():
    anchors = page_anchors()
    bad = {s.id: s.doc_url for s in S.CATALOGUE.values()
           if not s.beyond_the_page and s.doc_url.partition("#")[2] not in anchors}
    assert bad == {}


@pytest.mark.parametrize("scenario_id", sorted(_outlines()))
def test_outline_holds_narrative_only(scenario_id):
    assert outline_repeats(S.get(scenario_id), _outlines()[scenario_id]) == []


def test_log_signatures_causes_and_routes_name_known_scenarios():
    named = ({sig.scenario for sig in SIGNATURES} | {a.scenario for a in AGGREGATES}
             | {c.scenario for c in CAUSES} | {r.scenario for r in S.ROUTES})
    assert named - set(S.CATALOGUE) == set()


# --- the checks catch what they are for ------------------------------------------------------------------


def test_a_route_to_a_finding_nobody_emits_is_named():
    planted = (S.Route("tls.*.self_signed", "real"), S.Route("nothing.emits.this", "planted"))
    assert unrouted(planted, emitted_finding_ids(ROOT / "runbooklib")) == ["nothing.emits.this"]


def test_fault_table_problems_are_named():
    catalogue = {
        "a": S.Scenario("a", "A", "Beyond the troubleshooting page: a", (), faults=("ghost",)),
        "b": S.Scenario("b", "B", "Beyond the troubleshooting page: b", ()),
    }
    assert fault_problems(catalogue, {"none", "orphan"}) == [
        "a names unknown lab fault 'ghost'",
        "b has no lab fault and no reason why none can reproduce it",
        "lab fault 'orphan' is claimed by no scenario",
    ]


def test_an_outline_that_retypes_the_title_is_named():
    sc = S.get("logs")
    planted = {"intro": f'# {sc.title}\n\n**From GitLab\'s documentation:** "{sc.seed_section}"', "imports": "",
               "steps": []}
    assert len(outline_repeats(sc, planted)) == 3


def test_doc_anchor_follows_docs_gitlab_com():
    assert S.doc_anchor("Error: `... x509: certificate signed by unknown authority`") == (
        "error--x509-certificate-signed-by-unknown-authority")
    assert S.doc_anchor("Push failures and high CPU usage with Google Cloud Storage (GCS)") == (
        "push-failures-and-high-cpu-usage-with-google-cloud-storage-gcs")
