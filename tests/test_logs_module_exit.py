"""``python -m runbooklib.logs`` ends without tearing the interpreter down (os._exit): whatever it printed
must still arrive whole, with the exit code main() gave, and a reader that leaves early is no error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = '2026-11-27_15:40:37.12345 time="2026-11-27T15:40:37Z" level=info msg="token signed by untrusted key with ID: \\"K\\""\n'


def _run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runbooklib.logs", *args], cwd=ROOT, timeout=120, **kw)


def test_the_json_report_arrives_whole_with_the_exit_code_of_a_failing_finding(tmp_path):
    log = tmp_path / "registry.log"
    log.write_text(LINE * 20000)  # a report big enough to sit in a buffer when the process ends
    done = _run(str(log), "--json", capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # a fail finding
    data = json.loads(done.stdout)
    assert data["lines_matched"] == 20000 and data["findings"]
    assert done.stderr == ""


def test_a_missing_file_exits_2_and_says_so(tmp_path):
    done = _run(str(tmp_path / "nope.log"), capture_output=True, text=True)
    assert done.returncode == 2
    assert "nope.log" in done.stdout + done.stderr


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path):
    log = tmp_path / "registry.log"
    log.write_text(LINE * 2000)
    proc = subprocess.Popen([sys.executable, "-m", "runbooklib.logs", str(log), "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(5)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 1)
    assert "Traceback" not in err
