"""Process memory as the benchmarks measure it: the resident set, sampled while a block runs."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def rss_bytes() -> int:
    """The process's resident set size now, in bytes (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def peak_rss(interval_s: float = 0.005) -> Iterator[dict[str, int]]:
    """Sample the process RSS in a thread while the block runs; yields {'start', 'peak'}."""
    result = {"start": rss_bytes(), "peak": rss_bytes()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["peak"] = max(result["peak"], rss_bytes())
            stop.wait(interval_s)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak"] = max(result["peak"], rss_bytes())


def release_free_heap() -> None:
    """Return free malloc memory to the OS (glibc ``malloc_trim``), so that memory freed
    earlier (making the input, say) is not silently reused by a measured run."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
