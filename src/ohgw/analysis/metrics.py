"""The paper's metrics of one run (one variant and seed), computed from its store rows.

Every function takes a list of row dicts as :meth:`ohgw.store.Store.rows` returns them and
``mode`` ("max": higher is better, e.g. accuracy; "min": lower is better, e.g. perplexity).
A missing or unusable field raises a ``ValueError`` that names it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np

Row = Mapping[str, Any]


def _mode(mode: str) -> str:
    if mode not in ("max", "min"):
        raise ValueError(f"The value of `mode` is {mode!r}, but must be 'max' or 'min'.")
    return mode


def _field(row: Row, name: str) -> Any:
    if name not in row:
        key = {k: row.get(k) for k in ("variant", "seed", "trial_id", "resource") if k in row}
        raise ValueError(f"A row lacks the field `{name}`: {key}.")
    return row[name]


def _number(row: Row, name: str) -> float:
    value = _field(row, name)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if math.isnan(number):
        raise ValueError(f"The field `{name}` of a row is {value!r}, but must be a number.")
    return number


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _trial(row: Row) -> tuple[Any, Any, int]:
    """The identity of a trial: (variant, seed, trial_id); rows of several runs may be mixed."""
    return row.get("variant"), row.get("seed"), int(_field(row, "trial_id"))


def _by_time(rows: Sequence[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: _number(r, "time"))  # stable: ties keep the given order


def best_so_far(rows: Sequence[Row], mode: str) -> list[tuple[float, float]]:
    """The running best ``val_metric`` over ``time``: one ``(time, best)`` point per row.

    A right-continuous step function: ``best`` holds from its time until the next point. Rows
    with status "diverged" count with their value (the benchmark's worst metric), as the
    scheduler saw it.
    """
    _mode(mode)
    curve: list[tuple[float, float]] = []
    best = math.nan
    for row in _by_time(rows):
        value = _number(row, "val_metric")
        if not curve or _better(value, best, mode):
            best = value
        curve.append((_number(row, "time"), best))
    return curve


def time_to_target(rows: Sequence[Row], tau: float, mode: str) -> float | None:
    """T@tau: the first time the best-so-far reaches ``tau`` (>= for "max", <= for "min").

    ``None`` means censored: no row reached ``tau`` (see
    :func:`ohgw.analysis.stats.censored_times` for how censored runs enter the statistics).
    """
    for time, best in best_so_far(rows, mode):
        if (best >= tau) if mode == "max" else (best <= tau):
            return time
    return None


def best_by(rows: Sequence[Row], limit: float, mode: str) -> float | None:
    """The best-so-far ``val_metric`` at study time ``limit`` (None: no unit had ended by then).

    What a study of budget ``limit`` would have found, read off a longer run of the same seed:
    the pilots that fix a study's tau and budget are read this way.
    """
    reached = [best for time, best in best_so_far(rows, mode) if time <= limit]
    return reached[-1] if reached else None


def level_in_two_of_three(bests: Sequence[float | None], mode: str) -> float | None:
    """The best level on a grid of 0.01 that at least 2 of 3 pilots reach.

    ``bests`` holds each pilot's best (None: it reached nothing); the answer is None unless
    there are three pilots and two of them reached something.
    """
    _mode(mode)
    if len(bests) != 3:
        return None
    reached = sorted((b for b in bests if b is not None), reverse=mode == "max")
    if len(reached) < 2:
        return None
    # 1e-9 keeps a float such as 0.2499999999 on its grid level
    scaled = reached[1] * 100
    return (math.floor(scaled + 1e-9) if mode == "max" else math.ceil(scaled - 1e-9)) / 100


def worker_hours(t: float, workers: int) -> float:
    """``t * workers / 3600``: the paper's GPU-hours of ``t`` study seconds on ``workers`` GPUs.

    Every worker counts as busy (or held) for the whole time, idle waits included, as a job that
    reserves n GPUs is billed for all n.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"The value of `workers` is {workers!r}, but must be an int >= 1.")
    return float(t) * workers / 3600.0


def normalised_auc(rows: Sequence[Row], mode: str, budget: float, worst: float | None) -> float:
    """The area under the best-so-far curve on [0, budget], divided by ``budget``.

    Before the first result the curve is ``worst``: pass the metric's worst value for accuracy
    (0.0). For perplexity the benchmark's worst (the vocabulary size) would swamp the area, so
    pass ``None`` to start the curve at the first result's value (the delay of the first result
    then costs nothing), or, for a paired comparison, one common value such as the worst first
    value over all runs compared. Results after ``budget`` are ignored. The result is a mean
    metric over time: higher is better for "max", lower is better for "min".
    """
    _mode(mode)
    if not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"The value of `budget` is {budget!r}, but must be > 0.")
    curve = [(t, b) for t, b in best_so_far(rows, mode) if t <= budget]
    if worst is None:
        if not curve:
            raise ValueError("`worst` is None, but there is no result before `budget`.")
        worst = curve[0][1]
    area, time, value = 0.0, 0.0, float(worst)
    for t, best in curve:
        area += (max(t, 0.0) - time) * value
        time, value = max(t, 0.0), best
    area += (budget - time) * value
    return area / budget


