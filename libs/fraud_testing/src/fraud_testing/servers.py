"""What the server plugins share: which modules are missing, a free loopback port, a port probe.

Used by :mod:`fraud_testing.snowflake_emulator` (fakesnow) and :mod:`fraud_testing.object_store`
(moto's S3 server); standard library only, so either plugin loads without the other's packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket

__all__ = ["accepts", "free_port", "missing_modules"]


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
