"""pytest plugin: a local Snowflake emulator (fakesnow server) for every test of the workspace.

Registered through the ``pytest11`` entry point of ``fraud-testing`` (its pyproject.toml), so any
pytest run in an environment that has this dev-only package gets the fixtures below; the root dev
group installs it, images never do. Runs without it (``uv run --isolated --package fraud-core
pytest libs/fraud_core/tests``) simply do not load it. Where plugin autoloading is off
(``PYTEST_DISABLE_PLUGIN_AUTOLOAD``), load it with ``-p fraud_testing.snowflake_emulator``.

The emulator runs as a subprocess (``python -m fakesnow -s -p PORT``) so tests talk to it through
the real ``snowflake.connector`` over HTTP, exactly as production code talks to Snowflake. Only
the standard library and pytest are imported here: fakesnow, the Snowflake connector, Dagster and
fraud_storage are imported inside the fixtures, and tests needing them skip with a reason when
they are missing.

Fixtures:

* ``snowflake_emulator`` (session): the running server, as :class:`SnowflakeEmulator` connection
  parameters; ``emulator.connect_kwargs(database=...)`` gives ``snowflake.connector.connect`` kwargs.
* ``snowflake_database`` (function): a fresh database name, so each test starts with empty state.
* ``snowflake_connect`` (function): a connection factory (context manager per call) on that database.
* ``snowflake_resource`` (function): a ``dagster_snowflake.SnowflakeResource`` on that database.
* ``fakesnow_servers`` (function): starts extra, private servers a test may kill and restart.

Tests may also import :func:`connect_factory`, :class:`SnowflakeEmulator` and
:class:`FakesnowServer` from this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from fraud_testing.servers import accepts, free_port, log_tail, missing_modules, stop_process

EMULATOR_START_TIMEOUT_S = float(os.environ.get("FAKESNOW_START_TIMEOUT_S", "60"))
"""How long a server may take to accept connections (its imports are slow on a busy machine)."""


@dataclass
class FakesnowServer:
    """One fakesnow server subprocess on a loopback port; stop() kills it by pid."""

    port: int
    log_path: Path
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The server's process id, or None when it is not running."""
        return self.process.pid if self.process else None

    def launch(self) -> FakesnowServer:
        """Start the server process without waiting for it (see wait_ready)."""
        if self.process is not None and self.process.poll() is None:
            return self
        tmp = self.log_path.parent / "tmp"  # fakesnow keeps stage files under TMPDIR
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}
        command = [
            sys.executable,
            "-m",
            "fakesnow",
            "-s",
            "--host",
            self.host,
            "-p",
            str(self.port),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        return self

    def wait_ready(self, timeout_s: float = EMULATOR_START_TIMEOUT_S) -> FakesnowServer:
        """Wait (bounded) until the server accepts TCP connections; else stop it and raise."""
        deadline = time.monotonic() + timeout_s
        while self.process is not None and time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if accepts(self.host, self.port):
                return self
            time.sleep(0.1)
        code = self.process.returncode if self.process else None
        self.stop()
        raise RuntimeError(
            f"fakesnow server on {self.host}:{self.port} did not accept connections within "
            f"{timeout_s:.0f}s (exit code {code}); its output:\n{self.log_tail()}"
        )

    def start(self, timeout_s: float = EMULATOR_START_TIMEOUT_S) -> FakesnowServer:
        """Start the server and wait until it accepts connections."""
        return self.launch().wait_ready(timeout_s)

    def stop(self, *, hard: bool = False) -> None:
        """Kill the server process by pid (SIGKILL when ``hard``, else SIGTERM then SIGKILL)."""
        process, self.process = self.process, None
        stop_process(process, hard=hard)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server wrote (for failure messages)."""
        return log_tail(self.log_path, lines)


@dataclass(frozen=True)
class SnowflakeEmulator:
    """Connection parameters of a running emulator (fakesnow accepts any user and password)."""

    host: str
    port: int
    protocol: str = "http"
    account: str = "fakesnow"
    user: str = "fake"
    password: str = "snow"
    database: str = "FRAUD_TEST"
    schema: str = "PUBLIC"
    pid: int | None = None

    def with_database(self, database: str, schema: str | None = None) -> SnowflakeEmulator:
        """The same server with another default database (and schema)."""
        return replace(self, database=database, schema=schema or self.schema)

    def connect_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect`` (overrides win)."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "schema": self.schema,
            "login_timeout": 10,
            "network_timeout": 15,
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        kwargs.update(overrides)
        return kwargs

    def environment(self, **overrides: str) -> dict[str, str]:
        """The variables a location reads to reach this server: SNOWFLAKE_* and FRAUD_WAREHOUSE.

        What a developer with a sandbox account sets (README): the LOCAL environment forced onto
        the Snowflake path. ``overrides`` win (e.g. ``SNOWFLAKE_PASSWORD``).
        """
        env = {
            "FRAUD_ENV": "local",
            "FRAUD_WAREHOUSE": "snowflake",
            "SNOWFLAKE_ACCOUNT": self.account,
            "SNOWFLAKE_USER": self.user,
            "SNOWFLAKE_PASSWORD": self.password,
            "SNOWFLAKE_DATABASE": self.database,
            "SNOWFLAKE_HOST": self.host,
            "SNOWFLAKE_PORT": str(self.port),
            "SNOWFLAKE_PROTOCOL": self.protocol,
        }
        env.update(overrides)
        return env

    def resource_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``dagster_snowflake.SnowflakeResource`` on this server."""
        return {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "database": self.database,
            "schema": self.schema,
            "additional_snowflake_connection_args": {
                "host": self.host,
                "port": self.port,
                "protocol": self.protocol,
                "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            },
        }


def _require_emulator_modules() -> None:
    missing = missing_modules("fakesnow", "uvicorn", "snowflake.connector")
    if missing:
        pytest.skip(f"Snowflake emulator unavailable: {', '.join(missing)} not installed")


def connect_factory(
    emulator: SnowflakeEmulator, **overrides: Any
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A factory opening a real ``snowflake.connector`` connection per call, closed on exit."""
    from fraud_storage.snowflake_config import connection_factory

    return connection_factory(**emulator.connect_kwargs(**overrides))


_EARLY_SERVER = pytest.StashKey["FakesnowServer"]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch the emulator in the background as soon as a selected test needs it."""
    if session.config.option.collectonly:
        return
    if not any(item.get_closest_marker("snowflake") for item in session.items):
        return
    if missing_modules("fakesnow", "uvicorn", "snowflake.connector"):
        return
    directory = Path(tempfile.mkdtemp(prefix="fakesnow-"))
    server = FakesnowServer(port=free_port(), log_path=directory / "server.log")
    session.config.stash[_EARLY_SERVER] = server.launch()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Kill the early-launched emulator, if any, and remove its files."""
    server = config.stash.get(_EARLY_SERVER, None)
    if server is not None:
        server.stop()
        shutil.rmtree(server.log_path.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def snowflake_emulator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SnowflakeEmulator]:
    """A fakesnow server subprocess for the whole test session, killed at the end."""
    _require_emulator_modules()
    server = request.config.stash.get(_EARLY_SERVER, None)
    if server is None:
        directory = tmp_path_factory.mktemp("fakesnow")
        server = FakesnowServer(port=free_port(), log_path=directory / "server.log").launch()
    try:
        try:
            server.wait_ready()
        except RuntimeError:  # e.g. the free port was taken meanwhile: one more try
            retry_log = server.log_path.with_name("server-retry.log")
            server = FakesnowServer(port=free_port(), log_path=retry_log).start()
        yield SnowflakeEmulator(host=server.host, port=server.port, pid=server.pid)
    finally:
        server.stop()


@pytest.fixture
def snowflake_database(snowflake_emulator: SnowflakeEmulator) -> SnowflakeEmulator:
    """The emulator with a fresh, empty database for this test (created on first connection)."""
    return snowflake_emulator.with_database(f"TEST_{uuid.uuid4().hex[:12].upper()}")


@pytest.fixture
def snowflake_connect(
    snowflake_database: SnowflakeEmulator,
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A connection factory (real connector) on this test's fresh database."""
    return connect_factory(snowflake_database)


@pytest.fixture
def snowflake_resource(snowflake_database: SnowflakeEmulator) -> Any:
    """A ``dagster_snowflake.SnowflakeResource`` pointed at this test's fresh database."""
    missing = missing_modules("dagster_snowflake")
    if missing:
        pytest.skip("dagster-snowflake is not installed in this environment")
    from dagster_snowflake import SnowflakeResource

    return SnowflakeResource(**snowflake_database.resource_kwargs())


@pytest.fixture
def fakesnow_servers(tmp_path: Path) -> Iterator[Callable[..., FakesnowServer]]:
    """Start private servers (``make(port=None, start=True)``); all are killed at teardown."""
    _require_emulator_modules()
    servers: list[FakesnowServer] = []

    def make(port: int | None = None, *, start: bool = True) -> FakesnowServer:
        index = len(servers)
        server = FakesnowServer(
            port=port or free_port(), log_path=tmp_path / f"fakesnow-{index}.log"
        )
        servers.append(server)
        return server.start() if start else server

    try:
        yield make
    finally:
        for server in servers:
            server.stop(hard=True)
