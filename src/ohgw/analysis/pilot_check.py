"""Check a study's tau against the committed rows of its pilot.

A pilot runs the baseline on seeds 0-2 with the study's settings. For each pilot seed this prints
T@tau (when the baseline's best-so-far validation metric first reached tau, or "not reached")
and the best value by half the budget and by the budget. Then the level that the baseline reaches
by half the budget in 2 of 3 pilots, on a grid of 0.01: the form of the rule that
docs/realistic-study.md writes down for the realistic study. The mini studies' files say their
tau came from such a pilot in words only ("passed 0.25 near half the budget, 2 of 3"), so this
prints the numbers to hold them against, and decides nothing.

    python scripts/pilot_check.py docs/results/cifar10-asha-pilot --tau 0.25 --budget 15
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from ohgw.analysis.metrics import best_by
from ohgw.analysis.metrics import level_in_two_of_three
from ohgw.analysis.metrics import time_to_target
from ohgw.analysis.published import read_rows

ROWS = "results.csv.gz"


def check(
    rows: list[dict[str, Any]], tau: float, budget: float, mode: str = "max"
) -> tuple[list[str], float | None]:
    """Lines, one per pilot seed, and the level reached by budget/2 in 2 of 3 pilots."""
    by_seed: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["variant"] == "baseline":
            by_seed[int(row["seed"])].append(row)
    if not by_seed:
        raise ValueError("The pilot holds no baseline rows.")
    lines, halves = [], []
    for seed, seed_rows in sorted(by_seed.items()):
        reached = time_to_target(seed_rows, tau, mode)
        half, full = best_by(seed_rows, budget / 2, mode), best_by(seed_rows, budget, mode)
        halves.append(half)
        lines.append(
            f"seed {seed}: T@{tau:g} = "
            + ("not reached" if reached is None else f"{reached:.2f} s")
            + f", best by {budget / 2:g} s = {_show(half)}, best by {budget:g} s = {_show(full)}"
        )
    return lines, level_in_two_of_three(halves, mode)


def _show(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("published", type=Path, help=f"a published pilot (its {ROWS})")
    parser.add_argument("--tau", type=float, required=True, help="the study's tau")
    parser.add_argument("--budget", type=float, required=True, help="the study's budget (s)")
    parser.add_argument("--mode", choices=("max", "min"), default="max", help="default: max")
    args = parser.parse_args(argv)
    path = args.published / ROWS
    if not path.is_file():
        parser.error(
            f"{path} does not exist: publish the pilot first (scripts/publish_results.sh)"
        )
    lines, level = check(read_rows(path), args.tau, args.budget, args.mode)
    print("\n".join(lines))
    shown = "n/a (needs 3 pilot seeds, 2 with a unit by then)" if level is None else f"{level:.2f}"
    print(f"reached by {args.budget / 2:g} s in 2 of 3 pilots: {shown} (tau {args.tau:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
