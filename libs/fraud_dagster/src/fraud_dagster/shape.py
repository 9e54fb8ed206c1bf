"""The pipeline shape of this deployment, read once, and the partition mappings it decides.

:data:`PIPELINE_SHAPE` is read from ``FRAUD_WINDOWS_DAYS`` / ``FRAUD_LABEL_DELAY_DAYS`` when this
module is first imported (a bad value fails the code location's load, naming the variable), and
both code locations use it: the hybrid location for its partition mappings and assets, the
monitoring location for its label delay. Assets receive it as the ``shape`` resource
(:func:`shape_resource`, not settable by run config), so tests can run them with another shape.
"""

from __future__ import annotations

import dagster as dg

from fraud_core.shape import PipelineShape
from fraud_dagster.partitions import with_trailing_days
from fraud_dagster.resources import fixed_resource

__all__ = [
    "PIPELINE_SHAPE",
    "labelled_day",
    "matured_label_window",
    "shape_resource",
    "validated_history",
]

PIPELINE_SHAPE = PipelineShape.from_env()
"""The shape every asset of this deployment is defined and run with."""


def shape_resource(shape: PipelineShape = PIPELINE_SHAPE) -> dg.ResourceDefinition:
    """The ``shape`` resource: ``shape``, fixed (run config cannot change it)."""
    return fixed_resource(shape, f"Pipeline shape: {shape.describe()}")


def validated_history(
    upstream: dg.AssetsDefinition, shape: PipelineShape = PIPELINE_SHAPE
) -> dg.AssetDep:
    """Day D's features depend on ``upstream``'s days D - lookback .. D (validated history)."""
    return with_trailing_days(upstream, shape.lookback_days)


def labelled_day(
    upstream: dg.AssetsDefinition, shape: PipelineShape = PIPELINE_SHAPE
) -> dg.AssetDep:
    """Day D's label counts depend on ``upstream``'s day D - label delay - 1 (labels now due)."""
    return with_trailing_days(
        upstream, shape.labels_due_after_days, end=shape.labels_due_after_days
    )


def matured_label_window(
    upstream: dg.AssetsDefinition, shape: PipelineShape = PIPELINE_SHAPE
) -> dg.AssetDep:
    """Day D's features depend on the label counts of the whole days of the terminal windows."""
    return with_trailing_days(upstream, shape.terminal_whole_days)
