"""A study's overview per variant, defined once for the terminal summary and the report.

Per variant over its finished runs: paired seeds, trials (those with at least one row), units
(rows), the median best validation metric, and T@tau's median with every run that never
reached tau counted as the whole budget (censored: the budget is a lower bound of its time, so
a median that includes a censored run is shown as ">= x"). ``ohgw study`` prints
:func:`overview_table`, and the report shows the same cells, so one number means one thing.

Also here: what a study's scale allows it to say (:func:`demonstration_note`), and the units
in which times and metrics are shown (:func:`time_axis`, :func:`display`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ohgw.analysis.claims import MIN_N
from ohgw.analysis.metrics import time_to_target

Runs = Mapping[str, Mapping[int, Sequence[Mapping[str, Any]]]]
HOURS_FROM = 7200.0  # budgets of two hours and more are shown in hours
EVIDENCE_SEEDS = MIN_N
"""Fewer paired seeds than this make a study a demonstration: below 6 seeds a two-sided Wilcoxon
test cannot reach p < 0.05, and the report calls every sampled claim inconclusive."""
NOT_REACHED = "not reached"


def time_axis(config: Mapping[str, Any]) -> tuple[float, str]:
    """(seconds per shown unit, unit label): simulated or real seconds, hours when large."""
    clock = "simulated " if config.get("engine", "simulated") == "simulated" else ""
    if float(config["budget"]) >= HOURS_FROM:
        return 3600.0, f"{clock}h"
    return 1.0, f"{clock}s"


def display(metric: str, value: float) -> float:
    """A metric in display units: accuracy in %, perplexity as is."""
    return 100.0 * value if metric == "accuracy" else value


@dataclass(frozen=True)
class VariantOverview:
    """One variant's finished runs in a few numbers (times in seconds, metric as stored)."""

    variant: str
    seeds: int
    trials: int
    units: int
    median_best: float  # NaN without runs
    median_t_tau: float | None  # None: no tau; censored runs count as the budget
    censored: int  # runs that never reached tau


def overview(runs: Runs, mode: str, tau: float | None, budget: float) -> list[VariantOverview]:
    """Per variant (in the given order) its overview; see the module docstring."""
    better = max if mode == "max" else min
    out = []
    for variant, by_seed in runs.items():
        finished = [rows for rows in by_seed.values() if rows]
        bests = [better(float(r["val_metric"]) for r in rows) for rows in finished]
        hits = [time_to_target(rows, tau, mode) for rows in finished] if tau is not None else []
        times = [budget if hit is None else hit for hit in hits]
        out.append(
            VariantOverview(
                variant=variant,
                seeds=len(finished),
                trials=sum(len({r["trial_id"] for r in rows}) for rows in finished),
                units=sum(len(rows) for rows in finished),
                median_best=statistics.median(bests) if bests else math.nan,
                median_t_tau=statistics.median(times) if tau is not None and times else None,
                censored=sum(hit is None for hit in hits),
            )
        )
    return out


def t_tau_cell(item: VariantOverview, scale: float = 1.0) -> str:
    """The median T@tau as shown: "not reached" when no run reached tau, ">= x" when the
    median includes a censored run (at least half of the runs were censored), else x."""
    if item.median_t_tau is None or item.seeds == 0:
        return "n/a"
    if item.censored == item.seeds:
        return NOT_REACHED
    bound = ">= " if 2 * item.censored >= item.seeds else ""
    return f"{bound}{item.median_t_tau / scale:.3g}"


def overview_table(
    items: Sequence[VariantOverview], config: Mapping[str, Any], metric: str, tau: float | None
) -> tuple[list[str], list[list[str]]]:
    """The overview's header and rows as text: what ``ohgw study`` prints and the report
    shows (the T@tau column only with a tau)."""
    scale, unit = time_axis(config)
    pct = " (%)" if metric == "accuracy" else ""
    head = ["variant", "seeds", "trials", "units", f"median best val {metric}{pct}"]
    if tau is not None:
        target = f"{display(metric, tau):g}{' %' if pct else ''}"
        head += [f"median T@{target} ({unit})", "reached"]
    rows = []
    for item in items:
        best = display(metric, item.median_best)
        row = [item.variant, str(item.seeds), str(item.trials), str(item.units)]
        row.append("n/a" if math.isnan(best) else f"{best:.4g}")
        if tau is not None:
            row += [t_tau_cell(item, scale), f"{item.seeds - item.censored}/{item.seeds}"]
        rows.append(row)
    return head, rows


def is_demonstration(config: Mapping[str, Any]) -> bool:
    """A study with fewer than ``EVIDENCE_SEEDS`` paired seeds: too few to judge any sampled
    claim, whatever its scale."""
    return int(config["seeds"]) < EVIDENCE_SEEDS


def demonstration_tag(config: Mapping[str, Any]) -> str | None:
    """The warning in a few words, for figure titles and captions (None at evidence scale)."""
    if not is_demonstration(config):
        return None
    seeds, mini = int(config["seeds"]), str(config["benchmark"]).endswith("-mini")
    where = " at mini scale" if mini else ""
    return f"demonstration: {seeds} seed{'s' * (seeds != 1)}{where}, not evidence"


def demonstration_note(config: Mapping[str, Any]) -> str | None:
    """The plain-words warning a demonstration study prints and writes at the top (None for a
    study at evidence scale)."""
    if not is_demonstration(config):
        return None
    seeds, benchmark = int(config["seeds"]), str(config["benchmark"])
    mini = (
        "; at mini scale a unit trains a few thousand images or fewer, so the warm start's one "
        "extra step is a larger share of a trial's cost than at full scale"
        if benchmark.endswith("-mini")
        else ""
    )
    return (
        f"A demonstration, not evidence: {seeds} paired seed{'s' * (seeds != 1)} of {benchmark}. "
        f"It shows the method and every measurement running end to end, and its numbers "
        f"describe these runs only: with fewer than {EVIDENCE_SEEDS} paired seeds no difference "
        f"between variants can be significant (the verdicts say inconclusive){mini}. The "
        f"paper's claims are checked at 32 paired seeds at full scale: docs/realistic-study.md."
    )
