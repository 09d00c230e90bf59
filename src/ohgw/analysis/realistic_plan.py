"""Fix the realistic study's budget and tau from its pilot, by the rule written before any run.

The rule (docs/realistic-study.md, committed 2026-11-29 before any pilot ran):

1. The pilot (studies/cifar10-realistic-pilot.yaml: baseline, seeds 0-2, budget 30 simulated
   seconds, about 30 epochs per worker) is cut at every whole budget B <= 30: ASHA's decisions do
   not depend on the budget, so the first B seconds of the pilot are what a study of budget B does.
2. B must be realistic: the median over the pilots of the baseline's best validation accuracy by
   time B is at least 0.80, and tau (below) is at least 0.75.
3. tau(B) = the highest level on the grid 0.75, 0.76, ... that the baseline's best-so-far
   validation accuracy reaches by B/2 in at least 2 of the 3 pilots.
4. B = the largest realistic budget whose 32-seed pair (2 variants x 32 seeds x workers x B
   simulated seconds x flops_per_second FLOPs) fits in --gpu-minutes at the measured packed rate;
   if none fits, the smallest realistic B, and the study continues over several GPU stretches
   (its store is resumable). No realistic B at all: refuse, and say to raise the pilot's budget.

    python scripts/realistic_plan.py runs/cifar10-realistic-pilot/results.csv \
        --tflops 40 --gpu-minutes 9 [--write studies]   # the two study files below
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from ohgw.analysis import metrics

PILOT_BUDGET = 30
WORKERS = 4
FLOPS_PER_SECOND = 1.2e13
PAIRS = 2 * 32
STUDIES = {
    "cifar10-realistic-asha": "[baseline, ohgw]",
    "cifar10-realistic-normalized": '[baseline, "ohgw:mode=normalized,eta_h=0.1", '
    '"random-warm:mode=random-normalized,eta_h=0.1"]',
}
TEMPLATE = """\
# {title} at a realistic scale (issue 14): ASHA (syne-tune, stopping type, grace 1,
# reduction factor 3) with and without the paper's warm start, ResNet-20 width 16 on all of
# CIFAR-10 (45,000 training images, the 5,000 of the stratified split with data_seed 0 for
# validation, all 10,000 test images), 4 simulated workers on the FLOP-charged clock (one simulated
# second = 1.2e13 FLOPs, about one epoch), packed trials on a GPU.
# budget and tau were fixed by scripts/realistic_plan.py from the pilot (seeds 0-2) by the rule in
# docs/realistic-study.md: {why}
# Run: ohgw study --config studies/{name}.yaml
directory: runs/{name}
benchmark: cifar10-full
scheduler: asha
variants: {variants}
seeds: 32
first_seed: 100
workers: {workers}
budget: {budget}
max_resource: 27
grace_period: 1
reduction_factor: 3
flops_per_second: {fps:.1e}
tau: {tau}
engine: packed
pack: 64
device: cuda
threads: 1
"""


def best_or_zero(rows: list[dict[str, str]], limit: float) -> float:
    """The best validation accuracy among units that ended by ``limit`` (0 when none had)."""
    best = metrics.best_by(rows, limit, "max")
    return 0.0 if best is None else best


def plan(
    curves: dict[int, list[dict[str, str]]],
    tflops: float,
    gpu_minutes: float,
    min_best: float = 0.80,
    min_tau: float = 0.75,
) -> dict:
    """Budget, tau and the arithmetic, by the rule in this module's docstring (``min_best`` and
    ``min_tau`` other than 0.80 / 0.75 only for a dry run at a toy size)."""
    realistic = {}
    for budget in range(1, PILOT_BUDGET + 1):
        median_best = statistics.median(best_or_zero(rows, budget) for rows in curves.values())
        half = [metrics.best_by(rows, budget / 2, "max") for rows in curves.values()]
        tau = metrics.level_in_two_of_three(half, "max")
        if median_best >= min_best and tau is not None and tau >= min_tau:
            realistic[budget] = (tau, median_best)
    if not realistic:
        raise SystemExit(
            "realistic_plan: no budget <= 30 s is realistic (median best >= 0.80 and tau >= "
            "0.75); double the pilot's budget (and PILOT_BUDGET here) and pilot again."
        )
    seconds = {b: PAIRS * WORKERS * b * FLOPS_PER_SECOND / (tflops * 1e12) for b in realistic}
    fitting = [b for b in realistic if seconds[b] <= gpu_minutes * 60]
    budget = max(fitting) if fitting else min(realistic)
    tau, median_best = realistic[budget]
    return {
        "budget": budget,
        "tau": tau,
        "median_best": median_best,
        "gpu_minutes": seconds[budget] / 60,
        "stretches": math.ceil(seconds[budget] / (gpu_minutes * 60)),
        "realistic": sorted(realistic),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pilot_csv", type=Path, help="the pilot study's results.csv")
    parser.add_argument("--tflops", type=float, required=True, help="measured packed TFLOP/s")
    parser.add_argument("--gpu-minutes", type=float, default=9.0, help="one stretch (default 9)")
    parser.add_argument("--write", type=Path, default=None, help="write the study files here")
    parser.add_argument("--min-best", type=float, default=0.80, help="dry runs only (0.80)")
    parser.add_argument("--min-tau", type=float, default=0.75, help="dry runs only (0.75)")
    args = parser.parse_args(argv)
    curves: dict[int, list[dict[str, str]]] = defaultdict(list)
    with args.pilot_csv.open() as handle:
        for row in csv.DictReader(handle):
            if row["variant"] == "baseline":
                curves[int(row["seed"])].append(row)
    if sorted(curves) != [0, 1, 2]:
        raise SystemExit(f"realistic_plan: the pilot must hold seeds 0-2, has {sorted(curves)}.")
    out = plan(curves, args.tflops, args.gpu_minutes, args.min_best, args.min_tau)
    pair_flops = PAIRS * WORKERS * out["budget"] * FLOPS_PER_SECOND
    why = (
        f"tau {out['tau']} (reached by B/2 in 2 of 3 pilots), B = {out['budget']} s (median best "
        f"{out['median_best']:.3f}); 32-seed pair = {pair_flops:.2e} FLOPs = "
        f"{out['gpu_minutes']:.1f} GPU minutes at {args.tflops:g} TFLOP/s"
    )
    print(why)
    print(
        f"realistic budgets: {out['realistic']}; GPU stretches of {args.gpu_minutes:g} min "
        f"for the pair: {out['stretches']} (x2 with the normalised step and its control)"
    )
    for name, variants in STUDIES.items() if args.write else ():
        title = (
            "The headline pair" if name.endswith("asha") else "The normalised step vs its control"
        )
        text = TEMPLATE.format(
            title=title, name=name, variants=variants, why=why, workers=WORKERS,
            budget=out["budget"], fps=FLOPS_PER_SECOND, tau=out["tau"],
        )  # fmt: skip
        (args.write / f"{name}.yaml").write_text(text)
        print(f"wrote {args.write / f'{name}.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
