"""The one name that isolates a branch deployment: its output schema, model-store prefix and reports.

A branch name (``PR_42``, ``feature/new-model``, ``Feature.A``) becomes a name of upper-case letters,
digits and ``_``, a letter first, at most :data:`MAX_BRANCH_NAME_LENGTH` characters: a valid SQL
identifier on its own (Snowflake and DuckDB) and a safe path segment (no ``/``, never ``.`` or
``..``). A name that is already of that form (``PR_42``) is kept as is; any other becomes its
readable sanitised form plus ``_`` and 8 hex digits of the SHA-256 of the raw name
(``feature-a`` -> ``FEATURE_A_0A5491ED``), so names that sanitise alike (``feature-a``,
``feature_a``, ``Feature.A``) stay apart. A kept name never ends like a hashed one (those are
hashed too), so a kept name cannot equal a hashed one; two hashed names meet only if their
readable parts and 32-bit hashes both do. The name depends on the raw name alone: the same in
every process, location and release.
"""

from __future__ import annotations

import hashlib
import re

from fraud_storage.identifiers import InvalidIdentifierError

__all__ = ["MAX_BRANCH_NAME_LENGTH", "branch_identifier"]

_READABLE_LENGTH = 40
_HASH_LENGTH = 8
MAX_BRANCH_NAME_LENGTH = _READABLE_LENGTH + 1 + _HASH_LENGTH
"""The longest branch name (49): ``FRAUD_`` plus it stays far below Snowflake's 255."""

_HASHED = re.compile(rf"_[0-9A-F]{{{_HASH_LENGTH}}}\Z")


def branch_identifier(branch: str) -> str:
    """The collision-free name of ``branch`` in schemas, model-store prefixes and report paths."""
    if not isinstance(branch, str) or not branch.strip():
        raise InvalidIdentifierError(f"cannot derive a name from branch {branch!r}: it is empty")
    readable = _readable(branch)
    if branch == readable and not _HASHED.search(branch):
        return branch
    return f"{readable}_{_digest(branch)}"


def _readable(branch: str) -> str:
    """``branch`` upper-cased, each run of other characters one ``_``, a letter first, cut short."""
    text = re.sub(r"[^A-Z0-9]+", "_", branch.upper()).strip("_")
    if not text[:1].isalpha():
        text = f"B_{text}" if text else "B"
    return text[:_READABLE_LENGTH].rstrip("_")


def _digest(branch: str) -> str:
    """The first hex digits of the SHA-256 of the raw name (stable, unlike ``hash()``)."""
    raw = branch.encode("utf-8", errors="surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:_HASH_LENGTH].upper()
