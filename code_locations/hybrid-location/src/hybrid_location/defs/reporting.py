"""The morning fraud report: warehouse summary row, HTML page, Markdown in the UI."""

from datetime import timedelta

import dagster as dg

from fraud_core.report import daily_report, render_html, render_markdown, report_summary_frame
from fraud_dagster.catalog import table_metadata
from fraud_dagster.partitions import (
    daily_partitions,
    partition_day,
    with_trailing_days,
)
from fraud_dagster.resources import (
    WAREHOUSE_POOL,
    ReportDirectory,
    WarehouseResource,
)
from fraud_dagster.settings import FraudSettings
from fraud_storage.reports import PublishedReport, publish_report
from hybrid_location.conventions import (
    GROUP,
    RETRY,
    fail_fast_on_permanent_errors,
)
from hybrid_location.defs.alerts import fraud_alerts
from hybrid_location.defs.scoring import fraud_scores

REPORT_TRAILING_DAYS = 7
"""Days of scores before the report's day that its trend compares with."""


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"snowflake", "reporting"},
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    retry_policy=RETRY,
    # The report compares the day with the trailing week of scores: declared, so that a backfill
    # scores the earlier days first and the report does not depend on the order of the runs.
    # Its alert table is the day's FRAUD_ALERTS, as case management sees it.
    deps=[with_trailing_days(fraud_scores, REPORT_TRAILING_DAYS), fraud_alerts],
    description=(
        "The morning fraud report for the day: volumes, score distribution, the alerts at the "
        "review budget with their reasons (from FRAUD_ALERTS), precision where labels are known, "
        "riskiest terminals and customers, and the trend against the trailing week. Stored in the "
        "warehouse and as an HTML page."
    ),
)
@fail_fast_on_permanent_errors
def daily_fraud_report(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    settings: FraudSettings,
    report_dir: dg.ResourceParam[ReportDirectory],
) -> dg.MaterializeResult:
    """Build, store and publish the day's fraud report."""
    day = partition_day(context)
    wh = warehouse.get_warehouse()
    first = day - timedelta(days=REPORT_TRAILING_DAYS)
    scores = wh.read_partitions(wh.tables.scores, first, day + timedelta(1))
    alerts = wh.read_partitions(wh.tables.alerts, day, day + timedelta(1))
    report = daily_report(
        scores,
        day,
        alert_budget=settings.alert_budget,
        threshold=settings.alert_threshold,
        alerts=alerts,
    )
    wh.replace_partition(wh.tables.report, report_summary_frame(report), day)
    published = publish_report(report_dir.html_path(day), render_html(report))  # whole or nothing
    return dg.MaterializeResult(
        metadata={
            "report_path": report_link(published),
            "report": dg.MetadataValue.md(render_markdown(report)),
            "table": str(wh.tables.report),
            **table_metadata(wh, wh.tables.report, day),
        }
    )


def report_link(published: PublishedReport) -> dg.MetadataValue:
    """The UI's link to the report: a URL on an object store, a path for a local file."""
    if published.url is not None:
        return dg.MetadataValue.url(published.url)
    return dg.MetadataValue.path(published.path)
