"""Run the shards of several studies as parallel processes until a deadline.

For a machine lent for a fixed time (a GPU box): each ``CONFIG.yaml:N`` job starts N processes
``ohgw study --config CONFIG.yaml shard=i/N``, all at once, sharing the study's directory. At the
deadline the processes still running are stopped; every (variant, seed) they finished is kept and
marked done, and the same command continues the study later. A study cut short holds whole paired
seeds first (shards take pairs seed by seed).

    python scripts/run_shards.py --deadline 450 studies/cifar10-asha.yaml:8 studies/x.yaml:2
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def parse_job(job: str) -> tuple[str, int, str]:
    """``CONFIG.yaml:SHARDS[:NICE]`` as (config, shards, nice); a ValueError names a bad job."""
    config, _, count = job.partition(":")
    count, _, nice = count.partition(":")
    if not count.isdigit() or int(count) < 1 or not Path(config).is_file():
        raise ValueError(f"job {job!r} must be CONFIG.yaml:SHARDS[:NICE] with an existing file")
    if nice and (not nice.isdigit() or int(nice) > 19):
        raise ValueError(f"job {job!r}: NICE must be a whole number of 0 to 19")
    return config, int(count), nice


def shard_commands(
    config: str, count: int, nice: str, overrides: list[str]
) -> dict[str, list[str]]:
    """The command of each shard of the study ``config``, by a name for its log file."""
    commands = {}
    for index in range(count):
        name = f"{Path(config).stem}.{index}of{count}"
        command = [sys.executable, "-m", "ohgw.cli", "study", "--config", config]
        command += [f"shard={index}/{count}", *overrides, "--no-progress"]
        commands[name] = ["nice", "-n", nice, *command] if nice else command
    return commands


def run_until(running: dict[str, subprocess.Popen], deadline: float, poll: float = 2) -> None:
    """Wait for the processes, each in its own session, until ``deadline`` seconds from now;
    then stop those still running (SIGTERM to their process group) and wait for them."""
    start = time.monotonic()
    print(f"started {len(running)} processes", flush=True)
    while running and time.monotonic() - start < deadline:
        time.sleep(poll)
        for name, process in list(running.items()):
            if process.poll() is not None:
                print(f"{time.monotonic() - start:6.0f} s  {name} exit {process.returncode}")
                del running[name]
    for name, process in running.items():
        os.killpg(process.pid, signal.SIGTERM)
        print(f"deadline: stopped {name}", flush=True)
    for process in running.values():
        process.wait()


def main(argv: list[str] | None = None) -> int:
    """Start every job's shards, logging each to its own file, and run them to the deadline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="+", help="CONFIG.yaml:SHARDS[:NICE]")
    parser.add_argument("--deadline", type=float, required=True, help="seconds from now")
    parser.add_argument("--logs", default="runs/shard-logs", help="one log file per process")
    parser.add_argument("--override", action="append", default=[], help="key=value for all")
    args = parser.parse_args(argv)
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, subprocess.Popen] = {}
    for job in args.jobs:
        try:
            config, count, nice = parse_job(job)
        except ValueError as error:
            parser.error(str(error))
        for name, command in shard_commands(config, count, nice, args.override).items():
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the process
            running[name] = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
    run_until(running, args.deadline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
