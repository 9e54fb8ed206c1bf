"""The transaction contract: canonical columns, dtypes and row-level validation.

Input may come from Snowflake (upper-case names, Decimal or string values), parquet or CSV;
`validate_transactions` normalises names and types and splits the rows into a clean `valid`
frame in the canonical dtypes and a `rejected` frame that keeps every bad row's raw values (as
strings, so it can be stored anywhere) with a human-readable `reject_reason`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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

__all__ = [
    "CANONICAL_DTYPES",
    "FUTURE_TOLERANCE",
    "REJECTED_COLUMNS",
    "TransactionSchemaError",
    "ValidationResult",
    "empty_transactions",
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
_INT64_LIMIT = 2.0**63
_MIN_TS = pd.Timestamp.min.tz_localize("UTC")
_MAX_TS = pd.Timestamp.max.tz_localize("UTC")


class TransactionSchemaError(ValueError):
    """The input is not a transaction table (wrong type, missing or duplicated columns)."""


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
    df: pd.DataFrame, *, now: pd.Timestamp | datetime | None = None
) -> ValidationResult:
    """Normalise a transaction table and split it into valid and rejected rows."""
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

    now_ts = pd.Timestamp.now(tz="UTC") if now is None else _as_utc(pd.Timestamp(now))
    cutoff = now_ts + FUTURE_TOLERANCE

    coerced: dict[str, Any] = {}
    problems: list[_Problem] = []
    for col in present:
        if col in ID_COLUMNS:
            values, col_problems = _coerce_id(col, raw[col])
        elif col == TX_DATETIME:
            values, col_problems = _coerce_datetime(col, raw[col], cutoff)
        elif col == TX_AMOUNT:
            values, col_problems = _coerce_amount(col, raw[col])
        elif col == TX_FRAUD:
            values, col_problems = _coerce_code(col, raw[col], _LABELS, "0, 1 or null")
        else:
            values, col_problems = _coerce_code(col, raw[col], _SCENARIOS, "an integer 0..3")
        coerced[col] = values
        problems += col_problems
        if col == TRANSACTION_ID:
            problems += _duplicate_problems(col, values, col_problems)

    bad = np.zeros(n, dtype=bool)
    for mask, _ in problems:
        bad |= mask
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


def _show(value: Any) -> str:
    """Short human-readable rendering of a raw value for reasons."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _raw_messages(raw: pd.Series, template: str) -> Callable[[np.ndarray], list[str]]:
    """Message builder that formats template with each bad row's raw value."""
    return lambda pos: [template.format(_show(v)) for v in raw.iloc[pos]]


