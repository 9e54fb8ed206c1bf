"""The transaction contract: canonical columns, dtypes and row-level validation.

Input may come from Snowflake (upper-case names, Decimal or string values), parquet or CSV;
`validate_transactions` normalises names and types and splits the rows into a clean `valid`
frame in the canonical dtypes and a `rejected` frame that keeps every bad row's raw values (as
strings, so it can be stored anywhere) with a human-readable `reject_reason`.

What a deployment may tune is declared once, in :class:`TransactionRules` (code defaults, then
``FRAUD_MAX_TX_AMOUNT``, ``FRAUD_MAX_ID_LENGTH``, ``FRAUD_REPEAT_WINDOW_DAYS``). Ids are normalised
by :mod:`fraud_core.ids`, the one place every comparison of ids goes through. Raw values are
bounded wherever they are echoed: at most :data:`SHOWN_CHARS` characters of a value in a reason,
at most :data:`RAW_CHARS` in the rejected frame (with the full length said).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from fraud_core.columns import (
    CANONICAL_COLUMNS,
    CUSTOMER_ID,
    ID_COLUMNS,
    REJECT_REASON,
    REQUIRED_COLUMNS,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
)
from fraud_core.ids import IdKind, parse_ids

__all__ = [
    "CANONICAL_DTYPES",
    "FUTURE_TOLERANCE",
    "RAW_CHARS",
    "REJECTED_COLUMNS",
    "RULE_VARIABLES",
    "SHOWN_CHARS",
    "EarlierDays",
    "TransactionRules",
    "TransactionSchemaError",
    "ValidationResult",
    "empty_transactions",
    "future_cutoff",
    "validate_transactions",
]

# Columns of `ValidationResult.rejected`, in order; an optional column appears only when the
# input has it. Every column holds strings (or null).
REJECTED_COLUMNS: tuple[str, ...] = (*CANONICAL_COLUMNS, REJECT_REASON)
# dtypes of `ValidationResult.valid`; ids are int64 when every value is integral, else object
# (Python str).
CANONICAL_DTYPES: dict[str, str] = {
    TRANSACTION_ID: "int64",
    TX_DATETIME: "datetime64[ns, UTC]",
    CUSTOMER_ID: "int64",
    TERMINAL_ID: "int64",
    TX_AMOUNT: "float64",
    TX_FRAUD: "Int8",
    TX_FRAUD_SCENARIO: "Int8",
}
# Timestamps later than "now" plus this are rejected as being in the future.
FUTURE_TOLERANCE = pd.Timedelta(days=1)
_LABELS = (0, 1)
_SCENARIOS = (0, 1, 2, 3)
SHOWN_CHARS = 80
"""A raw value in a reject reason is cut to this many characters (its length is said)."""
RAW_CHARS = 1_000
"""A raw value in the rejected frame is cut to this many characters (its length is said)."""
_MIN_TS = pd.Timestamp.min.tz_localize("UTC")
_MAX_TS = pd.Timestamp.max.tz_localize("UTC")


class TransactionSchemaError(ValueError):
    """The input is not a transaction table (wrong type, missing or duplicated columns)."""


RULE_VARIABLES = {
    "max_tx_amount": "FRAUD_MAX_TX_AMOUNT",
    "max_id_length": "FRAUD_MAX_ID_LENGTH",
    "repeat_window_days": "FRAUD_REPEAT_WINDOW_DAYS",
}
"""The environment variables a deployment may set the rules with, by field."""


@dataclass(frozen=True)
class TransactionRules:
    """The row rules a deployment may tune: plausible amounts, id length, the repeat window."""

    max_tx_amount: float = 1_000_000.0
    """Larger amounts are rejected as implausible (one would swamp its card's window means)."""
    max_id_length: int = 128
    """Text ids longer than this are rejected (an id is a key, not a document)."""
    repeat_window_days: int = 30
    """A transaction id validated on one of this many days before is rejected as re-sent."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_tx_amount) and self.max_tx_amount > 0):
            raise ValueError(f"max_tx_amount must be finite and positive, got {self.max_tx_amount}")
        if self.max_id_length < 1:
            raise ValueError(f"max_id_length must be at least 1, got {self.max_id_length}")
        if self.repeat_window_days < 0:
            raise ValueError(f"repeat_window_days must be >= 0, got {self.repeat_window_days}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TransactionRules:
        """The code defaults, overridden by the variables of :data:`RULE_VARIABLES` in ``env``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            variable = RULE_VARIABLES[field.name]
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                value: float | int = float(raw) if field.type == "float" else int(raw)
                cls(**{field.name: value})  # type: ignore[arg-type]  # one field at a time
            except ValueError as error:
                raise ValueError(f"{variable}={raw!r}: {error}") from None
            values[field.name] = value
        return cls(**values)

    def describe(self) -> dict[str, float | int]:
        """The rules by name (for metadata and logs)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


EarlierDays = Callable[[pd.Series], pd.Series]
"""Given a day's usable transaction ids (canonical form), the earlier day each one was already
validated on: a Series indexed by id with the day as value; ids never seen are absent."""


@dataclass(frozen=True, eq=False)
class ValidationResult:
    """Valid rows in canonical dtypes, rejected rows as raw strings with a reason."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    extra_columns: tuple[str, ...] = ()  # input columns (original names) dropped from `valid`

    @property
    def n_read(self) -> int:
        """Number of input rows."""
        return self.n_valid + self.n_rejected

    @property
    def n_valid(self) -> int:
        """Number of valid rows."""
        return len(self.valid)

    @property
    def n_rejected(self) -> int:
        """Number of rejected rows."""
        return len(self.rejected)


def empty_transactions() -> pd.DataFrame:
    """Zero-row transaction frame with every canonical column in its canonical dtype."""
    return pd.DataFrame(
        {c: pd.Series(dtype=CANONICAL_DTYPES[c]) for c in CANONICAL_COLUMNS},
        index=pd.RangeIndex(0),
    )


# A problem is a boolean row mask plus either a fixed message or a function that builds the
# messages for the given row positions (only ever called on bad rows).
_Message = str | Callable[[np.ndarray], list[str]]
_Problem = tuple[np.ndarray, _Message]


def validate_transactions(
    df: pd.DataFrame,
    *,
    now: pd.Timestamp | datetime | None = None,
    rules: TransactionRules | None = None,
    id_kinds: Mapping[str, IdKind] | None = None,
    earlier_days: EarlierDays | None = None,
) -> ValidationResult:
    """Normalise a transaction table and split it into valid and rejected rows.

    ``id_kinds`` fixes the form of an id column (the kind the validated table already stores);
    ``earlier_days`` finds the day's transaction ids validated on earlier days (re-sent rows).
    """
    if not isinstance(df, pd.DataFrame):
        raise TransactionSchemaError(
            f"expected a pandas DataFrame of transactions, got {type(df).__name__}"
        )
    positions = _normalised_positions(df)
    missing = [c for c in REQUIRED_COLUMNS if c not in positions]
    if missing:
        raise TransactionSchemaError(
            f"missing required columns {missing}; found {[str(c) for c in df.columns]}"
        )
    canonical = set(CANONICAL_COLUMNS)
    extra = tuple(str(df.columns[i]) for name, i in positions.items() if name not in canonical)
    present = [c for c in CANONICAL_COLUMNS if c in positions]
    # Positional views with a fresh RangeIndex (no copy of the data).
    raw = {c: pd.Series(df.iloc[:, positions[c]].array, copy=False) for c in present}
    n = len(df)

    cutoff = future_cutoff(now)
    rules = rules or TransactionRules()
    kinds = id_kinds or {}

    coerced: dict[str, Any] = {}
    problems: list[_Problem] = []
    for col in present:
        if col in ID_COLUMNS:
            values, col_problems = _coerce_id(col, raw[col], kinds.get(col), rules.max_id_length)
        elif col == TX_DATETIME:
            values, col_problems = _coerce_datetime(col, raw[col], cutoff)
        elif col == TX_AMOUNT:
            values, col_problems = _coerce_amount(col, raw[col], rules.max_tx_amount)
        elif col == TX_FRAUD:
            values, col_problems = _coerce_code(col, raw[col], _LABELS, "0, 1 or null")
        else:
            values, col_problems = _coerce_code(col, raw[col], _SCENARIOS, "an integer 0..3")
        coerced[col] = values
        problems += col_problems
        if col == TRANSACTION_ID:
            usable = ~_any(col_problems, n)
            problems += _duplicate_problems(col, values, usable)
            if earlier_days is not None:
                problems += _repeat_problems(col, values, usable, earlier_days)

    bad = _any(problems, n)
    bad_pos = np.flatnonzero(bad)
    good_pos = np.flatnonzero(~bad)

    # Columns are inserted one by one: the dict constructor would consolidate (copy) blocks.
    valid = pd.DataFrame(index=pd.RangeIndex(len(good_pos)))
    for c in present:
        valid[c] = coerced[c].array.take(good_pos)
    rejected = pd.DataFrame(index=pd.RangeIndex(len(bad_pos)))
    for c in present:
        rejected[c] = _render_raw(raw[c].iloc[bad_pos])
    rejected[REJECT_REASON] = _reasons(problems, bad_pos)
    return ValidationResult(valid=valid, rejected=rejected, extra_columns=extra)


def future_cutoff(now: pd.Timestamp | datetime | None = None) -> pd.Timestamp:
    """The instant after which a transaction time is in the future: ``now`` + FUTURE_TOLERANCE."""
    now_ts = pd.Timestamp.now(tz="UTC") if now is None else _as_utc(pd.Timestamp(now))
    return now_ts + FUTURE_TOLERANCE


def _normalised_positions(df: pd.DataFrame) -> dict[str, int]:
    """Map each normalised (stripped, lower-case) column name to its position."""
    positions: dict[str, int] = {}
    clashes: dict[str, list[str]] = {}
    for i, col in enumerate(df.columns):
        name = str(col).strip().lower()
        if name in positions:
            clashes.setdefault(name, [str(df.columns[positions[name]])]).append(str(col))
        else:
            positions[name] = i
    if clashes:
        detail = ", ".join(f"{k!r} from {v}" for k, v in clashes.items())
        raise TransactionSchemaError(
            f"duplicate columns after normalising names to lower case: {detail}; "
            f"found {[str(c) for c in df.columns]}"
        )
    return positions


def _as_utc(ts: pd.Timestamp) -> pd.Timestamp:
    """Timestamp in UTC (naive values are taken as UTC)."""
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _any(problems: list[_Problem], n: int) -> np.ndarray:
    """Rows flagged by any of ``problems``."""
    bad = np.zeros(n, dtype=bool)
    for mask, _ in problems:
        bad |= mask
    return bad


def _show(value: Any) -> str:
    """Short human-readable rendering of a raw value for reasons (at most SHOWN_CHARS of it)."""
    if isinstance(value, np.generic):
        value = value.item()
    text = value if isinstance(value, str) else str(value)
    cut = text[:SHOWN_CHARS]
    shown = repr(cut) if isinstance(value, str) else cut
    return shown if len(text) <= SHOWN_CHARS else f"{shown}... ({len(text):,} characters)"


def _raw_messages(raw: pd.Series, template: str) -> Callable[[np.ndarray], list[str]]:
    """Message builder that formats template with each bad row's raw value."""
    return lambda pos: [template.format(_show(v)) for v in raw.iloc[pos]]


def _coerce_id(
    name: str, s: pd.Series, kind: IdKind | None, max_length: int
) -> tuple[pd.Series, list[_Problem]]:
    """Ids in canonical form (:func:`fraud_core.ids.parse_ids`) and a problem per unusable kind."""
    ids = parse_ids(s, kind, max_length=max_length)
    problems: list[_Problem] = [
        (ids.null, f"null or blank {name}" if ids.from_text else f"null {name}")
    ]
    stored = f"the stored {name} values are integers"
    for mask, template in (
        (ids.non_integral, f"non-integral {name} {{}}"),
        (ids.out_of_range, f"{name} {{}} is outside the int64 range ({stored})"),
        (ids.not_integer, f"{name} {{}} is not an integer ({stored})"),
        (ids.too_long, f"{name} {{}} is longer than {max_length} characters"),
    ):
        if mask.any():
            problems.append((mask, _raw_messages(s, template)))
    return ids.values, problems


def _coerce_datetime(
    name: str, s: pd.Series, cutoff: pd.Timestamp
) -> tuple[pd.Series, list[_Problem]]:
    """Timestamps as datetime64[ns, UTC]; null, unparseable and future ones are flagged."""
    n = len(s)
    dtype = s.dtype
    unparseable = np.zeros(n, dtype=bool)
    future = np.zeros(n, dtype=bool)
    out_of_range = np.zeros(n, dtype=bool)
    if isinstance(dtype, pd.DatetimeTZDtype) or ptypes.is_datetime64_dtype(dtype):
        ts = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        null = ts.isna().to_numpy()
        future = (ts > cutoff).to_numpy()
        out_of_range = ((ts < _MIN_TS) | (ts > _MAX_TS)).to_numpy() & ~future
        if (future | out_of_range).any():
            ts = ts.where(~(future | out_of_range))
        values = ts.astype("datetime64[ns, UTC]")
    elif ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype):
        null = s.isna().to_numpy()
        unparseable = ~null
        values = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    else:
        null = s.isna().to_numpy()
        parsed = _parse_iso(s, null)
        failed = np.flatnonzero(parsed.isna().to_numpy() & ~null)
        if failed.size:  # blanks, other formats and out-of-ns-range values, one by one
            fixed = []
            for i, v in zip(failed, s.iloc[failed], strict=True):
                if isinstance(v, str):
                    v = v.strip()
                    if not v:
                        null[i] = True
                        continue
                try:
                    t = _as_utc(pd.Timestamp(v))
                except (ValueError, TypeError, OverflowError):
                    unparseable[i] = True
                    continue
                if t is pd.NaT:
                    unparseable[i] = True
                elif t > cutoff:
                    future[i] = True
                elif t < _MIN_TS or t.tz_localize(None) > pd.Timestamp.max:
                    out_of_range[i] = True
                else:
                    fixed.append((i, t.as_unit("ns")))
            if fixed:
                ns = parsed.array.asi8.copy()
                for i, t in fixed:
                    ns[i] = t.value
                parsed = _utc_from_ns(ns)
        values = parsed.astype("datetime64[ns, UTC]")
        future |= (values > cutoff).to_numpy()
    problems: list[_Problem] = [(null, f"null {name}")]
    if unparseable.any():
        problems.append((unparseable, _raw_messages(s, f"unparseable {name} {{}}")))
    if future.any():
        after = f"after {cutoff.floor('s').isoformat()}, now + 1 day"
        problems.append((future, _raw_messages(s, f"{name} {{}} is in the future ({after})")))
    if out_of_range.any():
        problems.append((out_of_range, _raw_messages(s, f"{name} {{}} is out of range")))
    return values.reset_index(drop=True), problems


