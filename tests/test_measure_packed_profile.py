"""ohgw.measure.packed_profile (perf/packed_profile.py): a part's time is exclusive of the
parts it calls, and the code it wraps is restored."""

from __future__ import annotations

import time

import pytest

from ohgw.measure import packed_profile


def test_an_inner_calls_time_counts_to_its_own_part_only() -> None:
    parts = packed_profile.Parts(sync=lambda: None)
    inner = parts.wrap(lambda: time.sleep(0.05), "inner")
    outer = parts.wrap(lambda: (time.sleep(0.05), inner()), "outer")
    outer()
    assert parts.seconds["inner"] == pytest.approx(0.05, abs=0.03)
    assert parts.seconds["outer"] == pytest.approx(0.05, abs=0.03)


def test_the_wrapped_points_are_restored_after_the_measurement() -> None:
    import ohgw.trial

    before = ohgw.trial.save_checkpoint
    parts = packed_profile.Parts(sync=lambda: None)
    with packed_profile.patched(parts):
        assert ohgw.trial.save_checkpoint is not before
        assert ohgw.trial.save_checkpoint.__wrapped__ is before
    assert ohgw.trial.save_checkpoint is before


def test_the_parts_are_per_trial_unit_medians() -> None:
    samples = [
        {"data": 2.0, "wall": 10.0},
        {"data": 4.0, "wall": 14.0},
        {"data": 3.0, "wall": 9.0},
    ]
    out = packed_profile.per_trial_unit(samples, trials=2)
    assert out["data"] == 1.5 and out["wall"] == 5.0 and out["open"] == 0.0
