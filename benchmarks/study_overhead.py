"""The simulated clock's own overhead: everything but training, evaluation and warm starts.

Runs a small paired study on the mini CIFAR-10 preset and compares, in the same run, the study's
wall time with the compute time the trials measured themselves (training, evaluation and the
warm start of each unit). The rest is the harness: the scheduler, the event loop, the store,
checkpoints, model construction. Goal: <= 2 % of the study's wall time.

    python benchmarks/study_overhead.py [--budget 20] [--seeds 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections import defaultdict

from ohgw.study.store import Store
from ohgw.study.study import StudyConfig
from ohgw.study.study import run_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--scheduler", default="asha")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
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


if __name__ == "__main__":
    main()
