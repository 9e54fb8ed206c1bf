"""Canonical column names: the one place where a column of the pipeline's tables is spelled.

Every module of ``fraud_core`` and ``fraud_storage`` (and the code locations) imports the names
from here; none writes the string literal itself. Feature column names are not listed here: the
window-feature registry (:mod:`fraud_core.features.registry`) derives them from the feature
configuration.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL_COLUMNS",
    "CUSTOMER_ID",
    "FRAUD_SCORE",
    "ID_COLUMNS",
    "KEY_COLUMNS",
    "LAST_TX_DATETIME",
    "MODEL_VERSION",
    "OPTIONAL_COLUMNS",
    "PARTITION_DATE",
    "PIPELINE_SHAPE",
    "REJECT_REASON",
    "REQUIRED_COLUMNS",
    "SCORE_KEY_COLUMNS",
    "TERMINAL_ID",
    "TRANSACTION_DAY",
    "TRANSACTION_ID",
    "TX_AMOUNT",
    "TX_DATETIME",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
]

# --- the transaction contract ------------------------------------------------------------------
TRANSACTION_ID = "transaction_id"
TX_DATETIME = "tx_datetime"
CUSTOMER_ID = "customer_id"
TERMINAL_ID = "terminal_id"
TX_AMOUNT = "tx_amount"
TX_FRAUD = "tx_fraud"
"""Nullable 0/1 label: NULL means "not known yet" (the label delay), never "genuine"."""
TX_FRAUD_SCENARIO = "tx_fraud_scenario"

REQUIRED_COLUMNS: tuple[str, ...] = (
    TRANSACTION_ID,
    TX_DATETIME,
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_AMOUNT,
    TX_FRAUD,
)
OPTIONAL_COLUMNS: tuple[str, ...] = (TX_FRAUD_SCENARIO,)
CANONICAL_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
ID_COLUMNS: tuple[str, ...] = (TRANSACTION_ID, CUSTOMER_ID, TERMINAL_ID)
KEY_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS
"""The columns carried from a transaction into its feature row."""

REJECT_REASON = "reject_reason"
"""Why a quarantined row was rejected (rejects table)."""

# --- scores --------------------------------------------------------------------------------------
FRAUD_SCORE = "fraud_score"
MODEL_VERSION = "model_version"
SCORE_KEY_COLUMNS: tuple[str, ...] = (
    TRANSACTION_ID,
    TX_DATETIME,
    CUSTOMER_ID,
    TERMINAL_ID,
    TX_AMOUNT,
)
"""The transaction columns a score row carries (its label and score follow)."""

# --- storage ---------------------------------------------------------------------------------------
PARTITION_DATE = "partition_date"
"""Every output table carries the daily partition it belongs to in this DATE column."""
PIPELINE_SHAPE = "pipeline_shape"
"""The fingerprint of the pipeline shape (windows, label delay, feature set) a row was built with."""
TRANSACTION_DAY = "transaction_day"
"""The day whose transactions a matured terminal label row counts."""
LAST_TX_DATETIME = "last_tx_datetime"
"""The latest ``tx_datetime`` of an entity in the warehouse's window totals."""
