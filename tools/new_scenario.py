"""Scaffold a new scenario: its spec entry, outline, check module, tests and lab fault, then its notebook.

    python tools/new_scenario.py redis-cache-down --title "Redis cache down" \
        --section "Beyond the troubleshooting page: the registry's Redis cache" --package probes

What is left to you is the diagnosis itself: the check's body (it starts as a SKIP that says so), the fault's
hook, the routes that should send triage here, and the narrative. tests/test_scenario_spec.py and the new
test file fail until those hold, which is the point. Nothing is overwritten: an existing file stops the tool.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC_END = "\n]\n\nCATALOGUE: dict[str, Scenario]"
ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _files(sid: str, title: str, section: str, package: str) -> dict[Path, str]:
    mod = sid.replace("-", "_")
    check = f"check_{mod}"
    prefix = mod
    return {
        ROOT / "tools" / "outlines" / f"{mod}.py": f'''"""Notebook outline: {sid}."""

SCENARIO = {sid!r}

OUTLINE = dict(
    intro="""
**Symptom:** what the SRE sees (the error message, the failing command).

What this runbook establishes, and from which evidence.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.{package}.{mod} import {check}
""",
    steps=[
        ("""
## 1. The check
What this step looks at and why.
""", "rb.add({check}())"),
    ],
)
''',
        ROOT / "runbooklib" / package / f"{mod}.py": f'''"""{title}: the checks of the `{sid}` runbook."""

from __future__ import annotations

from ..findings import Finding

REFS = ({section!r},)


def {check}() -> list[Finding]:
    """Say what this check establishes and from which evidence."""
    return [Finding.skip("{prefix}.not_built", "{title}: not built yet",
                         "The check of this runbook is still a scaffold.", refs=REFS)]
''',
        ROOT / "runbooklib" / "lab" / f"fault_{mod}.py": f'''"""Lab fault for `{sid}`: make the real components misbehave the way the incident does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab


def _inject(lab: "Lab", cfg: dict[str, Any]) -> None:
    raise NotImplementedError("{sid}: change the registry's config (cfg) so that the fault happens for real")


register(Fault({sid!r}, "describe what is broken, in the words of the incident", registry_config=_inject))
''',
        ROOT / "tests" / f"test_{mod}.py": f'''"""`{sid}`: the check names the cause on its lab fault and stays quiet on a healthy lab."""

from __future__ import annotations

from runbooklib.{package}.{mod} import {check}


def test_{mod}_check_is_built_not_a_scaffold():
    assert all(not f.id.endswith(".not_built") for f in {check}())
''',
    }


def _spec_entry(sid: str, title: str, section: str) -> str:
    return (f"    Scenario({sid!r}, {title!r},\n"
            f"             {section!r},\n"
            f"             (), faults=({sid!r},)),")


def scaffold(sid: str, title: str, section: str, package: str) -> list[Path]:
    """Write every file (refusing to overwrite), add the spec entry, return what was written."""
    if not ID.match(sid):
        raise SystemExit(f"new_scenario: {sid!r} is not an id like 'redis-cache-down'")
    if not (ROOT / "runbooklib" / package / "__init__.py").is_file():
        raise SystemExit(f"new_scenario: runbooklib/{package}/ is no package")
    files = _files(sid, title, section, package)
    existing = [p for p in files if p.exists()]
    if existing:
        raise SystemExit(f"new_scenario: {existing[0].relative_to(ROOT)} exists; nothing written")
    spec_path = ROOT / "runbooklib" / "scenarios.py"
    spec = spec_path.read_text()
    if f"Scenario({sid!r}" in spec or SPEC_END not in spec:
        raise SystemExit(f"new_scenario: {sid!r} is already in runbooklib/scenarios.py (or its list moved)")
    for path, text in files.items():
        path.write_text(text)
    spec_path.write_text(spec.replace(SPEC_END, "\n" + _spec_entry(sid, title, section) + SPEC_END, 1))
    subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), sid], check=True,
                   stdout=subprocess.DEVNULL)
    return [spec_path, *files, ROOT / "notebooks" / f"{sid}.ipynb"]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("id")
    ap.add_argument("--title", required=True)
    ap.add_argument("--section", required=True,
                    help="the heading on GitLab's troubleshooting page, or 'Beyond the troubleshooting page: ...'")
    ap.add_argument("--package", default="probes", help="runbooklib package for the check module")
    args = ap.parse_args(argv)
    for path in scaffold(args.id, args.title, args.section, args.package):
        print(f"wrote {path.relative_to(ROOT)}")
    print("next: the check's body, the fault's hook, routes in the spec, then `make test-fast`")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
