"""A versioned model store on a local directory or any fsspec URL (``s3://``, ``gs://``, ...).

Layout under the root::

    versions/<version>/<files...>      one directory per saved model, never overwritten
    versions/<version>/_COMPLETE       written last: a version without it is ignored (crash mid-save)
    promoted.json                      the version scoring uses, with the evidence that promoted it

A crash while saving leaves at worst a version without ``_COMPLETE``, which no reader picks up.
``promoted.json`` is replaced in one write (an atomic rename locally, a single PUT on object stores).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from upath import UPath

COMPLETE_MARKER = "_COMPLETE"
PROMOTED_FILE = "promoted.json"
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class ModelVersionExistsError(FileExistsError):
    """A model version is saved only once; versions are never overwritten."""


class ModelNotFoundError(FileNotFoundError):
    """The requested model version (or any promoted model) is not in the store."""


@dataclass(frozen=True)
class PromotionRecord:
    """Which version is promoted, when, and the evidence (metrics) behind the decision."""

    version: str
    promoted_at: str
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    previous_version: str | None = None


class ModelStore:
    """Saves immutable model versions (a few named files each) and tracks the promoted one."""

    def __init__(
        self, root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ):
        self.root = UPath(str(root), **dict(storage_options or {}))

    def _version_dir(self, version: str) -> UPath:
        if not _VERSION.fullmatch(version):
            raise ValueError(f"invalid model version {version!r}")
        return self.root / "versions" / version

    def save(self, version: str, files: Mapping[str, bytes]) -> UPath:
        """Store ``files`` as model ``version``; raises ModelVersionExistsError if it exists."""
        target = self._version_dir(version)
        if (target / COMPLETE_MARKER).exists():
            raise ModelVersionExistsError(f"model version {version} already exists at {target}")
        bad = [name for name in files if not _FILE.fullmatch(name) or name == COMPLETE_MARKER]
        if bad:
            raise ValueError(f"invalid model file names {bad}")
        target.mkdir(parents=True, exist_ok=True)
        for name, payload in files.items():
            (target / name).write_bytes(payload)
        (target / COMPLETE_MARKER).write_text(datetime.now(UTC).isoformat())
        return target

    def versions(self) -> list[str]:
        """Complete versions in the store, oldest name first."""
        base = self.root / "versions"
        if not base.exists():
            return []
        return sorted(p.name for p in base.iterdir() if (p / COMPLETE_MARKER).exists())

    def load(self, version: str) -> dict[str, bytes]:
        """The files of a complete version."""
        target = self._version_dir(version)
        if not (target / COMPLETE_MARKER).exists():
            raise ModelNotFoundError(
                f"model version {version} not found (or incomplete) in {self.root}"
            )
        return {p.name: p.read_bytes() for p in target.iterdir() if p.name != COMPLETE_MARKER}

    def path(self, version: str) -> UPath:
        """Where a version's files live."""
        return self._version_dir(version)

    def promote(
        self, version: str, *, reason: str, metrics: Mapping[str, Any] | None = None
    ) -> PromotionRecord:
        """Make ``version`` the one scoring uses; keeps the previous one in the record."""
        if version not in self.versions():
            raise ModelNotFoundError(
                f"cannot promote {version}: not a complete version in {self.root}"
            )
        current = self.promoted()
        record = PromotionRecord(
            version=version,
            promoted_at=datetime.now(UTC).isoformat(),
            reason=reason,
            metrics=dict(metrics or {}),
            previous_version=current.version if current else None,
        )
        self._write_atomically(self.root / PROMOTED_FILE, json.dumps(asdict(record), indent=2))
        return record

    def promoted(self) -> PromotionRecord | None:
        """The promotion record, or None when no model was ever promoted."""
        path = self.root / PROMOTED_FILE
        if not path.exists():
            return None
        return PromotionRecord(**json.loads(path.read_text()))

    def _write_atomically(self, path: UPath, text: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if path.protocol in ("", "file", "local"):
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_text(text)
            os.replace(tmp.path, path.path)
        else:  # object stores replace a key in one PUT
            path.write_text(text)