def _strip_blank(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Object series with strings stripped, and the null mask (null, NaN or blank string)."""
    values = np.empty(len(s), dtype=object)
    values[:] = [(v.strip() or None) if v.__class__ is str else v for v in s.array]
    return pd.Series(values, copy=False), pd.isna(values)


def _coerce_id(name: str, s: pd.Series) -> tuple[pd.Series, list[_Problem]]:
    """Ids as int64 when every value is integral, else as stripped strings."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        s = s.astype(object)
        dtype = s.dtype
    null_msg = f"null {name}"
    if ptypes.is_integer_dtype(dtype):
        null = s.isna().to_numpy()
        if not ptypes.is_unsigned_integer_dtype(dtype) or s.max() < _INT64_LIMIT:
            values = s.to_numpy(dtype=np.int64, na_value=0)
            return pd.Series(values), [(null, null_msg)]
    elif ptypes.is_float_dtype(dtype):
        return _float_ids(name, s, s.to_numpy(dtype=np.float64, na_value=np.nan))
    elif not ptypes.is_bool_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        if kind == "empty":
            return pd.Series(np.zeros(len(s), dtype=np.int64)), [(s.isna().to_numpy(), null_msg)]
        if kind == "integer":
            null = s.isna().to_numpy()
            try:
                values = s.where(~null, 0).astype(np.int64).to_numpy()
            except (OverflowError, ValueError, TypeError):
                pass  # beyond int64: fall through to strings
            else:
                return pd.Series(values), [(null, null_msg)]
        elif kind in ("floating", "mixed-integer-float", "decimal"):
            numeric = pd.to_numeric(s, errors="coerce")
            return _float_ids(name, s, numeric.to_numpy(dtype=np.float64, na_value=np.nan))
        elif kind == "string":
            obj, null = _strip_blank(s)
            return obj.where(~null, None), [(null, f"null or blank {name}")]
    return _mixed_ids(name, s)


def _float_ids(name: str, raw: pd.Series, arr: np.ndarray) -> tuple[pd.Series, list[_Problem]]:
    """Float ids: integral finite values become int64, others are rejected."""
    null = np.isnan(arr)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(arr) & (arr == np.floor(arr)) & (np.abs(arr) < _INT64_LIMIT)
    bad = ~null & ~ok
    values = np.where(ok, arr, 0.0).astype(np.int64)
    problems: list[_Problem] = [(null, f"null {name}")]
    if bad.any():
        problems.append((bad, _raw_messages(raw, f"non-integral {name} {{}}")))
    return pd.Series(values), problems


def _mixed_ids(name: str, s: pd.Series) -> tuple[pd.Series, list[_Problem]]:
    """Ids of mixed Python types: rendered as strings (integral numbers without '.0')."""
    out: list[str | None] = []
    bad: list[bool] = []
    for v in s.astype(object):
        text, is_bad = _id_text(v)
        out.append(text)
        bad.append(is_bad)
    values = pd.Series(out, dtype=object)
    bad_arr = np.asarray(bad, dtype=bool)
    null = values.isna().to_numpy() & ~bad_arr
    problems: list[_Problem] = [(null, f"null or blank {name}")]
    if bad_arr.any():
        problems.append((bad_arr, _raw_messages(s, f"non-integral {name} {{}}")))
    return values, problems


def _id_text(v: Any) -> tuple[str | None, bool]:
    """String form of one id value, and whether it is a non-integral number."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None, False
    if isinstance(v, bool | np.bool_):
        return str(bool(v)), False
    if isinstance(v, int | np.integer):
        return str(int(v)), False
    if isinstance(v, float | np.floating | Decimal):
        if isinstance(v, Decimal):
            if v.is_nan():
                return None, False
            integral = v.is_finite() and v == v.to_integral_value()
        else:
            if math.isnan(v):
                return None, False
            integral = math.isfinite(v) and float(v).is_integer()
        return (str(int(v)), False) if integral else (None, True)
    if isinstance(v, bytes):
        v = v.decode("utf-8", errors="replace")
    text = str(v).strip()
    return (text or None), False


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
        ns[rows] = part.astype("datetime64[ns, UTC]").array.asi8
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
    ns = parsed.astype("datetime64[ns]").array.asi8.copy()
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
            s = s.where(~is_bool, None)
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


def _coerce_amount(name: str, s: pd.Series) -> tuple[pd.Series, list[_Problem]]:
    """Amounts as float64; null, non-numeric, infinite and negative ones are flagged."""
    arr, null, nonnumeric = _to_float(s)
    with np.errstate(invalid="ignore"):
        infinite = np.isinf(arr)
        negative = (arr < 0) & ~infinite
    problems: list[_Problem] = [(null, f"null {name}")]
    if nonnumeric.any():
        problems.append((nonnumeric, _raw_messages(s, f"non-numeric {name} {{}}")))
    if infinite.any():
        problems.append((infinite, _raw_messages(s, f"infinite {name} {{}}")))
    if negative.any():
        problems.append((negative, _raw_messages(s, f"negative {name} {{}}")))
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


def _duplicate_problems(name: str, ids: pd.Series, id_problems: list[_Problem]) -> list[_Problem]:
    """Rows whose (usable) id appears more than once: every one of them is flagged."""
    unusable = np.zeros(len(ids), dtype=bool)
    for mask, _ in id_problems:
        unusable |= mask
    usable = np.flatnonzero(~unusable)
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


def _render_raw(raw: pd.Series) -> np.ndarray:
    """Raw values as strings (object array), nulls kept as None."""
    null = raw.isna().to_numpy()
    text = raw.astype(str).to_numpy(dtype=object)
    text[null] = None
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
