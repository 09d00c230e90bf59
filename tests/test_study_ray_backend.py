"""The Ray clock: small paired studies on a real two-node Ray cluster on this machine.

``ray.cluster_utils.Cluster`` starts a head node (GCS, raylet, object store) and a second node
with its own raylet, each a set of real processes with one CPU; the studies connect to it by
address as ``ohgw study engine=ray ray_address=...`` does, so two trials at once run on two nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import ray
from ray.cluster_utils import Cluster

from ohgw.analysis.report import write_report
from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.engines import raytune
from ohgw.study.runner import run_study
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial
from problems import TINY_CIFAR
from problems import overlapping_trials

OPTIONS = TINY_CIFAR
# Wall-clock seconds per (variant, seed): a cap that holds on a busy machine; each pair ends
# when its two trials stop (max_trials), in seconds when the machine is idle.
BUDGETS = {"asha": 300.0, "hyperband": 300.0}
TRIALS = 2


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head node and one more node, one CPU each; shut down even when a test fails."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")  # the nodes' worker processes inherit it
        # Ray starts its workers at nice 15 (RAY_worker_niceness): beside any other load the
        # trials starve (a 6 s pair took 130 s beside two busy loops).
        patch.setenv("RAY_worker_niceness", "0")
        # The nodes use this machine's address, as `ray start` does: Ray rewrites a driver's
        # 127.0.0.1 address to it, so a cluster bound to the loopback cannot be joined.
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        try:
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            yield cluster
        finally:
            if ray.is_initialized():
                ray.shutdown()
            cluster.shutdown()


class Studies(dict):
    """One study per scheduler on the cluster, run the first time a test asks for it (the
    hyperband case is in the slow tier: the default tier runs the asha one only)."""

    def __init__(self, cluster: Cluster, root: Path) -> None:
        super().__init__()
        self.cluster, self.root = cluster, root

    def __missing__(self, scheduler: str) -> dict[str, Any]:
        config = StudyConfig(
            directory=str(self.root / scheduler),
            benchmark="cifar10-mini",
            benchmark_options=OPTIONS,
            scheduler=scheduler,
            variants=["baseline", "ohgw"],
            seeds=1,
            workers=2,
            budget=BUDGETS[scheduler],
            max_trials=TRIALS,
            max_resource=3,
            engine="ray",
            ray_address=self.cluster.address,
        )
        summary = run_study(config, progress=False, echo=lambda _: None)
        with Store(config.directory) as store:
            rows, done = store.rows(), store.done()
        results = Path(config.directory, "ray").glob("*/trial_*/result.json")
        units = [json.loads(line)["ohgw"] for path in results for line in path.open()]
        self[scheduler] = {
            "config": config,
            "summary": summary,
            "rows": rows,
            "done": done,
            "nodes": {unit["node"] for unit in units},
        }
        return self[scheduler]


@pytest.fixture(scope="module")
def studies(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Studies:
    return Studies(cluster, tmp_path_factory.mktemp("ray"))


SCHEDULERS = ["asha", pytest.param("hyperband", marks=pytest.mark.slow)]


@pytest.fixture(scope="module")
def trial_columns() -> set[str]:
    """The fields of a row of the trial runner itself (one unit, in this process)."""
    spec = TrialSpec("cifar10-mini", DEFAULT_CONFIG, 0, 1, benchmark_options=OPTIONS)
    return set(run_trial(spec)[0])


def _config(row: dict[str, Any]) -> dict[str, Any]:
    return {k.removeprefix("config."): v for k, v in row.items() if k.startswith("config.")}


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_rows_of_both_variants_in_the_real_clock_format(
    studies: Studies, trial_columns: set[str], scheduler: str
) -> None:
    study = studies[scheduler]
    rows = study["rows"]
    assert {r["variant"] for r in rows} == {"baseline", "ohgw"}
    assert set(study["done"]) == {("baseline", 0), ("ohgw", 0)}
    # The columns: the trial runner's row, the real clock's fields, the sampled config.
    clock = {"variant", "seed", "trial_id", "worker", "start_time", "time", "cost"}
    expected = {*trial_columns, *clock, *(f"config.{k}" for k in _config(rows[0]))}
    assert all(set(r) == expected for r in rows)
    assert all(r["status"] == "ok" and 1 <= r["resource"] <= 3 for r in rows)
    assert all(0 <= r["start_time"] < r["time"] <= BUDGETS[scheduler] for r in rows)
    assert all(0 <= r["worker"] < 2 for r in rows)
    for variant in ("baseline", "ohgw"):  # the pair ended when its trials stopped
        assert len({r["trial_id"] for r in rows if r["variant"] == variant}) == TRIALS
    assert (Path(study["config"].directory) / "results.csv").exists()
    assert not list(Path(study["config"].directory).rglob("checkpoint.pt"))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_two_trials_run_at_the_same_time_on_two_nodes(studies: Studies, scheduler: str) -> None:
    for variant in ("baseline", "ohgw"):
        rows = [r for r in studies[scheduler]["rows"] if r["variant"] == variant]
        assert overlapping_trials(rows), variant
    assert len(studies[scheduler]["nodes"]) == 2  # one CPU per node: one trial per node


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_trial_k_gets_the_same_config_and_theta0_in_both_variants(
    studies: Studies, scheduler: str
) -> None:
    def first_units(variant: str) -> dict[int, dict[str, Any]]:
        rows = studies[scheduler]["rows"]
        return {r["trial_id"]: r for r in rows if r["variant"] == variant and r["resource"] == 1}

    baseline, ohgw = first_units("baseline"), first_units("ohgw")
    shared = set(baseline) & set(ohgw)
    assert {0, 1} <= shared
    for k in shared:
        psi0 = {c: v for c, v in baseline[k].items() if c.startswith("psi0.")}
        assert psi0 and psi0 == {c: ohgw[k][c] for c in psi0}
        assert _config(baseline[k]) == _config(ohgw[k])
        assert baseline[k]["warm_flops"] == 0 < ohgw[k]["warm_flops"]
    configs = [tuple(_config(r).items()) for r in baseline.values()]
    assert len(set(configs)) == len(configs)  # different trials, different configs


@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning")  # one seed: no spread
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_the_report_reads_the_ray_study_as_any_other(studies: Studies) -> None:
    md, html = write_report(studies["asha"]["config"].directory)
    text = md.read_text()
    assert md.name == "report.md" and html.stat().st_size > 0
    assert "on the ray clock" in text and "wall-clock time" in text  # not simulated seconds
    assert "Variants (finished seeds): baseline (1), ohgw (1)." in text


def test_rerun_of_a_finished_study_runs_no_tuner(
    studies: Studies, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_tuner(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished study started a tuner")

    monkeypatch.setattr(raytune.tune, "Tuner", no_tuner)
    monkeypatch.setattr(raytune.ray, "init", no_tuner)
    study = studies["asha"]
    assert run_study(study["config"], progress=False, echo=lambda _: None) == study["summary"]
    with Store(study["config"].directory) as store:
        assert store.rows() == study["rows"]


def test_pasha_with_too_few_rungs_is_refused_before_any_file(tmp_path: Path) -> None:
    config = StudyConfig(
        directory=str(tmp_path / "study"), scheduler="pasha", max_resource=3, engine="ray"
    )
    with pytest.raises(ValueError, match="PASHA never promotes"):
        run_study(config, progress=False, echo=lambda _: None)
    assert not (tmp_path / "study").exists()
    with pytest.raises(ValueError, match="`ray_address`"):
        run_study(replace(config, max_resource=10, ray_address=""), progress=False)


def test_pasha_on_the_cluster_promotes_paused_trials_from_their_checkpoints(
    cluster: Cluster, tmp_path: Path
) -> None:
    """syne-tune's PASHA through RayPASHA: trials pause at rungs and resume where they were."""
    config = StudyConfig(
        directory=str(tmp_path / "pasha"),
        benchmark="cifar10-mini",
        benchmark_options=OPTIONS,
        scheduler="pasha",
        variants=["baseline"],
        seeds=1,
        workers=2,
        # A promotion needs two trials through rung 1 (reduction factor 2) and one more epoch
        # after a resume: four trials, and a cap that holds on a busy machine (Tune ends the
        # pair when none of them can run any more).
        budget=300.0,
        max_trials=4,
        max_resource=10,  # rungs 1, 2, 4, 8
        reduction_factor=2,
        engine="ray",
        ray_address=cluster.address,
    )
    run_study(config, progress=False, echo=lambda _: None)
    with Store(config.directory) as store:
        rows = store.rows()
    # PASHA pauses every trial at its first rung (epoch 1). A promoted trial restarted from
    # scratch would report epoch 1 again, which RayPASHA answers with PAUSE: a row of epoch 2
    # or more exists only if Ray resumed the trial from the checkpoint of its epoch 1.
    units = {(r["trial_id"], r["resource"]): r for r in rows}
    assert {r["trial_id"] for r in rows} <= set(range(4))  # max_trials: no fifth trial
    promoted = [k for k, resource in units if resource == 2]
    assert promoted, sorted(
        (k, round(r["start_time"], 1), round(r["time"], 1)) for k, r in units.items()
    )
    for k in promoted:
        first, second = units[k, 1], units[k, 2]
        assert second["compute_seconds"] > first["compute_seconds"]  # carried in the checkpoint
        assert first["time"] <= second["start_time"]
        assert {c: v for c, v in first.items() if c.startswith("hp.")} == {
            c: v for c, v in second.items() if c.startswith("hp.")
        }
