"""``python -m runbooklib.logs PATH... [--since T] [--until T] [--json]``."""

import os
import sys

from .cli import main


def _exit(code: int) -> None:
    """End the process once everything is written, without tearing the interpreter down: unloading numpy and
    the scanner's modules took ~0.1 s after every scan (a tenth of grep's time on 256 MiB). Nothing is left
    to clean: the worker pool is shut down and the output flushed here."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `... | head`: the reader left, nothing more to say
        pass
    os._exit(code)


def _run() -> int:
    try:
        return main()
    except BrokenPipeError:  # `python -m runbooklib.logs ... | head`: as `runbook logs` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # worker processes import this module under another name
    _exit(_run())
