"""The study's result store: round trips, idempotent reruns, atomic batches, exports, kill -9."""

from __future__ import annotations

import csv
import inspect
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ohgw.store import ROW_KEY
from ohgw.store import Store
from ohgw.store import database as store_module


def _key(row: dict[str, Any]) -> tuple:
    return tuple(row[f] for f in ROW_KEY)


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and types (bool vs int vs float) and the sign of 0 kept."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return a == b


def _grid() -> list[dict[str, Any]]:
    rows = []
    for variant in ("ohgw", "baseline"):
        for seed in range(3):
            for trial_id in range(3):
                for resource in (1, 2, 3):
                    i = len(rows)
                    rows.append(
                        {"variant": variant, "seed": seed, "trial_id": trial_id,
                         "resource": resource, "loss": 1.0 / (i + 1), "step": i}
                    )  # fmt: skip
    return rows


def test_round_trip_keeps_values_and_types_exactly(tmp_path: Path) -> None:
    values = {
        "sum": 0.1 + 0.2, "tiny": 1e-300, "nan": math.nan, "inf": math.inf, "ninf": -math.inf,
        "negzero": -0.0, "int": 12345678901234567, "str": "héllo, \"world\"\n", "none": None,
        "true": True, "false": False, "float_one": 1.0,
    }  # fmt: skip
    row = {"variant": "ohgw", "seed": 0, "trial_id": 7, "resource": 3, **values}
    with Store(tmp_path / "nested" / "study") as store:
        assert store.add_rows([row]) == 1
    with Store(tmp_path / "nested" / "study") as store:
        (stored,) = store.rows()
    assert _same(stored, row)
    assert stored["sum"] == 0.30000000000000004
    assert list(stored)[:4] == list(ROW_KEY)


def test_rows_are_sorted_and_filtered(tmp_path: Path) -> None:
    rows = _grid()
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    with Store(tmp_path) as store:
        assert store.add_rows(shuffled[:20]) == 20
        assert store.add_rows(iter(shuffled[20:])) == len(rows) - 20
        stored = store.rows()
        assert [_key(r) for r in stored] == sorted(_key(r) for r in rows)
        assert all(_same(s, r) for s, r in zip(stored, sorted(rows, key=_key), strict=True))
        assert {r["variant"] for r in store.rows(variant="ohgw")} == {"ohgw"}
        assert len(store.rows(variant="ohgw")) == len(rows) // 2
        assert {(r["variant"], r["seed"]) for r in store.rows(seed=1)} == {
            ("baseline", 1), ("ohgw", 1)
        }  # fmt: skip
        assert len(store.rows(variant="baseline", seed=2)) == 9
        assert store.rows(variant="nope") == []
        assert store.has_row("ohgw", 2, 1, 3)
        assert not store.has_row("ohgw", 2, 1, 4)


