"""`tools/new_scenario.py` scaffolds a scenario that the spec tests accept as far as a scaffold can go."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("runbooklib", "tools", "notebooks", "parameters"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    (dest / "tests").mkdir()
    return dest


def _run(tree: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([sys.executable, *argv], cwd=tree, env=env, capture_output=True, text=True, timeout=300)


def test_scaffold_adds_spec_outline_check_fault_test_and_notebook_and_refuses_to_overwrite(tmp_path):
    tree = _copy_tree(tmp_path / "repo")
    args = ("tools/new_scenario.py", "cache-gone", "--title", "Cache gone", "--section",
            "Beyond the troubleshooting page: the cache is gone")
    made = _run(tree, *args)
    assert made.returncode == 0, made.stderr
    for rel in ("tools/outlines/cache_gone.py", "runbooklib/probes/cache_gone.py", "runbooklib/lab/fault_cache_gone.py",
                "tests/test_cache_gone.py", "notebooks/cache-gone.ipynb"):
        assert (tree / rel).is_file(), rel
    probe = _run(tree, "-c", (
        "import json, sys; sys.path.insert(0, 'tools');"
        "from runbooklib import scenarios as S; from runbooklib.lab import faults as F; F.load_plugins();"
        "from runbooklib.probes.cache_gone import check_cache_gone;"
        "import make_notebooks as M;"
        "sc = S.get('cache-gone');"
        "print(json.dumps({'faults': list(sc.faults), 'registered': 'cache-gone' in F.FAULTS,"
        " 'beyond': sc.beyond_the_page, 'drift': M.drifted(['cache-gone']),"
        " 'heading': M.build('cache-gone', **M.outlines()['cache-gone']).cells[0].source.splitlines()[0],"
        " 'check': [f.status.value for f in check_cache_gone()]}))"))
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == {"faults": ["cache-gone"], "registered": True, "beyond": True, "drift": [],
                                        "heading": "# Cache gone", "check": ["skip"]}
    spec_before = (tree / "runbooklib" / "scenarios.py").read_text()
    again = _run(tree, *args)
    assert again.returncode != 0 and "exists; nothing written" in again.stderr
    assert (tree / "runbooklib" / "scenarios.py").read_text() == spec_before


def test_scaffold_refuses_a_bad_id_in_one_line(tmp_path):
    tree = _copy_tree(tmp_path / "repo")
    bad = _run(tree, "tools/new_scenario.py", "Bad_Id", "--title", "x", "--section", "y")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines() == [
        "new_scenario: 'Bad_Id' is not an id like 'redis-cache-down'"]
