"""Snowflake-specific behaviour: error classification, types, paramstyles, retries, Dagster resource.

Pure tests (no server) build connector exceptions the way the connector raises them. Emulator tests
(``snowflake`` marker) go through the real ``snowflake.connector`` to a fakesnow server subprocess;
the fault-injection tests kill or start that subprocess, nothing in the connector is patched.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from snowflake.connector import errors as sf_errors

from fraud_storage.identifiers import InvalidIdentifierError, TableName
from fraud_storage.snowflake_config import RetryConfig, connection_factory
from fraud_storage.snowflake_warehouse import (
    SnowflakeWarehouse,
    arrow_batches_to_frame,
    arrow_to_snowflake_type,
    describe_failure,
    frame_to_arrow,
    is_transient,
)
from fraud_storage.warehouse import WarehouseError, with_partition

DAY1, DAY2 = date(2024, 4, 1), date(2024, 4, 2)
SECRET = "hunter2-very-secret-password"


def scores(ids: list[int], version: str) -> pd.DataFrame:
    """A scores-like output frame."""
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "score": [0.5] * len(ids),
            "model_version": version,
            "scored_at": pd.Timestamp("2024-04-05 08:00", tz="UTC"),
        }
    )


def source_rows() -> pd.DataFrame:
    """Three source transactions around a day boundary."""
    return pd.DataFrame(
        {
            "TRANSACTION_ID": [1, 2, 3],
            "TX_DATETIME": pd.to_datetime(
                ["2024-04-01 00:00:00", "2024-04-01 23:30:00", "2024-04-02 00:00:00"]
            ).tz_localize("UTC"),
            "TX_AMOUNT": [10.0, 20.0, 30.0],
        }
    )


class Recorder:
    """Records backoff sleeps instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def counting(connect: Any) -> tuple[Any, list[int]]:
    """Wrap a connection factory to count how many connections were opened."""
    calls: list[int] = []

    def wrapped() -> Any:
        calls.append(1)
        return connect()

    return wrapped, calls


