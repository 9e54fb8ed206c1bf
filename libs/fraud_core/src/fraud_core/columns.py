"""Canonical column names: the one place where a column of the pipeline's tables is spelled.

Every module of ``fraud_core`` and ``fraud_storage`` (and the code locations) imports the names
from here; none writes the string literal itself. Feature column names are not listed here: the
window-feature registry (:mod:`fraud_core.features.registry`) derives them from the feature
configuration.
"""

from __future__ import annotations

__all__ = [
    "ALERT_RANK",
    "CANONICAL_COLUMNS",
    "CUSTOMER_ID",
    "EXPECTED_FRAUD_AMOUNT",
    "FRAUD_SCORE",
    "ID_COLUMNS",
    "KEY_COLUMNS",
    "LAST_TX_DATETIME",
    "MAX_SCORE",
    "MODEL_VERSION",
    "N_TRANSACTIONS",
    "OPTIONAL_COLUMNS",
    "PARTITION_DATE",
    "PIPELINE_SHAPE",
    "REASON_COLUMNS",
    "REASON_COUNT",
    "REJECT_REASON",
    "REQUIRED_COLUMNS",
    "SCORE_KEY_COLUMNS",
    "TERMINAL_ID",
    "TOP_TRANSACTION_ID",
    "TOTAL_AMOUNT",
    "TRANSACTION_DAY",
    "TRANSACTION_ID",
    "TX_AMOUNT",
    "TX_DATETIME",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
    "reason_contribution",
    "reason_feature",
    "reason_text",
    "reason_value",
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

# --- reason codes (why a transaction scored as it did) ---------------------------------------------
REASON_COUNT = 3
"""Reasons kept per scored transaction: the features that pushed its score most."""


def reason_feature(rank: int) -> str:
    """Column of the feature behind reason ``rank`` (1 = the largest contribution)."""
    return f"reason_{_rank(rank)}_feature"


def reason_value(rank: int) -> str:
    """Column of that feature's value for the transaction."""
    return f"reason_{_rank(rank)}_value"


def reason_contribution(rank: int) -> str:
    """Column of its signed contribution to the raw score (log-odds, CatBoost's SHAP value)."""
    return f"reason_{_rank(rank)}_contribution"


def reason_text(rank: int) -> str:
    """Column of the reason in words, e.g. "amount 6.2x the card's 30-day average"."""
    return f"reason_{_rank(rank)}_text"


def _rank(rank: int) -> int:
    if not 1 <= rank <= REASON_COUNT:
        raise ValueError(f"reason rank must be in 1..{REASON_COUNT}, got {rank}")
    return rank


REASON_COLUMNS: tuple[str, ...] = tuple(
    column(rank)
    for rank in range(1, REASON_COUNT + 1)
    for column in (reason_feature, reason_value, reason_contribution, reason_text)
)
"""The reason columns of a scores row, in order (NULL where no reason was computed)."""

# --- alerts (the cards a review team opens each morning) -------------------------------------------
ALERT_RANK = "alert_rank"
"""1 = the card to review first (highest max score of the day)."""
MAX_SCORE = "max_score"
N_TRANSACTIONS = "n_transactions"
TOTAL_AMOUNT = "total_amount"
EXPECTED_FRAUD_AMOUNT = "expected_fraud_amount"
"""Sum over the card's transactions of score x amount: the money at stake the model expects."""
TOP_TRANSACTION_ID = "top_transaction_id"
"""The card's highest-scored transaction of the day: its reasons are the alert's reasons."""

# --- storage ---------------------------------------------------------------------------------------
PARTITION_DATE = "partition_date"
"""Every output table carries the daily partition it belongs to in this DATE column."""
PIPELINE_SHAPE = "pipeline_shape"
"""The fingerprint of the pipeline shape (windows, label delay, feature set) a row was built with."""
TRANSACTION_DAY = "transaction_day"
"""The day whose transactions a matured terminal label row counts."""
LAST_TX_DATETIME = "last_tx_datetime"
"""The latest ``tx_datetime`` of an entity in the warehouse's window totals."""
