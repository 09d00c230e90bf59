"""Soak: four shards of one tiny study, a random shard killed (-9) every few seconds and restarted,
for minutes; then the unsharded command. The rows equal an uninterrupted run's byte for byte.

Each shard is a real process running ``ohgw study ... shard=i/4`` (``ohgw.cli.main``), forked
from this process after it imported the study code once: on a loaded machine importing torch
takes longer than the interval between kills, and a shard killed while importing never touches
the store.

Slow (minutes). The same code is covered quickly by ``tests/test_store.py`` (kill -9 of a
writer at three moments, shards creating and closing one store at once, concurrent exports)
and ``tests/test_study.py`` (a study killed twice and rerun). Run it for the record with
``python tests/test_store_soak.py --minutes 5`` (its output: docs/measurements/store_soak.txt).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import multiprocessing
import os
import random
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from problems import TINY_CIFAR_OVERRIDE
from problems import TINY_FLOPS

TINY = [
    "benchmark=cifar10-mini",
    TINY_CIFAR_OVERRIDE,
    "variants=[baseline,ohgw]",
    "seeds=4",  # shards split by seed: one seed each
    "workers=2",
    "budget=2.0",
    "max_resource=3",
    f"flops_per_second={TINY_FLOPS}",
    "threads=1",
    "--no-progress",
]
SHARDS = 4
STUDY_MODULES = (
    "ohgw.cli", "ohgw.study.config", "ohgw.study.runner", "ohgw.study.plan",
    "ohgw.schedulers.synetune", "ohgw.benchmarks.cifar10", "ohgw.analysis.report",
)  # fmt: skip


def _argv(directory: Path, *extra: str) -> list[str]:
    return ["study", f"directory={directory}", *TINY, *extra]


def _study(argv: list[str], log: str) -> None:
    """A forked child: ``ohgw study`` with its output to ``log``; exits with its status."""
    import warnings

    from ohgw.cli import main

    with open(log, "a") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    warnings.simplefilter("ignore")
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    os._exit(code or 0)


def _rows(directory: Path) -> int:
    try:
        uri = (directory / "results.sqlite").resolve().as_uri()
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=1)
        try:
            return connection.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return -1


def soak(root: Path, seconds: float, every: tuple[float, float], seed: int = 0) -> dict:
    """Run the soak under ``root``; return what happened (kills, exits, the byte comparison)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in STUDY_MODULES:  # imported once, before the shards are forked
        with contextlib.suppress(ImportError):
            importlib.import_module(name)

    fork = multiprocessing.get_context("fork")
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    sharded = root / "sharded"

    def start(argv: list[str], name: str) -> multiprocessing.process.BaseProcess:
        process = fork.Process(target=_study, args=(argv, str(root / f"{name}.log")))
        process.start()
        return process

    plain = start(_argv(root / "uninterrupted"), "uninterrupted")
    shards = {i: start(_argv(sharded, f"shard={i}/{SHARDS}"), f"shard{i}") for i in range(SHARDS)}
    kills, rows_at_kill, exits, begin = 0, [], [], time.monotonic()
    while time.monotonic() - begin < seconds:
        time.sleep(rng.uniform(*every))
        for i, process in shards.items():  # finished or failed shards start again
            if process.exitcode is not None:
                exits.append((i, process.exitcode))
                shards[i] = start(_argv(sharded, f"shard={i}/{SHARDS}"), f"shard{i}")
        victim = rng.randrange(SHARDS)
        os.kill(shards[victim].pid, signal.SIGKILL)
        shards[victim].join()
        kills += 1
        rows_at_kill.append(_rows(sharded))
        shards[victim] = start(_argv(sharded, f"shard={victim}/{SHARDS}"), f"shard{victim}")
    killing = time.monotonic() - begin
    for i, process in shards.items():  # no more kills: let every shard finish
        process.join()
        exits.append((i, process.exitcode))
    final = start(_argv(sharded), "unsharded")
    final.join()
    plain.join()
    expected = (root / "uninterrupted" / "results.csv").read_bytes()
    got = (sharded / "results.csv").read_bytes()
    return {
        "seconds_killing": round(killing),
        "kills": kills,
        "kills_with_rows_in_the_store": sum(n > 0 for n in rows_at_kill),
        "rows_at_kills": rows_at_kill,
        "shard_exits_nonzero": [e for e in exits if e[1] != 0],
        "shard_exits_zero": sum(e[1] == 0 for e in exits),
        "unsharded_exit": final.exitcode,
        "uninterrupted_exit": plain.exitcode,
        "csv_bytes": (len(got), len(expected)),
        "csv_lines": got.count(b"\n"),
        "identical": got == expected,
        "left_over": sorted(p.name for p in sharded.iterdir() if "partial" in p.name),
        "files": sorted(p.name for p in sharded.iterdir()),
    }


@pytest.mark.slow
def test_soak_four_shards_killed_at_random_then_unsharded(tmp_path: Path) -> None:
    result = soak(tmp_path, seconds=300, every=(2.0, 6.0))
    print(result)
    assert result["kills"] >= 50 and result["kills_with_rows_in_the_store"] > 0
    assert result["shard_exits_nonzero"] == [] and result["left_over"] == []
    assert result["unsharded_exit"] == 0 and result["uninterrupted_exit"] == 0
    assert result["identical"] and result["csv_lines"] > 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--root", default=None, help="a new directory (default: a temporary one)")
    args = parser.parse_args()
    import tempfile

    root = Path(args.root or tempfile.mkdtemp(prefix="ohgw-soak-"))
    started = time.monotonic()
    result = soak(root, seconds=args.minutes * 60, every=(2.0, 6.0))
    result["wall_seconds"] = round(time.monotonic() - started)
    for key, value in result.items():
        print(f"{key}: {value}")
    sys.exit(0 if result["identical"] and not result["shard_exits_nonzero"] else 1)


if __name__ == "__main__":
    main()
