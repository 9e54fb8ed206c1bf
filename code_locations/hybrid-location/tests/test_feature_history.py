"""transformed_transactions reads a bounded history, and still equals the full recomputation.

On both engines: after late labels change the source, the features the asset stores for a day
equal ``build_features`` over the whole ``max(window) + delay`` days of validated history with
the labels the source holds when the day's label counts were materialized (integers exactly,
floats to 1e-9 relative, 1e-12 absolute for values that are rounding noise around 0).
"""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from fraud_core.features import build_features, labels_due_days, labels_due_on
from fraud_core.scoring import refresh_labels
from fraud_core.shape import PipelineShape
from fraud_storage.feature_inputs import day_runs, read_feature_inputs
from fraud_testing.pipeline import SMALL_SHAPE
from hybrid_location import pipeline as a

DAY = date(2025, 3, 31)  # the last simulated day (conftest)


@pytest.fixture(
    params=["duckdb", pytest.param("snowflake", marks=[pytest.mark.snowflake, pytest.mark.slow])]
)
def engine_resources(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(
        "resources" if request.param == "duckdb" else "snowflake_resources"
    )


def _warehouse(resources: dict[str, Any]):
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        return ready.warehouse.get_warehouse()


def _full_recomputation(wh, day: date, shape: PipelineShape) -> pd.DataFrame:
    """The old way: every validated row of the lookback, labels from the source, all re-sorted."""
    first = day - timedelta(days=shape.lookback_days)
    history = wh.read_partitions(wh.tables.validated, first, day + timedelta(1))
    source = wh.read_source(
        pd.Timestamp(first, tz="UTC"), pd.Timestamp(day + timedelta(1), tz="UTC")
    )
    history = refresh_labels(history, source[["transaction_id", "tx_fraud"]])
    start = pd.Timestamp(day, tz="UTC")
    return build_features(
        history, shape.feature_config(), start=start, end=start + pd.Timedelta(days=1)
    )


def _run(resources: dict[str, Any], instance, selection: list, day: date):
    return dg.materialize(
        a.PIPELINE_ASSETS,
        selection=selection,
        partition_key=day.isoformat(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(e.step_failure_data.error.message for e in result.get_step_failure_events())


def _assert_same_features(got: pd.DataFrame, want: pd.DataFrame, columns: list[str]) -> None:
    got = got.sort_values("transaction_id").reset_index(drop=True)
    want = want.sort_values("transaction_id").reset_index(drop=True)
    assert got["transaction_id"].tolist() == want["transaction_id"].tolist()
    for column in columns:
        a, b = got[column].to_numpy(dtype=float), want[column].to_numpy(dtype=float)
        if want[column].dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=column)
        else:
            np.testing.assert_array_equal(a, b, err_msg=column)


@pytest.mark.slow
def test_stored_features_equal_the_full_recomputation_after_late_labels(
    engine_resources: dict[str, Any], instance: dg.DagsterInstance
) -> None:
    resources, shape = engine_resources, SMALL_SHAPE  # the shape the resources run with
    wh = _warehouse(resources)
    first = DAY - timedelta(days=shape.lookback_days)
    for i in range((DAY - first).days + 1):
        day = (first + timedelta(days=i)).isoformat()
        dg.materialize(
            a.PIPELINE_ASSETS,
            selection=[a.raw_customer_transactions],
            partition_key=day,
            resources=resources,
            instance=instance,
        )
    # chargebacks arrive late: labels change in the source for a day inside the terminal windows
    source = wh.read_source(
        pd.Timestamp(first, tz="UTC"), pd.Timestamp(DAY + timedelta(1), tz="UTC")
    )
    relabel_day = DAY - timedelta(days=shape.label_delay_days + 2)
    today_terminals = source.loc[source["tx_datetime"].dt.date == DAY, "terminal_id"]
    late = source.index[
        (source["tx_datetime"].dt.date == relabel_day)
        & source["terminal_id"].isin(today_terminals)
        & (source["tx_fraud"] == 0)
    ][:40]
    assert len(late) == 40
    source.loc[late, "tx_fraud"] = 1
    wh.load_source(source.rename(columns=str.upper), replace=True)

    early = _run(resources, instance, [a.transformed_transactions], DAY)
    assert not early.success  # the label counts it reads are not there yet: a clear failure
    assert "needs matured_terminal_labels" in _failure(early)
    due = labels_due_days(DAY, shape.feature_config())
    for day in due:
        _run(resources, instance, [a.matured_terminal_labels], day)
    assert _run(resources, instance, [a.transformed_transactions], DAY).success
    stored = wh.read_partitions(wh.tables.transformed, DAY, DAY + timedelta(1))
    want = _full_recomputation(wh, DAY, shape)
    columns = shape.feature_columns()
    _assert_same_features(stored, want, columns)

    # the late labels mattered: with the labels known at ingestion the risks differ
    history = wh.read_partitions(wh.tables.validated, first, DAY + timedelta(1))
    start = pd.Timestamp(DAY, tz="UTC")
    stale = build_features(
        history, shape.feature_config(), start=start, end=start + pd.Timedelta(days=1)
    )
    risk = "terminal_id_risk_7day_window"
    with pytest.raises(AssertionError):
        _assert_same_features(stored, stale, [risk])

    # labels count as of the day they were due (point in time): a label changed after that is
    # not seen until its due day's label counts are materialized again (as a backfill does)
    later = source.index[
        (source["tx_datetime"].dt.date == relabel_day)
        & source["terminal_id"].isin(today_terminals)
        & (source["tx_fraud"] == 0)
    ][:40]
    source.loc[later, "tx_fraud"] = 1
    wh.load_source(source.rename(columns=str.upper), replace=True)
    assert _run(resources, instance, [a.transformed_transactions], DAY).success
    again = wh.read_partitions(wh.tables.transformed, DAY, DAY + timedelta(1))
    _assert_same_features(again, stored, columns)
    with pytest.raises(AssertionError):
        _assert_same_features(again, _full_recomputation(wh, DAY, shape), [risk])
    relabel_due = labels_due_on(relabel_day, shape.feature_config())
    _run(resources, instance, [a.matured_terminal_labels], relabel_due)
    assert _run(resources, instance, [a.transformed_transactions], DAY).success
    refreshed = wh.read_partitions(wh.tables.transformed, DAY, DAY + timedelta(1))
    _assert_same_features(refreshed, _full_recomputation(wh, DAY, shape), columns)

    # and it read only the day and its boundary days, not the whole lookback
    inputs = read_feature_inputs(wh, DAY, shape.feature_config())
    counts = wh.partition_counts(wh.tables.validated)
    lookback_rows = sum(n for day, n in counts.items() if first <= day <= DAY)
    assert inputs.rows_read < lookback_rows
    assert len(inputs.day_rows) == counts[DAY]


def test_day_runs_merge_adjacent_days() -> None:
    d = date(2024, 3, 31)
    days = [d, d - timedelta(1), d - timedelta(7), d - timedelta(8), d - timedelta(30)]
    assert day_runs(days) == [
        (d - timedelta(30), d - timedelta(29)),
        (d - timedelta(8), d - timedelta(6)),
        (d - timedelta(1), d + timedelta(1)),
    ]
    assert day_runs([]) == []
