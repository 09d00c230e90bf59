"""A study's summary table: per variant, finished seeds, trials, units, median best, T@tau.

Only finished pairs count: rows of a pair another shard is still running (or that was cut off)
are left out, as they are of ``results.csv``.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from ohgw.analysis.metrics import time_to_target
from ohgw.store import Store
from ohgw.study.plan import Study
from ohgw.study_dir import RESULTS_CSV


def summarise(store: Store, study: Study) -> dict[str, Any]:
    """Per variant: seeds done, trials, units, median best validation metric, median T@tau."""
    mode, tau = study.benchmark.mode, study.tau
    better = max if mode == "max" else min
    done = store.done()
    table = {}
    for variant in study.variants:
        bests, hits, trials, units = [], [], 0, 0
        for seed in study.config.seed_list:
            if (variant.label, seed) not in done:
                continue
            rows = store.rows(variant.label, seed)
            if not rows:
                continue
            trials += len({r["trial_id"] for r in rows})
            units += len(rows)
            bests.append(better(r["val_metric"] for r in rows))
            if tau is not None:
                hits.append(time_to_target(rows, tau, mode))
        reached = [h for h in hits if h is not None]
        table[variant.label] = {
            "seeds": len(bests),
            "trials": trials,
            "units": units,
            "median_best": statistics.median(bests) if bests else math.nan,
            "median_t_tau": statistics.median(reached) if reached else math.nan,
            "reached_tau": f"{len(reached)}/{len(hits)}" if tau is not None else "",
        }
    return table


def format_summary(table: dict[str, Any], study: Study) -> str:
    """The table as the lines ``ohgw study`` prints at the end."""
    config, tau, metric = study.config, study.tau, study.benchmark.metric
    lines = [
        f"\nStudy {config.directory}: {config.benchmark}, {config.scheduler_name}, "
        f"{config.workers} {config.engine} workers, budget {config.budget:g} s per seed, "
        f"seeds {config.seed_list}",
        f"{'variant':<28}{'seeds':>6}{'trials':>8}{'units':>7}"
        f"{'median best ' + metric:>26}"
        + (
            f"{'median T@' + format(tau, 'g') + ' (s)':>20}{'reached':>9}"
            if tau is not None
            else ""
        ),
    ]
    for label, row in table.items():
        line = (
            f"{label:<28}{row['seeds']:>6}{row['trials']:>8}{row['units']:>7}"
            f"{row['median_best']:>26.4f}"
        )
        if tau is not None:
            line += f"{row['median_t_tau']:>20.1f}{row['reached_tau']:>9}"
        lines.append(line)
    lines.append(f"Rows: {study.directory / RESULTS_CSV} (and results.sqlite).")
    return "\n".join(lines)
