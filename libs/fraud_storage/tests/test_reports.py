"""Publishing the HTML report: atomic on a local directory, one whole PUT on S3 (moto's server)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsspec
import pytest

from fraud_storage.reports import PublishedReport, is_url, publish_report

PAGE = "<html><body>" + "<p>fraud</p>" * 2000 + "</body></html>"


def test_local_report_is_published_with_its_path(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "fraud_report_2025-03-31.html"  # the directory is created

    published = publish_report(str(target), PAGE)

    assert published == PublishedReport(path=str(target), url=None)
    assert target.read_text(encoding="utf-8") == PAGE
    assert os.listdir(target.parent) == [target.name]  # no temporary file left


def test_a_failed_local_publish_keeps_the_previous_report_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page used to be written in place: a crash mid-write left half a page."""
    target = tmp_path / "fraud_report_2025-03-31.html"
    publish_report(str(target), "<html>yesterday's run</html>")

    def crash(source: str, destination: str) -> None:
        raise OSError("injected crash before the rename")

    monkeypatch.setattr("fraud_storage.reports.os.replace", crash)
    with pytest.raises(OSError, match="injected crash"):
        publish_report(str(target), PAGE)

    assert target.read_text() == "<html>yesterday's run</html>"
    assert os.listdir(tmp_path) == [target.name]


def test_file_urls_are_local(tmp_path: Path) -> None:
    published = publish_report(f"file://{tmp_path}/r.html", PAGE)
    assert published == PublishedReport(path=str(tmp_path / "r.html"), url=None)
    assert not is_url(str(tmp_path))
    assert not is_url(f"file://{tmp_path}")
    assert is_url("s3://bucket/reports")
    assert is_url("gs://bucket/reports")


@pytest.mark.s3
def test_s3_report_is_one_whole_object_linked_by_url(s3_bucket: str, s3_environment: Any) -> None:
    """FRAUD_REPORT_DIR=s3://bucket/prefix, credentials and endpoint from the AWS variables."""
    location = f"{s3_bucket}/reports/branch-a/fraud_report_2025-03-31.html"
    publish_report(location, "<html>first</html>")

    published = publish_report(location, PAGE)  # replaces the earlier page whole

    assert published == PublishedReport(path=location, url=location)
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    assert s3.cat_file(location) == PAGE.encode()
    assert s3.find(s3_bucket) == [location.removeprefix("s3://")]  # nothing else, no temp object
    bucket, key = location.removeprefix("s3://").split("/", 1)
    head = s3.call_s3("head_object", Bucket=bucket, Key=key)
    assert head["ContentType"] == "text/html; charset=utf-8"  # opens as a page, not a download
    assert head["ContentLength"] == len(PAGE.encode())


@pytest.mark.s3
def test_s3_report_with_explicit_storage_options(s3_server: Any) -> None:
    bucket = s3_server.create_bucket()
    location = f"{bucket}/reports/fraud_report_2025-03-31.html"

    published = publish_report(location, PAGE, storage_options=s3_server.storage_options())

    assert published.url == location
    assert s3_server.filesystem().cat_file(location) == PAGE.encode()
