"""A damaged, empty or unwritable store: one paragraph naming the file and the way out, exit
status 2 from ``ohgw study`` and ``ohgw report``, and nothing intact changed (issue 17.2)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ohgw.store import FILENAME
from ohgw.store import Store
from ohgw.store import database as store_module

PAIRS = [(v, s) for v in ("baseline", "ohgw") for s in (0, 1)]
PAGE = 4096


def _rows(variant: str, seed: int) -> list[dict[str, Any]]:
    return [
        {"variant": variant, "seed": seed, "trial_id": t, "resource": r,
         "label": f"<{variant}-{seed}-{t}-{r}>", "loss": 0.123456789 + t + r / 8,
         "compute_seconds": 0.5, "note": "x" * 120}
        for t in range(20) for r in (1, 2, 3)
    ]  # fmt: skip


def make_study(directory: Path) -> Path:
    """A finished store of four pairs spread over many pages, closed (one plain file)."""
    with Store(directory) as store:
        store.put_meta("config", {"benchmark": "tiny", "budget": 3})
        for variant, seed in PAIRS:
            store.add_rows(_rows(variant, seed))
            store.mark_done(variant, seed, {"units": 60})
    return directory / FILENAME


def _digest(directory: Path, skip_header: bool = False) -> dict[str, str]:
    """The directory's files and their contents (without the store's 100-byte file header,
    whose change counter and journal-mode bytes a writer's open sets)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()[100 if skip_header else 0 :]).hexdigest()
        for p in directory.iterdir()
        if not (skip_header and p.name.endswith(("-wal", "-shm")) and not p.stat().st_size)
    }


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 1000])


def _garbage_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(bytes(range(7, 107)) + data[100:])


def _garbage_page(path: Path) -> None:
    # the page holding the rows of ('ohgw', 0): its leaf page turned to noise
    data = bytearray(path.read_bytes())
    page = data.index(b"<ohgw-0-10-2>") // PAGE
    data[page * PAGE : (page + 1) * PAGE] = bytes((i * 37 + 11) % 251 for i in range(PAGE))
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _changed_digit(path: Path) -> None:
    # one digit of one row's loss: a valid file, which integrity_check passes
    data = path.read_bytes()
    at = data.index(b",", data.index(b'"loss":', data.index(b"<baseline-1-7-3>"))) - 1
    digit = b"7" if data[at : at + 1] != b"7" else b"3"
    path.write_bytes(data[:at] + digit + data[at + 1 :])


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (_truncate, "is damaged"),
    "garbage header": (_garbage_header, "is damaged (file is not a database)"),
    "garbage page": (_garbage_page, "is damaged"),
    "empty": (_empty, "is empty (0 bytes)"),
    "changed digit": (_changed_digit, "row(s) whose content no longer matches the checksum"),
}


def _open_and_read(directory: Path, readonly: bool) -> None:
    with Store(directory, readonly=True) if readonly else Store(directory) as store:
        store.get_meta("config")
        store.done()
        store.rows()


@pytest.mark.parametrize("readonly", [False, True], ids=["write", "readonly"])
@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_one_paragraph_naming_the_file_and_changes_nothing(
    tmp_path: Path, kind: str, readonly: bool
) -> None:
    path = make_study(tmp_path / "study")
    damage, says = DAMAGE[kind]
    damage(path)
    before = _digest(path.parent, skip_header=not readonly)
    with pytest.raises(ValueError) as info:  # e5c84bf: sqlite3 errors, or no error at all
        _open_and_read(path.parent, readonly)
    assert type(info.value).__name__ == "StoreError"
    message = str(info.value)
    assert says in message
    assert str(path) in message and "\n" not in message
    if kind != "empty":
        assert "Rerun the study into a new directory" in message
    # nothing written (a writer's open sets the header's counters; no page is written)
    assert _digest(path.parent, skip_header=not readonly) == before


def test_a_changed_digit_passes_integrity_check_and_the_checksum_names_its_row(
    tmp_path: Path,
) -> None:
    path = make_study(tmp_path / "study")
    _changed_digit(path)
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    connection.close()
    with Store(path.parent) as store:
        with pytest.raises(ValueError) as info:
            store.rows()
        assert info.value.damaged == [("baseline", 1, 7, 3)]
        assert info.value.pairs == [("baseline", 1)]
        assert "variant='baseline', seed=1, trial_id=7, resource=3" in str(info.value)
        assert "the (variant, seed) pairs ('baseline', seed 1); the rows of the" in str(info.value)
        assert len(store.rows("ohgw", 1)) == 60  # the intact pairs read
        with pytest.raises(ValueError, match="checksum"):  # nor overwritten by a rerun
            store.add_rows([r for r in _rows("baseline", 1) if r["trial_id"] == 7])