def _parse_iso(s: pd.Series, null: np.ndarray) -> pd.Series:
    """ISO 8601 parse to UTC (NaT where it fails), naive strings taken as UTC."""
    # pandas' ISO 8601 parser carries a parsed UTC offset over to the naive strings that follow
    # it, so strings with and without an offset (and non-strings) are parsed separately.
    values = s.to_numpy(dtype=object)
    kind = np.array(
        [
            0
            if v.__class__ is not str
            else 2
            if ("+" in v[10:] or "-" in v[10:] or v.rstrip()[-1:] in ("Z", "z"))
            else 1
            for v in values
        ],
        dtype=np.int8,
    )
    kind[null] = -1  # nulls parse to NaT in any group
    kinds = np.unique(kind[kind >= 0])
    if len(kinds) == 1 and kinds[0] == 2:
        fast = _parse_single_offset(values[kind == 2])
        if fast is not None and not (kind < 0).any():
            return _utc_from_ns(fast)
    if len(kinds) <= 1:
        parsed = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
        return parsed.astype("datetime64[ns, UTC]")
    ns = np.full(len(values), np.iinfo(np.int64).min, dtype=np.int64)  # NaT
    for k in kinds:
        rows = np.flatnonzero(kind == k)
        fast = _parse_single_offset(values[rows]) if k == 2 else None
        if fast is not None:
            ns[rows] = fast
            continue
        part = pd.to_datetime(s.iloc[rows], utc=True, errors="coerce", format="ISO8601")
        ns[rows] = part.astype("datetime64[ns, UTC]").array.asi8  # type: ignore[attr-defined]
    return _utc_from_ns(ns)


