"""Redaction of artifacts as objects, before they are serialized; and fail-closed writers.

Two layers, applied to every string inside an artifact (never to its serialized JSON or HTML text):

* the secret values the run resolved itself, in every form (``runbooklib.redact.KnownSecrets``);
* secrets by shape that nobody gave us but a response or a log may carry (Authorization / PRIVATE-TOKEN
  headers, Bearer / Basic credentials, JWTs, AWS secret keys, ``password=`` pairs:
  ``runbooklib.logs.redact``).

Notebooks are walked along nbformat's structure (cell sources, stream text, tracebacks, each MIME type of
an output for what it is: HTML text nodes and attribute values, JSON objects, base64 images), findings as
JSON-like objects, and an HTML page (rendered from objects that were already masked) gets a last check of
its text nodes and attribute values, each decoded, masked and escaped again, never cutting a tag or an
entity; the page must keep the same element structure.

What is written is re-parsed (``nbformat.validate``, ``json.loads``) and checked for any form of a known
secret before it replaces the file. Any failure withholds the artifact: the file is removed (an HTML page
is replaced by a page that says so) and a :class:`Withheld` note says which artifact and why, for the
report and the bundle to show. A half-masked file is never written.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import tarfile
from dataclasses import asdict, dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import RunbookError
from ..findings import Finding, Report, Status
from ..logs.redact import redact_shapes
from ..redact import MASK, KnownSecrets

_TEXT_SUFFIXES = {".txt", ".md", ".log", ".yaml", ".yml", ".csv"}
_BINARY_MIME = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp", "application/pdf")
_KEEP = {"cell_type", "id", "execution_count", "output_type", "name", "nbformat", "nbformat_minor"}


class RedactionError(RunbookError):
    """Redaction could not make an artifact safe; the message names the step, never a secret."""


@dataclass(frozen=True)
class Withheld:
    """An artifact that was not shipped because it could not be made safe, and why."""

    artifact: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def finding(self) -> Finding:
        return Finding(
            "report.artifact_withheld", Status.ERROR, f"{self.artifact} withheld: it could not be made safe to share",
            detail=f"Redaction of {self.artifact} failed ({self.reason}). The file was removed rather than shipped "
            "half-masked; the other artifacts are complete.",
            evidence={"artifact": self.artifact, "reason": self.reason},
            remedy="Run the runbook again. If the artifact is withheld again, keep this report and report the reason: "
            "it names the step of the redaction that failed, never a secret.")


# --- HTML: text nodes and attribute values, never markup ---------------------------------------------------------
_MARKUP = re.compile(
    r"""<!--.*?(?:-->|\Z)|<![^>]*>|<\?[^>]*>|</?[A-Za-z][^\s/>]*(?:[^>"']|"[^"]*"|'[^']*')*>""", re.S)
_TAG_NAME = re.compile(r"<([A-Za-z][^\s/>]*)")
_ATTR = re.compile(r"""(\s[^\s"'>/=]+\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+)""")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_RAW_TEXT = {"script", "style"}


class _Structure(HTMLParser):
    """The element structure of a page: tags and attribute names in order, text ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("start", tag, tuple(name for name, _ in attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.events.append(("startend", tag, tuple(name for name, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.events.append(("end", tag))

    def handle_comment(self, data: str) -> None:
        self.events.append(("comment",))

    def handle_decl(self, decl: str) -> None:
        self.events.append(("decl",))


def html_structure(markup: str) -> list[tuple[Any, ...]]:
    parser = _Structure()
    parser.feed(markup)
    parser.close()
    return parser.events


def _whole(m: re.Match[str], entities: list[tuple[int, int]]) -> str:
    """MASK for a match that starts and ends between character references; else the match, left for the leak
    check to find (a replacement never cuts an entity in half)."""
    s, e = m.span()
    if any(a < s < b or a < e < b for a, b in entities):
        return m.group(0)
    return MASK


def _whole_literal(raw: str, literal: str, entities: list[tuple[int, int]]) -> str:
    """``_whole`` for a secret matched literally."""
    out, i = [], 0
    while (j := raw.find(literal, i)) >= 0:
        end = j + len(literal)
        if any(a < j < b or a < end < b for a, b in entities):
            out.append(raw[i:j + 1])
            i = j + 1
            continue
        out += [raw[i:j], MASK]
        i = end
    out.append(raw[i:])
    return "".join(out)


def _is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:" and ";base64," in value[:200]


class Redactor:
    """Masks one run's secrets in strings, objects, notebooks and HTML; writes artifacts or withholds them."""

    def __init__(self, secrets: Iterable[str] = (), usernames: Iterable[str] = ()) -> None:
        self.known = KnownSecrets(secrets, usernames)

    # --- strings -------------------------------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """A free string: known secrets in every form, then secrets by shape, line by line."""
        return redact_shapes(self.known.mask(value))

    def safe_text(self, value: str) -> str:
        """``text`` for a message that must always be shown: when masking fails, a note instead of the text."""
        try:
            return self.text(value)
        except Exception:  # noqa: BLE001 - fail closed: the message is withheld, not shown unmasked
            return "[message withheld: redaction failed]"

    def binary(self, value: str) -> str:
        """Base64 payloads (images, data: URIs): known secrets only, shapes would only find noise there."""
        return self.known.mask(value)

    def _aligned(self, raw: str) -> str:
        """Known secrets in HTML source text, replaced only where a match starts and ends between entities."""
        if not self.known or "&" not in raw:
            return self.known.mask(raw)
        for form in self.known.forms:
            if form.anchor is not None and form.anchor not in raw:
                continue
            spans = [m.span() for m in _ENTITY.finditer(raw)]
            if form.literal is not None:
                raw = _whole_literal(raw, form.literal, spans)
            elif form.pattern is not None:
                raw = form.pattern.sub(functools.partial(_whole, entities=spans), raw)
        return raw

    # --- objects -------------------------------------------------------------------------------------------------
    def obj(self, value: Any) -> Any:
        """A copy of a JSON-like object with every string, keys included, masked; same shape (tuples become
        lists, other objects their masked text, as JSON would hold them).

        A key that masking turns into one already present gets a ``#2``-style suffix, so no entry is lost.
        """
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                new = self.text(key) if isinstance(key, str) else key
                if new in out:
                    n = 2
                    while f"{new} #{n}" in out:
                        n += 1
                    new = f"{new} #{n}"
                out[new] = self.obj(item)
            return out
        if isinstance(value, (list, tuple)):
            return [self.obj(item) for item in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.text(str(value))  # anything else is shown as its text: masked like any string

    def html(self, markup: str) -> str:
        """HTML (a page or an output's fragment) with secrets masked in text nodes and attribute values.

        Each is decoded, masked and escaped again only when something changed; markup is never touched and
        the element structure must come out the same (else :class:`RedactionError`).
        """
        parts: list[str] = []
        pos = start = 0  # pos: where to look for the next "<"; start: where the pending text node begins
        while True:
            lt = markup.find("<", pos)
            m = _MARKUP.match(markup, lt) if lt >= 0 else None
            if lt >= 0 and m is None:
                pos = lt + 1  # a "<" that opens no markup is text
                continue
            end = lt if lt >= 0 else len(markup)
            if end > start:
                parts.append(self._html_text(markup[start:end]))
            if m is None:
                break
            parts.append(self._html_markup(m.group(0)))
            pos = start = m.end()
            name = _TAG_NAME.match(m.group(0))
            if name and name.group(1).lower() in _RAW_TEXT:  # <script>/<style> content: no entities, no shapes
                close = re.compile(rf"</{re.escape(name.group(1))}", re.I).search(markup, pos)
                end = close.start() if close else len(markup)
                parts.append(self.binary(markup[pos:end]))
                pos = start = end
        out = "".join(parts)
        if out != markup and html_structure(out) != html_structure(markup):
            raise RedactionError("masking would have changed the HTML structure")
        return out

    def _html_text(self, raw: str) -> str:
        raw = self._aligned(raw)
        decoded = html.unescape(raw)
        masked = self.text(decoded)
        return raw if masked == decoded else html.escape(masked, quote=False)

    def _html_markup(self, token: str) -> str:
        if token.startswith("<!--"):
            return "<!--" + self.binary(token[4:-3]) + "-->" if token.endswith("-->") else token
        if token.startswith(("<!", "<?", "</")):
            return token

        def attr(m: re.Match[str]) -> str:
            raw = m.group(2)
            inner = raw[1:-1] if raw[0] in "\"'" else raw
            inner = self._aligned(inner)
            decoded = html.unescape(inner)
            masked = self.binary(decoded) if _is_data_uri(decoded) else self.text(decoded)
            if masked == decoded:
                return m.group(1) + (raw[0] + inner + raw[0] if raw[0] in "\"'" else inner)
            return m.group(1) + '"' + html.escape(masked, quote=True) + '"'

        return _ATTR.sub(attr, token)

    # --- notebooks -----------------------------------------------------------------------------------------------
    def notebook(self, nb: Any) -> Any:
        """A masked copy of an nbformat v4 notebook: every cell, output and metadata, MIME type by MIME type."""
        import nbformat

        out = {}
        for key, value in nb.items():
            if key == "cells":
                out[key] = [self._cell(cell) for cell in value]
            elif key in _KEEP:
                out[key] = value
            else:
                out[key] = self.obj(value)
        return nbformat.from_dict(out)

    def _cell(self, cell: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in cell.items():
            if key == "source":
                out[key] = self._lines(value, self.text)
            elif key == "outputs":
                out[key] = [self._output(o) for o in value]
            elif key == "attachments":
                out[key] = {name: self._mimebundle(b) for name, b in value.items()}
            elif key in _KEEP:
                out[key] = value
            else:
                out[key] = self.obj(value)
        return out

    def _output(self, output: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in output.items():
            if key == "data":
                out[key] = self._mimebundle(value)
            elif key == "text":
                out[key] = self._lines(value, self.text)
            elif key == "traceback":
                out[key] = [self.text(line) if isinstance(line, str) else self.obj(line) for line in value]
            elif key in _KEEP:
                out[key] = value
            else:
                out[key] = self.obj(value)
        return out

    def _mimebundle(self, data: dict[str, Any]) -> dict[str, Any]:
        return {mime: self._mime(mime, value) for mime, value in data.items()}

    def _mime(self, mime: str, value: Any) -> Any:
        if mime in ("text/html", "image/svg+xml"):
            return self._lines(value, self.html)
        if mime == "application/json" or mime.endswith("+json"):
            return self.obj(value)
        if mime in _BINARY_MIME or (mime.startswith("image/") and mime != "image/svg+xml"):
            return self._lines(value, self.binary)
        return self._lines(value, self.text)

    def _lines(self, value: Any, fn: Callable[[str], str]) -> Any:
        """nbformat keeps multi-line strings as one string or a list of lines: mask the text they make."""
        if isinstance(value, str):
            return fn(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            joined = "".join(value)
            masked = fn(joined)
            return list(value) if masked == joined else masked.splitlines(keepends=True)
        return self.obj(value)

    # --- checks --------------------------------------------------------------------------------------------------
    def verify(self, text: str) -> None:
        """Raise when any form of a known secret is still in ``text`` (a serialized artifact)."""
        label = self.known.find(text)
        if label is not None:
            raise RedactionError(f"a known secret survived redaction ({label})")

    def reason(self, exc: BaseException) -> str:
        """Why an artifact was withheld, in words that hold no secret."""
        if isinstance(exc, RedactionError):
            return str(exc)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        try:
            first = self.text(first)
            if self.known.find(first) is not None:
                first = ""
        except Exception:  # noqa: BLE001 - the reason must never fail
            first = ""
        return f"{type(exc).__name__}: {first}" if first else type(exc).__name__

    # --- artifacts, fail closed ----------------------------------------------------------------------------------
    def _withhold(self, path: Path, exc: BaseException) -> Withheld:
        path.unlink(missing_ok=True)
        return Withheld(path.name, self.reason(exc))

    def write_notebook(self, nb: Any, path: Path) -> tuple[Any, Withheld | None]:
        """Mask ``nb``, validate, write; the masked notebook, or None and the note when it was withheld."""
        import nbformat

        try:
            masked = self.notebook(nb)
            nbformat.validate(masked)
            text = nbformat.writes(masked)
            nbformat.validate(nbformat.reads(text, as_version=4))
            self.verify(text)
            _atomic_write(path, text)
            return masked, None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            return None, self._withhold(path, exc)

    def notebook_file(self, path: Path) -> tuple[Any, Withheld | None]:
        """Redact a notebook file in place (read as objects, masked, validated, rewritten)."""
        import nbformat

        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:  # noqa: BLE001 - unreadable means unmaskable: withhold
            return None, self._withhold(path, RedactionError(f"not a readable notebook ({type(exc).__name__})"))
        return self.write_notebook(nb, path)

    def write_json(self, data: Any, path: Path, check: Callable[[Any], Any] | None = None) -> tuple[Any, Withheld | None]:
        """Mask a JSON-like object, serialize, re-parse (and ``check`` it), write; or withhold."""
        try:
            masked = self.obj(data)
            text = json.dumps(masked, indent=2, ensure_ascii=False)
            parsed = json.loads(text)
            if check is not None:
                check(parsed)
            self.verify(text)
            _atomic_write(path, text)
            return parsed, None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            return None, self._withhold(path, exc)

    def json_file(self, path: Path, check: Callable[[Any], Any] | None = None) -> tuple[Any, Withheld | None]:
        """Redact a JSON file in place."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return None, self._withhold(path, RedactionError(f"not readable JSON ({type(exc).__name__})"))
        return self.write_json(data, path, check)

    def write_report(self, report: Report, path: Path, stamp: bool = True) -> Withheld | None:
        """``Report.write`` through redaction: stamps the finish time, writes findings.json or withholds it."""
        if stamp:
            from ..findings import _now

            report.finished = _now()
        return self.write_json(report.to_dict(), path, check=Report.from_dict)[1]

    def write_html(self, page: str, path: Path) -> Withheld | None:
        """Last check of a page rendered from masked objects; on failure a page saying it was withheld."""
        try:
            text = self.html(page)
            self.verify(text)
            _atomic_write(path, text)
            return None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            note = self._withhold(path, exc)
            try:
                _atomic_write(path, withheld_page([note]))
            except OSError:
                pass  # no page at all is still better than half a page
            return note

    def text_file(self, path: Path) -> Withheld | None:
        try:
            text = self.text(path.read_text(encoding="utf-8"))
            self.verify(text)
            _atomic_write(path, text)
            return None
        except Exception as exc:  # noqa: BLE001 - fail closed on anything
            return self._withhold(path, exc)

    def recheck(self, path: Path) -> Withheld | None:
        """An artifact already redacted by its run, checked against this (maybe larger) set of secrets and
        redacted again, as objects, only when a form of one is found."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return self._withhold(path, RedactionError(f"not readable as UTF-8 text ({type(exc).__name__})"))
        if self.known.find(text) is None:
            return None
        if path.suffix == ".ipynb":
            return self.notebook_file(path)[1]
        if path.suffix == ".json":
            return self.json_file(path)[1]
        if path.suffix == ".html":
            return self.write_html(text, path)
        return self.text_file(path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.redacting")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def withheld_page(notes: Iterable[Withheld]) -> str:
    """A page standing in for withheld HTML: which artifact and why, nothing else."""
    items = "".join(f"<li><b>{html.escape(n.artifact)}</b>: {html.escape(n.reason)}</li>" for n in notes)
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>withheld</title></head><body>'
            "<h1>Report withheld</h1><p>Redaction could not make this page safe to share, so it was not "
            f"written. The other artifacts are complete.</p><ul>{items}</ul></body></html>")


def recheck_tree(folder: Path, redactor: Redactor, skip: Iterable[str] = ()) -> list[Withheld]:
    """Every artifact under ``folder`` checked against ``redactor``'s secrets (see ``Redactor.recheck``)."""
    skipped = set(skip)
    notes = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name in skipped:
            continue
        if path.suffix in (".ipynb", ".json", ".html") or path.suffix in _TEXT_SUFFIXES:
            note = redactor.recheck(path)
            if note is not None:
                notes.append(note)
    return notes


def archive(folder: Path) -> Path:
    """`DIR.tar.gz` beside the bundle, holding exactly its files (manifest and signature included)."""
    out = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return out
