"""Dagster glue shared by the fraud code locations (the pure logic stays in ``fraud_core``).

* :mod:`fraud_dagster.environment` - LOCAL / BRANCH / PROD selection from the Dagster+ variables.
* :mod:`fraud_dagster.resources` - ``WarehouseResource`` (DuckDB, Snowflake), ``ModelStoreResource``,
  ``TablesConfig``, ``LocalSeed``, ``data_dir``, the warehouse concurrency pool.
* :mod:`fraud_dagster.builders` - the resources of each environment, built in one place.
* :mod:`fraud_dagster.partitions` - the daily partitions every per-day asset shares.
* :mod:`fraud_dagster.failures` - fail fast (no retry) on deterministic errors.
"""
