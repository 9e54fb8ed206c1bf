"""A versioned, integrity-checked model store on a local directory or any fsspec URL.

Layout under the root (a directory, ``s3://bucket/prefix``, ``gs://bucket/prefix``, ...)::

    versions/<version>/<files...>        one directory per saved model, never overwritten
    versions/<version>/_COMPLETE         written last: the version's manifest (SHA-256 and size of
                                         every file); a version without it is invisible
    versions/<version>/_PROMOTION-<id>.json
                                         a copy of each record the version was promoted with (id:
                                         the record's SHA-256): the proof it went through ``promote``
    promoted.json                        the version scoring uses: the SHA-256 of its files, the
                                         gate's metrics and decision, the previous version

**Integrity.** Every load re-hashes the files against the manifest. Loading the promoted model
also checks that ``promoted.json`` records the manifest's hashes and that the version holds the
certificate of exactly that record. A changed or missing file, a record that does not match, a version that was
never promoted, a broken record (bad JSON, unknown or missing keys, wrong types) raise
:class:`ModelIntegrityError`, a ``ValueError``: permanent, never retried, naming the file.

**Atomicity.** Locally every file is fsynced before the manifest is linked into place (an
exclusive link: a version is saved once) and ``promoted.json`` is replaced by ``os.replace`` of an
fsynced temporary file. On object stores every object is one PUT, visible whole or not at all, the
manifest last. A crash mid-save leaves a version without a manifest, which nothing reads.

**Concurrency.** :meth:`ModelStore.promote` is a compare-and-swap against the record its caller
read before training (``expected_current``); it raises :class:`PromotionConflictError` when
``promoted.json`` changed meanwhile. Locally the check and the replace run under an exclusive
``flock`` of the root directory; on S3 the replace is a conditional PUT (``If-Match`` on the ETag
read, ``If-None-Match: *`` when there was no record); on other stores (``gs://``, ...) the check and
the write run under a lease object created with a create-only write and deleted after.

Stores written before manifests (``_COMPLETE`` holding a timestamp, ``promoted.json`` without file
hashes) are refused for scoring with :class:`LegacyModelStoreError`: retrain, and the next
promotion writes a verified record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

from upath import UPath

__all__ = [
    "COMPLETE_MARKER",
    "PROMOTED_FILE",
    "PROMOTION_CERTIFICATE_PREFIX",
    "UNCHECKED",
    "FileDigest",
    "LegacyModelStoreError",
    "ModelIntegrityError",
    "ModelNotFoundError",
    "ModelStore",
    "ModelVersionExistsError",
    "PromotionConflictError",
    "PromotionRecord",
    "VersionManifest",
]

COMPLETE_MARKER = "_COMPLETE"
PROMOTION_CERTIFICATE_PREFIX = "_PROMOTION-"
PROMOTED_FILE = "promoted.json"
LEASE_FILE = "promoted.json.lease"
MANIFEST_SCHEMA_VERSION = 1
PROMOTION_SCHEMA_VERSION = 2
PROMOTION_WAIT_S = 30.0
"""How long a promotion waits for another one (local lock, object-store lease) before refusing."""

_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LOCAL_PROTOCOLS = ("", "file", "local")
_S3_PROTOCOLS = ("s3", "s3a")
_LEGACY_RECORD_KEYS = frozenset({"version", "promoted_at", "reason", "metrics", "previous_version"})
_S3_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


class ModelVersionExistsError(FileExistsError):
    """A model version is saved only once; versions are never overwritten."""


class ModelNotFoundError(FileNotFoundError):
    """The requested model version (or any promoted model) is not in the store."""


class ModelIntegrityError(ValueError):
    """A stored model file or record is not what the store wrote: permanent, never retried."""


class LegacyModelStoreError(ModelIntegrityError):
    """Written before manifests and hashed promotion records: it cannot be verified; retrain."""


class PromotionConflictError(ValueError):
    """``promoted.json`` changed after the caller read it (another promotion won): nothing written.

    Permanent for the run that raised it: its candidate stays saved; training again compares it
    (or a new candidate) with the model that is promoted now.
    """


class _Unchecked(Enum):
    UNCHECKED = "unchecked"


UNCHECKED: Final = _Unchecked.UNCHECKED
"""``promote(expected_current=UNCHECKED)``: promote whatever is current (manual promotions only)."""


@dataclass(frozen=True)
class FileDigest:
    """SHA-256 and size of one stored file."""

    sha256: str
    size: int

    @classmethod
    def of(cls, payload: bytes) -> FileDigest:
        """The digest of ``payload``."""
        return cls(hashlib.sha256(payload).hexdigest(), len(payload))

    def describe(self) -> str:
        """``sha256 <hex> (<n> bytes)``."""
        return f"sha256 {self.sha256} ({self.size} bytes)"


@dataclass(frozen=True)
class VersionManifest:
    """The completion marker of a version: what its files must hash to."""

    version: str
    completed_at: str
    files: dict[str, FileDigest]
    schema_version: int = MANIFEST_SCHEMA_VERSION

    def to_json(self) -> str:
        """The ``_COMPLETE`` file's content."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


