"""The simulated clock's own overhead: everything but training, evaluation and warm starts.

Runs a small paired study on the mini CIFAR-10 preset and compares, in the same run, the study's
wall time with the compute time the trials measured themselves (training, evaluation and the
warm start of each unit). The rest is the harness: the scheduler, the event loop, the store,
checkpoints, model construction. Goal: <= 2 % of the study's wall time.

    python perf/study_overhead.py [--budget 20] [--seeds 1]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
import warnings
from collections import defaultdict

from ohgw.benchmarks.cifar10 import Cifar10Benchmark
from ohgw.schedulers.synetune import SyneTuneScheduler
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.runner import run_study
from ohgw.trial.checkpoint import load_checkpoint
from ohgw.trial.checkpoint import save_checkpoint

SPENT: dict[str, float] = defaultdict(float)


def timed(owner: object, name: str, label: str) -> None:
    """Wrap ``owner.name`` to add its wall time to ``SPENT[label]``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[label] += time.perf_counter() - start

    setattr(owner, name, wrapper)


def timed_everywhere(function: object, label: str) -> None:
    """Time ``function`` under every name an ohgw module imported it as (a module calls the
    name it imported, so patching the defining module alone would time nothing)."""
    for module in [m for n, m in sys.modules.items() if n.split(".")[0] == "ohgw"]:
        for name, value in list(vars(module).items()):
            if value is function:
                timed(module, name, label)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--scheduler", default="asha")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    timed_everywhere(save_checkpoint, "checkpoint writes")
    timed_everywhere(load_checkpoint, "checkpoint reads (model rebuilt)")
    timed(Store, "add_rows", "store writes")
    timed(Cifar10Benchmark, "_load", "data loading (once)")
    for method in ("suggest", "on_result", "on_complete", "on_error"):
        timed(SyneTuneScheduler, method, "scheduler calls")
    with tempfile.TemporaryDirectory() as directory:
        config = StudyConfig(
            directory=directory,
            scheduler=args.scheduler,
            seeds=args.seeds,
            budget=args.budget,
        )
        start = time.perf_counter()
        run_study(config, progress=False, echo=lambda _: None)
        wall = time.perf_counter() - start
        with Store(directory) as store:
            rows = store.rows()
    previous: dict[tuple, float] = defaultdict(float)
    compute = 0.0
    for row in sorted(rows, key=lambda r: (r["variant"], r["seed"], r["trial_id"], r["resource"])):
        key = (row["variant"], row["seed"], row["trial_id"])
        compute += row["compute_seconds"] - previous[key]
        previous[key] = row["compute_seconds"]
    overhead = wall - compute
    print(
        f"study: cifar10-mini, {args.scheduler}, variants baseline + ohgw, {args.seeds} seed(s), "
        f"budget {args.budget:g} simulated s, {len(rows)} units"
    )
    print(f"wall time of the study          {wall:8.2f} s")
    print(f"trial compute (train/eval/warm) {compute:8.2f} s")
    print(
        f"harness overhead                {overhead:8.2f} s = {100 * overhead / wall:.2f} %"
        " of the wall time (goal <= 2 %)"
    )
    print("of which, timed:")
    for label, seconds in sorted(SPENT.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<34}{seconds:8.2f} s = {100 * seconds / wall:.2f} %")
    harness = overhead - SPENT["data loading (once)"]
    print(
        f"harness overhead without the one-time data loading: {100 * harness / wall:.2f} %"
        " (scheduler and bookkeeping only)"
    )
    rest = overhead - sum(SPENT.values())
    print(f"  {'the rest (event loop, model setup)':<34}{rest:8.2f} s = {100 * rest / wall:.2f} %")


if __name__ == "__main__":
    main()
