"""One error type for every config reader, so notebooks can turn any bad input into one Finding."""

from __future__ import annotations

from pathlib import Path

from ..errors import RunbookError

MAX_BYTES = 8 * 1024 * 1024  # a config larger than this is not a config: refuse rather than stall a notebook


class ConfigError(RunbookError, ValueError):
    """A config file that cannot be read (``kind="unreadable"``) or understood (``kind="invalid"``).

    ``str()`` is one line, ``FILE:LINE: what`` (or ``FILE: what`` when no line applies), so it can go
    straight into a Finding's detail or an editor's jump-to-line.
    """

    def __init__(self, file: str | Path, message: str, line: int | None = None, kind: str = "invalid") -> None:
        self.file = str(file)
        self.line = line
        self.kind = kind
        self.message = " ".join(str(message).split())
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


def read_text(path: str | Path) -> str:
    """The file's text, or a ConfigError that names it and says why not (missing, a folder, a device or
    FIFO, too large, no permission). Reads through `safefile`: regular files only, at most MAX_BYTES."""
    from ..safefile import UnsafeFile, read_bytes

    p = Path(path)
    try:
        data = read_bytes(p, MAX_BYTES)
    except UnsafeFile as exc:
        reason = exc.reason
        if exc.kind == "unreadable" and "permission" in reason:
            reason = "permission denied (read it as a user that may, e.g. with sudo, or copy it)"
        elif exc.kind == "too_large":
            reason = f"is larger than {MAX_BYTES} bytes: too large for a config file"
        raise ConfigError(p, reason, kind="invalid" if exc.kind == "too_large" else "unreadable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(p, f"is not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from None
