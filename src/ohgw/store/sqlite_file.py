"""A store's SQLite file: its schema, built whole beside its final name, opened read-only
without writing into the directory, and switched to WAL while a study writes.

:class:`ohgw.store.Store` opens its file through these functions; they know nothing of rows.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

from ohgw.store.errors import StoreError
from ohgw.store.files import abandoned
from ohgw.store.files import fsync_directory
from ohgw.store.files import temporary_name

SCHEMA_VERSION = 2  # 2: rows carry a checksum (``digest``); 1: without
BUSY_TIMEOUT = 60.0  # seconds a connection waits for another one's lock
SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, trial_id INTEGER NOT NULL,
    resource INTEGER NOT NULL, data TEXT NOT NULL, digest TEXT,
    PRIMARY KEY (variant, seed, trial_id, resource)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS done (
    variant TEXT NOT NULL, seed INTEGER NOT NULL, summary TEXT NOT NULL,
    PRIMARY KEY (variant, seed)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
"""


def refuse_empty(path: Path, readonly: bool) -> None:
    """A 0-byte store (with no WAL content) held a study that was lost: never a new one; a
    missing one cannot be read."""
    wal = path.with_name(path.name + "-wal")
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size):
            raise StoreError(path, "empty")
    if readonly and not path.is_file():
        raise StoreError(path, "missing")


def create_whole(path: Path) -> None:
    """Build the schema in a file of this process's own and hard-link it to ``path`` (atomic:
    another shard that links first wins, and its store is kept)."""
    for stale in path.parent.glob(f".{path.name}.*.new"):
        if abandoned(stale):
            stale.unlink(missing_ok=True)
    if path.exists():
        return
    building = temporary_name(path, ".new")
    try:
        conn = sqlite3.connect(building, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(building, path)
            fsync_directory(path.parent)
    finally:
        building.unlink(missing_ok=True)


def connect(path: Path) -> sqlite3.Connection:
    """A writing connection (autocommit: transactions are explicit) that waits for locks."""
    return sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)


def open_readonly(path: Path) -> sqlite3.Connection:
    """A connection that never writes: SQLite's ``mode=ro``, or ``immutable=1`` where that
    cannot work (a WAL-mode file in a directory this user cannot write, with no WAL content)."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size:
            raise  # immutable=1 would miss the WAL's committed rows
    return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)


def set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL journal mode, retrying while another connection switches."""
    # Processes opening (or closing) a store at once: SQLite answers "locked" at once,
    # without waiting for the busy timeout, to all but one connection switching the mode.
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
