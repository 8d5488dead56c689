"""Split one big plain file over worker processes and merge their partial scans in file order.

grep uses one core; a 1 GiB log on a machine with two gives us the second for free. The file is cut at
line starts; this process scans the first range while ``spawn``-ed workers (safe in Jupyter's threaded
kernel, unlike ``fork``) scan the others; counts, times, examples and events merge in file order so the
result is the one a single pass would give. Any failure of the pool falls back to scanning in-process.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from .scan import _DIGITS, FIELD_VALUES, FileInfo, LogScan, SignatureStats, _line_after, _Scanner


def start(workers: int) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` spawned processes, or None when this platform cannot start one."""
    try:
        return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    except (OSError, ValueError, ImportError, NotImplementedError):
        return None


def split(fh, size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of about equal size, each starting at a line start."""
    cuts = [0]
    for i in range(1, parts):
        cut = _line_after(fh, size * i // parts, size)
        if cuts[-1] < cut < size:
            cuts.append(cut)
    cuts.append(size)
    return list(zip(cuts, cuts[1:]))


def _work(path: str, start: int, stop: int, since, until, examples: int, max_events: int, signatures):
    """In a worker: scan one range of one file, return the partial scan."""
    result = LogScan(paths=[path], since=since, until=until)
    scanner = _Scanner(result, signatures, examples, max_events)
    info = FileInfo(path)
    with open(path, "rb", buffering=0) as fh:
        scanner.scan_plain(fh, start, stop, path, info)
    return result, info


def merge(scanner: _Scanner, part: LogScan, info: FileInfo, part_info: FileInfo) -> None:
    """Add a later range's partial scan to the scanner's result."""
    res = scanner.result
    for sid, pst in part.stats.items():
        if not pst.count:
            continue
        st = res.stats.get(sid)
        if st is None:
            st = res.stats[sid] = SignatureStats(pst.signature)
        st.count += pst.count
        st.add_time(pst.first_seen)
        st.add_time(pst.last_seen)
        for ex in pst.examples:
            shape = _DIGITS.sub("#", ex)
            if len(st.examples) < scanner.examples and shape not in st.example_shapes:
                st.example_shapes.add(shape)
                st.examples.append(ex)
        for name, values in pst.fields.items():
            target = st.fields.setdefault(name, Counter())
            for value, n in values.items():
                if value in target or len(target) < FIELD_VALUES:
                    target[value] += n
        st.methods.update(pst.methods)
        st.sources.update(pst.sources)
    res.lines_matched += part.lines_matched
    res.unparsed += part.unparsed
    res.bytes_scanned += part.bytes_scanned
    res.events_dropped += part.events_dropped
    room = max(0, scanner.max_events - len(res._rows))
    res._rows.extend(part._rows[:room])
    res.events_dropped += max(0, len(part._rows) - room)
    res.uploads.merge(part.uploads)
    info.unparsed += part_info.unparsed
    if info.unparsed_sample is None:
        info.unparsed_sample = part_info.unparsed_sample
    info.bytes += part_info.bytes


def scan_file(executor: ProcessPoolExecutor, workers: int, scanner: _Scanner, fh, size: int, source: str,
              info: FileInfo, signatures) -> bool:
    """Scan one plain file over the pool; False when the pool failed (the file is still fully scanned)."""
    ranges = split(fh, size, workers)
    share = max(1, scanner.max_events // len(ranges))  # events from every part of the file, memory bounded
    futures = []
    ok = True
    for start, stop in ranges[1:]:
        try:
            futures.append(executor.submit(_work, source, start, stop, scanner.lo, scanner.hi, scanner.examples,
                                           share, signatures))
        except Exception:  # a broken or shut-down pool: this process does the rest
            futures.append(None)
            ok = False
    first_start, first_stop = ranges[0]
    scanner.scan_plain(fh, first_start, first_stop, source, info)
    for (start, stop), future in zip(ranges[1:], futures):
        try:
            if future is None:
                raise RuntimeError("not submitted")
            part, part_info = future.result()
        except Exception:
            ok = False
            scanner.scan_plain(fh, start, stop, source, info)
            continue
        merge(scanner, part, info, part_info)
    return ok
