"""Soak: four shards of one tiny study, a random shard killed (-9) every few seconds and restarted,
for minutes; then the unsharded command. The rows equal an uninterrupted run's byte for byte.

Slow (minutes). The same code is covered quickly by ``tests/test_store.py`` (kill -9 of a
writer at three moments, shards creating and closing one store at once, concurrent exports)
and ``tests/test_study.py`` (a study killed twice and rerun). Run it for the record with
``python tests/test_store_soak.py --minutes 5`` (its output: docs/measurements/store_soak.txt).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = [
    "benchmark=cifar10-mini",
    "+benchmark_options={train_size:256,val_size:100,test_size:100,width:4}",
    "variants=[baseline,ohgw]",
    "seeds=4",
    "workers=2",
    "budget=3.0",
    "max_resource=3",
    "flops_per_second=1e10",
    "threads=1",
    "--no-progress",
]
SHARDS = 4


def _command(directory: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ohgw.cli", "study", f"directory={directory}", *TINY, *extra]


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
    rng = random.Random(seed)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "env": env}
    plain = subprocess.Popen(_command(root / "uninterrupted"), **quiet)  # type: ignore[call-overload]
    sharded = root / "sharded"

    def start(i: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(_command(sharded, f"shard={i}/{SHARDS}"), **quiet)  # type: ignore[call-overload]

    shards = {i: start(i) for i in range(SHARDS)}
    kills, rows_at_kill, failures, begin = 0, [], [], time.monotonic()
    while time.monotonic() - begin < seconds:
        time.sleep(rng.uniform(*every))
        for i, process in shards.items():  # finished or failed shards start again
            if process.poll() is not None:
                if process.returncode != 0:
                    failures.append((i, process.returncode, process.stderr.read()[-2000:]))
                shards[i] = start(i)
        victim = rng.randrange(SHARDS)
        os.kill(shards[victim].pid, signal.SIGKILL)
        shards[victim].wait()
        kills += 1
        rows_at_kill.append(_rows(sharded))
        shards[victim] = start(victim)
    for i, process in shards.items():  # no more kills: let every shard finish
        _, err = process.communicate(timeout=3600)
        if process.returncode != 0:
            failures.append((i, process.returncode, err[-2000:]))
    final = subprocess.run(_command(sharded), capture_output=True, timeout=3600, env=env)
    _, err = plain.communicate(timeout=3600)
    expected = (root / "uninterrupted" / "results.csv").read_bytes()
    got = (sharded / "results.csv").read_bytes()
    return {
        "seconds_killing": round(time.monotonic() - begin),
        "kills": kills,
        "kills_after_first_row": sum(n > 0 for n in rows_at_kill),
        "rows_at_kills": rows_at_kill,
        "shard_failures": failures,
        "unsharded_exit": final.returncode,
        "unsharded_stderr_tail": final.stderr[-1500:].decode(errors="replace"),
        "uninterrupted_exit": plain.returncode,
        "uninterrupted_stderr_tail": err[-1500:].decode(errors="replace"),
        "csv_bytes": (len(got), len(expected)),
        "csv_lines": got.count(b"\n"),
        "identical": got == expected,
        "left_over": sorted(p.name for p in sharded.iterdir() if "partial" in p.name),
    }


@pytest.mark.slow
def test_soak_four_shards_killed_at_random_then_unsharded(tmp_path: Path) -> None:
    result = soak(tmp_path, seconds=300, every=(2.0, 6.0))
    print(result)
    assert result["kills"] >= 50 and result["kills_after_first_row"] > 0
    assert result["shard_failures"] == [] and result["left_over"] == []
    assert result["unsharded_exit"] == 0 and result["uninterrupted_exit"] == 0
    assert result["identical"] and result["csv_lines"] > 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--root", default=None, help="a new directory (default: a temporary one)")
    args = parser.parse_args()
    import tempfile

    root = Path(args.root or tempfile.mkdtemp(prefix="ohgw-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = soak(root, seconds=args.minutes * 60, every=(2.0, 6.0))
    result["wall_seconds"] = round(time.monotonic() - started)
    for key, value in result.items():
        print(f"{key}: {value}")
    sys.exit(0 if result["identical"] and not result["shard_failures"] else 1)


if __name__ == "__main__":
    main()
