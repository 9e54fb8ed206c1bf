"""pytest plugin: a real S3 API server on loopback (moto's standalone server), reached through s3fs.

Registered through the ``pytest11`` entry point of ``fraud-testing`` (its pyproject.toml), like
:mod:`fraud_testing.snowflake_emulator`. The server is a subprocess (``python -m moto.server -H
127.0.0.1 -p PORT``): tests talk to it over HTTP through ``s3fs``/``aiobotocore`` exactly as
production code talks to S3 (conditional writes included); nothing in boto is patched. Only the
standard library and pytest are imported here; tests skip with a reason when moto or s3fs is
missing (``-m "not s3"`` deselects them).

Fixtures:

* ``s3_server`` (session): the running server, as :class:`S3Server` (endpoint, credentials,
  ``storage_options()`` for fsspec, ``environment()``: the standard ``AWS_*`` variables).
* ``s3_bucket`` (function): a fresh, empty bucket; its ``s3://`` URL.
* ``s3_environment`` (function): the standard AWS variables of the server set for this test (and
  every other ``AWS_*`` configuration hidden), so code given only an ``s3://`` URL reaches it, as a
  pod configured through the environment (or IRSA) would; ``s3fs``'s instance cache is cleared
  around the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fraud_testing.servers import accepts, free_port, log_tail, missing_modules, stop_process

S3_START_TIMEOUT_S = float(os.environ.get("MOTO_START_TIMEOUT_S", "60"))
"""How long the server may take to accept connections (its imports are slow on a busy machine)."""


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``s3`` marker (the run uses --strict-markers)."""
    config.addinivalue_line("markers", "s3: runs against a local S3 API server (moto, via s3fs)")


@dataclass
class S3Server:
    """A moto S3 server subprocess on a loopback port; ``stop()`` kills it by pid."""

    port: int
    log_path: Path
    host: str = "127.0.0.1"
    region: str = "us-east-1"
    access_key: str = "fraud-test-key"
    secret_key: str = "fraud-test-secret"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint_url(self) -> str:
        """The server's URL (what ``AWS_ENDPOINT_URL`` is set to)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id, or None when it is not running."""
        return self.process.pid if self.process else None

    def start(self, timeout_s: float = S3_START_TIMEOUT_S) -> S3Server:
        """Start the server and wait (bounded) until it accepts connections."""
        command = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if accepts(self.host, self.port):
                return self
            time.sleep(0.05)
        code = self.process.returncode
        self.stop()
        raise RuntimeError(
            f"moto S3 server on {self.endpoint_url} did not accept connections within "
            f"{timeout_s:.0f}s (exit code {code}); its output:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Kill the server process by pid (SIGTERM, then SIGKILL)."""
        process, self.process = self.process, None
        stop_process(process)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote (for failure messages)."""
        return log_tail(self.log_path, lines)

    def storage_options(self) -> dict[str, Any]:
        """fsspec/s3fs options reaching this server (``ModelStore(url, storage_options=...)``)."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "endpoint_url": self.endpoint_url,
        }

    def environment(self) -> dict[str, str]:
        """The standard AWS variables a pod would set to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }

    def filesystem(self) -> Any:
        """An ``s3fs.S3FileSystem`` on this server (through s3fs's instance cache: the same one a
        ``ModelStore(url, storage_options=server.storage_options())`` uses)."""
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options())

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (default: a unique name); its ``s3://`` URL."""
        bucket = name or f"fraud-test-{uuid.uuid4().hex[:16]}"
        self.filesystem().mkdir(bucket)
        return f"s3://{bucket}"


def _require_s3_modules() -> None:
    missing = missing_modules("moto", "s3fs", "flask", "werkzeug")
    if missing:
        pytest.skip(f"local S3 server unavailable: {', '.join(missing)} not installed")


def _clear_s3fs_cache() -> None:
    if not missing_modules("s3fs"):
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server subprocess for the whole test session, killed at the end."""
    _require_s3_modules()
    directory = tmp_path_factory.mktemp("moto")
    try:
        server = S3Server(port=free_port(), log_path=directory / "server.log").start()
    except RuntimeError:  # e.g. the free port was taken meanwhile: one more try
        server = S3Server(port=free_port(), log_path=directory / "server-retry.log").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the server: ``s3://<bucket>``."""
    return s3_server.create_bucket()


_AWS_CONFIGURATION = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_S3",
)


@pytest.fixture
def s3_environment(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """This test's environment points the standard AWS variables at the server (and only them)."""
    for name in _AWS_CONFIGURATION:
        monkeypatch.delenv(name, raising=False)
    environment = {
        **s3_server.environment(),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    _clear_s3fs_cache()
    try:
        yield environment
    finally:
        _clear_s3fs_cache()
