"""The pipeline's assets in dependency order: what ``fraud-pipeline`` and the tests materialize."""

from hybrid_location.catalog import catalogued_assets
from hybrid_location.defs.alerts import fraud_alerts
from hybrid_location.defs.features import transformed_transactions
from hybrid_location.defs.ingestion import matured_terminal_labels, raw_customer_transactions
from hybrid_location.defs.reporting import daily_fraud_report
from hybrid_location.defs.scoring import fraud_scores
from hybrid_location.defs.training import fraud_detection_model

PIPELINE_ASSETS = catalogued_assets(
    [
        raw_customer_transactions,
        matured_terminal_labels,
        transformed_transactions,
        fraud_detection_model,
        fraud_scores,
        fraud_alerts,
        daily_fraud_report,
    ]
)
"""The pipeline's assets in dependency order (the five of the product, the alerts table that
case management and the report read, and the matured terminal label counts the features read),
with the location's catalog applied (owners, schema, code versions), so that a direct
``dg.materialize`` (``fraud-pipeline``, the tests) records the code versions ``dg dev`` compares."""

(
    raw_customer_transactions,
    matured_terminal_labels,
    transformed_transactions,
    fraud_detection_model,
    fraud_scores,
    fraud_alerts,
    daily_fraud_report,
) = PIPELINE_ASSETS
"""The same assets by name, catalogued: ``pipeline.fraud_scores`` is the one in PIPELINE_ASSETS."""