# --- is_transient / describe_failure (pure) -----------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        # the connector's own network failures
        (
            sf_errors.OperationalError(msg="Could not connect to Snowflake backend", errno=250001),
            True,
        ),
        (sf_errors.OperationalError(msg="Failed to execute request: refused", errno=250003), True),
        (sf_errors.OperationalError(msg="ConnectionTimeout occurred", errno=251011), True),
        (sf_errors.DatabaseError(msg="Connection is closed", errno=250002, sqlstate="08003"), True),
        (sf_errors.ServiceUnavailableError(), True),
        (sf_errors.GatewayTimeoutError(), True),
        (sf_errors.TooManyRequests(), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        # expired session/token, warehouse queueing/statement timeouts, lock waits
        (sf_errors.ProgrammingError(msg="Authentication token has expired", errno=390114), True),
        (sf_errors.ProgrammingError(msg="Session expired", errno=390112, sqlstate="08001"), True),
        (sf_errors.ProgrammingError(msg="Statement timeout", errno=630, sqlstate="57014"), True),
        (sf_errors.ProgrammingError(msg="Lock wait aborted", errno=625, sqlstate="57014"), True),
        # a 401 to a query of a logged-in session: the server lost the session (e.g. restarted)
        (
            sf_errors.HttpError(
                msg="401 Unauthorized: post host:443/queries/v1/query-request",
                errno=290401,
                sqlstate="08001",
            ),
            True,
        ),
        # permanent: authentication, privileges, missing objects, syntax, our own bugs
        (
            sf_errors.DatabaseError(
                msg="Incorrect username or password was specified.", errno=390100, sqlstate="28000"
            ),
            False,
        ),
        (
            sf_errors.DatabaseError(msg="Failed to connect to DB", errno=250001, sqlstate="08001"),
            False,
        ),
        (sf_errors.ForbiddenError(), False),
        (  # a 401 to the login itself: the credentials
            sf_errors.HttpError(
                msg="401 Unauthorized: post host:443/session/v1/login-request",
                errno=290401,
                sqlstate="08001",
            ),
            False,
        ),
        (
            sf_errors.ProgrammingError(msg="Insufficient privileges", errno=3001, sqlstate="42501"),
            False,
        ),
        (sf_errors.ProgrammingError(msg="does not exist", errno=2003, sqlstate="42S02"), False),
        (sf_errors.ProgrammingError(msg="syntax error", errno=1003, sqlstate="42000"), False),
        (ValueError("bad frame"), False),
        (RuntimeError("fault hook"), False),
    ],
)
def test_is_transient_classifies_by_errno_sqlstate_and_class(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient


def test_failure_messages_name_operation_object_privilege_and_role() -> None:
    denied = sf_errors.ProgrammingError(
        msg="Insufficient privileges to operate on table 'FRAUD_SCORES'",
        errno=3001,
        sqlstate="42501",
    )
    missing = sf_errors.ProgrammingError(msg="Object does not exist", errno=2003, sqlstate="42S02")

    text = describe_failure("INSERT", "FRAUD.FRAUD_SCORES", denied, role="ANALYST")

    assert text.startswith("INSERT on FRAUD.FRAUD_SCORES: insufficient privileges for role ANALYST")
    assert "does not exist or is not authorized" in describe_failure("SELECT", "RAW.X", missing)


def test_failure_messages_never_carry_secrets() -> None:
    login = sf_errors.DatabaseError(
        msg=f"Failed to connect to DB: acct.snowflakecomputing.com:443. password={SECRET}",
        errno=390100,
        sqlstate="28000",
    )

    text = describe_failure("read_source (connect)", "RAW.CUSTOMER_TRANSACTIONS", login)

    assert "authentication was rejected" in text
    assert SECRET not in text


# --- RetryConfig, Arrow conversion and DDL types (pure) -------------------------------------


def test_retry_backoff_grows_exponentially_and_is_capped() -> None:
    retry = RetryConfig(initial_backoff_s=1, max_backoff_s=5, jitter=0)
    assert [retry.backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    jittery = RetryConfig(initial_backoff_s=1, jitter=0.5)
    assert all(1 <= jittery.backoff(1) <= 1.5 for _ in range(20))
    with pytest.raises(ValueError, match="max_attempts"):
        RetryConfig(max_attempts=0)


def test_frame_to_arrow_stores_utc_naive_microseconds_and_upper_names() -> None:
    frame = pd.DataFrame(
        {
            "Tx_Datetime": [pd.Timestamp("2024-04-01 10:00:00.1234567", tz="Europe/Paris")],
            "naive": [pd.Timestamp("2024-04-01 10:00")],
            "n8": pd.array([1], dtype="Int8"),
            "u": pd.array([7], dtype="uint32"),
            "empty": [None],
            "day": [date(2024, 4, 1)],
        }
    )

    table = frame_to_arrow(frame)

    assert table.column_names == ["TX_DATETIME", "NAIVE", "N8", "U", "EMPTY", "DAY"]
    assert table.schema.field("TX_DATETIME").type == pa.timestamp("us")
    assert table.column("TX_DATETIME")[0].as_py() == pd.Timestamp("2024-04-01 08:00:00.123456")
    assert table.column("NAIVE")[0].as_py() == pd.Timestamp("2024-04-01 10:00")
    types = {f.name: arrow_to_snowflake_type(f.type) for f in table.schema}
    assert types == {
        "TX_DATETIME": "TIMESTAMP_NTZ(9)",
        "NAIVE": "TIMESTAMP_NTZ(9)",
        "N8": "NUMBER(3,0)",
        "U": "NUMBER(38,0)",
        "EMPTY": "VARCHAR",
        "DAY": "DATE",
    }
    assert arrow_to_snowflake_type(pa.float32()) == "FLOAT"
    assert arrow_to_snowflake_type(pa.bool_()) == "BOOLEAN"
    assert arrow_to_snowflake_type(pa.decimal128(12, 2)) == "NUMBER(12,2)"


def test_result_batches_of_varying_widths_become_one_frame() -> None:
    columns = [("ID", "FIXED", 0), ("AMOUNT", "REAL", None), ("TS", "TIMESTAMP_NTZ", 9)]
    columns += [("AT", "TIMESTAMP_LTZ", 9), ("DAY", "DATE", None), ("OK", "BOOLEAN", None)]
    la = "America/Los_Angeles"
    first = pa.table(
        {
            "ID": pa.array([1, 2], pa.int8()),  # Snowflake narrows integers per chunk
            "AMOUNT": [1.5, None],
            "TS": pa.array([pd.Timestamp("2024-04-01 10:00")] * 2, pa.timestamp("us")),
            "AT": pa.array([pd.Timestamp("2024-04-01 03:00", tz=la)] * 2, pa.timestamp("us", la)),
            "DAY": pa.array([date(2024, 4, 1)] * 2, pa.date32()),
            "OK": [True, None],
        }
    )
    second = pa.table(
        {
            "ID": pa.array([70000], pa.decimal128(38, 0)),  # the emulator's small NUMBERs
            "AMOUNT": [3.0],
            "TS": pa.array([pd.Timestamp("2024-04-01 11:00")], pa.timestamp("ns")),
            "AT": pa.array([pd.Timestamp("2024-04-01 12:00", tz="UTC")], pa.timestamp("ns", "UTC")),
            "DAY": pa.array([date(2024, 4, 2)], pa.date32()),
            "OK": [False],
        }
    )

    frame = arrow_batches_to_frame([first, second], columns)

    assert list(frame.columns) == ["id", "amount", "ts", "at", "day", "ok"]
    assert str(frame["id"].dtype) == "Int64"
    assert frame["id"].tolist() == [1, 2, 70000]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].tolist()[2] == pd.Timestamp("2024-04-01 11:00", tz="UTC")
    assert frame["at"].tolist()[0] == pd.Timestamp("2024-04-01 10:00", tz="UTC")
    assert frame["ok"].tolist()[:1] == [True]
    empty = arrow_batches_to_frame([], columns)
    assert empty.empty
    assert list(empty.columns) == list(frame.columns)
    assert str(empty["ts"].dt.tz) == "UTC"


def test_frame_to_arrow_rejects_bad_names_and_unsupported_types() -> None:
    with pytest.raises(InvalidIdentifierError):
        frame_to_arrow(pd.DataFrame({"ok": [1], "x; DROP TABLE y": [2]}))
    with pytest.raises(InvalidIdentifierError, match="duplicate"):
        frame_to_arrow(pd.DataFrame([[1, 2]], columns=["Score", "score"]))
    with pytest.raises(WarehouseError, match="'wait'"):
        frame_to_arrow(pd.DataFrame({"wait": pd.to_timedelta([1], unit="s")}))


def test_invalid_identifiers_fail_before_connecting() -> None:
    def connect() -> Any:
        raise AssertionError("no connection may be opened for an invalid identifier")

    wh = SnowflakeWarehouse(connect)
    with pytest.raises(InvalidIdentifierError):
        wh.read_partitions(wh.tables.scores, DAY1, DAY2, columns=["score", "a--b"])
    with pytest.raises(InvalidIdentifierError):
        wh.replace_partition(wh.tables.scores, pd.DataFrame({'a"b': [1]}), DAY1)
    with pytest.raises(InvalidIdentifierError):
        wh.load_source(pd.DataFrame({"tx_datetime": [1], "/* x */": [2]}))


# --- through the connector to the emulator ------------------------------------------------------


def raw_rows(connect: Any, sql: str) -> list[tuple]:
    """Run one statement on a plain connector connection (to inspect what was stored)."""
    with connect() as con:
        return con.cursor().execute(sql).fetchall()


@pytest.mark.snowflake
def test_tables_get_explicit_types_and_ntz_holds_utc(make_snowflake_warehouse, snowflake_connect):
    wh = make_snowflake_warehouse()
    frame = pd.DataFrame(
        {
            "transaction_id": pd.array([1, 2], dtype="int64"),
            "tx_fraud": pd.array([0, None], dtype="Int8"),
            "score": [0.25, None],
            "flagged": [True, False],
            "model_version": ["v1", None],
            "scored_at": pd.to_datetime(["2024-04-01 10:00", "2024-04-01 23:30"]).tz_localize(
                "Europe/Paris"
            ),
        }
    )
    wh.replace_partition(wh.tables.scores, frame, DAY1)

    columns = raw_rows(
        snowflake_connect,
        "SELECT column_name, data_type, numeric_precision, numeric_scale "
        "FROM INFORMATION_SCHEMA.COLUMNS WHERE table_schema = 'FRAUD' "
        "AND table_name = 'FRAUD_SCORES' ORDER BY ordinal_position",
    )
    stored = raw_rows(
        snowflake_connect,
        'SELECT "SCORED_AT" FROM "FRAUD"."FRAUD_SCORES" ORDER BY "TRANSACTION_ID"',
    )

    types = {name: kind for name, kind, *_ in columns}
    assert types == {
        "TRANSACTION_ID": "NUMBER",
        "TX_FRAUD": "NUMBER",
        "SCORE": "FLOAT",
        "FLAGGED": "BOOLEAN",
        "MODEL_VERSION": "TEXT",
        "SCORED_AT": "TIMESTAMP_NTZ",
        "PARTITION_DATE": "DATE",
    }
    precision = {name: (p, s) for name, _, p, s in columns}
    assert precision["TRANSACTION_ID"] == (38, 0)
    assert precision["TX_FRAUD"] == (3, 0)
    # NTZ-as-UTC: Paris 10:00 and 23:30 (UTC+2) are stored as naive 08:00 and 21:30
    assert [row[0] for row in stored] == [
        pd.Timestamp("2024-04-01 08:00").to_pydatetime(),
        pd.Timestamp("2024-04-01 21:30").to_pydatetime(),
    ]
    back = wh.read_partitions(wh.tables.scores, DAY1, DAY2).sort_values("transaction_id")
    assert back["scored_at"].tolist() == frame["scored_at"].dt.tz_convert("UTC").tolist()
    assert back["tx_fraud"].tolist()[0] == 0
    assert pd.isna(back["tx_fraud"].tolist()[1])


@pytest.mark.snowflake
def test_reads_do_not_depend_on_client_or_session_time_zone(
    make_snowflake_warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_snowflake_warehouse().load_source(source_rows())
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        wh = make_snowflake_warehouse(timezone="America/Los_Angeles")
        got = wh.read_source(
            pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC")
        )
        window = wh.read_source(  # naive bounds are UTC, never the client's local time
            pd.Timestamp("2024-04-01 23:00"), pd.Timestamp("2024-04-02 00:00")
        )
    finally:
        monkeypatch.undo()
        time.tzset()

    assert got["transaction_id"].tolist() == [1, 2]
    assert got["tx_datetime"].tolist() == source_rows()["TX_DATETIME"].iloc[:2].tolist()
    assert window["transaction_id"].tolist() == [2]


@pytest.mark.snowflake
def test_source_made_elsewhere_with_timestamp_tz_is_filtered_by_instant(
    make_snowflake_warehouse, snowflake_database
) -> None:
    with connection_factory(**snowflake_database.connect_kwargs())() as con:
        cur = con.cursor()
        cur.execute('CREATE SCHEMA IF NOT EXISTS "RAW"')
        cur.execute(
            'CREATE TABLE "RAW"."CUSTOMER_TRANSACTIONS" '
            '("TRANSACTION_ID" NUMBER(38,0), "TX_DATETIME" TIMESTAMP_TZ(9))'
        )
        cur.execute(
            'INSERT INTO "RAW"."CUSTOMER_TRANSACTIONS" VALUES '
            "(1, '2024-04-01 01:30:00+02:00'), (2, '2024-04-01 02:30:00+02:00')"
        )
    wh = make_snowflake_warehouse()

    got = wh.read_source(
        pd.Timestamp("2024-03-31 23:45", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC")
    )

    assert got["transaction_id"].tolist() == [2]  # 01:30+02:00 is 23:30 UTC, before the window
    assert got["tx_datetime"].tolist() == [pd.Timestamp("2024-04-01 00:30", tz="UTC")]
    assert wh.source_time_range() == (
        pd.Timestamp("2024-03-31 23:30", tz="UTC"),
        pd.Timestamp("2024-04-01 00:30", tz="UTC"),
    )


@pytest.mark.snowflake
def test_qmark_paramstyle_connections_work_too(make_snowflake_warehouse) -> None:
    wh = make_snowflake_warehouse(paramstyle="qmark")
    wh.load_source(source_rows())
    wh.replace_partition(wh.tables.scores, scores([1, 2], "v1"), DAY1)
    wh.replace_partition(wh.tables.scores, scores([3], "v2"), DAY1)

    got = wh.read_source(pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC"))

    assert got["transaction_id"].tolist() == [1, 2]
    assert wh.partition_counts(wh.tables.scores) == {DAY1: 1}
    assert wh.read_partitions(wh.tables.scores, DAY1, DAY2)["transaction_id"].tolist() == [3]


@pytest.mark.snowflake
def test_many_parquet_files_load_in_one_swap(snowflake_database) -> None:
    connect = connection_factory(**snowflake_database.connect_kwargs())
    wh = SnowflakeWarehouse(connect, rows_per_file=2)

    assert wh.replace_partition(wh.tables.scores, scores(list(range(1, 8)), "v1"), DAY1) == 7

    got = wh.read_partitions(wh.tables.scores, DAY1, DAY2)
    assert sorted(got["transaction_id"]) == list(range(1, 8))


@pytest.mark.snowflake
def test_permanent_errors_fail_fast_with_a_clear_message(snowflake_database) -> None:
    kwargs = snowflake_database.connect_kwargs(password=SECRET)
    connect, calls = counting(connection_factory(**kwargs))
    sleeps = Recorder()
    wh = SnowflakeWarehouse(connect, retry=RetryConfig(max_attempts=4, sleep=sleeps))
    elsewhere = TableName.parse("NO_SUCH_DB.FRAUD.FRAUD_SCORES")

    with pytest.raises(WarehouseError) as caught:
        wh.partition_counts(elsewhere)

    message = str(caught.value)
    assert "NO_SUCH_DB.FRAUD.FRAUD_SCORES" in message
    assert "does not exist or is not authorized" in message
    assert SECRET not in message
    assert isinstance(caught.value.__cause__, sf_errors.ProgrammingError)
    assert (len(calls), sleeps.delays) == (1, [])


@pytest.mark.snowflake
@pytest.mark.parametrize("step", ["before_swap", "during_swap"])
def test_transient_error_mid_swap_rolls_back_and_retries(
    make_snowflake_warehouse, snowflake_database, step: str
) -> None:
    base = make_snowflake_warehouse()
    table = base.tables.scores
    old, new = scores([1, 2, 3], "old"), scores([4, 5], "new")
    base.replace_partition(table, old, DAY1)
    failures = [
        sf_errors.ProgrammingError(msg="Statement reached its timeout", errno=630, sqlstate="57014")
    ]

    def hook(name: str) -> None:
        if name == step and failures:
            raise failures.pop()

    connect, calls = counting(connection_factory(**snowflake_database.connect_kwargs()))
    sleeps = Recorder()
    retrying = SnowflakeWarehouse(connect, fault_hook=hook, retry=RetryConfig(sleep=sleeps))

    assert retrying.replace_partition(table, new, DAY1) == 2

    got = base.read_partitions(table, DAY1, DAY2).sort_values("transaction_id")
    assert got["transaction_id"].tolist() == [4, 5]
    assert set(got["model_version"]) == {"new"}
    assert len(calls) == 2
    assert len(sleeps.delays) == 1


@pytest.mark.snowflake
def test_connection_lost_while_staging_is_retried(snowflake_database) -> None:
    lost = [sf_errors.OperationalError(msg="Failed to execute request", errno=250003)]

    def hook(name: str) -> None:
        if name == "staged" and lost:
            raise lost.pop()

    connect, calls = counting(connection_factory(**snowflake_database.connect_kwargs()))
    sleeps = Recorder()
    wh = SnowflakeWarehouse(connect, fault_hook=hook, retry=RetryConfig(sleep=sleeps))

    assert wh.replace_partition(wh.tables.scores, scores([1, 2], "v1"), DAY1) == 2

    assert wh.partition_counts(wh.tables.scores) == {DAY1: 2}
    assert (len(calls), len(sleeps.delays)) == (3, 1)  # two write attempts, then the count


@pytest.mark.snowflake
def test_persistent_transient_errors_give_up_and_keep_the_old_rows(
    make_snowflake_warehouse, snowflake_database
) -> None:
    base = make_snowflake_warehouse()
    table = base.tables.scores
    base.replace_partition(table, scores([1, 2, 3], "old"), DAY1)

    def hook(name: str) -> None:
        if name == "during_swap":  # the statement after DELETE times out, every time
            raise sf_errors.ProgrammingError(msg="Statement timeout", errno=630, sqlstate="57014")

    sleeps = Recorder()
    retry = RetryConfig(max_attempts=3, initial_backoff_s=0.5, jitter=0, sleep=sleeps)
    failing = SnowflakeWarehouse(
        connection_factory(**snowflake_database.connect_kwargs()), fault_hook=hook, retry=retry
    )

    with pytest.raises(WarehouseError, match=r"FRAUD\.FRAUD_SCORES.*gave up after 3 attempt"):
        failing.replace_partition(table, scores([4], "new"), DAY1)

    assert sleeps.delays == [0.5, 1.0]
    got = base.read_partitions(table, DAY1, DAY2)
    assert sorted(got["transaction_id"]) == [1, 2, 3]
    assert set(got["model_version"]) == {"old"}


@pytest.mark.snowflake
@pytest.mark.slow  # importing dagster_snowflake (snowpark, snowflake.core) costs ~17 s of CPU
def test_dagster_snowflake_resource_connection(resource_warehouse) -> None:
    wh = resource_warehouse
    wh.load_source(source_rows())
    wh.replace_partition(wh.tables.transformed, with_partition(source_rows(), DAY1), DAY1)

    got = wh.read_source(pd.Timestamp("2024-04-01", tz="UTC"), pd.Timestamp("2024-04-02", tz="UTC"))

    assert got["transaction_id"].tolist() == [1, 2]
    assert wh.partition_counts(wh.tables.transformed) == {DAY1: 3}


# --- killing and starting the emulator (private server instances) -------------------------------


@contextlib.contextmanager
def started_later(server: Any, delay_s: float) -> Iterator[threading.Thread]:
    """Start ``server`` in a background thread after ``delay_s`` seconds."""
    thread = threading.Thread(target=lambda: (time.sleep(delay_s), server.start()), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        thread.join(timeout=60)


def quick_kwargs(server: Any) -> dict[str, Any]:
    """Connector settings that give up on a dead server within seconds."""
    return {
        "host": server.host,
        "port": server.port,
        "protocol": "http",
        "account": "fakesnow",
        "user": "fake",
        "password": SECRET,
        "database": "KILLTEST",
        "schema": "PUBLIC",
        "login_timeout": 2,
        "network_timeout": 2,
        "socket_timeout": 1,
        "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    }


@pytest.mark.snowflake
@pytest.mark.slow  # starts its own emulator twice (about 5 s each on an idle machine)
# the connector's own query-abort thread hits the killed server and reports it as a thread error
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_emulator_outages_are_retried_or_reported(fakesnow_servers) -> None:
    server = fakesnow_servers(start=False)  # nothing listens on its port yet
    connect, calls = counting(connection_factory(**quick_kwargs(server)))
    restarts: list[threading.Thread] = []

    def kill_during_swap(name: str) -> None:
        if name == "during_swap" and not restarts:
            server.stop(hard=True)  # SIGKILL: the open transaction dies with the process
            restarts.append(threading.Thread(target=server.start, daemon=True))
            restarts[0].start()

    patient = RetryConfig(max_attempts=60, initial_backoff_s=0.5, max_backoff_s=1)  # polls a start
    wh = SnowflakeWarehouse(connect, retry=patient)
    killer = SnowflakeWarehouse(connect, fault_hook=kill_during_swap, retry=patient)

    # 1. the server is down at first and comes up while the write backs off
    with started_later(server, delay_s=0.2):
        assert wh.replace_partition(wh.tables.scores, scores([1, 2, 3], "old"), DAY1) == 3
    assert len(calls) >= 2  # at least one refused attempt
    assert wh.partition_counts(wh.tables.scores) == {DAY1: 3}

    # 2. the server dies between DELETE and INSERT; the whole swap is redone on the new one
    assert killer.replace_partition(wh.tables.scores, scores([4, 5], "new"), DAY1) == 2
    restarts[0].join(timeout=60)
    got = wh.read_partitions(wh.tables.scores, DAY1, DAY2)
    # the emulator keeps data in memory: the restarted one holds exactly the retried write
    assert sorted(got["transaction_id"]) == [4, 5]
    assert set(got["model_version"]) == {"new"}

    # 3. the server is gone for good: a clear error after the configured attempts, no secrets
    server.stop(hard=True)
    quick = SnowflakeWarehouse(connect, retry=RetryConfig(max_attempts=2, initial_backoff_s=0.1))
    with pytest.raises(WarehouseError) as caught:
        quick.read_partitions(wh.tables.scores, DAY1, DAY2)
    message = str(caught.value)
    assert "FRAUD.FRAUD_SCORES" in message
    assert "gave up after 2 attempt(s)" in message
    assert SECRET not in message
