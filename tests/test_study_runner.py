"""The pair loop's papercuts (issue 16): no empty run marked done; no empty folders left."""

from __future__ import annotations

import pytest

from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.runner import _remove_empty_folders
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS


def test_empty_checkpoint_folders_are_removed_and_kept_checkpoints_stay(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    (root / "baseline" / "0").mkdir(parents=True)
    (root / "ohgw" / "1" / "7").mkdir(parents=True)
    (root / "ohgw" / "1" / "7" / "state.pt").write_bytes(b"paused")
    _remove_empty_folders(root)
    assert not (root / "baseline").exists()
    assert (root / "ohgw" / "1" / "7" / "state.pt").exists()
    (root / "ohgw" / "1" / "7" / "state.pt").unlink()
    _remove_empty_folders(root)
    assert not root.exists()


def test_a_budget_below_one_unit_is_refused_with_the_units_cost_and_nothing_marked_done(
    tmp_path,
) -> None:
    config = StudyConfig(
        directory=str(tmp_path),
        benchmark="cifar10-mini",
        benchmark_options=TINY_CIFAR,
        variants=["baseline"],
        seeds=1,
        workers=1,
        budget=1e-6,
        max_resource=3,
        flops_per_second=TINY_FLOPS,
        threads=1,
    )
    with pytest.raises(ValueError, match=r"first unit costs \d[\d.e+-]* seconds\. Raise `budget`"):
        run_study(config, progress=False, echo=lambda _: None)
    with Store(tmp_path) as store:
        assert store.done() == {} and store.rows() == []
    assert not (tmp_path / "checkpoints").exists()  # the failed study left no empty folders
