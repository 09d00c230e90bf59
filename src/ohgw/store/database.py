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
import json
import sqlite3
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ohgw.store.errors import StoreConflict
from ohgw.store.errors import StoreError
from ohgw.store.errors import describe
from ohgw.store.rows import MEASURED
from ohgw.store.rows import ROW_KEY
from ohgw.store.rows import canonical_json
from ohgw.store.rows import check_row
from ohgw.store.rows import content
from ohgw.store.rows import row_digest
from ohgw.store.rows import row_name
from ohgw.store.rows import write_csv
from ohgw.store.sqlite_file import SCHEMA_VERSION
from ohgw.store.sqlite_file import connect
from ohgw.store.sqlite_file import create_whole
from ohgw.store.sqlite_file import open_readonly
from ohgw.store.sqlite_file import refuse_empty
from ohgw.store.sqlite_file import set_wal

FILENAME = "results.sqlite"
_WHERE_KEY = "variant = ? AND seed = ? AND trial_id = ? AND resource = ?"
_after_claim_read: Callable[[], None] | None = None
"""Tests only: called inside :meth:`Store.claim` between its read and its write."""


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
            refuse_empty(self.path, readonly)
            if readonly:
                self._conn = open_readonly(self.path)
            else:
                self.directory.mkdir(parents=True, exist_ok=True)
                create_whole(self.path)
                self._conn = connect(self.path)
            try:
                if not readonly:
                    self._conn.execute("PRAGMA synchronous=FULL")
                self._check_schema()  # before the WAL switch: a file not ours is not written
                if not readonly:
                    set_wal(self._conn)
            except BaseException:
                self._failed = True  # closed without the checkpoint and mode switch
                self.close()
                raise

    # -- opening -------------------------------------------------------------------------------

    def _check_schema(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {t for (t,) in self.conn.execute("SELECT name FROM sqlite_master")}
        if not {"rows", "done", "meta"} <= tables or version not in (1, SCHEMA_VERSION):
            if version > SCHEMA_VERSION:
                raise StoreError(self.path, "version", f"schema version {version}")
            raise StoreError(self.path, "foreign", f"tables {sorted(tables)}, version {version}")
        columns = {c[1] for c in self.conn.execute("PRAGMA table_info(rows)")}
        if "digest" not in columns and not self.readonly:
            with self._transaction():  # version 1: its rows stay unverified (no checksum)
                if "digest" not in {c[1] for c in self.conn.execute("PRAGMA table_info(rows)")}:
                    self.conn.execute("ALTER TABLE rows ADD COLUMN digest TEXT")
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
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
        for *key, text, stored_digest in self.conn.execute(query, list(params)):
            try:
                data = json.loads(text) if isinstance(text, str) else None
            except json.JSONDecodeError:
                data = None
            if not isinstance(data, dict) or (
                stored_digest is not None and stored_digest != row_digest(key, data)
            ):
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
        checked = [check_row(row) for row in rows]
        new = 0
        with self._errors("write"), self._transaction():
            for key, data, text in checked:
                query = f"SELECT data, {self._digest_column} FROM rows WHERE {_WHERE_KEY}"
                stored = self.conn.execute(query, key).fetchone()
                if stored is None:
                    self.conn.execute(
                        "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)",
                        (*key, text, row_digest(key, data)),
                    )
                    new += 1
                    continue
                old = json.loads(stored[0])
                if stored[1] is not None and stored[1] != row_digest(key, old):
                    raise StoreError(self.path, "rows", damaged=[key])
                before, now = content(old), content(data)
                changed = sorted(f for f in {*before, *now} if before.get(f) != now.get(f))
                if changed:
                    was = ", ".join(f"{f}={before.get(f, '(absent)')}" for f in changed)
                    is_ = ", ".join(f"{f}={now.get(f, '(absent)')}" for f in changed)
                    raise StoreConflict(
                        f"The row ({row_name(key)}) is stored with {was}, but is now {is_}; "
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
        data = canonical_json(dict(summary or {}), f"summary of ({variant!r}, {seed!r})")
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

    def claim(
        self,
        key: str,
        value: Any,
        differences: Callable[[Any, Any], list[str]],
        upgrade: Callable[[Any], Any] | None = None,
        check_only: bool = False,
    ) -> None:
        """Bind the metadata ``key`` to ``value`` atomically: store it where absent, else
        raise :class:`StoreConflict` if ``differences(stored, value)`` names any setting.
        ``upgrade`` turns a stored value of an older version into today's names before it is
        compared and shown (the message then names what the user would write today).
        ``check_only``: raise the same conflict, but write nothing (a read-only store will do),
        so that a refused study leaves the file as it was.

        One ``BEGIN IMMEDIATE`` transaction holds the write lock from the read to the write,
        so of two processes claiming a new store at once the second reads the first's value.
        """
        data = canonical_json(value, f"metadata `{key}`")
        value = json.loads(data)  # compared as it will be stored (tuples as lists)
        if check_only:
            stored_value = self.get_meta(key)
            if stored_value is not None:
                self._refuse_other(stored_value, value, differences, upgrade)
            return
        with self._errors("write"), self._transaction():
            stored = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if _after_claim_read is not None:
                _after_claim_read()
            if stored is None:
                self.conn.execute("INSERT INTO meta VALUES (?, ?)", (key, data))
                return
            self._refuse_other(json.loads(stored[0]), value, differences, upgrade)

    def _refuse_other(
        self,
        old: Any,
        value: Any,
        differences: Callable[[Any, Any], list[str]],
        upgrade: Callable[[Any], Any] | None,
    ) -> None:
        old = upgrade(old) if upgrade is not None else old
        changed = list(differences(old, value))
        if changed:
            shown = changed
            if isinstance(old, Mapping) and isinstance(value, Mapping):
                shown = [f"{k}: stored {old.get(k)!r}, now {value.get(k)!r}" for k in changed]
            raise StoreConflict(
                f"{self.directory} holds a study with other settings ({'; '.join(shown)}); "
                "use a new directory, or the same settings to continue it."
            )

    def release(self, key: str) -> bool:
        """Remove the claim ``key`` if the store holds no row and no finished pair (nothing
        ran under it), so that the directory no longer pins settings; True if removed. One
        transaction: a row written meanwhile keeps the claim."""
        with self._errors("write"), self._transaction():
            used = self.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM rows) OR EXISTS (SELECT 1 FROM done)"
            ).fetchone()[0]
            if used:
                return False
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        return True

    def put_meta(self, key: str, value: Any) -> None:
        """Set the metadata ``key`` to the JSON value ``value`` (replacing an old one)."""
        data = canonical_json(value, f"metadata `{key}`")
        with self._errors("write"), self._transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, data))

    def update_meta(self, key: str, change: Callable[[Any], Any]) -> Any:
        """Set the metadata ``key`` to ``change(stored value or None)``; return the new value.

        The read and the write are one ``BEGIN IMMEDIATE`` transaction: processes updating one
        key at once take turns, each reading what the previous one wrote, so none is lost (a
        ``get_meta`` then a ``put_meta`` lets one process's stale write erase another's).
        """
        with self._errors("write"), self._transaction():
            value = change(self.get_meta(key))
            data = canonical_json(value, f"metadata `{key}`")
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, data))
        return json.loads(data)

    def get_meta(self, key: str, default: Any = None) -> Any:
        """The metadata ``key``, or ``default`` where it is absent."""
        with self._errors("read"):
            stored = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return default if stored is None else json.loads(stored[0])

    # -- export and closing --------------------------------------------------------------------

    def export_csv(
        self, path: str | Path, exclude: Iterable[str] = (), done_only: bool = False
    ) -> None:
        """Write the rows as one deterministic CSV (:func:`write_csv`).

        ``exclude`` leaves fields out, e.g. :data:`MEASURED`; ``done_only`` leaves out the rows
        of pairs not marked done (another shard's, still running).
        """
        rows = self.rows()
        if done_only:
            done = self.done()
            rows = [r for r in rows if (r["variant"], r["seed"]) in done]
        with self._errors("export"):
            write_csv(path, rows, exclude)

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
