"""ohgw.analysis.pilot_check: a pilot's T@tau and the level it reaches by half the budget."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from ohgw.analysis import pilot_check


def _publish(directory: Path, curves: dict[int, list[tuple[float, float]]]) -> Path:
    """A published pilot: baseline rows (time, val_metric) per seed, and one ohgw row."""
    directory.mkdir()
    with gzip.open(directory / "results.csv.gz", "wt", newline="") as handle:
        fields = ["variant", "seed", "trial_id", "time", "val_metric"]
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        for seed, points in curves.items():
            for trial, (time, value) in enumerate(points):
                writer.writerow(
                    dict(zip(fields, ["baseline", seed, trial, time, value], strict=True))
                )
        # not a pilot row: the check reads the baseline's only
        writer.writerow(dict(zip(fields, ["ohgw", 0, 0, 0.5, 0.9], strict=True)))
    return directory


CURVES = {
    0: [(2.0, 0.15), (6.0, 0.26), (12.0, 0.31)],
    1: [(3.0, 0.20), (7.4, 0.249999), (9.0, 0.27)],
    2: [(4.0, 0.12), (8.0, 0.29), (14.9, 0.22)],
}


def test_times_bests_and_the_level_of_two_of_three(tmp_path: Path) -> None:
    rows = pilot_check.read_rows(_publish(tmp_path / "pilot", CURVES) / "results.csv.gz")
    lines, level = pilot_check.check(rows, tau=0.25, budget=15)
    assert lines == [
        "seed 0: T@0.25 = 6.00 s, best by 7.5 s = 0.2600, best by 15 s = 0.3100",
        "seed 1: T@0.25 = 9.00 s, best by 7.5 s = 0.2500, best by 15 s = 0.2700",
        "seed 2: T@0.25 = 8.00 s, best by 7.5 s = 0.1200, best by 15 s = 0.2900",
    ]
    assert level == 0.24  # the second best by 7.5 s is 0.249999: below the grid level 0.25


def test_the_command_prints_and_a_missing_pilot_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pilot = _publish(tmp_path / "pilot", CURVES)
    assert pilot_check.main([str(pilot), "--tau", "0.25", "--budget", "15"]) == 0
    out = capsys.readouterr().out
    assert out.endswith("reached by 7.5 s in 2 of 3 pilots: 0.24 (tau 0.25)\n")
    with pytest.raises(SystemExit):
        pilot_check.main([str(tmp_path / "none"), "--tau", "0.25", "--budget", "15"])
    assert "publish the pilot" in capsys.readouterr().err
