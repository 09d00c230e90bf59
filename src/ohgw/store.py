"""The crash-safe result store of a study: every result row, kept in one SQLite file.

Why SQLite (``results.sqlite`` in the study directory, from the standard library):

* every write is one atomic transaction, so a batch of rows is stored whole or not at all;
* WAL journal mode with ``synchronous=FULL`` while a study writes makes a committed transaction
  durable and leaves the file consistent after ``kill -9`` or a power cut at any moment;
* the last writer to close checkpoints the WAL and switches the file back to the rollback
  journal, so a finished store is one plain file that any reader opens, read-only copies too
  (``Store(directory, readonly=True)``, the ``sqlite3`` shell, pandas);
* a new store is built beside the final name and hard-linked into place, so ``results.sqlite``
  never exists half-made: an empty (0-byte) one is damage, never taken for a new study.

A row is keyed by :data:`ROW_KEY`. Its other fields are stored as canonical JSON (sorted keys,
floats written by ``repr`` so they round-trip exactly, NaN and infinities included), with a
checksum of its deterministic content (all but :data:`MEASURED`) that every read verifies.
Rows written before checksums existed (schema version 1) have none and are read unverified.
Adding a row whose key is stored already is a no-op when the deterministic content is identical
(a rerun continues a study) and a :class:`StoreConflict` when it differs. A store that cannot be
read or written raises :class:`StoreError`, a one-paragraph message naming the file and the way
out; nothing intact is changed by a failure.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import numbers
import os
import socket
import sqlite3
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FILENAME", "MEASURED", "ROW_KEY", "Store", "StoreConflict", "StoreError"]

ROW_KEY = ("variant", "seed", "trial_id", "resource")
MEASURED = ("compute_seconds", "warm_seconds", "peak_memory_bytes")
"""Measured columns: they differ between runs, so they are no part of a row's content."""
FILENAME = "results.sqlite"
_SCHEMA_VERSION = 2  # 2: rows carry a checksum (``digest``); 1: without
_BUSY_TIMEOUT = 60.0  # seconds a connection waits for another one's lock
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, trial_id INTEGER NOT NULL,
    resource INTEGER NOT NULL, data TEXT NOT NULL, digest TEXT,
    PRIMARY KEY (variant, seed, trial_id, resource)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS done (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, summary TEXT NOT NULL,
    PRIMARY KEY (variant, seed)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
"""
_WHERE_KEY = "variant = ? AND seed = ? AND trial_id = ? AND resource = ?"
_STALE_PARTIAL_S = 3600.0  # a partial export of another host older than this is abandoned
_after_claim_read: Callable[[], None] | None = None
"""Tests only: called inside :meth:`Store.claim` between its read and its write."""


# -- failures: each a one-paragraph message naming the file and the way out ---------------

SHOWN = 5  # damaged rows named one by one; the rest counted
_DAMAGE = ("malformed", "not a database", "could not decode", "expecting", "delimiter")
_ACCESS = ("unable to open", "readonly", "read-only", "permission", "access")


class StoreConflict(ValueError):
    """The store holds other content than what is being written (see the module docstring)."""


def describe(error: BaseException) -> tuple[str, str]:
    """(kind, text) of an SQLite, file-system or JSON error: kind is one of ``damaged``,
    ``access``, ``locked``, ``full`` or ``other``."""
    text = str(error) or type(error).__name__
    low = text.lower()
    if isinstance(error, (PermissionError, IsADirectoryError, NotADirectoryError)):
        return "access", text
    if isinstance(error, ValueError) and not isinstance(error, sqlite3.Error):
        return "damaged", f"unreadable JSON: {text}"  # json.JSONDecodeError
    if "locked" in low or "busy" in low:
        return "locked", text
    if "full" in low or "no space" in low:
        return "full", text
    if any(word in low for word in _ACCESS):
        return "access", text
    if isinstance(error, sqlite3.DatabaseError) and (
        any(word in low for word in _DAMAGE) or not isinstance(error, sqlite3.OperationalError)
    ):
        return "damaged", text
    return "other", text


def _pairs(pairs: Sequence[tuple[str, int]] | None) -> str:
    if pairs is None:
        return "which (variant, seed) pairs it held cannot be read, so take all as affected"
    if not pairs:
        return "every pair's rows still read whole (the damage is in the file's structure)"
    named = ", ".join(f"({v!r}, seed {s})" for v, s in pairs)
    return f"the (variant, seed) pairs {named}; the rows of the other pairs read whole"


class StoreError(ValueError):
    """The store cannot be used as it is; the message says which file, why, and what to do."""

    def __init__(
        self,
        path: Path,
        kind: str,
        detail: object = None,
        pairs: Sequence[tuple[str, int]] | None = None,
        damaged: Sequence[tuple[object, ...]] = (),
    ) -> None:
        self.path = Path(path)
        self.damaged = [tuple(key) for key in damaged]
        if self.damaged:
            pairs = sorted({(str(k[0]), int(k[1])) for k in self.damaged})  # type: ignore[call-overload]
        self.pairs = None if pairs is None else list(pairs)
        self.kind = kind
        super().__init__(self._message(kind, detail))

    def _message(self, kind: str, detail: object) -> str:
        path, directory = self.path, self.path.parent
        nothing = "Nothing was written to it"
        rerun = (
            "Rerun the study into a new directory (the same command with directory=NEW_DIR) "
            "and keep this file for inspection"
        )
        if kind == "missing":
            return f"{directory} holds no study: {path.name} is missing."
        if kind == "empty":
            return (
                f"The study store {path} is empty (0 bytes). A store is created whole, so an "
                "empty one lost the study it held; it is not taken for a new study. "
                f"{nothing}. {rerun}, or delete the empty file if no study is to be kept there."
            )
        if kind == "rows":
            shown = "; ".join(
                ", ".join(f"{f}={v!r}" for f, v in zip(ROW_KEY, key, strict=True))
                for key in self.damaged[:SHOWN]
            )
            more = len(self.damaged) - SHOWN
            shown += f"; and {more} more" if more > 0 else ""
            return (
                f"The study store {path} holds {len(self.damaged)} row(s) whose content no "
                f"longer matches the checksum written with it (damage, or an edit): {shown}. "
                f"Affected: {_pairs(self.pairs)}. {nothing}. {rerun}."
            )
        if kind == "version":
            return (
                f"The study store {path} has {detail}, newer than this code reads; update "
                f"ohgw to read it. {nothing}."
            )
        if kind == "foreign":
            return (
                f"{path} is an SQLite file but not a study store ({detail}). {nothing}. Give "
                "the study a new directory, or delete the file if it is not needed."
            )
        if not isinstance(detail, BaseException):
            raise TypeError(f"StoreError of kind {kind!r} needs the error as its detail.")
        what, text = describe(detail)
        action = kind  # open, read, write, export
        if what == "damaged":
            return (
                f"The study store {path} is damaged ({text}). Affected: {_pairs(self.pairs)}. "
                f"{nothing}, and what is intact stays in it (`sqlite3 {path} .recover` reads "
                f"it out). {rerun}."
            )
        if what == "access":
            return (
                f"The study store {path} cannot be {_PARTICIPLE.get(action, action)} ({text}): "
                f"`ohgw study` needs write access to {directory} (SQLite keeps its journal "
                "beside the file); `ohgw report` reads a finished store without it. Make the "
                "directory writable, or copy the study directory to a writable place and run "
                f"the command there. {nothing}."
            )
        if what == "locked":
            return (
                f"The study store {path} stayed locked by another process ({text}). Another "
                "process of the study holds it; rerun the same command when it has finished "
                "(nothing committed is lost). If none runs, copy the study directory and "
                "continue there."
            )
        if what == "full":
            return (
                f"The study store {path} could not be {_PARTICIPLE.get(action, action)} "
                f"({text}). Free disk space in {directory} and rerun the same command; nothing "
                "committed is lost."
            )
        return (
            f"The study store {path} could not be {_PARTICIPLE.get(action, action)} ({text}). "
            f"Rerun the same command; if it fails again, {rerun[0].lower()}{rerun[1:]}."
        )


_PARTICIPLE = {"open": "opened", "read": "read", "write": "written", "export": "exported"}


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


def _content(data: Mapping[str, Any]) -> dict[str, str]:
    """A row's deterministic fields, each as canonical JSON (what reruns must reproduce)."""
    return {f: _dumps(v, f"`{f}`") for f, v in data.items() if f not in MEASURED}


def _digest(key: tuple[Any, ...], data: Mapping[str, Any]) -> str:
    """The checksum of a row's deterministic content."""
    text = _dumps([list(key), {f: v for f, v in data.items() if f not in MEASURED}], "row")
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _check(row: Any) -> tuple[tuple[str, int, int, int], dict[str, Any], str]:
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
    return key, data, _dumps(data, f"row {key!r}")


def _named(key: tuple[Any, ...]) -> str:
    return ", ".join(f"{f}={v!r}" for f, v in zip(ROW_KEY, key, strict=True))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _abandoned(path: Path) -> bool:
    """Whether a temporary file was left by a process that is gone: ours are named
    ``.<name>.<host>.<pid>.<hex>.<tag>`` (gone: a dead pid on this host, or over an hour old);
    any other name is an older version's (``results.csv<random>.partial``), never in use now."""
    parts = path.name.split(".")
    if len(parts) < 5 or not parts[-3].isdigit():
        return True
    with contextlib.suppress(OSError):
        if time.time() - path.stat().st_mtime > _STALE_PARTIAL_S:
            return True
    return parts[-4] == socket.gethostname().replace(".", "_") and not _pid_alive(int(parts[-3]))


def _temporary(path: Path, tag: str) -> Path:
    """A file name beside ``path`` that only this process uses (see :func:`_abandoned`)."""
    host = socket.gethostname().replace(".", "_")
    return path.with_name(f".{path.name}.{host}.{os.getpid()}.{os.urandom(4).hex()}{tag}")


class Store:
    """The result rows, finished units and metadata of one study directory."""

    def __init__(self, directory: str | Path, readonly: bool = False) -> None:
        """Open ``directory/results.sqlite``; without ``readonly``, create it where absent.

        ``readonly=True`` never writes into the directory: the file is opened with SQLite's
        ``mode=ro`` and, where that cannot work (a WAL-mode file in a directory this user
        cannot write, with no WAL content to miss), ``immutable=1``.
        """
        self.directory = Path(directory)
        self.path = self.directory / FILENAME
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = None
        self._failed = False  # a StoreError was raised: close() then writes nothing
        with self._errors("open"):
            self._refuse_empty()
            if readonly:
                self._conn = self._open_readonly()
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._create_whole()
                self._conn = sqlite3.connect(
                    self.path, isolation_level=None, timeout=_BUSY_TIMEOUT
                )
            try:
                if not readonly:
                    self._conn.execute("PRAGMA synchronous=FULL")
                self._check_schema()  # before the WAL switch: a file not ours is not written
                if not readonly:
                    self._set_wal()
            except BaseException:
                self._failed = True  # closed without the checkpoint and mode switch
                self.close()
                raise

    # -- opening -------------------------------------------------------------------------------

    def _refuse_empty(self) -> None:
        """A 0-byte store (with no WAL content) held a study that was lost: never a new one."""
        wal = self.path.with_name(self.path.name + "-wal")
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size):
                raise StoreError(self.path, "empty")
        if self.readonly and not self.path.is_file():
            raise StoreError(self.path, "missing")

    def _create_whole(self) -> None:
        """Build the schema in a file of this process's own and hard-link it to the final name
        (atomic: another shard that links first wins, and its store is kept)."""
        for stale in self.directory.glob(f".{FILENAME}.*.new"):
            if _abandoned(stale):
                stale.unlink(missing_ok=True)
        if self.path.exists():
            return
        building = _temporary(self.path, ".new")
        try:
            conn = sqlite3.connect(building, isolation_level=None)
            try:
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                conn.execute("COMMIT")
            finally:
                conn.close()
            with contextlib.suppress(FileExistsError):
                os.link(building, self.path)
                _fsync_directory(self.directory)
        finally:
            building.unlink(missing_ok=True)

    def _open_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        try:
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size:
                raise  # immutable=1 would miss the WAL's committed rows
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)

    def _set_wal(self) -> None:
        # Processes opening (or closing) a store at once: SQLite answers "locked" at once,
        # without waiting for the busy timeout, to all but one connection switching the mode.
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _check_schema(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {t for (t,) in self.conn.execute("SELECT name FROM sqlite_master")}
        if not {"rows", "done", "meta"} <= tables or version not in (1, _SCHEMA_VERSION):
            if version > _SCHEMA_VERSION:
                raise StoreError(self.path, "version", f"schema version {version}")
            raise StoreError(self.path, "foreign", f"tables {sorted(tables)}, version {version}")
        columns = {c[1] for c in self.conn.execute("PRAGMA table_info(rows)")}
        if "digest" not in columns and not self.readonly:
            with self._transaction():  # version 1: its rows stay unverified (no checksum)
                if "digest" not in {c[1] for c in self.conn.execute("PRAGMA table_info(rows)")}:
                    self.conn.execute("ALTER TABLE rows ADD COLUMN digest TEXT")
                self.conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            columns.add("digest")
        self._digest_column = "digest" if "digest" in columns else "NULL"

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError(f"The store {self.path} is closed.")
        return self._conn

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn SQLite's and the file system's errors into a :class:`StoreError`."""
        try:
            yield
        except StoreConflict:
            raise
        except StoreError:
            self._failed = True
            raise
        except (sqlite3.Error, OSError, json.JSONDecodeError) as error:
            self._failed = True
            pairs = None
            if describe(error)[0] == "damaged" and self._conn is not None:
                pairs = self._damaged_pairs()
            raise StoreError(self.path, action, error, pairs=pairs) from error

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.readonly:
            raise ValueError(f"The store {self.path} was opened read-only.")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _read(self, where: str, params: Iterable[Any]) -> Iterator[dict[str, Any]]:
        """Rows matching ``where``, sorted by key, each verified against its checksum."""
        query = f"SELECT {', '.join(ROW_KEY)}, data, {self._digest_column} FROM rows"
        query += f" WHERE {where}" if where else ""
        query += f" ORDER BY {', '.join(ROW_KEY)}"
        damaged = []
        for *key, text, digest in self.conn.execute(query, list(params)):
            try:
                data = json.loads(text) if isinstance(text, str) else None
            except json.JSONDecodeError:
                data = None
            if not isinstance(data, dict) or (digest is not None and digest != _digest(key, data)):
                damaged.append(tuple(key))
                continue
            yield {**dict(zip(ROW_KEY, key, strict=True)), **data}
        if damaged:
            raise StoreError(self.path, "rows", damaged=damaged)

    def _damaged_pairs(self) -> list[tuple[str, int]] | None:
        """The (variant, seed) pairs whose rows cannot be read whole (None: none can be listed).

        The pairs come from the ``done`` table and from seeking the rows' key from pair to pair
        (a seek reads only the pages on its path, so a bad page elsewhere does not stop it)."""
        pairs: set[tuple[str, int]] = set()
        with contextlib.suppress(sqlite3.Error, UnicodeDecodeError):
            pairs.update(self.conn.execute("SELECT variant, seed FROM done").fetchall())
        seek = (
            "SELECT variant, seed FROM rows WHERE variant > ? OR (variant = ? AND seed > ?) "
            f"ORDER BY {', '.join(ROW_KEY)} LIMIT 1"
        )
        last: tuple[str, int] = ("", -1)
        with contextlib.suppress(sqlite3.Error, UnicodeDecodeError):
            while (found := self.conn.execute(seek, (last[0], *last)).fetchone()) is not None:
                last = (found[0], found[1])
                pairs.add(last)
        if not pairs:
            return None
        bad = []
        for variant, seed in sorted(pairs):
            try:
                list(self._read("variant = ? AND seed = ?", (variant, seed)))
            except (sqlite3.Error, json.JSONDecodeError, StoreError, UnicodeDecodeError):
                bad.append((variant, seed))
        return bad

    # -- rows ----------------------------------------------------------------------------------

    def add_rows(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Store ``rows`` in one transaction (all or none); return how many were new.

        A row whose key is stored with the same deterministic content (all but
        :data:`MEASURED`) is skipped; with other content it raises :class:`StoreConflict`
        naming the columns that differ, and nothing of the call is written.
        """
        checked = [_check(row) for row in rows]
        new = 0
        with self._errors("write"), self._transaction():
            for key, data, text in checked:
                query = f"SELECT data, {self._digest_column} FROM rows WHERE {_WHERE_KEY}"
                stored = self.conn.execute(query, key).fetchone()
                if stored is None:
                    self.conn.execute(
                        "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)",
                        (*key, text, _digest(key, data)),
                    )
                    new += 1
                    continue
                old = json.loads(stored[0])
                if stored[1] is not None and stored[1] != _digest(key, old):
                    raise StoreError(self.path, "rows", damaged=[key])
                before, now = _content(old), _content(data)
                changed = sorted(f for f in {*before, *now} if before.get(f) != now.get(f))
                if changed:
                    was = ", ".join(f"{f}={before.get(f, '(absent)')}" for f in changed)
                    is_ = ", ".join(f"{f}={now.get(f, '(absent)')}" for f in changed)
                    raise StoreConflict(
                        f"The row ({_named(key)}) is stored with {was}, but is now {is_}; "
                        "a rerun must reproduce the stored study (measured columns "
                        f"{list(MEASURED)} may differ)."
                    )
        return new

    def rows(self, variant: str | None = None, seed: int | None = None) -> list[dict[str, Any]]:
        """The stored rows (optionally of one variant and/or seed), sorted by ``ROW_KEY``.

        A row whose checksum does not match raises :class:`StoreError` naming it.
        """
        where = [(f, v) for f, v in (("variant", variant), ("seed", seed)) if v is not None]
        clause = " AND ".join(f"{f} = ?" for f, _ in where)
        with self._errors("read"):
            return list(self._read(clause, [v for _, v in where]))

    def has_row(self, variant: str, seed: int, trial_id: int, resource: int) -> bool:
        """Whether the row with this key is stored."""
        key = (variant, seed, trial_id, resource)
        with self._errors("read"):
            found = self.conn.execute(f"SELECT 1 FROM rows WHERE {_WHERE_KEY}", key).fetchone()
        return found is not None

    # -- units and metadata ----------------------------------------------------------------------

    def mark_done(self, variant: str, seed: int, summary: Mapping[str, Any] | None = None) -> None:
        """Record that the unit ``(variant, seed)`` finished (the same summary again: a no-op)."""
        data = _dumps(dict(summary or {}), f"summary of ({variant!r}, {seed!r})")
        with self._errors("write"), self._transaction():
            query = "SELECT summary FROM done WHERE variant = ? AND seed = ?"
            stored = self.conn.execute(query, (variant, seed)).fetchone()
            if stored is None:
                self.conn.execute("INSERT INTO done VALUES (?, ?, ?)", (variant, seed, data))
            elif stored[0] != data:
                raise StoreConflict(
                    f"The unit (variant={variant!r}, seed={seed!r}) is done with summary "
                    f"{stored[0]}, but is now marked done with {data}."
                )

    def done(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The finished ``(variant, seed)`` units with their summaries."""
        query = "SELECT variant, seed, summary FROM done ORDER BY variant, seed"
        with self._errors("read"):
            return {(v, s): json.loads(text) for v, s, text in self.conn.execute(query)}

    def claim(self, key: str, value: Any, differences: Callable[[Any, Any], list[str]]) -> None:
        """Bind the metadata ``key`` to ``value`` atomically: store it where absent, else
        raise :class:`StoreConflict` if ``differences(stored, value)`` names any setting.

        One ``BEGIN IMMEDIATE`` transaction holds the write lock from the read to the write,
        so of two processes claiming a new store at once the second reads the first's value.
        """
        data = _dumps(value, f"metadata `{key}`")
        value = json.loads(data)  # compared as it will be stored (tuples as lists)
        with self._errors("write"), self._transaction():
            stored = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if _after_claim_read is not None:
                _after_claim_read()
            if stored is None:
                self.conn.execute("INSERT INTO meta VALUES (?, ?)", (key, data))
                return
            old = json.loads(stored[0])
            changed = list(differences(old, value))
            if changed:
                shown = changed
                if isinstance(old, Mapping) and isinstance(value, Mapping):
                    shown = [f"{k}: stored {old.get(k)!r}, now {value.get(k)!r}" for k in changed]
                raise StoreConflict(
                    f"{self.directory} holds a study with other settings ({'; '.join(shown)}); "
                    "use a new directory, or the same settings to continue it."
                )

    def put_meta(self, key: str, value: Any) -> None:
        """Set the metadata ``key`` to the JSON value ``value`` (replacing an old one)."""
        data = _dumps(value, f"metadata `{key}`")
        with self._errors("write"), self._transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, data))

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The metadata ``key``, or ``default`` where it is absent."""
        with self._errors("read"):
            stored = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return default if stored is None else json.loads(stored[0])

    # -- export and closing --------------------------------------------------------------------

    def export_csv(
        self, path: str | Path, exclude: Iterable[str] = (), done_only: bool = False
    ) -> None:
        """Write the rows as one deterministic CSV (``ROW_KEY``, then the other fields sorted).

        ``exclude`` leaves fields out, e.g. :data:`MEASURED`; ``done_only`` leaves out the rows
        of pairs not marked done (another shard's, still running). The file is written under a
        name of this process's own and renamed into place; a failure removes it, and partial
        files that dead processes left are removed first.
        """
        path = Path(path)
        rows = self.rows()
        if done_only:
            done = self.done()
            rows = [r for r in rows if (r["variant"], r["seed"]) in done]
        fields = {f for row in rows for f in row} - set(ROW_KEY) - set(exclude)
        columns = [*ROW_KEY, *sorted(fields)]
        with self._errors("export"):
            for stale in path.parent.glob(f"{path.name}*.partial"):
                if _abandoned(stale):  # both today's names and the older mkstemp ones
                    stale.unlink(missing_ok=True)
            for stale in path.parent.glob(f".{path.name}.*.partial"):
                if _abandoned(stale):
                    stale.unlink(missing_ok=True)
            partial = _temporary(path, ".partial")
            try:
                with open(partial, "w", newline="", encoding="utf-8") as file:
                    writer = csv.writer(file, lineterminator="\n")
                    writer.writerow(columns)
                    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
                os.chmod(partial, 0o644)
                os.replace(partial, path)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise

    def close(self) -> None:
        """Close the connection; the last writer leaves one plain file (WAL checkpointed and
        switched off), so that readers need no ``-wal``/``-shm`` files nor write access."""
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        if not self.readonly and not self._failed:
            with contextlib.suppress(sqlite3.Error):  # another connection is open: it does it
                conn.execute("PRAGMA busy_timeout = 0")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (where the platform allows opening a directory)."""
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)
