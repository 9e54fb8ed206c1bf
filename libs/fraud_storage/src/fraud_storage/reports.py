"""Publishing the HTML report where the fraud team can open it: a local file or an object store.

The report is written whole or not at all: locally an fsynced temporary file in the same
directory is renamed over the target (``os.replace``), so a reader sees the previous report or
the new one, never a partial page; on object stores (``s3://``, ``gs://``, any fsspec URL) the page
is one PUT of the whole object, which the store makes visible only once complete (no temporary
object is ever listed). Credentials come from the standard environment of each store (AWS
variables or IRSA for S3, ``AWS_ENDPOINT_URL`` for S3-compatible stores, workload identity or
``GOOGLE_APPLICATION_CREDENTIALS`` for GCS) or from ``storage_options``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upath import UPath

__all__ = ["PublishedReport", "is_url", "publish_report"]

_LOCAL_PROTOCOLS = ("", "file", "local")
_CONTENT_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class PublishedReport:
    """Where a report was published: ``path`` always; ``url`` when it is not a local file."""

    path: str
    """The local file's absolute path, or the object's URL."""
    url: str | None
    """The object's URL (``s3://…``, ``gs://…``, ``https://…``); None for a local file."""


def is_url(location: str) -> bool:
    """Whether ``location`` names a remote object (a URL other than ``file://``)."""
    protocol = UPath(location).protocol
    return protocol not in _LOCAL_PROTOCOLS


def publish_report(
    location: str, html: str, *, storage_options: Mapping[str, Any] | None = None
) -> PublishedReport:
    """Write ``html`` at ``location`` (a path or URL) atomically; where it is now."""
    target = UPath(location, **dict(storage_options or {}))
    payload = html.encode("utf-8")
    if target.protocol in _LOCAL_PROTOCOLS:
        path = os.path.abspath(target.path)
        _replace_local(path, payload)
        return PublishedReport(path=path, url=None)
    _put_object(target, payload)
    return PublishedReport(path=str(target), url=str(target))


def _replace_local(path: str, payload: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _put_object(target: UPath, payload: bytes) -> None:
    """One PUT of the whole object (the content type set where the store takes one)."""
    fs: Any = target.fs
    options: dict[str, Any] = {}
    if target.protocol in ("s3", "s3a"):
        options["ContentType"] = _CONTENT_TYPE
    elif target.protocol in ("gs", "gcs"):
        options["content_type"] = _CONTENT_TYPE
    fs.pipe_file(target.path, payload, **options)
    fs.invalidate_cache(target.path)