@dataclass(frozen=True)
class PromotionRecord:
    """Which version is promoted, when, the hashes of its files and the gate's evidence.

    ``metrics`` are the candidate's validation metrics, ``compared_with`` the metrics of the model
    it replaced on the same validation window (None: first model, or not comparable), ``policy``
    the gate's thresholds and ``reason`` its decision. ``files`` is None only in records written
    before integrity records (``schema_version`` 1), which scoring refuses.
    """

    version: str
    promoted_at: str
    reason: str
    metrics: dict[str, float] = field(default_factory=dict)
    previous_version: str | None = None
    files: dict[str, FileDigest] | None = None
    compared_with: dict[str, float] | None = None
    policy: dict[str, float | str] = field(default_factory=dict)
    schema_version: int = PROMOTION_SCHEMA_VERSION

    @property
    def is_legacy(self) -> bool:
        """Written before promotion records held file hashes."""
        return self.files is None

    def to_json(self) -> str:
        """The ``promoted.json`` content."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def describe(self) -> str:
        """A short description for messages."""
        return f"version {self.version} promoted at {self.promoted_at}"

    def identity(self) -> str:
        """SHA-256 of the canonical JSON: equal records, equal identity (NaN metrics included)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()


class ModelStore:
    """Saves immutable, hashed model versions (a few named files each); tracks the promoted one."""

    def __init__(
        self, root: str | os.PathLike[str], storage_options: Mapping[str, Any] | None = None
    ):
        self.root = UPath(str(root), **dict(storage_options or {}))
        self._fs: Any = self.root.fs
        self._local = self.root.protocol in _LOCAL_PROTOCOLS
        base = self.root.path
        self._base = os.path.abspath(base) if self._local else base.rstrip("/")

    # --- saving and loading versions -----------------------------------------------------------

    def _version_dir(self, version: str) -> UPath:
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise ValueError(f"invalid model version {version!r}")
        return self.root / "versions" / version

    def save(self, version: str, files: Mapping[str, bytes]) -> UPath:
        """Store ``files`` as model ``version``; raises ModelVersionExistsError if it exists."""
        target = self._version_dir(version)
        bad = [name for name in files if not _FILE.fullmatch(name)]
        if bad or not files:
            raise ValueError(f"invalid model file names {bad or '(none)'}")
        marker = self._key("versions", version, COMPLETE_MARKER)
        if self._read(marker) is not None:
            raise ModelVersionExistsError(f"model version {version} already exists at {target}")
        manifest = VersionManifest(
            version=version,
            completed_at=_now(),
            files={name: FileDigest.of(payload) for name, payload in files.items()},
        )
        directory = self._key("versions", version)
        if self._local:
            os.makedirs(directory, exist_ok=True)
            _fsync_directory(os.path.dirname(directory))
        for name, payload in files.items():
            self._write(self._key("versions", version, name), payload)
        if self._local:
            _fsync_directory(directory)
        try:
            self._create(marker, manifest.to_json().encode())
        except FileExistsError:
            raise ModelVersionExistsError(
                f"model version {version} already exists at {target}"
            ) from None
        return target

    def versions(self) -> list[str]:
        """Complete versions in the store (those with a manifest), oldest name first."""
        base = self._key("versions")
        if not self._local:
            self._fs.invalidate_cache(base)
        try:
            found = self._fs.find(base)
        except FileNotFoundError:
            return []
        names = set()
        for path in found:
            parts = str(path).rstrip("/").split("/")
            if len(parts) >= 2 and parts[-1] == COMPLETE_MARKER:
                inside = "/".join(parts[:-2]).lstrip("/") == base.lstrip("/")
                if inside and _VERSION.fullmatch(parts[-2]):
                    names.add(parts[-2])
        return sorted(names)

    def manifest(self, version: str) -> VersionManifest:
        """The manifest of a complete version; ModelNotFoundError when it has none."""
        self._version_dir(version)
        marker = self._key("versions", version, COMPLETE_MARKER)
        raw = self._read(marker)
        if raw is None:
            raise ModelNotFoundError(
                f"model version {version} not found (or incomplete) in {self.root}"
            )
        return _parse_manifest(raw, self._url(marker), version)

    def load(self, version: str) -> dict[str, bytes]:
        """The files of a complete version, each verified against its manifest."""
        return self._read_verified(self.manifest(version))

    def path(self, version: str) -> UPath:
        """Where a version's files live."""
        return self._version_dir(version)

    # --- promotion -------------------------------------------------------------------------------

    def promoted(self) -> PromotionRecord | None:
        """The promotion record, or None when no model was ever promoted."""
        raw = self._read(self._key(PROMOTED_FILE))
        return None if raw is None else _parse_record(raw, self._url(self._key(PROMOTED_FILE)))

    def load_promoted(self, record: PromotionRecord) -> dict[str, bytes]:
        """The files of the promoted version, verified against ``record``, its manifest and its
        promotion certificate; ModelIntegrityError (or LegacyModelStoreError) otherwise."""
        record_url = self._url(self._key(PROMOTED_FILE))
        if record.files is None:
            raise LegacyModelStoreError(
                f"promotion record {record_url} (version {record.version}) was written before "
                "promotion records held file hashes: its model cannot be verified, so it is not "
                "used. Retrain (materialize fraud_detection_model; locally `fraud-pipeline "
                "--retrain`): the next promotion writes a verified record."
            )
        try:
            manifest = self.manifest(record.version)
        except LegacyModelStoreError as error:  # a hashed record for an unhashed version: no
            raise ModelIntegrityError(  # legacy store, a replaced manifest (never "incomparable")
                f"{record_url} records file hashes but version {record.version}'s manifest holds "
                f"none: the manifest was replaced after the promotion ({error})"
            ) from None
        _require_same_files(record.files, manifest.files, record_url, self._url_of(manifest))
        self._require_certificate(record, record_url)
        return self._read_verified(manifest)

    def _certificate_key(self, record: PromotionRecord) -> str:
        name = f"{PROMOTION_CERTIFICATE_PREFIX}{record.identity()[:24]}.json"
        return self._key("versions", record.version, name)

    def _require_certificate(self, record: PromotionRecord, record_url: str) -> None:
        """The version holds the certificate of exactly ``record``: it went through promote()."""
        key = self._certificate_key(record)
        raw = self._read(key)
        if raw is not None and _parse_record(raw, self._url(key)).identity() == record.identity():
            return
        certificates = self._certificates(record.version)
        if not certificates:
            raise ModelIntegrityError(
                f"{record_url} names version {record.version}, which never passed the promotion "
                f"gate (it holds no {PROMOTION_CERTIFICATE_PREFIX}*.json certificate): restore the "
                "promotion record or promote a version through fraud_detection_model"
            )
        latest = max(certificates, key=lambda c: c.promoted_at)
        changed = [
            f.name
            for f in dataclasses.fields(PromotionRecord)
            if _canonical(getattr(latest, f.name)) != _canonical(getattr(record, f.name))
        ]
        raise ModelIntegrityError(
            f"{record_url} matches none of version {record.version}'s promotion certificates "
            f"(against the latest, of {latest.promoted_at}, keys {changed} differ): the promotion "
            "record was changed after the promotion"
        )

    def _certificates(self, version: str) -> list[PromotionRecord]:
        directory = self._key("versions", version)
        if not self._local:
            self._fs.invalidate_cache(directory)
        try:
            names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in self._fs.ls(directory, False)]
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if name.startswith(PROMOTION_CERTIFICATE_PREFIX) and name.endswith(".json"):
                raw = self._read(self._key("versions", version, name))
                if raw is not None:
                    found.append(
                        _parse_record(raw, self._url(self._key("versions", version, name)))
                    )
        return found

    def promote(
        self,
        version: str,
        *,
        reason: str,
        metrics: Mapping[str, float] | None = None,
        compared_with: Mapping[str, float] | None = None,
        policy: Mapping[str, float | str] | None = None,
        expected_current: PromotionRecord | _Unchecked | None = UNCHECKED,
    ) -> PromotionRecord:
        """Make ``version`` the one scoring uses, if ``promoted.json`` is still ``expected_current``.

        ``expected_current`` is the record read before training (None: there was none); when the
        record changed meanwhile nothing is written and PromotionConflictError is raised. Only
        manual promotions omit it. The version's files are verified before it is promoted.
        """
        manifest = self.manifest(version)
        self._read_verified(manifest)
        with self._promotion_guard():
            raw, token = self._read_promoted_for_update()
            current = self._check_expected(raw, expected_current, version)
            record = PromotionRecord(
                version=version,
                promoted_at=_now(),
                reason=reason,
                metrics=_floats(metrics or {}),
                previous_version=current.version if current else None,
                files=dict(manifest.files),
                compared_with=None if compared_with is None else _floats(compared_with),
                policy=dict(policy or {}),
            )
            text = record.to_json()
            self._replace(self._certificate_key(record), text)
            self._swap_promoted(text, token, replaces_existing=raw is not None)
        return record

    def _check_expected(
        self,
        raw: bytes | None,
        expected: PromotionRecord | _Unchecked | None,
        version: str,
    ) -> PromotionRecord | None:
        """The current record; PromotionConflictError when it is not ``expected``."""
        url = self._url(self._key(PROMOTED_FILE))
        if expected is UNCHECKED:  # a manual promotion may also replace a broken record
            try:
                return None if raw is None else _parse_record(raw, url)
            except ModelIntegrityError:
                return None
        current = None if raw is None else _parse_record(raw, url)
        if (current and current.identity()) != (expected and expected.identity()):
            found = current.describe() if current else "no promoted model"
            wanted = expected.describe() if expected else "no promoted model"
            raise PromotionConflictError(
                f"{url} changed since it was read (expected {wanted}, found {found}): another "
                f"promotion won, so {version} was not promoted (it stays saved). Train again to "
                "compare a candidate with the model promoted now."
            )
        return current

    # --- storage primitives: local files or fsspec objects -------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join([self._base, *parts])

    def _url(self, key: str) -> str:
        if self._local:
            return key
        return f"{self.root.protocol}://{key.lstrip('/')}"

    def _url_of(self, manifest: VersionManifest) -> str:
        return self._url(self._key("versions", manifest.version, COMPLETE_MARKER))

    def _read(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            if self._local:
                with open(key, "rb") as handle:
                    return handle.read()
            return bytes(self._fs.cat_file(key))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _read_verified(self, manifest: VersionManifest) -> dict[str, bytes]:
        files = {}
        for name, expected in manifest.files.items():
            key = self._key("versions", manifest.version, name)
            payload = self._read(key)
            if payload is None:
                raise ModelIntegrityError(
                    f"model version {manifest.version}: {self._url(key)} is listed in its "
                    f"manifest {self._url_of(manifest)} but missing"
                )
            actual = FileDigest.of(payload)
            if actual != expected:
                raise ModelIntegrityError(
                    f"model version {manifest.version}: {self._url(key)} has {actual.describe()} "
                    f"but its manifest {self._url_of(manifest)} records {expected.describe()}: "
                    "the file changed after the version was saved. Restore it or retrain."
                )
            files[name] = payload
        return files

    def _write(self, key: str, payload: bytes) -> None:
        """Write (or overwrite) one object; locally fsynced before returning."""
        if self._local:
            UPath(key).write_bytes(payload)
            _fsync_file(key)
        else:
            self._fs.pipe_file(key, payload)

    def _create(self, key: str, payload: bytes) -> None:
        """Create an object that must not exist (FileExistsError otherwise), whole or not at all."""
        if not self._local:
            self._fs.pipe_file(key, payload, mode="create")  # S3 If-None-Match, GCS generation 0
            return
        # Written under its own name in a private staging directory of the store (same file
        # system), then linked into place: atomic, and exclusive (link never replaces a file).
        staging = tempfile.mkdtemp(prefix=".staging-", dir=self._base)
        try:
            tmp = os.path.join(staging, os.path.basename(key))
            UPath(tmp).write_text(payload.decode())
            _fsync_file(tmp)
            os.link(tmp, key)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _fsync_directory(os.path.dirname(key))

    def _replace(self, key: str, text: str) -> None:
        """Replace an object whole: os.replace of an fsynced temporary file, or one PUT."""
        if not self._local:
            self._fs.pipe_file(key, text.encode())
            return
        tmp = _temporary_name(key)
        try:
            UPath(tmp).write_text(text)
            _fsync_file(tmp)
            os.replace(tmp, key)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_directory(os.path.dirname(key))

    def _is_s3(self) -> bool:
        return self.root.protocol in _S3_PROTOCOLS

    def _read_promoted_for_update(self) -> tuple[bytes | None, str | None]:
        """promoted.json and, on S3, the ETag to make the replacement conditional on."""
        key = self._key(PROMOTED_FILE)
        if not self._is_s3():
            return self._read(key), None
        bucket, path = key.split("/", 1)
        try:  # the ETag first: if the record changes before it is read, the PUT is refused
            head = self._fs.call_s3("head_object", Bucket=bucket, Key=path)
        except FileNotFoundError:
            return None, None
        return self._read(key), str(head["ETag"])

    def _swap_promoted(self, text: str, token: str | None, *, replaces_existing: bool) -> None:
        key = self._key(PROMOTED_FILE)
        if not self._is_s3():
            self._replace(key, text)
            return
        bucket, path = key.split("/", 1)
        condition = {"IfMatch": token} if replaces_existing and token else {"IfNoneMatch": "*"}
        try:
            self._fs.call_s3(
                "put_object",
                Bucket=bucket,
                Key=path,
                Body=text.encode(),
                ContentType="application/json",
                **condition,
            )
        except OSError as error:
            if not _is_s3_conflict(error):
                raise
            raise PromotionConflictError(
                f"{self._url(key)} changed while this promotion was writing it (conditional PUT "
                f"refused: {error}): another promotion won. Train again to compare a candidate "
                "with the model promoted now."
            ) from error
        finally:
            self._fs.invalidate_cache(key)

    @contextlib.contextmanager
    def _promotion_guard(self) -> Iterator[None]:
        """Serialise promotions: a local flock, nothing on S3 (conditional PUT), else a lease."""
        if self._local:
            with _exclusive_directory_lock(self._base):
                yield
        elif self._is_s3():
            yield
        else:
            with self._lease():
                yield

    @contextlib.contextmanager
    def _lease(self) -> Iterator[None]:
        key = self._key(LEASE_FILE)
        owner = {"owner": uuid.uuid4().hex, "host": socket.gethostname(), "pid": os.getpid()}
        body = json.dumps({**owner, "acquired_at": _now()}).encode()
        deadline = time.monotonic() + PROMOTION_WAIT_S
        while True:
            try:
                self._fs.pipe_file(key, body, mode="create")
                break
            except FileExistsError:
                if time.monotonic() >= deadline:
                    held = (self._read(key) or b"").decode(errors="replace")[:300]
                    raise PromotionConflictError(
                        f"another promotion holds the lease {self._url(key)} ({held}); if no "
                        "training is running, a crashed promotion left it: delete it and re-run"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            if self._read(key) == body:
                self._fs.rm_file(key)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _temporary_name(key: str) -> str:
    directory, name = os.path.split(key)
    return os.path.join(directory, f".{name}.{uuid.uuid4().hex}.tmp")


def _fsync_file(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_directory(path: str) -> None:
    """Make a directory's entries (a new or renamed file) durable."""
    _fsync_file(path)


@contextlib.contextmanager
def _exclusive_directory_lock(directory: str) -> Iterator[None]:
    os.makedirs(directory, exist_ok=True)
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        deadline = time.monotonic() + PROMOTION_WAIT_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PromotionConflictError(
                        f"another promotion has held the lock on {directory} for more than "
                        f"{PROMOTION_WAIT_S:.0f}s"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _is_s3_conflict(error: OSError) -> bool:
    if isinstance(error, (FileExistsError, FileNotFoundError)):
        return True  # If-None-Match refused, or the record was deleted under If-Match
    response = getattr(error.__cause__, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return code in _S3_CONFLICT_CODES or status in _S3_CONFLICT_CODES


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=lambda v: dataclasses.asdict(v))


def _floats(values: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.items()}


def _require_same_files(
    recorded: Mapping[str, FileDigest],
    manifest: Mapping[str, FileDigest],
    record_url: str,
    manifest_url: str,
) -> None:
    if recorded == manifest:
        return
    differences = []
    for name in sorted(set(recorded) | set(manifest)):
        ours, theirs = recorded.get(name), manifest.get(name)
        if ours != theirs:
            left = ours.describe() if ours else "nothing"
            right = theirs.describe() if theirs else "nothing"
            differences.append(f"{name}: record {left}, manifest {right}")
    raise ModelIntegrityError(
        f"{record_url} does not match the manifest {manifest_url} ({'; '.join(differences)}): "
        "the promotion record does not belong to this version"
    )


# --- strict parsing of the store's JSON files ----------------------------------------------------


class _Fields:
    """The keys of one JSON object, read with types checked; errors name the file."""

    def __init__(self, raw: bytes, location: str, what: str):
        self.location, self.what = location, what
        try:
            value = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self.error(f"is not valid JSON ({type(error).__name__}: {error})") from None
        if not isinstance(value, dict):
            raise self.error(f"must hold a JSON object, found {type(value).__name__}")
        self.values: dict[str, Any] = value

    def error(self, problem: str) -> ModelIntegrityError:
        return ModelIntegrityError(f"{self.what} {self.location} {problem}")

    def require_keys(self, keys: frozenset[str] | set[str]) -> None:
        missing, unknown = sorted(keys - set(self.values)), sorted(set(self.values) - keys)
        if missing or unknown:
            found = "; ".join(
                part
                for part in (
                    f"missing keys {missing}" if missing else "",
                    f"unknown keys {unknown}" if unknown else "",
                )
                if part
            )
            raise self.error(f"is broken: {found}")

    def _typed(self, key: str, kind: type, label: str) -> Any:
        value = self.values[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.error(f"is broken: {key!r} must be {label}, found {value!r:.80}")
        return value

    def text(self, key: str) -> str:
        return str(self._typed(key, str, "a string"))

    def optional_text(self, key: str) -> str | None:
        return None if self.values[key] is None else self.text(key)

    def integer(self, key: str) -> int:
        return int(self._typed(key, int, "an integer"))

    def version(self, key: str) -> str:
        value = self.text(key)
        if not _VERSION.fullmatch(value):
            raise self.error(f"is broken: {key!r} is not a valid model version: {value!r:.80}")
        return value

    def numbers(self, key: str) -> dict[str, float]:
        mapping = self._typed(key, dict, "an object of numbers")
        for name, value in mapping.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise self.error(
                    f"is broken: {key}[{name!r}] must be a number, found {value!r:.80}"
                )
        return {str(name): float(value) for name, value in mapping.items()}

    def optional_numbers(self, key: str) -> dict[str, float] | None:
        return None if self.values[key] is None else self.numbers(key)

    def scalars(self, key: str) -> dict[str, float | str]:
        mapping = self._typed(key, dict, "an object of numbers and strings")
        for name, value in mapping.items():
            if not isinstance(value, (int, float, str)) or isinstance(value, bool):
                raise self.error(
                    f"is broken: {key}[{name!r}] must be a number or a string, found {value!r:.80}"
                )
        return {str(name): value for name, value in mapping.items()}

    def digests(self, key: str) -> dict[str, FileDigest]:
        mapping = self._typed(key, dict, "an object of file digests")
        if not mapping:
            raise self.error(f"is broken: {key!r} lists no files")
        digests = {}
        for name, value in mapping.items():
            if not _FILE.fullmatch(name):
                raise self.error(f"is broken: {key!r} names an invalid file {name!r:.80}")
            if not isinstance(value, dict) or set(value) != {"sha256", "size"}:
                raise self.error(
                    f"is broken: {key}[{name!r}] must be {{'sha256', 'size'}}, found {value!r:.120}"
                )
            sha, size = value["sha256"], value["size"]
            if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
                raise self.error(f"is broken: {key}[{name!r}] has no valid sha256: {sha!r:.80}")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise self.error(f"is broken: {key}[{name!r}] has no valid size: {size!r:.80}")
            digests[name] = FileDigest(sha, size)
        return digests


def _parse_manifest(raw: bytes, location: str, version: str) -> VersionManifest:
    """A version's ``_COMPLETE``; LegacyModelStoreError for a pre-manifest timestamp marker."""
    if _is_legacy_marker(raw):
        raise LegacyModelStoreError(
            f"model version {version} was saved before manifests ({location} holds a timestamp, "
            "no file hashes): its files cannot be verified, so it is not used. Retrain "
            "(materialize fraud_detection_model; locally `fraud-pipeline --retrain`)."
        )
    fields = _Fields(raw, location, "model manifest")
    fields.require_keys(set(_field_names(VersionManifest)))
    schema = fields.integer("schema_version")
    if schema != MANIFEST_SCHEMA_VERSION:
        raise fields.error(f"has unsupported schema_version {schema}")
    named = fields.version("version")
    if named != version:
        raise fields.error(f"is broken: it names version {named!r}, not {version!r}")
    return VersionManifest(
        version=named,
        completed_at=fields.text("completed_at"),
        files=fields.digests("files"),
        schema_version=schema,
    )


def _is_legacy_marker(raw: bytes) -> bool:
    try:
        datetime.fromisoformat(raw.decode().strip())
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _parse_record(raw: bytes, location: str) -> PromotionRecord:
    """``promoted.json`` (or a certificate), strictly; legacy records parse with ``files=None``."""
    fields = _Fields(raw, location, "promotion record")
    if "schema_version" not in fields.values and set(fields.values) == _LEGACY_RECORD_KEYS:
        return PromotionRecord(
            version=fields.version("version"),
            promoted_at=fields.text("promoted_at"),
            reason=fields.text("reason"),
            metrics=fields.numbers("metrics"),
            previous_version=fields.optional_text("previous_version"),
            schema_version=1,
        )
    fields.require_keys(set(_field_names(PromotionRecord)))
    schema = fields.integer("schema_version")
    if schema != PROMOTION_SCHEMA_VERSION:
        raise fields.error(f"has unsupported schema_version {schema}")
    return PromotionRecord(
        version=fields.version("version"),
        promoted_at=fields.text("promoted_at"),
        reason=fields.text("reason"),
        metrics=fields.numbers("metrics"),
        previous_version=fields.optional_text("previous_version"),
        files=fields.digests("files"),
        compared_with=fields.optional_numbers("compared_with"),
        policy=fields.scalars("policy"),
        schema_version=schema,
    )


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]
