"""The crash-safe result store of a study: every result row, kept in one SQLite file.

Why SQLite (``results.sqlite`` in the study directory, from the standard library):

* every write is one atomic transaction, so a batch of rows is stored whole or not at all;
* WAL journal mode with ``synchronous=FULL`` makes a committed transaction durable and
  leaves the file consistent after ``kill -9`` or a power cut at any moment;
* one file, no server, nothing to install; pandas, the ``sqlite3`` shell and every language
  read it. :meth:`Store.export_csv` writes a deterministic CSV for analysis (and for Parquet).

A row is keyed by :data:`ROW_KEY`. Its other fields are stored as canonical JSON (sorted keys,
floats written by ``repr`` so they round-trip exactly, NaN and infinities included). Adding a
row whose key is stored already is a no-op when the content is identical (a rerun continues a
study) and an error when it differs (a rerun that disagrees with the study is a bug).
"""

from __future__ import annotations

import contextlib
import csv
import json
import numbers
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROW_KEY = ("variant", "seed", "trial_id", "resource")
FILENAME = "results.sqlite"
_SCHEMA_VERSION = 1
_BUSY_TIMEOUT = 60.0  # seconds a connection waits for another one's lock
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, trial_id INTEGER NOT NULL,
    resource INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (variant, seed, trial_id, resource)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS done (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, summary TEXT NOT NULL,
    PRIMARY KEY (variant, seed)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
"""
_WHERE_KEY = "variant = ? AND seed = ? AND trial_id = ? AND resource = ?"


def _dumps(value: Any, what: str) -> str:
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


def _check(row: Any) -> tuple[tuple[str, int, int, int], str]:
    """Validate one row; return its key and the canonical JSON of its other fields."""
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
    return key, _dumps(data, f"row {key!r}")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


class Store:
    """The result rows, finished units and metadata of one study directory."""

    def __init__(self, directory: str | Path) -> None:
        """Open (creating the directory and the schema if absent) ``directory/results.sqlite``."""
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FILENAME
        self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_TIMEOUT)
        try:
            self._create()
        except BaseException:
            self._conn.close()
            raise

    def _create(self) -> None:
        self._set_wal()
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, _SCHEMA_VERSION):
                raise ValueError(
                    f"The schema version of {self.path} is {version}, "
                    f"but this code reads version {_SCHEMA_VERSION}."
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")

    def _set_wal(self) -> None:
        # Shards opening a new store at once: SQLite answers "locked" at once, without waiting
        # for the busy timeout, to all but one connection switching the journal mode.
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store ``rows`` in one transaction (all or none); return how many were new.

        A row whose key is stored with identical content is skipped; with other content it
        raises ``ValueError`` and nothing of the call is written.
        """
        checked = [_check(row) for row in rows]
        new = 0
        with self._transaction():
            for key, data in checked:
                query = f"SELECT data FROM rows WHERE {_WHERE_KEY}"
                stored = self._conn.execute(query, key).fetchone()
                if stored is None:
                    self._conn.execute("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", (*key, data))
                    new += 1
                elif stored[0] != data:
                    named = ", ".join(f"{f}={v!r}" for f, v in zip(ROW_KEY, key, strict=True))
                    raise ValueError(
                        f"The row ({named}) is stored as {stored[0]}, but is now {data}; "
                        "a rerun must reproduce the stored study."
                    )
        return new

    def rows(self, variant: str | None = None, seed: int | None = None) -> list[dict[str, Any]]:
        """The stored rows (optionally of one variant and/or seed), sorted by ``ROW_KEY``."""
        where = [(f, v) for f, v in (("variant", variant), ("seed", seed)) if v is not None]
        clause = " AND ".join(f"{f} = ?" for f, _ in where)
        query = f"SELECT {', '.join(ROW_KEY)}, data FROM rows"
        query += f" WHERE {clause}" if where else ""
        query += f" ORDER BY {', '.join(ROW_KEY)}"
        result = []
        for *key, data in self._conn.execute(query, [v for _, v in where]):
            result.append({**dict(zip(ROW_KEY, key, strict=True)), **json.loads(data)})
        return result

    def has_row(self, variant: str, seed: int, trial_id: int, resource: int) -> bool:
        """Whether the row with this key is stored."""
        key = (variant, seed, trial_id, resource)
        return (
            self._conn.execute(f"SELECT 1 FROM rows WHERE {_WHERE_KEY}", key).fetchone()
            is not None
        )

    def mark_done(self, variant: str, seed: int, summary: Mapping[str, Any] | None = None) -> None:
        """Record that the unit ``(variant, seed)`` finished (the same summary again: a no-op)."""
        data = _dumps(dict(summary or {}), f"summary of ({variant!r}, {seed!r})")
        with self._transaction():
            query = "SELECT summary FROM done WHERE variant = ? AND seed = ?"
            stored = self._conn.execute(query, (variant, seed)).fetchone()
            if stored is None:
                self._conn.execute("INSERT INTO done VALUES (?, ?, ?)", (variant, seed, data))
            elif stored[0] != data:
                raise ValueError(
                    f"The unit (variant={variant!r}, seed={seed!r}) is done with summary "
                    f"{stored[0]}, but is now marked done with {data}."
                )

    def done(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The finished ``(variant, seed)`` units with their summaries."""
        query = "SELECT variant, seed, summary FROM done ORDER BY variant, seed"
        return {(v, s): json.loads(summary) for v, s, summary in self._conn.execute(query)}

    def put_meta(self, key: str, value: Any) -> None:
        """Set the metadata ``key`` to the JSON value ``value`` (replacing an old one)."""
        data = _dumps(value, f"metadata `{key}`")
        with self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, data))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The metadata ``key``, or ``default`` where it is absent."""
        stored = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if stored is None else json.loads(stored[0])

    def export_csv(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        """Write all rows as one deterministic CSV (``ROW_KEY``, then the other fields sorted).

        ``exclude`` leaves fields out, e.g. measured timings that differ from run to run.
        """
        rows = self.rows()
        fields = {f for row in rows for f in row} - set(ROW_KEY) - set(exclude)
        columns = [*ROW_KEY, *sorted(fields)]
        path = Path(path)
        # a partial file of its own: shards of one study export to the same path at once
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".partial")
        with open(handle, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
        os.chmod(partial, 0o644)
        os.replace(partial, path)

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