def test_wal_while_open_and_one_plain_file_when_closed(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.add_rows(_grid()[:3])
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        other = Store(tmp_path)  # a second writer: the first to close leaves the WAL on
        other.add_rows(_grid()[3:5])
        other.close()
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.add_rows(_grid()[5:6])
    # the last to close checkpoints and leaves the rollback journal: no -wal/-shm needed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.sqlite"]
    connection = sqlite3.connect(tmp_path / "results.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert connection.execute("SELECT COUNT(*) FROM rows").fetchone()[0] == 6
    connection.close()


def test_adding_the_same_rows_again_writes_nothing(tmp_path: Path) -> None:
    rows = _grid()
    with Store(tmp_path) as store:
        assert store.add_rows(rows[:10]) == 10
        assert store.add_rows(rows[:10]) == 0
        assert store.add_rows(rows[5:15]) == 5
        assert store.add_rows([rows[20], dict(rows[20])]) == 1  # a repeat inside one batch
        assert len(store.rows()) == 16


def test_conflicting_row_raises_and_changes_nothing(tmp_path: Path) -> None:
    rows = _grid()
    with Store(tmp_path) as store:
        store.add_rows(rows[:3])
        changed = {**rows[1], "loss": math.nextafter(rows[1]["loss"], 1.0)}
        with pytest.raises(ValueError, match=r"variant='ohgw', seed=0, trial_id=0, resource=2"):
            store.add_rows([rows[3], changed])
        assert store.rows() == rows[:3]  # neither the conflict nor the new row of its batch
        added = r"stored with extra=\(absent\), but is now extra=null"
        with pytest.raises(ValueError, match=added):
            store.add_rows([{**rows[1], "extra": None}])  # an added field is a change too
        with pytest.raises(ValueError, match="resource=1"):
            store.add_rows([rows[0], {**rows[0], "step": 99}])  # a conflict inside one batch
        assert store.rows() == rows[:3]


def test_measured_columns_are_no_part_of_a_rows_content(tmp_path: Path) -> None:
    # Issue 17.3: the same command started twice at once stores the same rows, measured apart.
    measured = {"compute_seconds": 0.25, "warm_seconds": 0.125, "peak_memory_bytes": 1000}
    rows = [{**row, **measured} for row in _grid()[:4]]
    again = [{**row, "compute_seconds": 9.5, "warm_seconds": 1.5, "peak_memory_bytes": 7}
             for row in rows]  # fmt: skip
    with Store(tmp_path) as store:
        assert store.add_rows(rows) == 4
        assert store.add_rows(again) == 0  # the same study: nothing new, no error
        assert store.rows() == rows  # the first measurement is kept
        with pytest.raises(ValueError) as info:
            store.add_rows([{**again[2], "loss": 0.5, "step": 77}])
    message = str(info.value)
    assert "stored with loss=0.3333333333333333, step=2, but is now loss=0.5, step=77" in message
    assert "resource=3" in message and "variant='ohgw', seed=0, trial_id=0" in message
    assert len(message) < 400  # the differing columns only, not both whole rows
    for column in ("compute_seconds=", "warm_seconds=", "peak_memory_bytes=", "0.125", "9.5"):
        assert column not in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"variant": None}, "variant"),
        ({"variant": ""}, "variant"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"trial_id": 1.0}, "trial_id"),
        ({"trial_id": "3"}, "trial_id"),
        ({"resource": 0}, "resource"),
        ({"loss": [1.0]}, "loss"),
        ({"loss": object()}, "loss"),
    ],
)
def test_bad_row_names_the_field_and_writes_nothing(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    good = _grid()[:4]
    bad = {**good[3], **change}
    with Store(tmp_path) as store:
        with pytest.raises(ValueError, match=f"`{field}`"):
            store.add_rows([*good[:3], bad])
        assert store.rows() == []


@pytest.mark.parametrize("field", ROW_KEY)
def test_missing_key_field_is_named(tmp_path: Path, field: str) -> None:
    good = _grid()[0]
    bad = {k: v for k, v in good.items() if k != field}
    with Store(tmp_path) as store:
        with pytest.raises(ValueError, match=f"`{field}`"):
            store.add_rows([good, bad])
        assert store.rows() == []


def test_error_wording(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        with pytest.raises(ValueError) as info:
            store.add_rows([{**_grid()[0], "resource": 0}])
        assert str(info.value) == "The value of `resource` is 0, but must be an int >= 1."
        with pytest.raises(ValueError, match="must be a mapping"):
            store.add_rows([("ohgw", 0, 0, 1)])  # type: ignore[list-item]


def test_export_csv_is_deterministic(tmp_path: Path) -> None:
    rows = _grid()
    rows[4] = {**rows[4], "note": 'a, "quoted"\nline', "flag": True, "nan": math.nan}
    rows[7] = {**rows[7], "tiny": 1e-300, "loss": 0.1 + 0.2, "none": None}
    first, second = Store(tmp_path / "a"), Store(tmp_path / "b")
    first.add_rows(rows)
    reordered = rows[::-1]
    random.Random(1).shuffle(reordered)
    for start in range(0, len(reordered), 17):
        second.add_rows(reordered[start : start + 17])
    first.export_csv(tmp_path / "a.csv")
    second.export_csv(tmp_path / "b.csv")
    first.close()
    second.close()
    data = (tmp_path / "a.csv").read_bytes()
    assert data == (tmp_path / "b.csv").read_bytes()
    assert b"\r" not in data.replace(b'"a, ""quoted""\nline"', b"")
    with (tmp_path / "a.csv").open(newline="") as file:
        table = list(csv.reader(file))
    others = ["flag", "loss", "nan", "none", "note", "step", "tiny"]
    assert table[0] == [*ROW_KEY, *others]
    assert len(table) == len(rows) + 1
    expected = sorted(rows, key=_key)
    assert [tuple(r[:4]) for r in table[1:]] == [tuple(str(v) for v in _key(r)) for r in expected]
    by_step = {
        int(r[table[0].index("step")]): dict(zip(table[0], r, strict=True)) for r in table[1:]
    }
    assert by_step[7]["loss"] == "0.30000000000000004"
    assert by_step[7]["tiny"] == "1e-300"
    assert by_step[7]["none"] == by_step[7]["note"] == by_step[3]["flag"] == ""
    assert by_step[4]["flag"] == "True"
    assert by_step[4]["nan"] == "nan"
    assert by_step[4]["note"] == 'a, "quoted"\nline'
    assert all(float(r["loss"]) == 1.0 / (s + 1) for s, r in by_step.items() if s != 7)


def test_done_and_meta_persist_across_reopening(tmp_path: Path) -> None:
    config = {"benchmark": "cifar10", "seeds": [0, 1, 2], "eta": 3, "lr": 0.1 + 0.2}
    with Store(tmp_path) as store:
        assert store.done() == {}
        assert store.get_meta("config") is None
        assert store.get_meta("config", default={}) == {}
        store.put_meta("config", config)
        store.put_meta("version", 1)
        store.put_meta("version", 2)
        store.mark_done("ohgw", 1, {"best": 0.25, "wall_s": math.inf})
        store.mark_done("baseline", 0)
        store.mark_done("baseline", 0)  # again, with the same summary: a no-op
        with pytest.raises(ValueError, match=r"variant='baseline', seed=0"):
            store.mark_done("baseline", 0, {"best": 1.0})
    with Store(tmp_path) as store:
        assert store.get_meta("config") == config
        assert store.get_meta("version") == 2
        assert store.done() == {
            ("baseline", 0): {},
            ("ohgw", 1): {"best": 0.25, "wall_s": math.inf},
        }
        with pytest.raises(ValueError, match="metadata `bad`"):
            store.put_meta("bad", object())


def test_update_meta_writes_what_the_change_makes_of_the_stored_value(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        assert store.update_meta("jobs", lambda old: {**(old or {}), "a": 1}) == {"a": 1}
        assert store.update_meta("jobs", lambda old: {**old, "b": (2,)}) == {"a": 1, "b": [2]}
        with pytest.raises(ValueError, match="metadata `jobs`"):
            store.update_meta("jobs", lambda old: {**old, "c": object()})
        assert store.get_meta("jobs") == {"a": 1, "b": [2]}  # a failed change writes nothing


def _row(i: int) -> dict[str, Any]:
    """Row ``i`` of the writer's deterministic sequence (sorted by ROW_KEY in order of ``i``)."""
    return {
        "variant": "baseline", "seed": 3, "trial_id": i // 4, "resource": i % 4 + 1,
        "value": i * 0.5, "third": i / 3, "label": f"row-{i}",
    }  # fmt: skip


BATCH = 7  # not a multiple of 4: batches straddle trials
WRITER = """
from __future__ import annotations

import importlib
import sys

module = importlib.import_module(sys.argv[1])  # the store module, by name
directory, stop, batch = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

{row_source}

store = module.Store(directory)
n = new = 0
while stop < 0 or n < stop:
    k = batch if stop < 0 else min(batch, stop - n)
    new += store.add_rows([_row(i) for i in range(n, n + k)])
    n += k
    print(n, new, flush=True)
store.close()
"""


def _writer(tmp_path: Path, directory: Path, stop: int) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    if not script.exists():
        row_source = textwrap.dedent(inspect.getsource(_row))
        script.write_text(WRITER.replace("{row_source}", row_source))
    # The store module is imported by name (``import ohgw.store`` imports no torch).
    command = [sys.executable, str(script), store_module.__name__, str(directory), str(stop)]
    return subprocess.Popen([*command, str(BATCH)], stdout=subprocess.PIPE, text=True)


# Killed after ~50, ~200 and ~500 committed rows, then after a pause of some batches' time, so
# the kill lands at different moments: between batches, inside one, inside its commit.
@pytest.mark.parametrize(("kill_after", "pause_s"), [(50, 0.0), (200, 0.0013), (500, 0.0029)])
def test_kill_9_loses_nothing_committed_and_a_rerun_continues(
    tmp_path: Path, kill_after: int, pause_s: float
) -> None:
    directory = tmp_path / "study"
    writer = _writer(tmp_path, directory, stop=-1)
    committed = 0
    try:
        assert writer.stdout is not None
        while committed < kill_after:
            line = writer.stdout.readline()
            assert line, f"the writer ended early (exit code {writer.poll()})"
            committed = int(line.split()[0])
        time.sleep(pause_s)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=30)
        writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    with Store(directory) as store:
        stored = store.rows()
    count = len(stored)
    assert count >= committed  # every printed (committed) batch survived
    assert count % BATCH == 0  # whole batches only: the kill never leaves half a transaction
    assert all(_same(s, _row(i)) for i, s in enumerate(stored))  # intact, gap-free prefix

    total = 700 + kill_after
    rerun = _writer(tmp_path, directory, stop=total)
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0
    assert out.split()[-2:] == [str(total), str(total - count)]  # only the missing rows new
    with Store(directory) as store:
        final = store.rows()
    assert len(final) == total
    assert len({_key(r) for r in final}) == total
    assert all(_same(s, _row(i)) for i, s in enumerate(final))


def test_export_csv_from_several_writers_at_once(tmp_path: Path) -> None:
    # shards of one study end at about the same time and each exports the study's CSV
    with Store(tmp_path / "s") as store:
        store.add_rows(_grid())
        store.export_csv(tmp_path / "expected.csv")
    expected = (tmp_path / "expected.csv").read_bytes()

    def export(_: int) -> None:
        with Store(tmp_path / "s") as store:
            for _ in range(20):
                store.export_csv(tmp_path / "results.csv")

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(export, range(6)))
    assert (tmp_path / "results.csv").read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["expected.csv", "results.csv", "s"]


OPENER = """
import importlib, sys, time
module = importlib.import_module(sys.argv[1])  # the store module, by name
directory, me, start = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
time.sleep(max(0.0, start - time.time()))
for round in range(5):  # open, write, close: the WAL switched on and off under each other
    with module.Store(directory) as store:
        store.add_rows([{"variant": "v", "seed": me, "trial_id": round, "resource": 1, "x": me}])
"""


def test_shards_creating_and_closing_a_new_store_at_once(tmp_path: Path) -> None:
    # Shards started together all create the store: one file is linked into place whole, the
    # others open it; closing ones switch the WAL off while opening ones switch it on.
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    start = time.time() + 1.0
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                store_module.__name__,
                str(tmp_path / "s"),
                str(i),
                str(start),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, errors
    with Store(tmp_path / "s", readonly=True) as store:
        keys = [(r["seed"], r["trial_id"]) for r in store.rows()]
    assert keys == [(i, r) for i in range(6) for r in range(5)]
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["results.sqlite"]
