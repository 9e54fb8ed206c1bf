"""Bad input through the real ``raw_customer_transactions`` asset (and on to features).

Every case loads its own source table into a fresh warehouse (the local seeding only happens when
the source is missing), materializes the day through Dagster, reads the output tables back and
checks the guarantee of ``docs/reliability.md``: either the run fails fast (no retry) with a
message naming the problem and writes nothing, or every row of the day is stored exactly once,
as valid or as rejected with its reason (rows read = valid stored + rejected stored). A case may
first validate the days before DAY from an earlier state of the source (``Case.earlier``): what
the warehouse already holds then decides (stored id types, transaction ids already validated).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from fraud_core.columns import (
    REJECT_REASON,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
)
from fraud_core.schema import RAW_CHARS, SHOWN_CHARS, TransactionRules
from fraud_dagster.partitions import daily_partitions
from fraud_storage import Warehouse
from fraud_storage.duckdb_warehouse import DuckDBWarehouse
from hybrid_location import pipeline as a
from hybrid_location.defs import ingestion

ALL = a.PIPELINE_ASSETS
DAY = date(2025, 3, 31)
DAY_START = pd.Timestamp(DAY, tz="UTC")
NEXT_DAY = DAY_START + pd.Timedelta(days=1)
CLOSING_ID = 1_000_000  # one transaction the next day: the day is closed
MAX_AMOUNT = TransactionRules().max_tx_amount
MAX_ID_LENGTH = TransactionRules().max_id_length
MAX_REASON_CHARS = 8 * (SHOWN_CHARS + 120)  # a few problems, each with a value cut to SHOWN_CHARS
MAX_EVENT_CHARS = 10 * MAX_REASON_CHARS  # a log line quotes at most ten reasons


def day_rows(n: int = 6, *, first_id: int = 1) -> pd.DataFrame:
    """``n`` clean transactions spread over DAY (UTC), in the canonical column order."""
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    return pd.DataFrame(
        {
            "transaction_id": ids,
            "tx_datetime": DAY_START + pd.to_timedelta(np.arange(n) * 3_600 + 61, unit="s"),
            "customer_id": ids % 3,
            "terminal_id": ids % 4 + 10,
            "tx_amount": np.round(np.linspace(5.0, 120.0, n), 2),
            "tx_fraud": pd.array([[0, 1, None][i % 3] for i in range(n)], dtype="Int8"),
        }
    )


def closing_row() -> pd.DataFrame:
    frame = day_rows(1, first_id=CLOSING_ID)
    frame["tx_datetime"] = NEXT_DAY + pd.Timedelta(hours=12)
    return frame


def day_before(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` moved to the day before DAY."""
    return frame.assign(**{TX_DATETIME: frame[TX_DATETIME] - pd.Timedelta(days=1)})


def with_closing(frame: pd.DataFrame) -> pd.DataFrame:
    closing = closing_row()
    for column in frame.columns:  # same dtypes as the case's frame (text columns stay text)
        if column in closing and frame[column].dtype == object:
            closing[column] = closing[column].astype(str)
    closing = closing[[c for c in closing.columns if c in frame.columns]]
    return pd.concat([frame, closing], ignore_index=True)


@dataclass(frozen=True)
class Case:
    """One kind of bad (or odd) input and the outcome the pipeline guarantees for it."""

    source: Callable[[], pd.DataFrame]
    read: int = 6
    rejected: int = 0
    reasons: tuple[str, ...] = ()
    """Every reject reason contains one of these, and each of these is in some reason."""
    error: str | None = None
    """A structural problem: the run fails (not retried) with a message matching this."""
    exact_table: bool = False
    """Create the source with the frame's names and types as they are (no load_source)."""
    features: bool = False
    """Also materialize transformed_transactions: one feature row per valid transaction."""
    timeless: int = 0
    """Source rows with a NULL tx_datetime: in no day, reported by a warning check instead."""
    outside: int = 0
    """Source rows dated before the first partition or in the future: in no day, reported by a
    warning check instead."""
    closed: bool = True
    """Whether the source holds a (plausible) transaction after DAY: the day is complete."""
    earlier: Callable[[], pd.DataFrame] | None = None
    """The source as it was when the days before DAY were validated (validated first); the
    case's source then replaces it."""
    runs: int = 1
    """How many times DAY is materialized (a re-run must replace the day, not see itself)."""


