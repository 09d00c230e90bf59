"""A finished store read where it cannot be written (issue 17.5).

Root bypasses file permissions, so as root the reads run as ``nobody`` (``setpriv``) on a copy
in a directory that user cannot write. What these tests prove: a closed store is one plain file
in rollback-journal mode that SQLite's own ``mode=ro`` and the ``sqlite3`` shell open without
write access; ``Store(readonly=True)`` opens it, and also a WAL-mode file (an older version's
finished store) through ``immutable=1``, refusing that only where a WAL file holds content it
would miss; and a read-only store never writes: its bytes stay the same and writes are refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ohgw.store import FILENAME
from ohgw.store import Store
from ohgw.store import database as store_module

READER = """
import importlib, sqlite3, sys
path, how = sys.argv[2], sys.argv[3]
if how == "sqlite-mode-ro":
    uri = "file:" + path + "?mode=ro"
    connection = sqlite3.connect(uri, uri=True)
    print(connection.execute("SELECT COUNT(*) FROM rows").fetchone()[0])
else:
    module = importlib.import_module(sys.argv[1])  # the store module, by name
    try:
        with module.Store(path.rsplit("/", 1)[0], readonly=True) as store:
            print(len(store.rows()))
    except ValueError as error:
        print(error, file=sys.stderr)
        sys.exit(2)
"""


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ohgw-ro-"))
    os.chmod(path, 0o755)
    yield path
    for root, dirs, _ in os.walk(path):
        for name in dirs:
            os.chmod(Path(root) / name, 0o755)
    shutil.rmtree(path)


def _rows(n: int) -> list[dict]:
    return [{"variant": "v", "seed": 0, "trial_id": t, "resource": 1, "x": t} for t in range(n)]


def _read_as_another_user(base: Path, path: Path, how: str) -> subprocess.CompletedProcess[str]:
    script = base / "reader.py"
    script.write_text(READER)
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: no way to drop the permission bypass")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    argv = [*prefix, sys.executable, str(script), store_module.__name__, str(path), how]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _lock_down(directory: Path) -> dict[str, str]:
    for path in directory.iterdir():
        os.chmod(path, 0o444)
    os.chmod(directory, 0o555)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def test_a_closed_store_is_one_file_any_reader_opens_read_only(base: Path) -> None:
    with Store(base / "study") as store:
        store.add_rows(_rows(7))
    before = _lock_down(base / "study")
    assert list(before) == [FILENAME]  # no -wal or -shm file to carry along
    path = base / "study" / FILENAME
    for how in ("sqlite-mode-ro", "store"):
        result = _read_as_another_user(base, path, how)
        assert (result.returncode, result.stdout) == (0, "7\n"), (how, result)
    if shutil.which("sqlite3"):
        shell = ["sqlite3", "-readonly", str(path), "SELECT COUNT(*) FROM rows"]
        if os.geteuid() == 0:
            shell = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *shell]
        assert subprocess.run(shell, capture_output=True, text=True).stdout == "7\n"
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in path.parent.iterdir()}
    assert after == before


def _wal_mode_store(directory: Path, wal_rows: int) -> None:
    """A store left in WAL mode (an older version's, or a killed writer's), with ``wal_rows``
    committed rows only in its ``-wal`` file."""
    with Store(directory) as store:
        store.add_rows(_rows(5))
    connection = sqlite3.connect(directory / FILENAME, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    if wal_rows:
        connection.execute("PRAGMA wal_autocheckpoint=0")
        with Store(directory) as store:
            store.add_rows(_rows(5 + wal_rows)[5:])
            copy = directory.parent / "copy"
            shutil.copytree(directory, copy)  # as a killed writer leaves it: WAL not merged
        connection.close()
        shutil.rmtree(directory)
        copy.rename(directory)
    else:
        connection.close()


def test_readonly_opens_a_wal_mode_store_and_never_misses_wal_content(base: Path) -> None:
    _wal_mode_store(base / "plain", wal_rows=0)
    _wal_mode_store(base / "pending", wal_rows=3)
    assert (base / "pending" / f"{FILENAME}-wal").stat().st_size > 0
    plain, pending = _lock_down(base / "plain"), _lock_down(base / "pending")
    result = _read_as_another_user(base, base / "plain" / FILENAME, "store")
    assert (result.returncode, result.stdout) == (0, "5\n"), result  # immutable=1
    result = _read_as_another_user(base, base / "pending" / FILENAME, "store")
    if result.returncode == 0:  # SQLite read the WAL with its -shm file read-only
        assert result.stdout == "8\n", result
    else:  # or refused: immutable=1 would have returned 5 rows without the WAL's 3
        assert result.returncode == 2 and "cannot be opened" in result.stderr, result
    for name, digests in (("plain", plain), ("pending", pending)):
        directory = base / name
        assert {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()
        } == digests


def test_readonly_never_writes(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_rows(_rows(3))
        store.put_meta("config", {"a": 1})
    before = (tmp_path / FILENAME).read_bytes()
    with Store(tmp_path, readonly=True) as store:
        assert store.get_meta("config") == {"a": 1} and len(store.rows()) == 3
        for write in (
            lambda: store.add_rows(_rows(4)),
            lambda: store.put_meta("b", 2),
            lambda: store.mark_done("v", 0),
        ):
            with pytest.raises(ValueError, match="opened read-only"):
                write()
    assert (tmp_path / FILENAME).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]
    with pytest.raises(ValueError, match="holds no study"):
        Store(tmp_path / "absent", readonly=True)
    assert not (tmp_path / "absent").exists()