_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")


def _parse_single_offset(strings: np.ndarray) -> np.ndarray | None:
    """Epoch ns of ISO strings that all end with the same UTC offset; None if they do not."""
    # Parsing offset-aware strings is ~15x slower in pandas than naive ones, and the common
    # case (exports of UTC data) has a single suffix such as "+00:00" or "Z": cut it, parse the
    # naive part and shift. NaT (int64 min) where the naive part does not parse.
    first = strings[0].rstrip()
    if first[-1:] in ("Z", "z"):
        suffix, offset = first[-1], pd.Timedelta(0)
    elif _OFFSET.fullmatch(first[-6:]):
        suffix = first[-6:]
        sign = -1 if suffix[0] == "-" else 1
        offset = sign * pd.Timedelta(hours=int(suffix[1:3]), minutes=int(suffix[4:6]))
    else:
        return None
    cut = len(suffix)
    naive = [v.rstrip() for v in strings]
    if not all(v.endswith(suffix) for v in naive):
        return None
    naive = [v[:-cut] for v in naive]
    parsed = pd.to_datetime(pd.Series(naive, dtype=object), errors="coerce", format="ISO8601")
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # a second offset hid in the string
        return None
    ns = parsed.astype("datetime64[ns]").array.asi8.copy()  # type: ignore[attr-defined]
    valid = ns != np.iinfo(np.int64).min
    ns[valid] -= offset.value
    return ns


