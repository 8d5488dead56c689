"""Policy regexes evaluated the way GitLab does: RE2 (``Gitlab::UntrustedRegexp``), ``"\\A#{regex}\\z"``.

Two traps live here:

* **the engine**: RE2 rejects backreferences, lookarounds, possessive quantifiers and ``\\Z``; and some
  patterns valid in both engines mean different things (``[[:digit:]]`` is a POSIX class in RE2, a set
  followed by ``]`` in Python; ``x{,2}`` is a literal in RE2, a repeat in Python). A regex tried in Python
  (or a website) is not the regex GitLab runs.
* **the anchoring**: GitLab pastes the pattern between ``\\A`` and ``\\z`` without a group, so
  ``v.+|main`` becomes ``\\Av.+|main\\z``: tags *starting* with ``v`` or *ending* with ``main``. Anchoring
  the whole alternation, ``\\A(?:...)\\z``, is what people usually mean; where the two differ we say so.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise write parse errors to the process's stderr


def _re2_compile(pattern: str) -> tuple[Any, str]:
    """Compiled over UTF-8 bytes (RE2's own encoding): matching bytes skips the wrapper's offset decoding."""
    try:
        return re2.compile(pattern.encode("utf-8", "surrogatepass"), options=_OPTIONS), ""
    except re2.error as exc:
        msg = exc.args[0] if exc.args else str(exc)
        return None, msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    except (TypeError, ValueError) as exc:
        return None, str(exc)


def _python_compile(pattern: str) -> tuple[re.Pattern[str] | None, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Possible nested set" FutureWarnings are exactly our point
        try:
            return re.compile(pattern), ""
        except re.error as exc:
            return None, str(exc)


@dataclass(frozen=True)
class PolicyRegex:
    """One policy regex as GitLab compiles it. ``pattern`` None or '' still compiles (``\\A\\z``)."""

    pattern: str | None
    compiled: Any = field(default=None, repr=False, compare=False)
    error: str = ""  # RE2's complaint, when GitLab would reject the pattern

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def anchored(self) -> str:
        return "\\A" + (self.pattern or "") + "\\z"

    def matches(self, name: str) -> bool:
        """``UntrustedRegexp#match?``: a non-empty name and at least one match of the anchored pattern."""
        if self.compiled is None or not name:
            return False
        return self.compiled.search(name.encode("utf-8", "surrogatepass")) is not None


def gitlab_regex(pattern: str | None) -> PolicyRegex:
    """Compile like GitLab: RE2 of ``\\A`` + pattern + ``\\z``; the raw pattern must compile too (the
    settings form validates it alone)."""
    text = pattern or ""
    _, raw_error = _re2_compile(text)
    compiled, error = _re2_compile("\\A" + text + "\\z")
    return PolicyRegex(pattern, compiled if not raw_error else None, raw_error or error)


def python_accepts(pattern: str | None) -> tuple[bool, str]:
    """Would Python's `re` accept it (what people often test with)? (ok, error)."""
    compiled, error = _python_compile(pattern or "")
    return compiled is not None, error


def _python_anchored(pattern: str) -> re.Pattern[str] | None:
    compiled, _ = _python_compile("\\A" + pattern + "\\Z")
    return compiled


def _re2_grouped(pattern: str) -> Any:
    compiled, _ = _re2_compile("\\A(?:" + pattern + ")\\z")
    return compiled


def engine_differences(pattern: str | None, names: Iterable[str]) -> list[dict[str, Any]]:
    """Names on which RE2 (GitLab) and Python's `re` disagree, both anchored the way GitLab anchors."""
    if not pattern:
        return []
    gl = gitlab_regex(pattern)
    py = _python_anchored(pattern)
    if not gl.ok or py is None:
        return []
    out = []
    for name in names:
        in_gitlab = gl.matches(name)
        in_python = bool(name) and py.search(name) is not None
        if in_gitlab != in_python:
            out.append({"tag": name, "gitlab_re2": in_gitlab, "python_re": in_python})
    return out


def anchoring_differences(pattern: str | None, names: Iterable[str]) -> list[dict[str, Any]]:
    """Names on which GitLab's ``\\A<pattern>\\z`` and the grouped ``\\A(?:<pattern>)\\z`` disagree."""
    if not pattern:
        return []
    gl = gitlab_regex(pattern)
    grouped = _re2_grouped(pattern)
    if not gl.ok or grouped is None:
        return []
    out = []
    for name in names:
        literal = gl.matches(name)
        whole = bool(name) and grouped.search(name.encode("utf-8", "surrogatepass")) is not None
        if literal != whole:
            out.append({"tag": name, "gitlab": literal, "whole_pattern_anchored": whole})
    return out


def has_top_level_alternation(pattern: str | None) -> bool:
    """Does ``|`` appear outside any group and class? Then GitLab's anchors bind to the ends only."""
    if not pattern:
        return False
    depth = 0
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
            elif pattern[i + 1:i + 3] == "^]":
                i += 2
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "|" and depth == 0:
            return True
        i += 1
    return False
