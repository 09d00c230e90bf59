"""What ``ohgw study`` prints at its end: the overview of the finished pairs, per variant.

The numbers are :mod:`ohgw.analysis.overview`'s, the same cells as the report's overview (T@tau
with censored runs at the budget). Only finished pairs count: rows of a pair another shard is
still running (or that was cut off) are left out, as they are of ``results.csv``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ohgw.analysis.overview import VariantOverview
from ohgw.analysis.overview import demonstration_note
from ohgw.analysis.overview import overview
from ohgw.analysis.overview import overview_table
from ohgw.store import Store
from ohgw.store.study_dir import RESULTS_CSV
from ohgw.study.plan import Study


def summarise(store: Store, study: Study) -> dict[str, Any]:
    """Per variant: its overview (seeds, trials, units, median best, median T@tau, censored)."""
    done = store.done()
    runs = {
        variant.label: {
            seed: store.rows(variant.label, seed)
            for seed in study.config.seed_list
            if (variant.label, seed) in done
        }
        for variant in study.variants
    }
    items = overview(runs, study.benchmark.mode, study.tau, study.config.budget)
    return {item.variant: dataclasses.asdict(item) for item in items}


def format_summary(table: dict[str, Any], study: Study) -> str:
    """The table as the lines ``ohgw study`` prints at the end (the report's overview cells)."""
    config = study.config
    settings = dataclasses.asdict(config)
    items = [VariantOverview(**row) for row in table.values()]
    head, rows = overview_table(items, settings, study.benchmark.metric, study.tau)
    widths = [max(len(x) for x in column) for column in zip(head, *rows, strict=True)]
    lines = [
        f"\nStudy {config.directory}: {config.benchmark}, {config.scheduler_name}, "
        f"{config.workers} {config.engine} workers, budget {config.budget:g} s per seed, "
        f"seeds {config.seed_list}"
    ]
    note = demonstration_note(settings)
    if note is not None:
        lines.append(note)
    for cells in [head, *rows]:
        first, rest = cells[0], cells[1:]
        shown = [
            f"{first:<{widths[0]}}",
            *(f"{x:>{w}}" for x, w in zip(rest, widths[1:], strict=True)),
        ]
        lines.append("  ".join(shown))
    if study.tau is not None:
        lines.append("A run that never reached tau counts as the budget (a median with it: >=).")
    lines.append(f"Rows: {study.directory / RESULTS_CSV} (and results.sqlite).")
    return "\n".join(lines)
