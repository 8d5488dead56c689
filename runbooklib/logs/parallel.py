"""Share a scan out over worker processes and merge the partial scans in file order.

grep uses one core; a machine with two gives us the second for free. Two ways: one big plain file is cut
at line starts into pieces; a folder of files (rotated ``.gz`` files above all, which cannot be cut) is
shared out file by file. Every piece is submitted to worker processes (forked from a process without
threads, spawned from Jupyter's threaded kernel: :func:`start_method`), which take them from the front
while this process takes the not yet started ones from the back (``Future.cancel`` tells which): nobody
waits while there is work, whatever the workers' start-up costs. Counts, times, examples and events
merge in file order, so the result is the one a single pass gives (the events table then holds rows from
every part). Any failure of the pool falls back to scanning in this process.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections import Counter
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable

from .fields import FIELD_VALUES, PART_FIELD_VALUES
from .scan import (EXAMPLE_TRIES, PIECE, FileInfo, LogScan, SignatureStats, _line_after, _Scanner,
                   scan_path)


def start_method() -> str:
    """``fork`` when this process has no other thread (the CLI): a forked worker is ready at once, where a
    spawned one first starts Python and imports the scanner (~0.3 s of a scan that takes about a second).
    Anything threaded (Jupyter's kernel, a test runner) gets ``spawn``: forking it could copy a held lock."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() and sys.platform == "linux":
        return "fork"
    return "spawn"


def start(workers: int) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes (see :func:`start_method`), or None when this platform cannot start one."""
    try:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(start_method()))
    except (OSError, ValueError, ImportError, NotImplementedError):
        return None


def split(fh, start: int, size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of [start, size) of about equal size, each starting at a line start."""
    cuts = [start]
    for i in range(1, parts):
        cut = _line_after(fh, start + (size - start) * i // parts, size)
        if cuts[-1] < cut < size:
            cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts, cuts[1:]))


def warm(signatures) -> None:
    """In a worker: import the scanner and load its engines before the first piece arrives."""
    _Scanner(LogScan(paths=[]), signatures, 0, 0)


def _work(path: str, start: int, stop: int, since, until, examples: int, max_events: int, signatures,
          examples_done: frozenset[str] = frozenset()):
    """Scan one range of one file (in a worker, or here), return the partial scan."""
    scanner, info = _part(path, since, until, examples, max_events, signatures, examples_done)
    with open(path, "rb", buffering=0) as fh:
        scanner.scan_plain(fh, start, stop, path, info)
    return scanner.result, info


def _part(path: str, since, until, examples: int, max_events: int, signatures,
          examples_done: frozenset[str]) -> tuple[_Scanner, FileInfo]:
    """The scanner of one part of a shared-out scan: it skips settled examples and keeps more field values
    than the whole scan shows, so the merge still finds the first ones overall."""
    scanner = _Scanner(LogScan(paths=[path], since=since, until=until), signatures, examples, max_events)
    scanner.examples_done = examples_done
    scanner.field_cap = PART_FIELD_VALUES
    return scanner, FileInfo(path)


STEAL = True  # this process takes the jobs no worker has started (tests turn it off to hold the pool to account)


def _share(executor: ProcessPoolExecutor, jobs: list[tuple[Callable, tuple]],
           workers: int = 1) -> tuple[list[Any], bool]:
    """Every ``fn(*args)`` of ``jobs``, results in job order: the pool takes jobs from the front, this
    process from the back. A job goes to the pool only when a worker is free (each one finished hands
    out the next, from the executor's thread): one queued ahead could not be taken back, and this process
    would wait for it at the end. False when the pool failed (those jobs ran here)."""
    results: list[Any] = [None] * len(jobs)
    lock = threading.Lock()
    ends = [0, len(jobs)]  # the next job from the front, one past the next from the back
    promises: dict[int, Future] = {}

    def feed() -> None:
        with lock:
            if ends[0] >= ends[1]:
                return
            k = ends[0]
            ends[0] += 1
            promise = promises[k] = Future()
        fn, args = jobs[k]
        try:
            future = executor.submit(fn, *args)
        except Exception as exc:  # a broken or shut-down pool: this process runs it below
            promise.set_exception(exc)
            return

        def done(f: Future) -> None:
            if f.cancelled():  # only a shutdown cancels; this process then runs the job itself
                promise.set_exception(CancelledError())
                return
            error = f.exception()
            if error is not None:
                promise.set_exception(error)
                return
            feed()  # the next job first: whoever waits on this one then finds it taken
            promise.set_result(f.result())

        future.add_done_callback(done)

    for _ in range(max(1, workers)):
        feed()
    while STEAL:
        with lock:
            if ends[1] <= ends[0]:
                break
            ends[1] -= 1
            k = ends[1]
        fn, args = jobs[k]
        results[k] = fn(*args)
    while True:  # the pool's jobs; without stealing, until it has taken every one or stopped taking them
        with lock:
            pending = [p for p in promises.values() if not p.done()]
        if not pending:
            break
        wait(pending)
    ok = True
    for k in sorted(promises):
        try:
            results[k] = promises[k].result()
        except Exception:
            ok = False
            fn, args = jobs[k]
            results[k] = fn(*args)
    for k in range(ends[0], ends[1]):  # jobs nobody took: the pool stopped while this process did not steal
        ok = False
        fn, args = jobs[k]
        results[k] = fn(*args)
    return results, ok


