"""A tokenizer and literal parser for the subset of Ruby that configuration files use.

Nothing here evaluates Ruby: the lexer turns any text into tokens (odd input becomes ``bad``/``other``
tokens, never an exception), ``split_statements`` groups them, and ``LiteralParser`` accepts only literals
(strings, numbers, true/false/nil, symbols, arrays, hashes) and arithmetic on numbers, raising
``NotLiteral`` with a plain reason for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_NESTING = 64
BLOCK_OPENERS = frozenset({"if", "unless", "while", "until", "case", "def", "class", "module", "begin", "for"})
# Method-call style settings: `external_url 'https://...'`. Any other bare call is not understood.
CALL_SETTINGS = frozenset({"external_url", "registry_external_url", "pages_external_url", "mattermost_external_url",
                           "gitlab_kas_external_url", "roles"})

class RubySymbol(str):
    """A Ruby symbol (``:s3``) read as a string; equal to, and hashed like, the plain string."""

    def __repr__(self) -> str:
        return f":{str.__str__(self)}"


# ---------------------------------------------------------------------------------------------- lexer


@dataclass(slots=True)
class Tok:
    kind: str  # nl str istr num sym label ident words op heredoc bad other
    value: Any
    start: int
    end: int
    reason: str = ""


_OPS = ("**=", "<=>", "===", "...", "||=", "&&=", "<<=", ">>=", "=>", "==", "=~", "!=", "!~", "+=", "-=", "*=",
        "/=", "%=", "|=", "&=", "^=", "||", "&&", "<<", ">>", "<=", ">=", "**", "::", "..", "->", "&.")
_SINGLE_OPS = set("=+-*/%<>!&|^~?:,;.()[]{}")
_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "r": "\r", "0": "\0", "e": "\x1b", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_HEREDOC = re.compile(r"<<([~-]?)([\"'`]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[bB][01](?:_?[01])*|0[oO]?[0-7](?:_?[0-7])*(?![0-9.eE])|0[dD]\d(?:_?\d)*"
    r"|\d(?:_?\d)*(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d+)?",
    re.ASCII,
)


def _is_ident_start(c: str) -> bool:
    return c == "_" or c.isalpha()


def _is_ident_char(c: str) -> bool:
    return c == "_" or c.isalnum()


class Lexer:
    """Turns the whole file into tokens. Never raises: anything odd becomes a ``bad``/``other`` token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.toks: list[Tok] = []
        self.notes: list[str] = []

    def run(self) -> list[Tok]:
        text, n = self.text, self.n
        i = self._line_start(0)
        pending: list[Tok] = []  # heredocs whose bodies start on the next line
        while i < n:
            c = text[i]
            if c == "\n":
                self.toks.append(Tok("nl", None, i, i + 1))
                i += 1
                if pending:
                    i = self._skip_heredoc_bodies(i, pending)
                    pending = []
                i = self._line_start(i)
                continue
            if c in " \t\r\f\v":
                i += 1
                continue
            if c == "\\" and text.startswith("\n", i + 1):
                i += 2
                continue
            if c == "\\" and text.startswith("\r\n", i + 1):
                i += 3
                continue
            if c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
                continue
            if c == "'":
                i = self._single(i)
                continue
            if c == '"':
                i = self._double(i, '"', i + 1)
                continue
            if c == "%" and i + 2 < n and text[i + 1] in "qQwWiI" and text[i + 2] in "([{<|!/^":
                i = self._percent(i)
                continue
            if "0" <= c <= "9":
                i = self._number(i)
                continue
            if c == ":":
                i = self._colon(i)
                continue
            if _is_ident_start(c):
                i = self._ident(i)
                continue
            if c in "@$":
                j = i + 1
                while j < n and (_is_ident_char(text[j]) or text[j] in "@$"):
                    j += 1
                self.toks.append(Tok("other", text[i:j], i, max(j, i + 1)))
                i = max(j, i + 1)
                continue
            if c == "<" and text.startswith("<<", i):
                m = _HEREDOC.match(text, i)
                prev = self.toks[-1] if self.toks else None
                after_value = prev is not None and (prev.kind in ("num", "str", "istr", "words")
                                                    or (prev.kind == "op" and prev.value in (")", "]", "}")))
                if m and not after_value:
                    tok = Tok("heredoc", m.group(3), i, m.end(), "a heredoc (<<~ID ... ID) is not evaluated")
                    tok.reason += f"; its body ends at the line `{m.group(3)}`"
                    self.toks.append(tok)
                    pending.append(tok)
                    tok.value = (m.group(1), m.group(3))
                    i = m.end()
                    continue
            for op in _OPS:
                if text.startswith(op, i):
                    self.toks.append(Tok("op", op, i, i + len(op)))
                    i += len(op)
                    break
            else:
                kind = "op" if c in _SINGLE_OPS else "other"
                self.toks.append(Tok(kind, c, i, i + 1))
                i += 1
        return self.toks

    # -- line-level constructs
    def _line_start(self, i: int) -> int:
        """``=begin`` ... ``=end`` comments and ``__END__`` (the rest is data) only count at column 0."""
        text = self.text
        while True:
            if text.startswith("=begin", i) and (i + 6 >= self.n or text[i + 6] in " \t\r\n"):
                j, closed = i, False
                while True:
                    nl = text.find("\n", j)
                    if nl < 0:
                        break
                    j = nl + 1
                    if text.startswith("=end", j) and (j + 4 >= self.n or text[j + 4] in " \t\r\n"):
                        end = text.find("\n", j)
                        i, closed = (self.n if end < 0 else end + 1), True
                        break
                if not closed:  # Ruby rejects the file; we skip just this line and read on
                    self.notes.append(f"`=begin` at offset {i} is never closed by `=end`")
                    nl = text.find("\n", i)
                    return self.n if nl < 0 else nl
                continue
            if text.startswith("__END__", i) and (i + 7 == self.n or text[i + 7] == "\n"
                                                  or text.startswith("\r\n", i + 7)):
                return self.n
            return i

    def _skip_heredoc_bodies(self, i: int, pending: list[Tok]) -> int:
        """Skip the bodies of heredocs opened on the previous line. An unterminated one skips nothing
        (its statement is reported) so the rest of the file is still read."""
        text = self.text
        for tok in pending:
            flavour, ident = tok.value
            j = i
            while True:
                if j >= self.n:
                    tok.kind, tok.reason = "bad", f"heredoc `{ident}` is never terminated"
                    return i
                nl = text.find("\n", j)
                line = text[j: self.n if nl < 0 else nl].rstrip("\r")
                j = self.n if nl < 0 else nl + 1
                if (line.strip() if flavour else line) == ident:
                    break
            i = j
        return i

    # -- literals
    def _unterminated(self, i: int, what: str) -> int:
        """An unterminated literal: Ruby would reject the whole file; we drop just this line and go on."""
        j = self.text.find("\n", i)
        j = self.n if j < 0 else j
        self.toks.append(Tok("bad", None, i, j, f"unterminated {what} (Ruby rejects the whole file)"))
        return j

    def _single(self, i: int) -> int:
        text, n = self.text, self.n
        j, buf = i + 1, []
        while j < n:
            ch = text[j]
            if ch == "\\" and j + 1 < n and text[j + 1] in "\\'":
                buf.append(text[j + 1])
                j += 2
                continue
            if ch == "'":
                return self._string_done(i, j + 1, "".join(buf), False)
            buf.append(ch)
            j += 1
        return self._unterminated(i, "string")

    def _string_done(self, start: int, end: int, value: str | None, interp: bool) -> int:
        text = self.text
        # "key": value  (a string label in a hash)
        if end < self.n and text[end] == ":" and not text.startswith("::", end) and not interp:
            self.toks.append(Tok("label", value, start, end + 1))
            return end + 1
        if interp:
            self.toks.append(Tok("istr", None, start, end, "string interpolation (#{...}) is not evaluated"))
        else:
            self.toks.append(Tok("str", value, start, end))
        return end

    def _double(self, i: int, close: str, j: int, opener: str | None = None) -> int:
        """A double-quoted (or %Q) string from ``j`` to ``close``; returns the index after it."""
        text, n = self.text, self.n
        buf: list[str] = []
        interp = False
        depth = 0
        while j < n:
            ch = text[j]
            if ch == "\\" and j + 1 < n:
                j, piece = self._escape(j + 1)
                buf.append(piece)
                continue
            if ch == "#" and j + 1 < n and text[j + 1] == "{":
                interp = True
                j = self._skip_interpolation(j + 2)
                continue
            if ch == "#" and j + 1 < n and text[j + 1] in "@$" and j + 2 < n and _is_ident_start(text[j + 2]):
                interp = True
            if opener and ch == opener:
                depth += 1
            elif ch == close:
                if depth == 0:
                    return self._string_done(i, j + 1, "".join(buf), interp)
                depth -= 1
            buf.append(ch)
            j += 1
        return self._unterminated(i, "string")

    def _escape(self, j: int) -> tuple[int, str]:
        text, n = self.text, self.n
        c = text[j]
        if c in _ESCAPES:
            return j + 1, _ESCAPES[c]
        if c == "\n":
            return j + 1, ""
        if c == "u":
            if j + 1 < n and text[j + 1] == "{":
                end = text.find("}", j)
                if end > 0:
                    try:
                        return end + 1, "".join(chr(int(h, 16)) for h in text[j + 2: end].split())
                    except (ValueError, OverflowError):
                        return end + 1, "\ufffd"
            hexd = text[j + 1: j + 5]
            if len(hexd) == 4 and all(h in "0123456789abcdefABCDEF" for h in hexd):
                return j + 5, chr(int(hexd, 16))
            return j + 1, "u"
        if c == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", text[j + 1: j + 3])
            if m:
                return j + 1 + m.end(), chr(int(m.group(0), 16))
            return j + 1, "x"
        if c in "01234567":
            m = re.match(r"[0-7]{1,3}", text[j: j + 3])
            assert m
            return j + m.end(), chr(int(m.group(0), 8) & 0xFF)
        return j + 1, c

    def _skip_interpolation(self, j: int) -> int:
        """Past the ``}`` closing ``#{``, skipping nested braces and strings (iteratively: no recursion)."""
        text, n = self.text, self.n
        depth = 1
        while j < n and depth:
            ch = text[j]
            if ch == "\\":
                j += 2
                continue
            if ch in "'\"`":
                end = text.find(ch, j + 1)
                while end > 0 and text[end - 1] == "\\":
                    end = text.find(ch, end + 1)
                j = n if end < 0 else end + 1
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            j += 1
        return j

    def _percent(self, i: int) -> int:
        text = self.text
        kind, opener = text[i + 1], text[i + 2]
        close = _PAIRS.get(opener, opener)
        nest = opener if opener in _PAIRS else None
        if kind in "qwi":  # no escapes but \close and \\, no interpolation
            j, depth, buf = i + 3, 0, []
            while j < self.n:
                ch = text[j]
                if ch == "\\" and j + 1 < self.n and text[j + 1] in (close, "\\", opener):
                    buf.append(text[j + 1])
                    j += 2
                    continue
                if nest and ch == nest:
                    depth += 1
                elif ch == close:
                    if depth == 0:
                        body = "".join(buf)
                        if kind == "q":
                            self.toks.append(Tok("str", body, i, j + 1))
                        elif kind == "w":
                            self.toks.append(Tok("words", body.split(), i, j + 1))
                        else:
                            self.toks.append(Tok("words", [RubySymbol(w) for w in body.split()], i, j + 1))
                        return j + 1
                    depth -= 1
                buf.append(ch)
                j += 1
            return self._unterminated(i, f"%{kind} literal")
        # %Q %W %I: interpolating; read like a double-quoted string
        before = len(self.toks)
        end = self._double(i, close, i + 3, nest)
        if len(self.toks) > before and self.toks[-1].kind == "str" and kind in "WI":
            words = self.toks[-1].value.split()
            self.toks[-1] = Tok("words", words if kind == "W" else [RubySymbol(w) for w in words], i, end)
        return end

    def _number(self, i: int) -> int:
        m = _NUMBER.match(self.text, i)
        assert m  # starts with a digit
        s = m.group(0)
        j = m.end()
        if j < self.n and (_is_ident_char(self.text[j])):  # 12abc, 1r, 2i, 08
            k = j
            while k < self.n and _is_ident_char(self.text[k]):
                k += 1
            self.toks.append(Tok("bad", None, i, k, f"`{self.text[i:k]}` is not a number this reader knows"))
            return k
        clean = s.replace("_", "")
        try:
            low = clean.lower()
            if low.startswith("0x"):
                value: int | float = int(clean[2:], 16)
            elif low.startswith("0b"):
                value = int(clean[2:], 2)
            elif low.startswith("0d"):
                value = int(clean[2:])
            elif low.startswith("0o"):
                value = int(clean[2:], 8)
            elif len(clean) > 1 and clean[0] == "0" and clean.isdigit():
                value = int(clean[1:], 8)  # Ruby: a leading 0 means octal (0644)
            elif "." in clean or "e" in low:
                value = float(clean)
            else:
                value = int(clean)
        except (ValueError, OverflowError):
            self.toks.append(Tok("bad", None, i, j, "number too large or malformed"))
            return j
        self.toks.append(Tok("num", value, i, j))
        return j

    def _colon(self, i: int) -> int:
        text, n = self.text, self.n
        if text.startswith("::", i):
            self.toks.append(Tok("op", "::", i, i + 2))
            return i + 2
        if i + 1 < n and _is_ident_start(text[i + 1]):
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            if j < n and text[j] in "?!=" and not text.startswith("=>", j) and not text.startswith("==", j):
                j += 1
            self.toks.append(Tok("sym", RubySymbol(text[i + 1: j]), i, j))
            return j
        if i + 1 < n and text[i + 1] in "'\"":
            before = len(self.toks)
            end = self._single(i + 1) if text[i + 1] == "'" else self._double(i + 1, '"', i + 2)
            if len(self.toks) > before:
                t = self.toks[-1]
                if t.kind in ("str", "label"):
                    self.toks[-1] = Tok("sym", RubySymbol(t.value), i, t.end)
                else:
                    t.start = i
            return end
        self.toks.append(Tok("op", ":", i, i + 1))
        return i + 1

    def _ident(self, i: int) -> int:
        text, n = self.text, self.n
        j = i + 1
        while j < n and _is_ident_char(text[j]):
            j += 1
        if j < n and text[j] in "?!" and not text.startswith("!=", j) and not text.startswith("?:", j):
            j += 1
        name = text[i:j]
        if j < n and text[j] == ":" and not text.startswith("::", j) and name[-1] not in "?!":
            self.toks.append(Tok("label", RubySymbol(name), i, j + 1))
            return j + 1
        self.toks.append(Tok("ident", name, i, j))
        return j


