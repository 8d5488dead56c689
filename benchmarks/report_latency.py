"""Wall time of `runbook run triage` on the lab vs papermill executing an empty notebook (the floor).

Both run as child processes of this script, several times, interleaved; medians and the ratio are
printed. Target: triage ≤ 2× the floor.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib.lab import control  # noqa: E402

RUNS = 5


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    took = time.perf_counter() - t0
    if res.returncode not in (0, 1):
        raise SystemExit(f"{argv[2:4]} failed ({res.returncode}): {res.stderr.strip()[-300:]}")
    return took


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="rb-bench-"))
    empty = work / "empty.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(empty))
    lab = control.up(work / "lab", [], free_ports=True)
    try:
        floor, triage = [], []
        for i in range(RUNS):
            floor.append(timed([sys.executable, "-m", "papermill", "-k", "python3", "--no-progress-bar",
                                str(empty), str(work / f"empty-{i}.ipynb")]))
            triage.append(timed([sys.executable, "-m", "runbooklib.cli", "run", "triage", "-f", str(lab.params_path),
                                 "-o", str(work / f"out-{i}")]))
    finally:
        control.down(work / "lab")
    f, t = statistics.median(floor), statistics.median(triage)
    print(f"papermill empty notebook (floor): median {f:.2f} s  runs {', '.join(f'{x:.2f}' for x in floor)}")
    print(f"runbook run triage (lab):         median {t:.2f} s  runs {', '.join(f'{x:.2f}' for x in triage)}")
    print(f"ratio triage/floor: {t / f:.2f}x (target <= 2.0x)")


if __name__ == "__main__":
    main()
