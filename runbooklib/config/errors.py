"""One error type for every config reader, so notebooks can turn any bad input into one Finding."""

from __future__ import annotations

from pathlib import Path

MAX_BYTES = 8 * 1024 * 1024  # a config larger than this is not a config: refuse rather than stall a notebook


class ConfigError(ValueError):
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
    """The file's text, or a ConfigError that names it and says why not (missing, a folder, no permission)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if p.is_dir():
            raise ConfigError(p, "is a directory, not a file", kind="unreadable")
        if size > MAX_BYTES:
            raise ConfigError(p, f"is {size} bytes: too large for a config file", kind="invalid")
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(p, "no such file", kind="unreadable") from None
    except PermissionError:
        raise ConfigError(p, "permission denied (read it as a user that may, e.g. with sudo, or copy it)",
                          kind="unreadable") from None
    except IsADirectoryError:
        raise ConfigError(p, "is a directory, not a file", kind="unreadable") from None
    except OSError as exc:
        raise ConfigError(p, f"cannot be read: {exc.strerror or exc}", kind="unreadable") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(p, f"is not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from None
