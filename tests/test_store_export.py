"""Exports: finished pairs only on request (issue 17.6); no partial file left by an interrupted
export, and none left over from one that was killed (issue 17.7)."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ohgw.store import Store
from ohgw.store import database as store_module


def _rows(variant: str, seed: int, n: int) -> list[dict]:
    return [
        {"variant": variant, "seed": seed, "trial_id": t, "resource": 1, "loss": t / 7,
         "compute_seconds": 0.25}
        for t in range(n)
    ]  # fmt: skip


def test_export_of_finished_pairs_only(tmp_path: Path) -> None:
    with Store(tmp_path / "s") as store:
        store.add_rows(_rows("ohgw", 0, 3) + _rows("ohgw", 1, 2) + _rows("baseline", 0, 4))
        store.mark_done("ohgw", 0)
        store.mark_done("baseline", 0)
        store.export_csv(tmp_path / "all.csv", exclude=store_module.MEASURED)
        store.export_csv(tmp_path / "done.csv", exclude=store_module.MEASURED, done_only=True)
    with (tmp_path / "done.csv").open(newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["variant", "seed", "trial_id", "resource", "loss"]
    assert sorted({(r[0], r[1]) for r in table[1:]}) == [("baseline", "0"), ("ohgw", "0")]
    assert len(table) == 1 + 3 + 4
    assert (tmp_path / "all.csv").read_text().count("\n") == 1 + 3 + 2 + 4


# The exporter restores Python's SIGINT handler: a process started from a non-interactive
# shell's background job inherits SIGINT ignored, and would then never be interrupted.
EXPORTER = """
import importlib, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
module = importlib.import_module(sys.argv[1])  # the store module, by name
store = module.Store(sys.argv[2])
print("ready", flush=True)
while True:
    store.export_csv(sys.argv[3])
"""


def _big_store(directory: Path) -> None:
    with Store(directory) as store:
        store.add_rows(
            {"variant": "v", "seed": s, "trial_id": t, "resource": 1, "note": "n" * 4000}
            for s in range(4) for t in range(400)
        )  # fmt: skip


def _partials(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


def _interrupt_while_writing(tmp_path: Path, signal_number: int) -> subprocess.Popen[str]:
    """Start a process exporting in a loop; send ``signal_number`` while a partial exists."""
    _big_store(tmp_path / "s")
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    process = subprocess.Popen(
        [sys.executable, str(script), store_module.__name__, str(tmp_path / "s"),
         str(tmp_path / "results.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    deadline = time.monotonic() + 120
    while not _partials(tmp_path):
        assert time.monotonic() < deadline and process.poll() is None, "no partial file seen"
        time.sleep(0.002)
    os.kill(process.pid, signal_number)
    process.communicate(timeout=60)
    return process


def test_an_interrupted_export_removes_its_partial_file(tmp_path: Path) -> None:
    process = _interrupt_while_writing(tmp_path, signal.SIGINT)
    assert process.returncode != 0  # KeyboardInterrupt inside the export
    assert _partials(tmp_path) == []


def test_a_killed_exports_partial_file_is_removed_by_the_next_export(tmp_path: Path) -> None:
    process = _interrupt_while_writing(tmp_path, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    left = _partials(tmp_path)
    assert left  # a killed process cannot clean up
    old_style = tmp_path / "results.csvk3j_x9a1.partial"  # e5c84bf's mkstemp name
    old_style.write_bytes(b"")
    with Store(tmp_path / "s") as store:
        store.export_csv(tmp_path / "results.csv")
    assert _partials(tmp_path) == []
    assert (tmp_path / "results.csv").read_text().count("\n") == 1 + 1600


@pytest.mark.parametrize("alive", [True, False])
def test_a_live_writers_partial_file_is_kept(tmp_path: Path, alive: bool) -> None:
    # shards export at once: another live process's partial file is not taken for stale
    pid = os.getpid() if alive else _dead_pid()
    host = socket.gethostname().replace(".", "_")
    other = tmp_path / f".results.csv.{host}.{pid}.0badf00d.partial"
    other.write_bytes(b"variant\n")
    with Store(tmp_path / "s") as store:
        store.add_rows(_rows("ohgw", 0, 2))
        store.export_csv(tmp_path / "results.csv")
    assert other.exists() == alive


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_export_is_on_disk_before_it_replaces_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an fsync before the rename, a power cut can leave results.csv empty or short
    (the rename reached the disk, the data not yet)."""
    calls: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def recorded_fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def recorded_replace(source: str | Path, target: str | Path) -> None:
        calls.append(("replace", str(source)))
        replace(source, target)

    with Store(tmp_path / "s") as store:
        store.add_rows(_rows("ohgw", 0, 2))
        monkeypatch.setattr(os, "fsync", recorded_fsync)
        monkeypatch.setattr(os, "replace", recorded_replace)
        store.export_csv(tmp_path / "results.csv")
        monkeypatch.undo()
    (renamed,) = [path for call, path in calls if call == "replace"]
    assert renamed.endswith(".partial") and Path(renamed).parent == tmp_path
    assert ("fsync", renamed) in calls[: calls.index(("replace", renamed))], calls
