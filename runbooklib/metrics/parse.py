"""Prometheus text expositions into snapshots, with what was wrong with the text said in plain words.

Parsing is done by ``prometheus_client``'s text parser, family by family: one bad family (an unknown
``# TYPE``, a garbled line) is reported and skipped while the rest of the scrape stays usable. A snapshot is
small and plain: families of samples, each sample a name, sorted label pairs and a float.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

from .catalogue import canonical_name

_COMMENT = re.compile(r"^#\s*(HELP|TYPE)\s+([A-Za-z_:][A-Za-z0-9_:]*)(?:\s+(.*))?$")
_SAMPLE_NAME = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)")
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created", "_info", "_gsum", "_gcount")
KNOWN_TYPES = ("counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset",
               "gaugehistogram")
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sample:
    """One sample line: name, labels (sorted pairs) and value."""

    name: str
    labels: Labels
    value: float

    @property
    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def label(self, key: str, default: str = "") -> str:
        for k, v in self.labels:
            if k == key:
                return v
        return default


@dataclass(frozen=True)
class Family:
    """A metric family as exposed: canonical (catalogue) name, type, help and its samples."""

    name: str
    type: str
    help: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True)
class Snapshot:
    """One scrape (or one Prometheus instant query): families by canonical name, taken at a wall-clock time."""

    source: str
    taken_at: float
    families: Mapping[str, Family]
    problems: tuple[str, ...] = ()
    body_bytes: int = 0

    def __contains__(self, name: object) -> bool:
        return name in self.families

    def family(self, name: str) -> Family | None:
        return self.families.get(name)

    @property
    def sample_count(self) -> int:
        return sum(len(f.samples) for f in self.families.values())

    def frame(self):
        """Every sample as a DataFrame (family, type, sample, labels as text, value)."""
        import pandas as pd

        rows = [{"family": f.name, "type": f.type, "sample": s.name,
                 "labels": ",".join(f'{k}="{v}"' for k, v in s.labels), "value": s.value}
                for f in self.families.values() for s in f.samples]
        return pd.DataFrame(rows, columns=["family", "type", "sample", "labels", "value"])


@dataclass
class ParseResult:
    """Families parsed from one text, what had to be skipped, and whether the text looks cut off."""

    families: dict[str, Family] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    bad_lines: int = 0
    truncated: bool = False


def _base_name(sample_name: str) -> str:
    for suffix in _SUFFIXES:
        if sample_name.endswith(suffix) and len(sample_name) > len(suffix):
            return sample_name[: -len(suffix)]
    return sample_name


def _blocks(lines: list[str]) -> Iterable[tuple[list[int], list[str]]]:
    """Split an exposition into family blocks: HELP/TYPE comments and the samples that follow them.

    A line that belongs to another family starts a new block, so one garbled family never takes its
    neighbours down with it. Yields (line numbers, lines).
    """
    block: list[str] = []
    numbers: list[int] = []
    current: str | None = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        m = _COMMENT.match(stripped)
        if m:
            name = m.group(2)
        elif stripped.startswith("#"):
            continue  # other comments are allowed anywhere
        else:
            sm = _SAMPLE_NAME.match(stripped)
            name = sm.group(1) if sm else ""
            if current is not None and (name == current or _base_name(name) == current):
                block.append(stripped)
                numbers.append(number)
                continue
            name = _base_name(name) if name else ""
        if block and name != current:
            yield numbers, block
            block, numbers = [], []
        current = name
        block.append(stripped)
        numbers.append(number)
    if block:
        yield numbers, block


def _parse_block(text: str) -> list[Any]:
    return list(text_string_to_metric_families(text))


def _add(result: ParseResult, fam: Any) -> None:
    if fam.type == "unknown" and fam.name.endswith("_created"):
        return  # creation timestamps of Python clients: not a family of their own
    ftype = "untyped" if fam.type == "unknown" else fam.type
    name = canonical_name(fam.name, ftype)
    samples = tuple(Sample(s.name, tuple(sorted((str(k), str(v)) for k, v in s.labels.items())), float(s.value))
                    for s in fam.samples if not s.name.endswith("_created"))
    if ftype == "untyped":  # stray samples of a family declared earlier (a family split in two groups)
        base = _base_name(fam.name)
        for candidate in (fam.name, base, base + "_total"):
            if candidate in result.families and result.families[candidate].type != "untyped":
                name = candidate
                break
    if name in result.families:  # a family split over two blocks: keep one family with every sample
        old = result.families[name]
        result.families[name] = Family(name, old.type, old.help, old.samples + samples)
    else:
        result.families[name] = Family(name, ftype, fam.documentation or "", samples)


MAX_SERIES_PER_FAMILY = 2_000  # a registry exposes tens per family; thousands mean a label exploded
MAX_SERIES = 20_000
_HIST_SUFFIXES = ("_bucket", "_sum", "_count", "_created", "_total")


def cap_series(text: str, per_family: int = MAX_SERIES_PER_FAMILY, total: int = MAX_SERIES) -> tuple[str, dict[str, int]]:
    """The exposition with at most ``per_family`` sample lines per family and ``total`` in all; and how many
    lines of which family were left out. Parsing and plotting cost grows with series, so an exposition with
    an exploded label is summarised instead of read whole."""
    kept: list[str] = []
    seen: dict[str, int] = {}
    dropped: dict[str, int] = {}
    count = 0
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            kept.append(line)
            continue
        end = len(line)
        for stop in ("{", " ", "\t"):
            at = line.find(stop)
            if 0 <= at < end:
                end = at
        name = line[:end]
        for suffix in _HIST_SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        n = seen.get(name, 0)
        if n >= per_family or count >= total:
            dropped[name] = dropped.get(name, 0) + 1
            continue
        seen[name] = n + 1
        count += 1
        kept.append(line)
    if not dropped:
        return text, {}
    return "\n".join(kept), dropped


def parse_exposition(text: str) -> ParseResult:
    """Parse Prometheus text format; never raises. Unknown ``# TYPE`` values are parsed as untyped,
    unparseable lines are counted and skipped, and a body that does not end with a newline (or a histogram
    without its ``+Inf`` bucket) is flagged as truncated."""
    result = ParseResult()
    if not text:
        return result
    lines = text.split("\n")
    if not text.endswith("\n"):
        result.truncated = True
        result.problems.append("the body does not end with a newline: it was cut off (the last line may be partial)")
    for numbers, block in _blocks(lines):
        try:
            for fam in _parse_block("\n".join(block) + "\n"):
                _add(result, fam)
            continue
        except Exception:  # the parser raises ValueError, sometimes IndexError/KeyError on odd input
            pass
        retyped = [_untype(line) for line in block]
        if retyped != block:
            bad_type = next(str(_COMMENT.match(b).group(3)) for b, r in zip(block, retyped) if b != r)  # type: ignore[union-attr]
            result.problems.append(f"line {numbers[0]}: unknown metric type {bad_type.split()[0]!r}: parsed as untyped")
            try:
                for fam in _parse_block("\n".join(retyped) + "\n"):
                    _add(result, fam)
                continue
            except Exception:
                pass
        kept, bad = [], []
        for number, line in zip(numbers, retyped):  # find the lines that do not parse on their own
            if line.startswith("#"):
                kept.append(line)
                continue
            try:
                _parse_block(line + "\n")
                kept.append(line)
            except Exception as exc:
                bad.append((number, line, f"{type(exc).__name__}: {exc}"))
        for number, line, error in bad:
            result.bad_lines += 1
            if result.bad_lines <= 3:
                result.problems.append(f"line {number}: not a metric sample ({_short(line)}): {error[:160]}")
        if not any(not line.startswith("#") for line in kept):
            continue
        try:
            for fam in _parse_block("\n".join(kept) + "\n"):
                _add(result, fam)
        except Exception as exc:  # the lines parse alone but not together (e.g. a type clash): keep them untyped
            result.problems.append(f"line {numbers[0]}: family skipped as typed ({type(exc).__name__}: {str(exc)[:120]}); "
                                   "its samples are kept untyped")
            for line in kept:
                if not line.startswith("#"):
                    for fam in _parse_block(line + "\n"):
                        _add(result, fam)
    _check_histograms(result)
    return result


def _untype(line: str) -> str:
    m = _COMMENT.match(line)
    if m and m.group(1) == "TYPE" and (m.group(3) or "").split()[:1] and (m.group(3) or "").split()[0] not in KNOWN_TYPES:
        return f"# TYPE {m.group(2)} untyped"
    return line


def _short(line: str, limit: int = 80) -> str:
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _check_histograms(result: ParseResult) -> None:
    """A histogram series without its ``+Inf`` bucket or ``_count`` is incomplete: usually a cut-off body."""
    for fam in result.families.values():
        if fam.type != "histogram":
            continue
        series: dict[Labels, set[str]] = {}
        for s in fam.samples:
            key = tuple(kv for kv in s.labels if kv[0] != "le")
            parts = series.setdefault(key, set())
            if s.name.endswith("_bucket") and _le(s) == math.inf:
                parts.add("inf")
            elif s.name.endswith("_count"):
                parts.add("count")
        incomplete = [k for k, parts in series.items() if parts != {"inf", "count"}]
        if incomplete:
            result.truncated = True
            result.problems.append(f"histogram {fam.name}: {len(incomplete)} series without a +Inf bucket or _count "
                                   "(an incomplete or cut-off exposition)")


def _le(sample: Sample) -> float:
    try:
        return float(sample.label("le", "nan"))
    except ValueError:
        return math.nan
