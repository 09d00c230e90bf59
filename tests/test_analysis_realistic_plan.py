"""ohgw.analysis.realistic_plan: the pre-registered rule fixing the realistic budget and tau."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ohgw.analysis import realistic_plan


def _pilot(path: Path, speed: dict[int, float]) -> Path:
    """Baseline curves whose best accuracy is min(0.95, speed * t) at t = 1, 2, ..., 30."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["variant", "seed", "time", "val_metric"])
        writer.writeheader()
        for seed, rate in speed.items():
            for t in range(1, 31):
                writer.writerow(
                    {
                        "variant": "baseline",
                        "seed": seed,
                        "time": t,
                        "val_metric": min(0.95, rate * t),
                    }
                )
            writer.writerow({"variant": "ohgw", "seed": seed, "time": 1, "val_metric": 0.99})
    return path


def test_budget_is_the_largest_realistic_one_that_fits_and_tau_is_reached_by_half(
    tmp_path: Path,
) -> None:
    csv_path = _pilot(tmp_path / "r.csv", {0: 0.05, 1: 0.06, 2: 0.07})
    curves: dict[int, list[dict[str, str]]] = {0: [], 1: [], 2: []}
    with csv_path.open() as handle:
        for row in csv.DictReader(handle):
            if row["variant"] == "baseline":
                curves[int(row["seed"])].append(row)
    # median best 0.06 B >= 0.80 from B = 14; tau = 0.06 t >= 0.75 for a unit at t <= B / 2
    # (units end at whole seconds) from B = 26
    assert realistic_plan.plan(curves, tflops=1e6, gpu_minutes=60)["realistic"] == list(
        range(26, 31)
    )
    # a pair costs 64 * 4 * B * 1.2e13 FLOPs: at 100 TFLOP/s none fits in a minute
    slow = realistic_plan.plan(curves, tflops=100, gpu_minutes=1)
    assert (slow["budget"], slow["tau"], slow["stretches"]) == (26, 0.78, 14)
    # at 1450 TFLOP/s, B <= 28.3 fits: B = 28, tau from t <= 14: 0.70, 0.84, 0.95 -> 0.84
    mid = realistic_plan.plan(curves, tflops=1450, gpu_minutes=1)
    assert (mid["budget"], mid["tau"], mid["stretches"]) == (28, 0.84, 1)
    fast = realistic_plan.plan(curves, tflops=1e6, gpu_minutes=60)
    assert (fast["budget"], fast["tau"]) == (30, 0.9)
    argv = [str(csv_path), "--tflops", "1450", "--gpu-minutes", "1", "--write", str(tmp_path)]
    assert realistic_plan.main(argv) == 0
    text = (tmp_path / "cifar10-realistic-asha.yaml").read_text()
    assert "budget: 28\n" in text and "tau: 0.84\n" in text and "[baseline, ohgw]" in text
    assert "random-normalized" in (tmp_path / "cifar10-realistic-normalized.yaml").read_text()


def test_a_pilot_that_never_gets_realistic_is_refused(tmp_path: Path) -> None:
    csv_path = _pilot(tmp_path / "r.csv", {0: 0.01, 1: 0.02, 2: 0.015})
    with pytest.raises(SystemExit, match="double the pilot's budget"):
        realistic_plan.main([str(csv_path), "--tflops", "100"])


def test_a_pilot_without_its_three_seeds_is_refused(tmp_path: Path) -> None:
    csv_path = _pilot(tmp_path / "r.csv", {0: 0.05, 1: 0.06})
    with pytest.raises(SystemExit, match="seeds 0-2"):
        realistic_plan.main([str(csv_path), "--tflops", "100"])
