"""The deployment's pipeline shape: read once from the environment, fixed for every run, and the
partition mappings derived from it."""

import os
import subprocess
import sys

import dagster as dg
import pytest

from fraud_core.shape import PipelineShape
from fraud_dagster.shape import (
    PIPELINE_SHAPE,
    labelled_day,
    matured_label_window,
    shape_resource,
    validated_history,
)

SMALL = PipelineShape(windows_days=(1, 7), label_delay_days=2)


@dg.asset
def upstream() -> None:
    """Stands in for an upstream daily table."""


def _offsets(dep: dg.AssetDep) -> tuple[int, int]:
    mapping = dep.partition_mapping
    assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    return mapping.start_offset, mapping.end_offset


def test_mappings_are_derived_from_the_shape() -> None:
    assert _offsets(validated_history(upstream, SMALL)) == (-9, 0)  # 7 + 2 days of history
    assert _offsets(labelled_day(upstream, SMALL)) == (-3, -3)  # labels due after delay + 1
    assert _offsets(matured_label_window(upstream, SMALL)) == (-6, 0)  # whole days of 7
    shape = PIPELINE_SHAPE
    assert _offsets(validated_history(upstream)) == (-shape.lookback_days, 0)


def _read_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRAUD_")}
    code = "from fraud_dagster.shape import PIPELINE_SHAPE as s; print(s.fingerprint)"
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True
    )


@pytest.mark.slow
def test_the_shape_is_read_from_the_environment_at_import() -> None:
    default = _read_in_a_fresh_process()
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == PipelineShape().fingerprint
    small = _read_in_a_fresh_process(FRAUD_WINDOWS_DAYS="7,1", FRAUD_LABEL_DELAY_DAYS="2")
    assert small.stdout.strip() == SMALL.fingerprint
    bad = _read_in_a_fresh_process(FRAUD_LABEL_DELAY_DAYS="-2")
    assert bad.returncode != 0
    assert "FRAUD_LABEL_DELAY_DAYS='-2' is not a valid pipeline shape" in bad.stderr


def test_the_shape_resource_cannot_be_set_by_run_config() -> None:
    seen: list[PipelineShape] = []

    @dg.asset
    def reader(shape: dg.ResourceParam[PipelineShape]) -> None:
        seen.append(shape)

    resources = {"shape": shape_resource(SMALL)}
    assert dg.materialize([reader], resources=resources).success
    assert seen == [SMALL]
    with pytest.raises(dg.DagsterInvalidConfigError, match='unexpected config entry "label_delay'):
        dg.materialize(
            [reader],
            resources=resources,
            run_config={"resources": {"shape": {"config": {"label_delay_days": 7}}}},
        )
    assert shape_resource().description.endswith(PIPELINE_SHAPE.describe())