# ---------------------------------------------------------------------------------------------- statements

_CONTINUATION_OPS = {",", "=", "=>", "+", "-", "*", "/", "%", "||", "&&", ".", "&.", "?", ":", "<<", "==", "**",
                     "||=", "&&=", "+=", "-=", "*=", "/=", "::", "!"}
_NEW_STATEMENT = re.compile(r"[a-z_][a-z0-9_]*(\[|\s*=[^=>~]|\s+['\"])")


@dataclass
class Statement:
    toks: list[Tok]
    unbalanced: bool = False


def split_statements(toks: list[Tok], text: str, line_starts: frozenset[int]) -> list[Statement]:
    """Group tokens into statements: newline or ``;`` at bracket depth 0 ends one, unless the line
    obviously continues (trailing ``,``/``=>``/operator, or a leading ``.method``)."""
    out: list[Statement] = []
    cur: list[Tok] = []
    depth = 0
    for idx, t in enumerate(toks):
        if t.kind == "nl":
            if not cur:
                continue
            nxt = toks[idx + 1] if idx + 1 < len(toks) else None
            if depth > 0:
                # An unclosed bracket swallowing the next top-level line: close this statement as broken.
                if nxt is not None and nxt.kind == "ident" and nxt.start in line_starts \
                        and _NEW_STATEMENT.match(text, nxt.start):
                    out.append(Statement(cur, unbalanced=True))
                    cur, depth = [], 0
                continue
            last = cur[-1]
            if last.kind == "op" and last.value in _CONTINUATION_OPS:
                continue
            if nxt is not None and nxt.kind == "op" and nxt.value in (".", "&."):
                continue
            out.append(Statement(cur))
            cur = []
            continue
        if t.kind == "op" and t.value == ";" and depth == 0:
            if cur:
                out.append(Statement(cur))
            cur = []
            continue
        if t.kind == "op" and t.value in ("(", "[", "{"):
            depth += 1
        elif t.kind == "op" and t.value in (")", "]", "}"):
            depth = max(0, depth - 1)
        cur.append(t)
    if cur:
        out.append(Statement(cur, unbalanced=depth > 0))
    return out


