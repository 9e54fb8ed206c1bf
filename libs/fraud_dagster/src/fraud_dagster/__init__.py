"""Dagster glue shared by the fraud code locations (the pure logic stays in ``fraud_core``).

* :mod:`fraud_dagster.environment` - LOCAL / BRANCH / PROD selection from the Dagster+ variables.
* :mod:`fraud_dagster.resources` - ``WarehouseResource`` (DuckDB, Snowflake), ``ModelStoreResource``,
  ``TablesConfig``, ``LocalSeed``, ``ReportDirectory``, ``fixed_resource``, ``data_dir``, the
  warehouse concurrency pool.
* :mod:`fraud_dagster.builders` - the resources of each environment, built in one place (the
  promotion policy and report directory from the deployment's environment included).
* :mod:`fraud_dagster.shape` - the deployment's pipeline shape, read once, and its partition mappings.
* :mod:`fraud_dagster.settings` - the business knobs both locations share (alert budget, threshold).
* :mod:`fraud_dagster.partitions` - the daily partitions and their helpers.
* :mod:`fraud_dagster.failures` - fail fast (no retry) on deterministic errors.
"""