def merge_scan(scanner: _Scanner, part: LogScan) -> None:
    """Add a later part's counts, times, examples, fields, events and uploads to the scanner's result."""
    res = scanner.result
    for sid, pst in part.stats.items():
        if not pst.count:
            continue
        st = res.stats.get(sid)
        if st is None:
            st = res.stats[sid] = SignatureStats(pst.signature)
        earlier = st.count
        st.count += pst.count
        st.add_time(pst.first_seen)
        st.add_time(pst.last_seen)
        # as one pass takes them: distinct shapes among the first EXAMPLE_TRIES hits overall
        for ex, shape, hit in zip(pst.examples, pst.example_shapes, pst.example_hits):
            if len(st.examples) < scanner.examples and earlier + hit <= EXAMPLE_TRIES and \
                    shape not in st.example_shapes and sid not in scanner.examples_done:
                st.example_shapes.append(shape)
                st.example_hits.append(earlier + hit)
                st.examples.append(ex)
        for name, values in pst.fields.items():
            target = st.fields.setdefault(name, Counter())
            if len(target) >= FIELD_VALUES:  # full: only values it has count (a set operation finds them)
                for value in values.keys() & target.keys():
                    target[value] += values[value]
                continue
            for value, n in values.items():
                if value in target or len(target) < FIELD_VALUES:
                    target[value] += n
        st.methods.update(pst.methods)
        st.sources.update(pst.sources)
        st.merge_minutes(pst)
    res.lines_matched += part.lines_matched
    res.unparsed += part.unparsed
    res.bytes_scanned += part.bytes_scanned
    res.events_dropped += part.events_dropped
    room = max(0, scanner.max_events - len(res._rows))
    res._rows.extend(part._rows[:room])
    res.events_dropped += max(0, len(part._rows) - room)
    res.uploads.merge(part.uploads)
    res.problems.extend(part.problems)


def merge(scanner: _Scanner, part: LogScan, info: FileInfo, part_info: FileInfo) -> None:
    """Add a later range of the file ``info`` describes."""
    merge_scan(scanner, part)
    info.unparsed += part_info.unparsed
    if info.unparsed_sample is None:
        info.unparsed_sample = part_info.unparsed_sample
    info.bytes += part_info.bytes


def _examples_done(scanner: _Scanner) -> frozenset[str]:
    """Signatures whose examples the scan so far has settled (as many as asked, or EXAMPLE_TRIES hits looked
    at): later parts need not redact lines looking for more."""
    return frozenset(sid for sid, st in scanner.result.stats.items()
                     if len(st.examples) >= scanner.examples or st.count >= EXAMPLE_TRIES)


def _room(scanner: _Scanner, parts: int) -> int:
    """Rows of the events table each of ``parts`` parts may fill (what is left, shared out)."""
    return max(0, scanner.max_events - len(scanner.result._rows)) // max(1, parts)


def scan_file(executor: ProcessPoolExecutor, workers: int, scanner: _Scanner, fh, start: int, size: int,
              source: str, info: FileInfo, signatures) -> bool:
    """Bytes [start, size) of one plain file over the pool; False when the pool failed (the file is still
    fully scanned)."""
    ranges = split(fh, start, size, max(workers, -(-(size - start) // PIECE)))
    share = _room(scanner, len(ranges))
    done = _examples_done(scanner)
    jobs = [(_work, (source, a, b, scanner.lo, scanner.hi, scanner.examples, share, signatures, done))
            for a, b in ranges]
    parts, ok = _share(executor, jobs, workers - 1)
    for part, part_info in parts:
        merge(scanner, part, info, part_info)
    return ok


def _work_file(path: str, since, until, examples: int, max_events: int, signatures,
               examples_done: frozenset[str] = frozenset()):
    """Scan one whole file (in a worker, or here), return the partial scan and the file's FileInfo."""
    scanner, info = _part(path, since, until, examples, max_events, signatures, examples_done)
    scan_path(scanner, Path(path), info)
    return scanner.result, info


def scan_files(executor: ProcessPoolExecutor | None, workers: int, scanner: _Scanner, files: list[Path]) -> bool:
    """Whole files over the pool (each read by one process, start to end); their FileInfos and partial
    scans join the scanner's result in file order. The oldest file is read here first, while the workers
    start: in an incident it fills the events table and settles the examples as a single pass would, so
    the other files only count. False when the pool failed."""
    lo, hi, sigs = scanner.lo, scanner.hi, scanner.signatures
    ok = executor is not None
    if executor is not None:
        try:
            for _ in range(workers - 1):
                executor.submit(warm, sigs)
        except Exception:
            ok = False
    first = FileInfo(str(files[0]))
    scanner.result.files.append(first)
    scan_path(scanner, files[0], first)
    rest = files[1:]
    share, done = _room(scanner, len(rest)), _examples_done(scanner)
    jobs = [(_work_file, (str(p), lo, hi, scanner.examples, share, sigs, done)) for p in rest]
    if not ok or executor is None:
        parts, ok = [fn(*args) for fn, args in jobs], False
    else:
        parts, ok = _share(executor, jobs, workers - 1)
    for part, part_info in parts:
        scanner.result.files.append(part_info)
        merge_scan(scanner, part)
    return ok