def test_a_garbage_page_names_the_pairs_it_holds(tmp_path: Path) -> None:
    path = make_study(tmp_path / "study")
    _garbage_page(path)
    with Store(path.parent, readonly=True) as store:
        with pytest.raises(ValueError) as info:
            store.rows()
        assert info.value.pairs is not None and ("ohgw", 0) in info.value.pairs
        intact = [p for p in PAIRS if p not in info.value.pairs]
        assert intact  # the other pairs read whole
        for variant, seed in intact:
            assert len(store.rows(variant, seed)) == 60


def test_an_empty_store_is_not_a_new_study(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"")
    for readonly in (False, True):
        with pytest.raises(ValueError, match="is not taken for a new study"):
            Store(tmp_path, readonly=readonly)
    assert (tmp_path / FILENAME).stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME]


def test_old_stores_without_checksums_open_and_are_upgraded(tmp_path: Path) -> None:
    # a schema-1 store (e5c84bf): no digest column; its rows are read unverified
    connection = sqlite3.connect(tmp_path / FILENAME, isolation_level=None)
    connection.executescript(
        "CREATE TABLE rows (variant TEXT NOT NULL, seed INTEGER NOT NULL, trial_id INTEGER NOT "
        "NULL, resource INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (variant, seed, "
        "trial_id, resource)) WITHOUT ROWID; CREATE TABLE done (variant TEXT NOT NULL, seed "
        "INTEGER NOT NULL, summary TEXT NOT NULL, PRIMARY KEY (variant, seed)) WITHOUT ROWID; "
        "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL); "
        """INSERT INTO rows VALUES ('ohgw', 0, 0, 1, '{"loss":0.5}'); PRAGMA user_version = 1;"""
    )
    connection.close()
    with Store(tmp_path, readonly=True) as store:
        assert store.rows() == [{"variant": "ohgw", "seed": 0, "trial_id": 0, "resource": 1,
                                 "loss": 0.5}]  # fmt: skip
    with Store(tmp_path) as store:
        store.add_rows([{"variant": "ohgw", "seed": 0, "trial_id": 0, "resource": 2, "loss": 1.0}])
        assert len(store.rows()) == 2
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 2
        digests = store.conn.execute("SELECT digest FROM rows ORDER BY resource").fetchall()
    assert digests[0] == (None,) and digests[1][0]  # old row unverified, new row checksummed


NOBODY = """
import importlib, sys
module = importlib.import_module(sys.argv[1])  # the store module, by name
directory, readonly = sys.argv[2], sys.argv[3] == "ro"
try:
    with module.Store(directory, readonly=readonly) as store:
        print(len(store.rows()))
        if not readonly:
            store.add_rows([{"variant": "x", "seed": 0, "trial_id": 0, "resource": 1}])
except ValueError as error:
    print(error, file=sys.stderr)
    sys.exit(2)
"""


def _as_another_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``nobody`` when root (for whom permissions do not apply)."""
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: no way to drop the permission bypass")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)


def test_an_unwritable_directory(tmp_path: Path) -> None:
    # A finished store copied where this user cannot write: writing is refused in one
    # paragraph; reading works (the store was closed as one plain file).
    base = Path(tempfile.mkdtemp(prefix="ohgw-ro-"))  # reachable by another user
    try:
        os.chmod(base, 0o755)
        path = make_study(base / "study")
        script = base / "script.py"
        script.write_text(NOBODY)
        os.chmod(path.parent, 0o555)
        os.chmod(path, 0o444)
        before = _digest(path.parent)
        run = [sys.executable, str(script), store_module.__name__, str(path.parent)]
        writing = _as_another_user(*run, "rw")
        assert writing.returncode == 2, writing
        message = writing.stderr.strip()
        assert message.startswith(
            f"The study store {path} cannot be opened"
        ) or message.startswith(f"The study store {path} cannot be written"), message
        assert "needs write access" in message and "\n" not in message
        reading = _as_another_user(*run, "ro")
        assert (reading.returncode, reading.stdout) == (0, "240\n"), reading
        assert _digest(path.parent) == before
        os.chmod(path.parent, 0o755)
        new = base / "locked"
        new.mkdir(mode=0o555)
        creating = _as_another_user(sys.executable, str(script), store_module.__name__,
                                    str(new / "study"), "rw")  # fmt: skip
        assert creating.returncode == 2 and "cannot be opened" in creating.stderr, creating
    finally:
        for root, dirs, _ in os.walk(base):
            for name in dirs:
                os.chmod(Path(root) / name, 0o755)
        shutil.rmtree(base)
