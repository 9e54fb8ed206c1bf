"""The pipeline's assets in dependency order: what ``fraud-pipeline`` and the tests materialize."""

from hybrid_location.defs.features import transformed_transactions
from hybrid_location.defs.ingestion import matured_terminal_labels, raw_customer_transactions
from hybrid_location.defs.reporting import daily_fraud_report
from hybrid_location.defs.scoring import fraud_scores
from hybrid_location.defs.training import fraud_detection_model

PIPELINE_ASSETS = [
    raw_customer_transactions,
    matured_terminal_labels,
    transformed_transactions,
    fraud_detection_model,
    fraud_scores,
    daily_fraud_report,
]
"""The pipeline's assets in dependency order (the five of the product, plus the matured terminal
label counts the features read)."""
