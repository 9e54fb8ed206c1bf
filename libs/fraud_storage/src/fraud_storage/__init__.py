"""Warehouse and model-store I/O for the fraud pipeline (no orchestration dependency)."""

from fraud_storage.identifiers import InvalidIdentifierError, TableName
from fraud_storage.model_store import ModelStore, ModelVersionExistsError, PromotionRecord
from fraud_storage.tables import PARTITION_COLUMN, TableNames
from fraud_storage.warehouse import Warehouse, WarehouseError

__all__ = [
    "PARTITION_COLUMN",
    "InvalidIdentifierError",
    "ModelStore",
    "ModelVersionExistsError",
    "PromotionRecord",
    "TableName",
    "TableNames",
    "Warehouse",
    "WarehouseError",
]