def picked_row(rows: Sequence[Row], mode: str) -> Row:
    """The row with the best ``val_metric`` (ties: the earliest time): the configuration, at
    its resource level, that a user would pick by validation after the budget."""
    _mode(mode)
    chosen = None
    for row in _by_time(rows):
        if chosen is None or _better(_number(row, "val_metric"), chosen["val_metric"], mode):
            chosen = row
    if chosen is None:
        raise ValueError("There are no rows to choose a final test metric from.")
    return chosen


def final_test_metric(rows: Sequence[Row], mode: str) -> float:
    """The ``test_metric`` of :func:`picked_row`: the test score of the picked configuration."""
    return float(_field(picked_row(rows, mode), "test_metric"))


def _last_rows(rows: Sequence[Row]) -> dict[tuple[Any, Any, int], Row]:
    """Each trial's row at its highest resource level."""
    last: dict[tuple[Any, Any, int], Row] = {}
    for row in rows:
        key = _trial(row)
        if key not in last or _number(row, "resource") > _number(last[key], "resource"):
            last[key] = row
    return last


def overhead(rows: Sequence[Row]) -> dict[str, Any]:
    """The warm start's cost: its share of FLOPs and of measured compute, and peak memory.

    A trial's totals are those of its last row (the fields are cumulative); ``warm_flops`` and
    ``warm_seconds`` are the same in all rows of a trial and count once. ``compute_seconds``
    includes the warm start. Peak memory is the largest ``peak_memory_bytes`` with its
    ``memory_measure`` (mixed measures raise: CPU RSS and CUDA allocations do not compare).
    Rows without the measured columns (a published export keeps only the deterministic ones)
    give NaN seconds and ``None`` peak memory.
    """
    last = _last_rows(rows)
    if not last:
        raise ValueError("There are no rows to measure the overhead of.")
    warm_flops = sum(_number(r, "warm_flops") for r in last.values())
    total_flops = warm_flops + sum(
        _number(r, "train_flops") + _number(r, "eval_flops") for r in last.values()
    )
    timed = all("warm_seconds" in r and "compute_seconds" in r for r in last.values())
    warm_seconds = sum(_number(r, "warm_seconds") for r in last.values()) if timed else math.nan
    compute_seconds = (
        sum(_number(r, "compute_seconds") for r in last.values()) if timed else math.nan
    )
    peak = (
        int(max(_number(r, "peak_memory_bytes") for r in rows))
        if all("peak_memory_bytes" in r for r in rows)
        else None
    )
    measures = {_field(r, "memory_measure") for r in rows}
    if len(measures) > 1:
        raise ValueError(f"The field `memory_measure` mixes {sorted(measures)}.")
    return {
        "trials": len(last),
        "warm_flops": warm_flops,
        "total_flops": total_flops,
        "warm_flops_share": warm_flops / total_flops if total_flops > 0 else math.nan,
        "warm_seconds": warm_seconds,
        "compute_seconds": compute_seconds,
        "warm_seconds_share": warm_seconds / compute_seconds if compute_seconds > 0 else math.nan,
        "peak_memory_bytes": peak,
        "memory_measure": measures.pop(),
    }


def trial_counts(rows: Sequence[Row]) -> dict[str, int]:
    """How many trials the rows hold, how many diverged (a row with status "diverged") and how
    many had a non-finite warm start (``warm_non_finite``: the step was skipped)."""
    trials: dict[tuple[Any, Any, int], list[Row]] = {}
    for row in rows:
        trials.setdefault(_trial(row), []).append(row)
    return {
        "trials": len(trials),
        "diverged": sum(any(r.get("status") == "diverged" for r in t) for t in trials.values()),
        "warm_non_finite": sum(
            any(r.get("warm_non_finite") in (True, "True", 1) for r in t) for t in trials.values()
        ),
    }


def final_psi(rows: Sequence[Row], names: Sequence[str]) -> np.ndarray:
    """The warm-started psi (``psi.<name>``) of the final trials: shape (n_trials, len(names)).

    Final trials: those that reached the highest resource level any trial of the same run
    (variant, seed) reached, i.e. the configurations the scheduler kept to the end. For rows of
    one run this is the top level in the rows; rows of several runs give each run's top-level
    trials. Rows are ordered by (variant, seed, trial_id).
    """
    last = _last_rows(rows)
    top: dict[tuple[Any, Any], float] = {}
    for (variant, seed, _), row in last.items():
        top[variant, seed] = max(top.get((variant, seed), 0.0), _number(row, "resource"))
    order = sorted(last, key=lambda k: (str(k[0]), -1 if k[1] is None else k[1], k[2]))
    chosen = [last[k] for k in order if _number(last[k], "resource") == top[k[0], k[1]]]
    psi = [[_number(row, f"psi.{name}") for name in names] for row in chosen]
    return np.array(psi, dtype=float).reshape(len(chosen), len(names))