def _set(frame: pd.DataFrame, column: str, values: list[Any], dtype: Any = None) -> pd.DataFrame:
    frame = frame.copy()
    frame[column] = pd.Series(values, dtype=dtype)
    return frame


def _drop(column: str) -> Callable[[], pd.DataFrame]:
    return lambda: with_closing(day_rows()).drop(columns=[column])


def _extra_columns() -> pd.DataFrame:
    frame = with_closing(day_rows())
    frame["merchant_name"] = "ACME; DROP TABLE x"
    frame["channel"] = pd.Series(["web", None] * 3 + ["pos"], dtype=object)
    frame["tx_time_seconds"] = np.arange(len(frame))
    return frame


def _amount_as_text() -> pd.DataFrame:
    frame = day_rows()
    frame["tx_amount"] = ["12.50", " 7 ", "abc", "", None, "1e3"]
    return with_closing(frame)


def _ids_as_floats() -> pd.DataFrame:
    frame = day_rows()
    frame["transaction_id"] = [1.0, 2.0, 3.5, np.nan, 5.0, 6.0]
    frame["customer_id"] = [1.0, 2.0, 3.0, 1.0, 2.5, 3.0]
    return with_closing(frame)


def _null_and_duplicate_ids() -> pd.DataFrame:
    frame = day_rows()
    frame["transaction_id"] = pd.array([1, 2, 2, None, 5, 5], dtype="Int64")
    return with_closing(frame)


def _blank_text_ids() -> pd.DataFrame:
    frame = day_rows().astype({"transaction_id": str, "terminal_id": str})
    frame.loc[1, "transaction_id"] = "   "
    frame.loc[2, "terminal_id"] = ""
    return with_closing(frame)


def _amounts(values: list[float | None]) -> Callable[[], pd.DataFrame]:
    return lambda: with_closing(_set(day_rows(), "tx_amount", values, "float64"))


def _labels_outside() -> pd.DataFrame:
    return with_closing(_set(day_rows(), "tx_fraud", [0.0, 1.0, None, 2.0, -1.0, 0.5], "float64"))


def _labels_as_text() -> pd.DataFrame:
    return with_closing(_set(day_rows(), "tx_fraud", ["0", "1", None, "yes", " 1 ", "true"]))


def _naive_timestamps() -> pd.DataFrame:
    frame = with_closing(day_rows())
    frame["tx_datetime"] = frame["tx_datetime"].dt.tz_localize(None)  # a TIMESTAMP (NTZ) column
    return frame


def _other_zone() -> pd.DataFrame:
    """New York wall clock: 20:30 on DAY-1 there is DAY 00:30 UTC, 20:30 on DAY is the next day."""
    frame = day_rows(8)
    local = pd.to_datetime(
        [
            "2025-03-30 19:59:59",  # DAY-1 23:59:59 UTC: not this day
            "2025-03-30 20:00:00",  # DAY 00:00:00 UTC: this day (half-open window)
            "2025-03-30 20:30:00",
            "2025-03-31 08:00:00",
            "2025-03-31 12:00:00",
            "2025-03-31 19:59:59",  # DAY 23:59:59 UTC: this day
            "2025-03-31 20:00:00",  # next day 00:00 UTC: not this day
            "2025-03-31 23:30:00",
        ]
    ).tz_localize("America/New_York")
    frame["tx_datetime"] = local
    return pd.concat([frame, closing_row()], ignore_index=True)


def _text_timestamps() -> pd.DataFrame:
    frame = day_rows()
    frame["tx_datetime"] = [
        "2025-03-31 00:00:00",  # naive text: UTC
        "2025-03-31T05:00:00Z",
        "2025-03-31T10:00:00+02:00",  # 08:00 UTC
        "2025-04-01T01:30:00+02:00",  # 23:30 UTC on DAY
        "2025-03-31T23:30:00-02:00",  # next day 01:30 UTC: not this day
        "2025-03-30T23:59:59.999999",  # the day before: not this day
    ]
    return with_closing(frame)


