"""What ``ohgw study`` prints at its end: the overview of the finished pairs, per variant.

The cells are the report's overview (:mod:`ohgw.analysis.overview`: T@tau with censored runs at
the budget), read from the study directory as the report reads it, so the terminal and
``report.md`` cannot disagree. Only finished pairs count: rows of a pair another shard is still
running (or that was cut off) are left out, as they are of ``results.csv``.
"""

from __future__ import annotations

from pathlib import Path

from ohgw.analysis.overview import demonstration_note
from ohgw.analysis.overview import overview
from ohgw.analysis.overview import overview_table
from ohgw.store.study_dir import RESULTS_CSV
from ohgw.store.study_dir import load_study


def summary_text(study_dir: str | Path, tau: float | None = None) -> str:
    """The lines ``ohgw study`` prints at the end; ``tau`` overrides the study's."""
    study = load_study(study_dir)
    c = study.config
    tau = c.get("tau") if tau is None else tau
    seeds = list(range(c["first_seed"], c["first_seed"] + c["seeds"]))
    items = overview(study.runs, study.mode, tau, c["budget"])
    head, rows = overview_table(items, c, study.metric, tau)
    widths = [max(len(x) for x in column) for column in zip(head, *rows, strict=True)]
    lines = [
        f"\nStudy {study.directory}: {c['benchmark']}, {c['scheduler']}, {c['workers']} "
        f"{c['engine']} workers, budget {c['budget']:g} s per seed, seeds {seeds}"
    ]
    note = demonstration_note(c)
    if note is not None:
        lines.append(note)
    for cells in [head, *rows]:
        first, rest = cells[0], cells[1:]
        shown = [
            f"{first:<{widths[0]}}",
            *(f"{x:>{w}}" for x, w in zip(rest, widths[1:], strict=True)),
        ]
        lines.append("  ".join(shown))
    if tau is not None:
        lines.append("A run that never reached tau counts as the budget (a median with it: >=).")
    lines.append(f"Rows: {study.directory / RESULTS_CSV} (and results.sqlite).")
    return "\n".join(lines)
