"""The monitoring assets on the Snowflake path (local emulator) give the numbers they give on DuckDB.

The same small synthetic day tables (source with labels, features, scores) are loaded into both
engines; the monitoring resources come from the same environment-driven builder as in BRANCH/PROD
(``FRAUD_WAREHOUSE=snowflake`` and ``SNOWFLAKE_*`` variables), and every monitoring table must read
back equal on both engines.
"""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from fraud_core.features import build_features
from fraud_core.shape import PipelineShape
from fraud_core.simulate import simulate_transactions
from fraud_dagster.environment import Environment
from fraud_dagster.resources import DuckDBWarehouseResource, SnowflakeWarehouseResource
from fraud_dagster.settings import FraudSettings
from fraud_dagster.shape import shape_resource
from monitoring_location.defs.assets import MONITORING_ASSETS
from monitoring_location.defs.resources import build_resources
from monitoring_location.defs.upstream import UPSTREAM_SPECS
from monitoring_location.settings import MonitoringSettings

pytestmark = [
    pytest.mark.snowflake,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::dagster.BetaWarning"),
]

FIRST = date(2025, 3, 26)
N_DAYS = 6
MONITORED = [date(2025, 3, 30), date(2025, 3, 31)]
TABLES = ["SCORE_DRIFT", "FEATURE_DRIFT", "PERFORMANCE", "MODEL_HEALTH"]
SHAPE = PipelineShape(windows_days=(1, 3), label_delay_days=1)
SETTINGS = {
    "reference_days": 2,
    "reference_sample_per_day": 0,
    "min_rows": 50,
    "precision_floor": 0.0,
}


def _day_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Source transactions, their features and deterministic pseudo-scores."""
    source = simulate_transactions(
        n_customers=200, n_terminals=400, start_date=FIRST, n_days=N_DAYS, seed=11
    )
    features = build_features(source, SHAPE.feature_config())
    rng = np.random.default_rng(0)
    signal = 0.6 * features["tx_fraud"].astype("float64").fillna(0).to_numpy()
    scores = features[
        ["transaction_id", "tx_datetime", "customer_id", "terminal_id", "tx_amount", "tx_fraud"]
    ].assign(
        fraud_score=np.clip(0.05 + signal + rng.normal(0, 0.15, len(features)), 0.0, 1.0),
        model_version="m-test",
    )
    return source, features, scores


def _load(resources: dict[str, Any], tables) -> None:
    source, features, scores = tables
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        wh = ready.warehouse.get_warehouse()
        wh.load_source(source)
        day = features["tx_datetime"].dt.date
        for offset in range(N_DAYS):
            current = FIRST + timedelta(days=offset)
            for table, frame in ((wh.tables.transformed, features), (wh.tables.scores, scores)):
                wh.replace_partition(table, frame[day == current].reset_index(drop=True), current)


def _monitor(resources: dict[str, Any]) -> dict[str, pd.DataFrame]:
    with dg.instance_for_test() as instance:
        for day in MONITORED:
            result = dg.materialize(
                [*UPSTREAM_SPECS, *MONITORING_ASSETS],
                selection=MONITORING_ASSETS,
                partition_key=day.isoformat(),
                resources=resources,
                instance=instance,
            )
            assert result.success, day
    with dg.build_resources({"warehouse": resources["warehouse"]}) as ready:
        wh = ready.warehouse.get_warehouse()
        tables = resources["monitoring"].tables.resolve(wh.tables.scores)
        keys = {"FEATURE_DRIFT": ["partition_date", "feature"]}
        out = {}
        for name, table in zip(TABLES, tables.values(), strict=True):
            frame = wh.read_partitions(table, MONITORED[0], MONITORED[-1] + timedelta(days=1))
            frame = frame.drop(columns=["evaluated_at"])
            key = keys.get(name, ["partition_date"])
            out[name] = frame.sort_values(key).reset_index(drop=True)
        return out


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Engine-neutral values: dates and timestamps as ISO text, numbers as float, flags as bool."""
    out = pd.DataFrame(index=frame.index)
    for column in sorted(frame.columns):
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            out[column] = values.astype(bool)
        elif pd.api.types.is_numeric_dtype(values):
            out[column] = values.astype("float64")
        else:
            out[column] = values.astype(str)
    return out


def test_snowflake_and_duckdb_monitoring_agree(
    snowflake_database: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key, value in snowflake_database.environment().items():
        monkeypatch.setenv(key, value)
    shared = {"settings": FraudSettings(alert_budget=10), "shape": shape_resource(SHAPE)}
    snowflake = {
        **build_resources(Environment.LOCAL),
        **shared,
        "monitoring": MonitoringSettings(**SETTINGS),
    }
    assert isinstance(snowflake["warehouse"], SnowflakeWarehouseResource)
    duckdb = {
        "warehouse": DuckDBWarehouseResource(
            duckdb=DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
            seed_missing_source=False,
        ),
        **shared,
        "monitoring": MonitoringSettings(**SETTINGS),
    }
    tables = _day_tables()
    _load(snowflake, tables)
    _load(duckdb, tables)
    on_snowflake, on_duckdb = _monitor(snowflake), _monitor(duckdb)
    for name in TABLES:
        assert len(on_snowflake[name]) == len(on_duckdb[name]) > 0, name
        pd.testing.assert_frame_equal(
            _comparable(on_snowflake[name]),
            _comparable(on_duckdb[name]),
            check_exact=False,
            rtol=1e-9,
            obj=name,
        )
    performance = on_snowflake["PERFORMANCE"]
    # label delay 1 day, data up to 2025-03-31: the 30th is mature, the 31st provisional.
    assert performance["labels_mature"].astype(bool).tolist() == [True, False]
    assert (performance["roc_auc"] > 0.8).all()  # the pseudo-scores carry the label signal
    drift = on_snowflake["SCORE_DRIFT"]
    assert drift["psi_computed"].astype(bool).all()
    assert (drift["psi"] >= 0).all()
