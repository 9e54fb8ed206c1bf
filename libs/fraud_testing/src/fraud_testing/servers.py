"""What the server plugins share: which modules are missing, a free loopback port, a port probe.

Used by :mod:`fraud_testing.snowflake_emulator` (fakesnow) and :mod:`fraud_testing.object_store`
(moto's S3 server); standard library only, so either plugin loads without the other's packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
from pathlib import Path

__all__ = ["accepts", "free_port", "log_tail", "missing_modules", "stop_process"]


def missing_modules(*names: str) -> list[str]:
    """The modules of ``names`` this environment cannot import (tests skip, naming them)."""
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except ModuleNotFoundError:
            missing.append(name)
    return missing


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def accepts(host: str, port: int) -> bool:
    """Whether a server accepts connections at ``host:port``."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
    except OSError:
        return False
    return True


def stop_process(process: subprocess.Popen[bytes] | None, *, hard: bool = False) -> None:
    """Kill a server process by pid: SIGKILL when ``hard``, else SIGTERM then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL if hard else signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines a server wrote to ``path`` (for failure messages)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no output>"