def _unparseable_timestamp() -> pd.DataFrame:
    frame = _text_timestamps()
    frame.loc[4, "tx_datetime"] = "31/03/2025 twelve o'clock"
    return frame


def _far_future() -> pd.DataFrame:
    frame = with_closing(day_rows(8)).astype({"tx_datetime": "datetime64[us, UTC]"})
    frame.loc[6, "tx_datetime"] = pd.Timestamp("2200-01-01", tz="UTC")
    frame.loc[7, "tx_datetime"] = pd.Timestamp("9999-12-31 23:59:59", tz="UTC")
    return frame


def _null_timestamp() -> pd.DataFrame:
    frame = with_closing(day_rows(7))
    frame.loc[6, "tx_datetime"] = pd.NaT
    return frame


def _empty_day() -> pd.DataFrame:
    return closing_row()


def _one_transaction() -> pd.DataFrame:
    return with_closing(day_rows(1))


BURST = 3_000


def _burst() -> pd.DataFrame:
    """One customer, thousands of transactions within one second, at one terminal."""
    burst = day_rows(BURST, first_id=100)
    burst["customer_id"] = 7
    burst["terminal_id"] = 77
    offsets = pd.to_timedelta(np.arange(BURST) % 1000, unit="ms")  # repeats: equal instants too
    burst["tx_datetime"] = DAY_START + pd.Timedelta(hours=13) + offsets
    return with_closing(pd.concat([day_rows(), burst], ignore_index=True))


def _renamed(rename: Callable[[str], str]) -> Callable[[], pd.DataFrame]:
    return lambda: with_closing(day_rows()).rename(columns=rename)


def _unicode_ids() -> pd.DataFrame:
    frame = day_rows()
    frame["transaction_id"] = ["tx-ü-1", "交易-2", "🙂-3", "Ω-4", "naïve-5", "tx-6"]
    frame["customer_id"] = ["клиент", "客户", "клиент", "🙂", "客户", "клиент"]
    frame["terminal_id"] = ["términal-1", "端末", "términal-1", "端末", "ŧ", "ŧ"]
    return with_closing(frame)


def _earlier_integer_ids() -> pd.DataFrame:
    """The day before DAY, integer ids: the validated table is created with integer ids."""
    return with_closing(day_before(day_rows()))


def _non_integer_ids_later() -> pd.DataFrame:
    """The source now holds ids as text, some of them no int64 integers."""
    frame = day_rows().astype({TRANSACTION_ID: object})
    frame[TRANSACTION_ID] = ["7", " 8 ", "TX-6", str(2**63), str(-(2**63) - 1), "12"]
    earlier = day_before(day_rows()).astype({TRANSACTION_ID: str})
    return with_closing(pd.concat([earlier, frame], ignore_index=True))


def _unsigned_id_above_int64() -> pd.DataFrame:
    """An unsigned integer source column (UBIGINT) whose day holds an id of 2**63."""
    frame = with_closing(pd.concat([day_before(day_rows()), day_rows(first_id=7)]))
    frame[TRANSACTION_ID] = frame[TRANSACTION_ID].astype("uint64")
    frame.loc[8, TRANSACTION_ID] = np.uint64(2**63)  # id 9, on DAY
    return frame


def _padded_text_ids() -> pd.DataFrame:
    """Text ids with spaces around them; known frauds among them."""
    frame = day_rows().astype({TRANSACTION_ID: str})
    frame[TRANSACTION_ID] = [f" {i} " if i % 2 else f"{i}   " for i in range(1, 7)]
    frame[TX_FRAUD] = pd.array([1, 1, 0, 1, None, 1], dtype="Int8")
    return with_closing(frame)


HUGE_ID = "x" * 10_000_000  # 10 MB
HUGE_AMOUNT = "9" * 5_000_000  # 5 MB of text in a numeric column


