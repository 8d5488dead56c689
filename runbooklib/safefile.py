"""One way to read a file an operator points us at: regular files only, never more than a byte cap.

`st_size` is 0 for `/dev/zero`, a FIFO or a socket, so a size check before reading protects nothing: a
reader must refuse what is not a regular file and read at most ``cap + 1`` bytes to know it was too big.
Every reader (configs, logs, HAR captures, key files, NGINX includes) goes through here.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import RunbookError

DEFAULT_CAP = 64 << 20  # 64 MiB: larger than any config, key or capture an operator means to hand us


class UnsafeFile(RunbookError, OSError):
    """A path we will not read: not a regular file, too large, or unreadable. ``kind`` says which."""

    def __init__(self, path: str | os.PathLike, kind: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.kind = kind  # missing | not_regular | too_large | unreadable
        self.reason = reason


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular(path: str | os.PathLike) -> os.stat_result:
    """``stat`` of ``path`` (symlinks followed) if it is a regular file; UnsafeFile otherwise."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnsafeFile(path, "missing", "no such file") from None
    except PermissionError:
        raise UnsafeFile(path, "unreadable", "permission denied") from None
    except OSError as exc:
        raise UnsafeFile(path, "unreadable", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeFile(path, "not_regular", f"is {_kind_of(st.st_mode)}, not a regular file")
    return st


def read_bytes(path: str | os.PathLike, cap: int = DEFAULT_CAP) -> bytes:
    """The file's bytes, refusing non-regular files and anything over ``cap`` bytes.

    The file is opened with O_NONBLOCK so a path swapped for a FIFO between the check and the open
    cannot block us, and re-checked on the open descriptor.
    """
    check_regular(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        kind = "missing" if exc.errno == errno.ENOENT else "unreadable"
        raise UnsafeFile(path, kind, exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(path, "not_regular", f"is {_kind_of(st.st_mode)}, not a regular file")
        chunks, total = [], 0
        while total <= cap:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > cap:
        raise UnsafeFile(path, "too_large", f"is larger than {_human(cap)} (the limit for this kind of file)")
    return b"".join(chunks)


def read_text(path: str | os.PathLike, cap: int = DEFAULT_CAP, encoding: str = "utf-8") -> str:
    """``read_bytes`` decoded; UnicodeDecodeError is left to the caller, who knows what the file is."""
    return read_bytes(path, cap).decode(encoding)


def open_regular(path: str | os.PathLike, buffering: int = -1):
    """A binary file object for streaming a large regular file (logs); refuses devices, FIFOs, sockets."""
    check_regular(path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(path, "not_regular", "is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def is_within(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``root`` (symlinks resolved)."""
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.0f} {unit}"
        n /= 1024
    return f"{n} bytes"