class NotLiteral(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LiteralParser:
    """Recursive descent over one statement's tokens; any construct outside the literal subset raises
    NotLiteral with a plain reason."""

    def __init__(self, toks: list[Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.notes: list[str] = []

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def is_op(self, value: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t is not None and t.kind == "op" and t.value == value

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise NotLiteral("the statement ends too early")
        self.i += 1
        return t

    def expect_op(self, value: str) -> None:
        t = self.take()
        if t.kind != "op" or t.value != value:
            raise NotLiteral(f"expected `{value}` but found {describe(t)}")

    def statement(self) -> tuple[str, list[Any], Any]:
        t = self.take()
        if t.kind != "ident":
            raise NotLiteral(f"not a setting: starts with {describe(t)}")
        name = t.value
        if name in BLOCK_OPENERS or name in ("end", "else", "elsif", "when", "rescue", "ensure", "then"):
            raise NotLiteral(f"`{name}` (control flow) is not evaluated")
        nxt = self.peek()
        indexing = self.is_op("[") and nxt is not None and (nxt.start == t.end or name not in CALL_SETTINGS)  # `roles ['x']` is a call
        if indexing:
            keys = []
            while self.is_op("["):
                self.take()
                k = self.take()
                if k.kind not in ("str", "sym", "num"):
                    raise NotLiteral(f"the key {describe(k)} is not a literal")
                keys.append(k.value)
                self.expect_op("]")
            op = self.take()
            if op.kind != "op" or op.value != "=":
                raise NotLiteral(f"`{op.value}` is not a plain assignment" if op.kind == "op"
                                     else f"expected `=` but found {describe(op)}")
            value = self.expr()
            self.end()
            return name, keys, value
        if self.is_op("="):
            raise NotLiteral(f"assigns the local variable `{name}`, which this reader does not track")
        if name in CALL_SETTINGS or name.endswith("_external_url"):
            if self.peek() is None:
                raise NotLiteral(f"`{name}` without a value")
            if self.is_op("("):
                self.take()
                value = self.expr()
                self.expect_op(")")
            else:
                value = self.expr()
            self.end()
            return name, [], value
        if name in ("true", "false", "nil"):
            raise NotLiteral("a bare value, not a setting")
        raise NotLiteral(f"`{name}` is a method call or expression, not a setting")

    def end(self) -> None:
        t = self.peek()
        if t is not None:
            if t.kind == "ident" and t.value in ("if", "unless", "while", "until", "rescue"):
                raise NotLiteral(f"the `{t.value}` modifier makes it conditional: not evaluated")
            if t.kind == "op" and t.value in (".", "&."):
                raise NotLiteral("a method call on the value is not evaluated")
            raise NotLiteral(f"unexpected {describe(t)} after the value")

    # expressions: literals and +, -, *, / on numbers (+ on strings)
    def expr(self) -> Any:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise NotLiteral("nested too deeply")
        try:
            value = self.term()
            while self.is_op("+") or self.is_op("-"):
                op = self.take().value
                value = _arith(op, value, self.term())
            return value
        finally:
            self.depth -= 1

    def term(self) -> Any:
        value = self.unary()
        while self.is_op("*") or self.is_op("/") or self.is_op("%"):
            op = self.take().value
            value = _arith(op, value, self.unary())
        return value

    def unary(self) -> Any:
        if self.is_op("-") or self.is_op("+"):
            op = self.take().value
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise NotLiteral("nested too deeply")
            try:
                v = self.unary()
            finally:
                self.depth -= 1
            if not _is_number(v):
                raise NotLiteral(f"unary `{op}` on a non-number")
            return -v if op == "-" else v
        return self.primary()

    def primary(self) -> Any:
        t = self.take()
        if t.kind in ("num", "str", "sym"):
            return t.value
        if t.kind == "words":
            return list(t.value)
        if t.kind in ("istr", "heredoc", "bad"):
            raise NotLiteral(t.reason)
        if t.kind == "ident":
            if t.value == "true":
                return True
            if t.value == "false":
                return False
            if t.value == "nil":
                return None
            if t.value == "ENV":
                raise NotLiteral("ENV[...] is read when reconfigure runs, not here")
            raise NotLiteral(f"`{t.value}` (a method call or variable) is not evaluated")
        if t.kind == "op" and t.value == "[":
            return self.array()
        if t.kind == "op" and t.value == "{":
            return self.hash()
        if t.kind == "op" and t.value == "(":
            v = self.expr()
            self.expect_op(")")
            return v
        raise NotLiteral(f"{describe(t)} is not a value this reader knows")

    def array(self) -> list[Any]:
        out: list[Any] = []
        while not self.is_op("]"):
            out.append(self.expr())
            if self.is_op(","):
                self.take()
            elif not self.is_op("]"):
                raise NotLiteral(f"expected `,` or `]` in an array but found {describe(self.peek())}")
        self.take()
        return out

    def hash(self) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        while not self.is_op("}"):
            t = self.peek()
            if t is not None and t.kind == "label":
                self.take()
                key: Any = RubySymbol(t.value)
            else:
                key = self.expr()
                if isinstance(key, (list, dict)):
                    raise NotLiteral("an array or hash used as a hash key")
                self.expect_op("=>")
            value = self.expr()
            if key in out:
                self.notes.append(f"hash key {key!r} given twice: Ruby keeps the last")
            out[key] = value
            if self.is_op(","):
                self.take()
            elif not self.is_op("}"):
                raise NotLiteral(f"expected `,` or `}}` in a hash but found {describe(self.peek())}")
        self.take()
        return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_is_number(a) and _is_number(b)):
        raise NotLiteral(f"`{op}` on something other than numbers is not evaluated")
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            if isinstance(a, int) and isinstance(b, int) and (a.bit_length() + b.bit_length() > 4096):
                raise NotLiteral("number too large")
            return a * b
        if b == 0:
            raise NotLiteral("division by zero")
        if op == "/":
            return a // b if isinstance(a, int) and isinstance(b, int) else a / b
        return a % b
    except (OverflowError, ValueError):
        raise NotLiteral("arithmetic out of range") from None


def describe(t: Tok | None) -> str:
    if t is None:
        return "the end of the statement"
    if t.kind == "ident":
        return f"`{t.value}`"
    if t.kind == "op":
        return f"`{t.value}`"
    if t.kind == "other":
        return f"`{t.value}`"
    return {"str": "a string", "istr": "an interpolated string", "num": "a number", "sym": "a symbol",
            "label": "a `key:` label", "words": "a %w list", "heredoc": "a heredoc", "bad": "a malformed literal"
            }.get(t.kind, t.kind)

