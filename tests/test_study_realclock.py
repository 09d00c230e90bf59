"""The real clock: a small study on syne-tune's Tuner and LocalBackend, two worker processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.engines import realclock
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import overlapping_trials

BUDGET = 300.0  # wall-clock seconds per variant: a cap that holds on a busy machine; the pairs
# end when their two trials stop (max_trials), in seconds when the machine is idle
TRIALS = 2


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same study on the real clock and (with a short simulated budget) on the simulated."""
    root = tmp_path_factory.mktemp("realclock")
    real = StudyConfig(
        directory=str(root / "real"),
        benchmark="cifar10-mini",
        benchmark_options=TINY_CIFAR,
        scheduler="asha",
        variants=["baseline", "ohgw"],
        seeds=1,
        workers=2,
        budget=BUDGET,
        max_trials=TRIALS,
        max_resource=3,
        engine="real",
        threads=1,  # one torch thread per trial process: two workers on two cores
    )
    start = time.perf_counter()
    summary = run_study(real, progress=False, echo=lambda _: None)
    seconds = time.perf_counter() - start
    simulated = replace(real, directory=str(root / "simulated"), engine="simulated", budget=1e3)
    run_study(simulated, progress=False, echo=lambda _: None)
    with Store(real.directory) as store:
        real_rows = store.rows()
    with Store(simulated.directory) as store:
        simulated_rows = store.rows()
    return {
        "config": real,
        "summary": summary,
        "seconds": seconds,
        "rows": real_rows,
        "simulated": simulated_rows,
    }


def test_rows_of_both_variants_in_the_simulated_format(studies: dict[str, Any]) -> None:
    rows, simulated = studies["rows"], studies["simulated"]
    assert {r["variant"] for r in rows} == {"baseline", "ohgw"}
    assert {r["variant"] for r in simulated} == {"baseline", "ohgw"}
    columns = {frozenset(r) for r in simulated}
    assert len(columns) == 1
    assert {frozenset(r) for r in rows} == columns
    assert all(r["status"] == "ok" and 1 <= r["resource"] <= 3 for r in rows)
    assert all(0 <= r["start_time"] < r["time"] <= BUDGET for r in rows)
    assert all(0 <= r["worker"] < 2 for r in rows)
    for variant in ("baseline", "ohgw"):  # each pair ended when its trials stopped
        assert len({r["trial_id"] for r in rows if r["variant"] == variant}) == TRIALS
        assert len({r["trial_id"] for r in simulated if r["variant"] == variant}) == TRIALS
        assert studies["summary"][variant]["trials"] == TRIALS
    assert studies["seconds"] < BUDGET
    assert (Path(studies["config"].directory) / "results.csv").exists()
    assert not list(Path(studies["config"].directory).rglob("checkpoint.pt"))


def test_trial_k_samples_the_same_config_on_both_clocks(studies: dict[str, Any]) -> None:
    def configs(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
        return {
            r["trial_id"]: {k: v for k, v in r.items() if k.startswith("config.")} for r in rows
        }

    real, simulated = configs(studies["rows"]), configs(studies["simulated"])
    shared = set(real) & set(simulated)
    assert {0, 1} <= shared
    assert all(real[k] == simulated[k] for k in shared)


def test_two_trials_run_at_the_same_time(studies: dict[str, Any]) -> None:
    for variant in ("baseline", "ohgw"):
        rows = [r for r in studies["rows"] if r["variant"] == variant]
        assert overlapping_trials(rows), variant


def test_only_the_warm_started_variant_pays_warm_start_flops(studies: dict[str, Any]) -> None:
    rows = studies["rows"]
    assert all(r["warm_flops"] > 0 for r in rows if r["variant"] == "ohgw")
    assert all(r["warm_flops"] == 0 for r in rows if r["variant"] == "baseline")


def test_rerun_of_a_finished_study_runs_and_adds_nothing(
    studies: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_tuner(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished study started a tuner")

    monkeypatch.setattr(realclock, "Tuner", no_tuner)
    again = run_study(studies["config"], progress=False, echo=lambda _: None)
    assert again == studies["summary"]
    with Store(studies["config"].directory) as store:
        assert store.rows() == studies["rows"]
        assert set(store.done()) == {("baseline", 0), ("ohgw", 0)}


def test_a_stale_checkpoint_that_cannot_be_removed_stops_the_pair(
    tmp_path: Path, undeletable: Callable[[str], None]
) -> None:
    """A pair that starts over removes its old folder first, stale trial checkpoints with it;
    a failed removal used to pass unnoticed (``ignore_errors``), and trial 0 resumed the old
    checkpoint and reported only its later units."""
    from ohgw.study.pair import Pair
    from ohgw.study.plan import validate

    config = StudyConfig(
        directory=str(tmp_path),
        benchmark="cifar10-mini",
        benchmark_options=TINY_CIFAR,
        variants=["baseline"],
        seeds=1,
        workers=1,
        budget=5.0,
        max_resource=3,
        engine="real",
        threads=1,
    )
    study = validate(config)
    stale = tmp_path / "realclock" / "baseline-seed0" / "0" / "checkpoints"
    stale.mkdir(parents=True)
    (stale / "checkpoint.pt").write_bytes(b"an earlier run's trial 0")
    undeletable("checkpoint.pt")
    with pytest.raises(OSError, match="holds an earlier run's trial checkpoints") as refused:
        realclock._tune(study, Pair(study.variants[0], 0), tmp_path / "realclock")
    assert f"Not removed: {stale / 'checkpoint.pt'} ([Errno 13] Permission denied" in str(
        refused.value
    )
