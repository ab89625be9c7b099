"""Run ``pftryon`` commands in forked children of one process and SIGKILL them (the kill tests' driver).

The parent imports torch and what the command uses once, before any computation, so each child starts at once and
inherits no OpenMP pool. Used as a library by scripts that the kill tests run in a fresh interpreter.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Sequence


def run(args: Sequence[str], *, kill_after: float | None = None, kill_when: Callable[[], bool] | None = None) -> int:
    """Run ``pftryon ARGS`` in a forked child; SIGKILL it ``kill_after`` seconds in or once ``kill_when()`` holds
    (if it is still running); return its wait status (0: finished)."""
    from bench.cli import main

    child = os.fork()
    if child == 0:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 (the child exits without closing)
        try:
            main(list(args), standalone_mode=False)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = None if kill_after is None else time.perf_counter() + kill_after
    while True:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            return status
        if (deadline is not None and time.perf_counter() >= deadline) or (kill_when is not None and kill_when()):
            os.kill(child, signal.SIGKILL)
            return os.waitpid(child, 0)[1]
        time.sleep(0.001)
