"""``scan_logs``: files, folders and globs through the scanner, in this process or over worker processes.

The scanner (scan.py) reads one file; the pool here decides what to share out (folders file by file, big or dense
plain files in pieces) and parallel.py runs the workers. Tuning constants stay in scan.py, read at call time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterable

from ..timebounds import parse_bound
from . import parallel
from . import scan as S
from .readers import compression, expand_paths
from .signatures import CATALOGUE, Signature


class Pool:
    """Worker processes, started on first need (see :mod:`.parallel`): for big plain files, split at line
    starts, and for folders of many (rotated, compressed) files, shared out file by file."""

    def __init__(self, workers: int | None) -> None:
        if workers is None:
            try:
                workers = len(os.sched_getaffinity(0))
            except AttributeError:
                workers = os.cpu_count() or 1
            workers = min(workers, 4)
        self.workers = max(1, workers)
        self.executor = None
        self.broken = False

    def get(self):
        """The executor (started now if need be), or None when this platform cannot start one."""
        if self.executor is None and not self.broken:
            self.executor = parallel.start(self.workers - 1)
            self.broken = self.executor is None
        return self.executor

    def spreads(self, files: list[Path]) -> bool:
        """Whether to share these files out whole: several of them, with more to read than a worker's start
        costs (compressed bytes count for the ~8 times as many they inflate to)."""
        if self.workers == 1 or len(files) < 2:
            return False
        total = 0
        for path in files:
            try:
                size = path.stat().st_size
                total += size * 8 if compression(path) else size
            except OSError:
                continue
        return total >= S.SPREAD_MIN and self.get() is not None

    def scan_file(self, scanner: "S._Scanner", fh, size: int, source: str, info: S.FileInfo, sigs) -> None:
        """One plain file: here when small, over the pool when big, or (when workers must be spawned, which
        costs ~0.3 s) when its first piece shows that the rest would take a while (an incident)."""
        if self.workers == 1 or self.broken or size < min(S.SPREAD_MIN, S.PARALLEL_MIN):
            scanner.scan_plain(fh, 0, size, source, info)
            return
        start = 0
        if size < S.PARALLEL_MIN and parallel.start_method() != "fork":  # a forked worker costs next to nothing
            start = S._line_after(fh, min(size, S.PIECE), size)
            t0 = time.perf_counter()
            scanner.scan_plain(fh, 0, start, source, info)
            took = time.perf_counter() - t0
            if start >= size or took * (size - start) / max(start, 1) < S.SPREAD_WORTH_S:
                scanner.scan_plain(fh, start, size, source, info)
                return
        executor = self.get()
        if executor is None:
            scanner.scan_plain(fh, start, size, source, info)
            return
        if not parallel.scan_file(executor, self.workers, scanner, fh, start, size, source, info, sigs):
            self.broken = True

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


def scan_logs(
    paths,
    since=None,
    until=None,
    examples: int = 5,
    *,
    max_events: int = 10_000,
    signatures: Iterable[Signature] = CATALOGUE,
    workers: int | None = None,
) -> S.LogScan:
    """Scan files, folders or globs for every known signature; never raises for a bad path or line.

    ``since``/``until`` (datetime, ISO time, or ``30m``/``2h``/``7d`` ago) keep only lines in that window;
    files last written before ``since`` are skipped without reading. ``examples`` redacted lines are kept
    per signature; the events table keeps at most ``max_events`` rows (counts stay exact). Plain files of
    PARALLEL_MIN bytes or more are split over ``workers`` processes (default: the CPUs we may use, at
    most 4; 1 scans in this process only).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    result = S.LogScan(paths=paths, since=parse_bound(since), until=parse_bound(until))
    sigs = tuple(signatures)
    scanner = S._Scanner(result, sigs, examples, max_events)
    files, problems = expand_paths(paths)
    result.problems.extend(problems)
    pool = Pool(workers)
    try:
        if pool.spreads(files):
            parallel.scan_files(pool.get(), pool.workers, scanner, files)  # a failing pool: the files are scanned here
            return result
        for path in files:
            info = S.FileInfo(str(path))
            result.files.append(info)
            S.scan_path(scanner, path, info, pool)
    finally:
        pool.close()
    return result
