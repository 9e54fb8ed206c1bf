"""Which deployment this code runs in: LOCAL, BRANCH or PROD.

The selection is shared by every code location and lives in :mod:`fraud_dagster.environment`; this
module re-exports it under the names the hybrid location has always used.
"""

from fraud_dagster.environment import (
    Environment,
    WarehouseKind,
    branch_name,
    current_environment,
    warehouse_kind,
)

__all__ = ["Environment", "WarehouseKind", "branch_name", "current_environment", "warehouse_kind"]
