"""The paper's metrics on hand-made result tables with hand-computed answers."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from ohgw.analysis.metrics import best_by
from ohgw.analysis.metrics import best_so_far
from ohgw.analysis.metrics import final_psi
from ohgw.analysis.metrics import final_test_metric
from ohgw.analysis.metrics import level_in_two_of_three
from ohgw.analysis.metrics import normalised_auc
from ohgw.analysis.metrics import overhead
from ohgw.analysis.metrics import time_to_target
from ohgw.analysis.metrics import worker_hours


def _row(trial_id, resource, time, val, test=0.0, status="ok", **fields):
    return {
        "variant": "ohgw",
        "seed": 0,
        "trial_id": trial_id,
        "resource": resource,
        "time": time,
        "val_metric": val,
        "test_metric": test,
        "status": status,
        **fields,
    }


def _accuracy_run():
    rows = [
        _row(0, 1, 2.0, 0.3, 0.28),
        _row(1, 1, 3.0, 0.5, 0.45),
        _row(0, 2, 5.0, 0.4, 0.41),
        _row(1, 2, 6.0, 0.7, 0.66),
        _row(2, 1, 7.0, 0.7, 0.90),  # ties the best, later: not chosen
        _row(1, 3, 9.0, 0.65, 0.60),
    ]
    random.Random(1).shuffle(rows)  # the functions sort by time themselves
    return rows


def _perplexity_run():
    return [
        _row(0, 1, 1.0, 200.0),
        _row(1, 1, 3.0, 120.0),
        _row(2, 1, 4.0, 1000.0, status="diverged"),  # counts with the worst value
        _row(1, 2, 8.0, 90.0),
    ]


def test_best_so_far_is_a_running_best_over_time():
    curve = best_so_far(_accuracy_run(), "max")
    assert curve == [(2.0, 0.3), (3.0, 0.5), (5.0, 0.5), (6.0, 0.7), (7.0, 0.7), (9.0, 0.7)]
    assert [b for _, b in best_so_far(_perplexity_run(), "min")] == [200, 120, 120, 90]
    diverged_first = [_row(0, 1, 1.0, 0.0, status="diverged"), _row(1, 1, 2.0, 0.2)]
    assert best_so_far(diverged_first, "max") == [(1.0, 0.0), (2.0, 0.2)]


def test_time_to_target_with_censoring_for_max_and_min_metrics():
    acc = _accuracy_run()
    assert time_to_target(acc, 0.6, "max") == 6.0
    assert time_to_target(acc, 0.5, "max") == 3.0  # reaching tau exactly counts
    assert time_to_target(acc, 0.8, "max") is None  # censored
    ppl = _perplexity_run()
    assert time_to_target(ppl, 100.0, "min") == 8.0
    assert time_to_target(ppl, 120.0, "min") == 3.0
    assert time_to_target(ppl, 50.0, "min") is None
    assert time_to_target([], 0.5, "max") is None


def test_best_by_reads_the_best_so_far_at_a_time_limit():
    rows = [_row(0, 1, 2.0, 0.3), _row(1, 1, 5.0, 0.2), _row(0, 2, 6.0, 0.5)]
    assert best_by(rows, 1.9, "max") is None
    assert best_by(rows, 2.0, "max") == 0.3
    assert best_by(rows, 5.9, "max") == 0.3
    assert best_by(rows, 6.0, "max") == 0.5
    assert best_by(rows, 5.0, "min") == 0.2


def test_level_in_two_of_three_is_the_second_best_on_the_grid():
    assert level_in_two_of_three([0.3, 0.27, 0.2], "max") == 0.27
    assert level_in_two_of_three([0.3, 0.249999, 0.2], "max") == 0.24
    assert level_in_two_of_three([0.95, 0.8999999999999999, 0.2], "max") == 0.9
    assert level_in_two_of_three([250.0, 240.5, 300.0], "min") == 250.0
    assert level_in_two_of_three([250.0, 240.001, 300.0], "min") == 250.0
    assert level_in_two_of_three([240.0, 240.001, 300.0], "min") == 240.01
    # a pilot that reached nothing does not stop the other two from deciding
    assert level_in_two_of_three([0.3, None, 0.2], "max") == 0.2
    assert level_in_two_of_three([0.3, None, None], "max") is None
    assert level_in_two_of_three([0.3, 0.2], "max") is None
    with pytest.raises(ValueError, match="mode"):
        level_in_two_of_three([0.3, 0.2, 0.1], "best")


def test_worker_hours():
    assert worker_hours(3600.0, 4) == 4.0
    assert worker_hours(900.0, 2) == 0.5
    with pytest.raises(ValueError, match="workers"):
        worker_hours(10.0, 0)


def test_normalised_auc_equals_the_hand_computed_area():
    # accuracy, budget 10: 0 on [0,2), .3 on [2,3), .5 on [3,6), .7 on [6,10]
    area = 0.0 * 2 + 0.3 * 1 + 0.5 * 3 + 0.7 * 4
    assert normalised_auc(_accuracy_run(), "max", 10.0, worst=0.0) == pytest.approx(area / 10)
    # worst=None starts the curve at the first result's value
    area = 0.3 * 3 + 0.5 * 3 + 0.7 * 4
    assert normalised_auc(_accuracy_run(), "max", 10.0, worst=None) == pytest.approx(area / 10)
    # budget 4 ignores later results: 0 on [0,2), .3 on [2,3), .5 on [3,4]
    area = 0.0 * 2 + 0.3 * 1 + 0.5 * 1
    assert normalised_auc(_accuracy_run(), "max", 4.0, worst=0.0) == pytest.approx(area / 4)
    # perplexity (lower is better): 200 on [0,3), 120 on [3,8), 90 on [8,10]
    area = 200 * 3 + 120 * 5 + 90 * 2
    assert normalised_auc(_perplexity_run(), "min", 10.0, worst=None) == pytest.approx(area / 10)
    assert normalised_auc([], "max", 10.0, worst=0.0) == 0.0
    with pytest.raises(ValueError, match="worst"):
        normalised_auc([], "min", 10.0, worst=None)


def test_final_test_metric_picks_the_best_validation_row_earliest_on_ties():
    assert final_test_metric(_accuracy_run(), "max") == 0.66
    assert final_test_metric(_perplexity_run(), "min") == 0.0
    rows = [_row(0, 1, 1.0, 150.0, test=140.0), _row(1, 1, 2.0, 90.0, test=95.0)]
    assert final_test_metric(rows, "min") == 95.0


def test_overhead_equals_the_hand_computation():
    common = {"memory_measure": "cpu_peak_rss"}
    rows = [
        _row(0, 1, 1.0, 0.1, train_flops=100, eval_flops=10, warm_flops=5,
             compute_seconds=1.5, warm_seconds=0.5, peak_memory_bytes=1000, **common),
        _row(0, 2, 2.0, 0.2, train_flops=200, eval_flops=20, warm_flops=5,
             compute_seconds=2.5, warm_seconds=0.5, peak_memory_bytes=3000, **common),
        _row(1, 1, 1.2, 0.1, train_flops=100, eval_flops=10, warm_flops=5,
             compute_seconds=1.2, warm_seconds=0.2, peak_memory_bytes=2000, **common),
    ]  # fmt: skip
    result = overhead(rows)
    assert result["trials"] == 2
    assert result["warm_flops"] == 10
    assert result["total_flops"] == 10 + (200 + 20) + (100 + 10)
    assert result["warm_flops_share"] == pytest.approx(10 / 340)
    assert result["warm_seconds_share"] == pytest.approx(0.7 / (2.5 + 1.2))
    assert result["peak_memory_bytes"] == 3000
    assert result["memory_measure"] == "cpu_peak_rss"
    # A published export leaves the measured columns out: NaN seconds, unknown peak memory.
    measured = ("warm_seconds", "compute_seconds", "peak_memory_bytes")
    exported = overhead([{k: v for k, v in r.items() if k not in measured} for r in rows])
    assert math.isnan(exported["warm_seconds_share"]) and exported["peak_memory_bytes"] is None
    assert exported["warm_flops_share"] == result["warm_flops_share"]
    with pytest.raises(ValueError, match="warm_seconds"):  # present but not a number
        overhead([{**rows[0], "warm_seconds": "x"}])
    with pytest.raises(ValueError, match="memory_measure"):
        overhead([*rows, {**rows[2], "trial_id": 2, "memory_measure": "cuda_max_allocated"}])


def test_final_psi_picks_the_trials_on_the_top_rung():
    top = {0: 3, 1: 1, 2: 3, 3: 2}
    rows = [
        _row(t, r, float(t + r), 0.5, **{"psi.lr": 10.0 * t, "psi.wd": -t, "psi0.lr": 99.0})
        for t, level in top.items()
        for r in range(1, level + 1)
    ]
    psi = final_psi(rows, ["lr", "wd"])
    np.testing.assert_array_equal(psi, [[0.0, 0.0], [20.0, -2.0]])
    # rows of another run: its own top rung (2 here) decides
    other = [{**row, "seed": 1} for row in rows if row["resource"] <= 2]
    psi = final_psi(rows + other, ["lr"])
    np.testing.assert_array_equal(psi, [[0.0], [20.0], [0.0], [20.0], [30.0]])
    assert final_psi([], ["lr"]).shape == (0, 1)
    with pytest.raises(ValueError, match=r"psi\.mom"):
        final_psi(rows, ["mom"])


def test_bad_mode_and_missing_fields_are_named():
    with pytest.raises(ValueError, match="mode"):
        best_so_far(_accuracy_run(), "maximum")
    with pytest.raises(ValueError, match="val_metric"):
        best_so_far([{"time": 1.0}], "max")
    with pytest.raises(ValueError, match="time"):
        time_to_target([_row(0, 1, float("nan"), 0.5)], 0.5, "max")
