"""Peak memory of the timed calls on the CPU: growth of the resident set over a baseline (Linux ``/proc``).

On CUDA, :mod:`bench.latency.measure` reads torch's allocator peak instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading

__all__: list[str] = []


class _CpuPeakRss:
    """Peak RSS growth over a baseline (Linux /proc); see :mod:`bench.latency`."""

    def __init__(self) -> None:
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.baseline: int | None = None
        self.measure = "unavailable"
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _rss(self) -> int | None:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * self.page
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _hwm() -> int | None:
        try:
            with open("/proc/self/status") as status:
                line = next(line for line in status if line.startswith("VmHWM:"))
            return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            return None

    def set_baseline(self) -> None:
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # glibc: give freed heap back, so it counts again when reused
        self.baseline = self._rss()

    def start(self) -> None:
        if self.baseline is None:
            return
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
            self.measure = "rss_hwm_growth"
            return
        except OSError:
            pass
        self.measure = "rss_sampled_growth"
        self._peak = self.baseline

        def sample() -> None:
            while not self._stop.wait(0.001):
                self._peak = max(self._peak, self._rss() or 0)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> int | None:
        """Peak bytes above the baseline during the timed section, or None where RSS cannot be read."""
        if self.baseline is None:
            return None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            peak = max(self._peak, self._rss() or 0)
        else:
            peak = self._hwm()
            if peak is None:
                return None
        return max(0, peak - self.baseline)
