"""Safe YAML loading that keeps line numbers, so findings can say *where* a setting is."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, read_text

_MAX_LINE_ENTRIES = 50_000  # alias-heavy documents are walked once per node, and never beyond this


@dataclass
class YamlDoc:
    """A parsed YAML document: its data, where each key sits, and oddities worth telling the reader."""

    source: str
    text: str
    data: Any
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)


def _problem(exc: yaml.YAMLError) -> tuple[str, int | None]:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        msg = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem and exc.context_mark and exc.context_mark is not mark:
            msg = f"{msg} ({exc.context} at line {exc.context_mark.line + 1})"
        return f"invalid YAML: {msg}", (mark.line + 1) if mark else None
    return f"invalid YAML: {exc}", None


def _walk(node: yaml.Node, prefix: tuple[str, ...], doc: YamlDoc, seen: set[tuple[int, tuple[str, ...]]]) -> None:
    if len(doc.lines) > _MAX_LINE_ENTRIES or (id(node), prefix) in seen or len(prefix) > 40:
        return
    seen.add((id(node), prefix))
    if isinstance(node, yaml.MappingNode):
        explicit: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for k, v in node.value:
            if k.tag == "tag:yaml.org,2002:merge" or (isinstance(k, yaml.ScalarNode) and k.value == "<<"):
                merges.extend(v.value if isinstance(v, yaml.SequenceNode) else [v])
                continue
            name = str(k.value) if isinstance(k, yaml.ScalarNode) else "?"
            line = k.start_mark.line + 1
            if name in explicit:
                where = ".".join(prefix + (name,))
                doc.duplicates.append(f"key `{where}` appears at lines {explicit[name]} and {line}: "
                                      "Ruby and Python keep the last one, Go's YAML parser (the registry) rejects the file")
            explicit[name] = line
            doc.lines[prefix + (name,)] = line
            _walk(v, prefix + (name,), doc, seen)
        for m in merges:  # `<<: *base`: keys inherited from the anchor, unless set here
            sub = YamlDoc(doc.source, "", None)
            _walk(m, prefix, sub, seen)
            for path, line in sub.lines.items():
                if path[len(prefix)] not in explicit:  # merges are shallow: an explicit key replaces the subtree
                    doc.lines.setdefault(path, line)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            doc.lines[prefix + (str(i),)] = item.start_mark.line + 1
            _walk(item, prefix + (str(i),), doc, seen)


def parse_yaml(text: str, source: str = "<text>") -> YamlDoc:
    """Parse with the safe loader (no object construction); ConfigError ``FILE:LINE: ...`` on bad YAML."""
    loader = yaml.SafeLoader(text)
    doc = YamlDoc(source, text, None)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), doc, set())  # before construction: constructing flattens `<<` merges in place
            doc.data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        msg, line = _problem(exc)
        raise ConfigError(source, msg, line=line) from None
    except RecursionError:
        raise ConfigError(source, "invalid YAML: nested too deeply") from None
    finally:
        loader.dispose()
    return doc


def load_yaml(path: str | Path) -> YamlDoc:
    """Read and parse a YAML file; every failure is a ConfigError naming the file (and line)."""
    return parse_yaml(read_text(path), str(path))


def dig(data: Any, *keys: str, default: Any = None) -> Any:
    """``data[k1][k2]...`` that tolerates missing levels and non-mapping values."""
    cur = data
    for k in keys:
        if not isinstance(cur, dict) or k not in cur:
            return default
        cur = cur[k]
    return cur


def as_bool(value: Any) -> bool | None:
    """YAML/Go-style truthiness of a setting: True/False, or None when absent or not a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("true", "yes", "on", "1"):
            return True
        if v in ("false", "no", "off", "0"):
            return False
    if isinstance(value, int):
        return bool(value)
    return None


def as_int(value: Any) -> int | None:
    """Integers given as numbers or digit strings (``"25000000"``); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value) < 40:
        return int(value.strip())
    return None


def as_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one: a config section that is missing or mistyped reads as
    empty (the checks report the mistype), never as an AttributeError."""
    return value if isinstance(value, dict) else {}