def _huge_strings() -> pd.DataFrame:
    frame = day_rows().astype({TRANSACTION_ID: str, TX_AMOUNT: str})
    frame.loc[1, TRANSACTION_ID] = HUGE_ID
    frame.loc[2, TX_AMOUNT] = HUGE_AMOUNT + "abc"
    frame.loc[3, TRANSACTION_ID] = "y" * MAX_ID_LENGTH  # at the cap: valid
    return with_closing(frame)


def _resent_ids() -> pd.DataFrame:
    """Ids 4..6 of the day before are sent again on DAY (with new times and amounts)."""
    return with_closing(
        pd.concat([day_before(day_rows()), day_rows(first_id=4)], ignore_index=True)
    )


def _outside_partitions() -> pd.DataFrame:
    """One row before the first partition, one in 2099, and no row after DAY: DAY is not closed."""
    odd = day_rows(2, first_id=500)
    odd[TX_DATETIME] = [
        pd.Timestamp(daily_partitions.start) - pd.Timedelta(days=400),
        pd.Timestamp("2099-06-01", tz="UTC"),
    ]
    return pd.concat([day_rows(), odd], ignore_index=True)


CASES: dict[str, Case] = {
    # structural problems: the run fails with a message naming the column
    "missing transaction_id": Case(_drop("transaction_id"), error=r"missing .*'transaction_id'"),
    "missing tx_amount": Case(_drop("tx_amount"), error=r"missing .*'tx_amount'"),
    "missing tx_fraud": Case(_drop("tx_fraud"), error=r"missing .*'tx_fraud'"),
    "missing tx_datetime": Case(_drop("tx_datetime"), error=r"no tx_datetime column"),
    "timestamps as text": Case(_text_timestamps, error=r"(?i)tx_datetime has type (VARCHAR|TEXT)"),
    "unparseable text timestamp": Case(
        _unparseable_timestamp, error=r"(?i)tx_datetime has type (VARCHAR|TEXT)"
    ),
    # columns: extra ones are dropped, names in any case are accepted
    "extra columns": Case(_extra_columns, features=True),
    "upper-case columns": Case(_renamed(str.upper), exact_table=True),
    "mixed-case columns": Case(_renamed(str.title), exact_table=True, features=True),
    # types
    "amount as text": Case(
        _amount_as_text, rejected=3, reasons=("non-numeric tx_amount 'abc'", "null tx_amount")
    ),
    "ids as floats": Case(
        _ids_as_floats,
        rejected=3,
        reasons=("non-integral transaction_id 3.5", "null transaction_id", "customer_id 2.5"),
        features=True,
    ),
    "labels as text": Case(_labels_as_text, rejected=2, reasons=("invalid tx_fraud",)),
    "unicode ids": Case(_unicode_ids, features=True),
    # ids
    "null and duplicate transaction ids": Case(
        _null_and_duplicate_ids,
        rejected=5,
        reasons=("null transaction_id", "duplicate transaction_id 2", "duplicate transaction_id 5"),
    ),
    "blank text ids": Case(
        _blank_text_ids, rejected=2, reasons=("blank transaction_id", "blank terminal_id")
    ),
    "non-integer ids after days of integer ids": Case(
        _non_integer_ids_later,
        earlier=_earlier_integer_ids,
        rejected=3,
        reasons=("'TX-6' is not an integer", "is outside the int64 range"),
    ),
    "an id above 2**63 after days of integer ids": Case(
        _unsigned_id_above_int64,
        earlier=_earlier_integer_ids,
        rejected=1,
        reasons=(f"transaction_id {2**63} is outside the int64 range",),
    ),
    "padded text ids keep their labels": Case(_padded_text_ids, features=True),
    "a 10 MB id and a 5 MB amount": Case(
        _huge_strings,
        rejected=2,
        reasons=(f"is longer than {MAX_ID_LENGTH} characters", "non-numeric tx_amount '999"),
    ),
    "transaction ids re-sent from an earlier day": Case(
        _resent_ids,
        earlier=_resent_ids,
        runs=2,
        rejected=3,
        reasons=(f"already validated on {DAY - timedelta(days=1)}",),
    ),
    # amounts
    "null amount": Case(
        _amounts([1.0, None, 2.0, 3.0, 4.0, 5.0]), rejected=1, reasons=("null tx_amount",)
    ),
    "NaN amount": Case(
        _amounts([1.0, np.nan, np.nan, 3.0, 4.0, 5.0]), rejected=2, reasons=("null tx_amount",)
    ),
    "negative amount": Case(
        _amounts([1.0, -0.01, 2.0, -300.0, 4.0, 0.0]), rejected=2, reasons=("negative tx_amount",)
    ),
    "infinite amount": Case(
        _amounts([np.inf, 1.0, -np.inf, 3.0, 4.0, 1e308]),
        rejected=3,
        reasons=("infinite tx_amount", "above the plausible maximum"),
    ),
    "implausibly large amount": Case(
        _amounts([1e308, MAX_AMOUNT + 0.01, 5.0, MAX_AMOUNT, 4.0, 0.0]),
        rejected=2,
        reasons=("tx_amount 1e+308 is above the plausible maximum", "above the plausible maximum"),
    ),
    # labels
    "labels outside 0/1/NULL": Case(_labels_outside, rejected=3, reasons=("invalid tx_fraud",)),
    # timestamps
    "naive timestamps": Case(_naive_timestamps, exact_table=True, features=True),
    "timestamps in another zone": Case(_other_zone, read=5, features=True),
    "far-future timestamps": Case(_far_future, read=6, outside=2),
    "null timestamp": Case(_null_timestamp, read=6, timeless=1),
    "rows before the first partition and in 2099": Case(
        _outside_partitions, outside=2, closed=False
    ),
    # volumes
    "empty day": Case(_empty_day, read=0, features=True),  # closed, but nothing read
    "one transaction": Case(_one_transaction, read=1, features=True),
    "thousands of transactions of one customer in one second": Case(
        _burst, read=6 + BURST, features=True
    ),
}


