"""Start and stop the lab's processes by PID, never by name: `lab down` ends exactly what `lab up` began."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from ..config.procenv import process_alive as is_alive, process_cmdline as cmdline  # noqa: F401  (the lab's names)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    """Block until something accepts on 127.0.0.1:port, or raise naming the component."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what or 'process'} exited with code {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what or 'process'} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, expect_cmd: str = "", grace_s: float = 5.0) -> bool:
    """SIGTERM, wait, SIGKILL; True when the process is gone. Never touches a reused PID."""
    if not is_alive(pid, expect_cmd):
        _reap(pid)
        return True
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(100):
        _reap(pid)
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return False
