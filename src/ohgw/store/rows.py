"""The study store's row format: the key, canonical JSON, the checksum, the checks on a row.

A row is keyed by :data:`ROW_KEY`; its other fields are scalars stored as canonical JSON (sorted
keys, floats by ``repr`` so they round-trip exactly, NaN and infinities included), with a
checksum of its deterministic content: everything but :data:`MEASURED`. Rows are exported as one
deterministic CSV (:func:`write_csv`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import numbers
from collections.abc import Iterable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ohgw.store.files import abandoned
from ohgw.store.files import write_whole

ROW_KEY = ("variant", "seed", "trial_id", "resource")
MEASURED = ("compute_seconds", "warm_seconds", "peak_memory_bytes")
"""Measured columns: they differ between runs, so they are no part of a row's content."""


def canonical_json(value: Any, what: str) -> str:
    """Canonical JSON: sorted keys, no spaces, floats by ``repr``, NaN/inf allowed."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"The {what} is {value!r}, but must be JSON-serialisable.") from error


def _int(value: Any, field: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"The value of `{field}` is {value!r}, but must be an int >= {low}.")
    return int(value)


def _scalar(value: Any, field: str) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ValueError(
        f"The value of `{field}` is {value!r}, but must be a float, int, str, bool or None."
    )


def content(data: Mapping[str, Any]) -> dict[str, str]:
    """A row's deterministic fields, each as canonical JSON (what reruns must reproduce)."""
    return {f: canonical_json(v, f"`{f}`") for f, v in data.items() if f not in MEASURED}


def row_digest(key: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """The checksum of a row's deterministic content."""
    text = canonical_json([list(key), {f: v for f, v in data.items() if f not in MEASURED}], "row")
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def check_row(row: Any) -> tuple[tuple[str, int, int, int], dict[str, Any], str]:
    """Validate one row; return its key, its other fields and their canonical JSON."""
    if not isinstance(row, Mapping):
        raise ValueError(f"A row is {row!r}, but must be a mapping.")
    for field in ROW_KEY:
        if field not in row:
            raise ValueError(f"A row lacks the key field `{field}`: {dict(row)!r}.")
    variant = row["variant"]
    if not isinstance(variant, str) or not variant:
        raise ValueError(f"The value of `variant` is {variant!r}, but must be a non-empty str.")
    key = (
        variant,
        _int(row["seed"], "seed", 0),
        _int(row["trial_id"], "trial_id", 0),
        _int(row["resource"], "resource", 1),
    )
    data = {}
    for field, value in row.items():
        if not isinstance(field, str):
            raise ValueError(f"The field name {field!r} is not a str.")
        if field not in ROW_KEY:
            data[field] = _scalar(value, field)
    return key, data, canonical_json(data, f"row {key!r}")


def row_name(key: tuple[Any, ...]) -> str:
    return ", ".join(f"{f}={v!r}" for f, v in zip(ROW_KEY, key, strict=True))


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_csv(
    path: str | Path, rows: Iterable[Mapping[str, Any]], exclude: Iterable[str] = ()
) -> Path:
    """Write ``rows`` (in the order given) as one deterministic CSV: ``ROW_KEY``, then the other
    fields sorted, ``exclude`` left out. Written whole and flushed to disk before it replaces
    ``path`` (:func:`ohgw.store.files.write_whole`); partial files that dead processes left,
    today's names and older versions' (``results.csv<random>.partial``), are removed."""
    path = Path(path)
    rows = list(rows)
    fields = {f for row in rows for f in row} - set(ROW_KEY) - set(exclude)
    columns = [*ROW_KEY, *sorted(fields)]
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([csv_cell(row.get(c)) for c in columns] for row in rows)
    for stale in path.parent.glob(f"{path.name}*.partial"):
        if abandoned(stale):
            stale.unlink(missing_ok=True)
    return write_whole(path, text.getvalue().encode("utf-8"))