def _utc_from_ns(ns: np.ndarray) -> pd.Series:
    """datetime64[ns, UTC] series from epoch nanoseconds (int64 min is NaT)."""
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


def _to_float(s: pd.Series, *, bools: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, the null mask and the non-numeric mask (booleans count as 1/0 if bools)."""
    dtype = s.dtype
    null = s.isna().to_numpy()
    if ptypes.is_bool_dtype(dtype):
        if bools:
            return s.to_numpy(dtype=np.float64, na_value=np.nan), null, np.zeros(len(s), bool)
        return np.full(len(s), np.nan), null, ~null
    if ptypes.is_numeric_dtype(dtype):
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return arr, np.isnan(arr), np.zeros(len(s), dtype=bool)
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind == "boolean":
        if bools:
            arr = s.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
            return arr, null, np.zeros(len(s), dtype=bool)
        return np.full(len(s), np.nan), null, ~null
    is_bool = np.zeros(len(s), dtype=bool)
    if kind == "mixed" and not bools:  # booleans are not numbers here
        is_bool = s.map(lambda v: isinstance(v, bool | np.bool_)).to_numpy(dtype=bool)
        if is_bool.any():
            s = s.where(~is_bool, None)  # type: ignore[call-overload]
    arr = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    nonnumeric = np.isnan(arr) & ~null
    if nonnumeric.any():
        blank = _blank_strings(s, np.flatnonzero(nonnumeric))
        null |= blank
        nonnumeric &= ~blank
    return arr, null, nonnumeric | is_bool


def _blank_strings(s: pd.Series, positions: np.ndarray) -> np.ndarray:
    """Mask (over all rows) of the given positions that hold a blank string."""
    blank = np.zeros(len(s), dtype=bool)
    for i, v in zip(positions, s.iloc[positions], strict=True):
        blank[i] = isinstance(v, str) and not v.strip()
    return blank


def _coerce_amount(name: str, s: pd.Series, maximum: float) -> tuple[pd.Series, list[_Problem]]:
    """Amounts as float64; null, non-numeric, infinite, negative and implausible ones are flagged."""
    arr, null, nonnumeric = _to_float(s)
    with np.errstate(invalid="ignore"):
        infinite = np.isinf(arr)
        negative = (arr < 0) & ~infinite
        implausible = (arr > maximum) & ~infinite
    problems: list[_Problem] = [(null, f"null {name}")]
    if nonnumeric.any():
        problems.append((nonnumeric, _raw_messages(s, f"non-numeric {name} {{}}")))
    if infinite.any():
        problems.append((infinite, _raw_messages(s, f"infinite {name} {{}}")))
    if negative.any():
        problems.append((negative, _raw_messages(s, f"negative {name} {{}}")))
    if implausible.any():
        above = f"{name} {{}} is above the plausible maximum {maximum:,.2f}"
        problems.append((implausible, _raw_messages(s, above)))
    return pd.Series(arr), problems


def _coerce_code(
    name: str, s: pd.Series, allowed: tuple[int, ...], expected: str
) -> tuple[pd.Series, list[_Problem]]:
    """Small integer codes as nullable Int8; values outside allowed are flagged."""
    arr, null, _ = _to_float(s, bools=True)  # non-numeric values are NaN, so not allowed
    ok = np.isin(arr, allowed)
    invalid = ~null & ~ok
    values = pd.array(np.where(ok, arr, 0).astype(np.int8), dtype="Int8")
    values[~ok] = pd.NA
    problems: list[_Problem] = []
    if invalid.any():
        problems.append((invalid, _raw_messages(s, f"invalid {name} {{}} (expected {expected})")))
    return pd.Series(values), problems


def _duplicate_problems(name: str, ids: pd.Series, usable_mask: np.ndarray) -> list[_Problem]:
    """Rows whose (usable) id appears more than once: every one of them is flagged."""
    usable = np.flatnonzero(usable_mask)
    keys = ids.iloc[usable]
    dup_local = keys.duplicated(keep=False).to_numpy()
    if not dup_local.any():
        return []
    dup = np.zeros(len(ids), dtype=bool)
    dup[usable[dup_local]] = True
    counts = keys[dup_local].value_counts()

    def messages(pos: np.ndarray) -> list[str]:
        return [f"duplicate {name} {_show(v)} ({counts[v]} rows)" for v in ids.iloc[pos]]

    return [(dup, messages)]


def _repeat_problems(
    name: str, ids: pd.Series, usable_mask: np.ndarray, earlier_days: EarlierDays
) -> list[_Problem]:
    """Rows whose (usable) id was already validated on an earlier day: flagged, naming the day."""
    usable = np.flatnonzero(usable_mask)
    keys = ids.iloc[usable]
    if not len(keys):
        return []
    days = keys.map(earlier_days(keys)).to_numpy(dtype=object)
    seen = pd.notna(days)
    if not seen.any():
        return []
    repeated = np.zeros(len(ids), dtype=bool)
    repeated[usable[seen]] = True
    on_day = dict(zip(usable[seen], days[seen], strict=True))

    def messages(pos: np.ndarray) -> list[str]:
        return [
            f"repeated {name} {_show(ids.iloc[i])}: already validated on "
            f"{pd.Timestamp(on_day[i]).date().isoformat()}"
            for i in pos
        ]

    return [(repeated, messages)]


def _render_raw(raw: pd.Series) -> np.ndarray:
    """Raw values as strings (object array), nulls kept as None, each at most RAW_CHARS long."""
    null = raw.isna().to_numpy()
    text = raw.astype(str).to_numpy(dtype=object)
    text[null] = None
    lengths = pd.Series(text, dtype=object).str.len().to_numpy(dtype=np.float64, na_value=0.0)
    for i in np.flatnonzero(lengths > RAW_CHARS):
        text[i] = f"{text[i][:RAW_CHARS]}... [{len(text[i]):,} characters]"
    return text


def _reasons(problems: list[_Problem], bad_pos: np.ndarray) -> np.ndarray:
    """One reason string per bad row: its problems joined with '; ', in check order."""
    reasons = np.full(len(bad_pos), "", dtype=object)
    for mask, message in problems:
        sub = mask[bad_pos]
        if not sub.any():
            continue
        if isinstance(message, str):
            msgs = np.full(int(sub.sum()), message, dtype=object)
        else:
            msgs = np.asarray(message(bad_pos[sub]), dtype=object)
        current = reasons[sub]
        joined = np.where(current == "", msgs, current + "; " + msgs)
        reasons[sub] = joined
    return reasons