def load_source(resources: dict[str, Any], frame: pd.DataFrame, *, exact: bool = False) -> None:
    """Create (or replace) the source table from ``frame`` (dtypes decide the column types)."""
    warehouse = DuckDBWarehouse(
        resources["warehouse"].duckdb.get_connection,
        resources["warehouse"].tables.table_names(),
    )
    if not exact:
        warehouse.load_source(frame, replace=True)
        return
    source = warehouse.tables.source
    with resources["warehouse"].duckdb.get_connection() as con:
        con.register("case_frame", frame)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{source.schema}"')
        con.execute(f"CREATE TABLE {source.quoted('duckdb')} AS SELECT * FROM case_frame")
    assert warehouse.table_exists(source)


def history_days(
    resources: dict[str, Any], instance: dg.DagsterInstance, warehouse: Warehouse | None = None
) -> None:
    """Validate the source's days before DAY: the features of DAY need them."""
    first = (warehouse or warehouse_of(resources)).source_time_range()[0].date()
    for offset in range((DAY - first).days):
        dg.materialize(
            ALL,
            selection=[a.raw_customer_transactions],
            partition_key=(first + timedelta(days=offset)).isoformat(),
            resources=resources,
            instance=instance,
        )


def run_case(
    case: Case,
    resources: dict[str, Any],
    instance: dg.DagsterInstance,
    load: Callable[[pd.DataFrame], None],
    warehouse: Warehouse,
) -> dg.ExecuteInProcessResult:
    """Load the case's source (after validating its earlier state), materialize DAY ``runs`` times."""
    if case.earlier is not None:
        load(case.earlier())
        history_days(resources, instance, warehouse)
    load(case.source())
    selection = [a.raw_customer_transactions]
    if case.features:
        selection.append(a.transformed_transactions)
        history_days(resources, instance, warehouse)
    for _ in range(case.runs):
        result = dg.materialize(
            ALL,
            selection=selection,
            partition_key=DAY.isoformat(),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    return result


def warehouse_of(resources: dict[str, Any]) -> DuckDBWarehouse:
    """The case's warehouse, opened the way any other process would (no seeding)."""
    return DuckDBWarehouse.at_path(resources["warehouse"].duckdb.database)


def stored(warehouse: Warehouse, role: str) -> pd.DataFrame:
    """The rows of DAY in an output table."""
    return warehouse.read_partitions(getattr(warehouse.tables, role), DAY, DAY + timedelta(1))


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = result.get_step_failure_events()
    assert failures, "the run failed without a step failure"
    return failures[0].step_failure_data.error.message


def check_outcome(case: Case, result: dg.ExecuteInProcessResult, warehouse: Warehouse) -> None:
    """Assert the guarantee of ``case`` on the run's result and the tables read back."""
    valid, rejected = stored(warehouse, "validated"), stored(warehouse, "rejected")
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retries == []  # bad input is deterministic: never retried
    if case.error is not None:
        assert not result.success
        message = failure_message(result)
        assert re.search(case.error, message), message
        for role in ("validated", "rejected", "transformed"):  # nothing half-written
            assert warehouse.partition_counts(getattr(warehouse.tables, role)) == {}
        return

    assert result.success, failure_message(result)
    meta = result.asset_materializations_for_node("raw_customer_transactions")[0].metadata
    assert meta["rows_read"].value == case.read
    # rows read = valid stored + rejected stored, read back from the tables
    assert len(valid) + len(rejected) == case.read
    assert len(rejected) == case.rejected, rejected.to_dict("records")
    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert evaluations["rows_conserved"].passed
    assert evaluations["rows_conserved"].metadata["read"].value == case.read
    # a row in no day is not read by any partition: the checks account for it, with the count
    timeless = evaluations["source_rows_all_have_a_time"]
    assert timeless.passed == (case.timeless == 0)
    assert timeless.metadata["source_rows_without_tx_datetime"].value == case.timeless
    outside = evaluations["source_rows_all_inside_partitions"]
    assert outside.passed == (case.outside == 0)
    assert outside.metadata["source_rows_outside_partitions"].value == case.outside
    # closed by a plausible later transaction, not by the raw maximum (a row in 2099)
    assert evaluations["day_is_complete"].passed == (case.closed and case.read > 0)
    # raw values are bounded wherever they are echoed: reasons, the rejects table, the logs
    assert all(len(reason) <= MAX_REASON_CHARS for reason in rejected.get(REJECT_REASON, []))
    raw_values = rejected.drop(columns=[REJECT_REASON], errors="ignore").astype(str)
    assert all(len(v) <= RAW_CHARS + 40 for column in raw_values for v in raw_values[column])
    assert all(len(e.message or "") <= MAX_EVENT_CHARS for e in result.all_events)
    assert valid["transaction_id"].is_unique
    assert valid["transaction_id"].notna().all()
    if len(valid):  # every valid row is a canonical, usable transaction
        assert np.isfinite(valid["tx_amount"]).all()
        assert (valid["tx_amount"] >= 0).all()
        assert valid["tx_fraud"].dropna().isin([0, 1]).all()
        assert valid["tx_datetime"].between(DAY_START, NEXT_DAY, inclusive="left").all()
    rejected_ids = set(rejected.get("transaction_id", pd.Series(dtype=str)).dropna())
    assert not set(valid["transaction_id"].astype(str)) & rejected_ids  # one place per row
    reasons = list(rejected.get("reject_reason", []))
    for reason in reasons:
        assert any(expected in reason for expected in case.reasons), reason
    for expected in case.reasons:
        assert any(expected in reason for reason in reasons), expected
    if case.features:
        features = stored(warehouse, "transformed")
        assert len(features) == len(valid)
        assert sorted(features["transaction_id"].astype(str)) == sorted(
            valid["transaction_id"].astype(str)
        )
        # the labels the features carry are the source's (refreshed by id): none lost
        labels = features.set_index(TRANSACTION_ID)[TX_FRAUD].astype("Int8").fillna(-1)
        expected = valid.set_index(TRANSACTION_ID)[TX_FRAUD].astype("Int8").fillna(-1)
        assert labels.sort_index().to_dict() == expected.sort_index().to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_quarantined_or_fails_clearly(
    name: str, make_resources: Callable[..., dict[str, Any]], instance: dg.DagsterInstance
) -> None:
    case = CASES[name]
    resources = make_resources()

    def load(frame: pd.DataFrame) -> None:
        load_source(resources, frame, exact=case.exact_table)

    result = run_case(case, resources, instance, load, warehouse_of(resources))
    check_outcome(case, result, warehouse_of(resources))


def test_the_matrix_covers_the_issue() -> None:
    assert len(CASES) >= 34
    assert sum(case.error is not None for case in CASES.values()) >= 4
    assert sum(case.features for case in CASES.values()) >= 10
    assert sum(case.earlier is not None for case in CASES.values()) >= 3
    assert DAY + timedelta(days=1) == NEXT_DAY.date()
    assert set(SNOWFLAKE_CASES) <= set(CASES)


class _DroppingValidation:
    """A validation bug: one valid row is silently lost."""

    def __init__(self, validate: Callable[..., Any]) -> None:
        self.validate = validate

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.validate(*args, **kwargs)
        return dataclasses.replace(result, valid=result.valid.iloc[1:].reset_index(drop=True))


@pytest.mark.slow
def test_rows_conserved_counts_the_rows_read_not_the_rows_validated(
    make_resources: Callable[..., dict[str, Any]],
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    resources = make_resources()
    load_source(resources, with_closing(day_rows()))
    monkeypatch.setattr(
        ingestion, "validate_transactions", _DroppingValidation(ingestion.validate_transactions)
    )
    result = dg.materialize(
        ALL,
        selection=[a.raw_customer_transactions],
        partition_key=DAY.isoformat(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    check = {c.check_name: c for c in result.get_asset_check_evaluations()}["rows_conserved"]
    assert not check.passed  # 6 read, 5 stored: the lost row is caught
    assert check.metadata["read"].value == 6
    assert check.metadata["stored_valid"].value + check.metadata["stored_rejected"].value == 5


# --- the same guarantees on the Snowflake path (local emulator) ---------------------------------

SNOWFLAKE_CASES = [
    "missing tx_amount",
    "amount as text",
    "ids as floats",
    "null and duplicate transaction ids",
    "infinite amount",
    "labels outside 0/1/NULL",
    "timestamps in another zone",
    "unicode ids",
    "empty day",
    "timestamps as text",
    "unparseable text timestamp",
    "null timestamp",
    "non-integer ids after days of integer ids",
    "padded text ids keep their labels",
    "implausibly large amount",
    "a 10 MB id and a 5 MB amount",
    "transaction ids re-sent from an earlier day",
    "rows before the first partition and in 2099",
]
SNOWFLAKE_FEATURES = {"padded text ids keep their labels"}
"""Cases whose features also run on the emulator (labels refreshed through Snowflake)."""


@pytest.fixture
def snowflake_resources(
    snowflake_database: Any,
    make_resources: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The location's resources with the warehouse built from SNOWFLAKE_* variables."""
    from fraud_dagster.environment import Environment
    from fraud_dagster.resources import SnowflakeWarehouseResource
    from hybrid_location.defs.resources import build_resources

    env = snowflake_database.environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    warehouse = build_resources(Environment.LOCAL)["warehouse"]
    assert isinstance(warehouse, SnowflakeWarehouseResource)
    return {**make_resources(), "warehouse": warehouse}


@pytest.mark.slow
@pytest.mark.snowflake
@pytest.mark.parametrize("name", SNOWFLAKE_CASES)
def test_bad_input_on_the_snowflake_path(
    name: str, snowflake_resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    case = CASES[name]
    case = dataclasses.replace(case, features=case.features and name in SNOWFLAKE_FEATURES)
    with dg.build_resources({"warehouse": snowflake_resources["warehouse"]}) as ready:
        warehouse = ready.warehouse.get_warehouse()

        def load(frame: pd.DataFrame) -> None:
            warehouse.load_source(frame, replace=True)

        result = run_case(case, snowflake_resources, instance, load, warehouse)
        check_outcome(case, result, warehouse)
