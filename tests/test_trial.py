"""The trial runner: resume equivalence, pairing, divergence, the process entry point."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import pytest
import torch

from ohgw.benchmarks.base import make_benchmark
from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial
from problems import TINY_CIFAR

SMALL = TINY_CIFAR
STEPS = SMALL["train_size"] // SMALL["batch_size"]  # training steps in a unit
TIMING = {"compute_seconds", "warm_seconds", "peak_memory_bytes"}


@pytest.fixture(scope="module")
def small_cifar():
    return make_benchmark("cifar10-mini", **SMALL)


def spec(**kwargs) -> TrialSpec:
    base = {
        "benchmark": "cifar10-mini",
        "config": DEFAULT_CONFIG,
        "seed": 3,
        "max_resource": 2,
        "warm_start": WarmStartSettings(mode="gradient", eta_h=0.01),
        "benchmark_options": SMALL,
    }
    return TrialSpec(**{**base, **kwargs})


def deterministic(rows):
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_checkpointed_at_2_and_resumed_equals_uninterrupted(small_cifar, tmp_path) -> None:
    straight = run_trial(spec(max_resource=4), benchmark=small_cifar)
    part = spec(max_resource=2, checkpoint_dir=str(tmp_path))
    seen = []
    first = run_trial(part, seen.append, benchmark=small_cifar)
    torch.manual_seed(12345)  # a resumed trial must not depend on the caller's RNG
    resumed = run_trial(
        spec(max_resource=4, checkpoint_dir=str(tmp_path)), seen.append, benchmark=small_cifar
    )
    assert [r["resource"] for r in seen] == [1, 2, 3, 4]  # each unit reported once
    without_status = [{k: v for k, v in r.items() if k != "status"} for r in deterministic(first)]
    assert without_status == [
        {k: v for k, v in r.items() if k != "status"} for r in deterministic(straight[:2])
    ]
    assert [r["val_metric"] for r in resumed] == [r["val_metric"] for r in straight]
    assert deterministic(resumed)[3] == deterministic(straight)[3]
    assert resumed[3]["status"] == "completed" and straight[1]["status"] == "running"
    # Asking again for fewer units recomputes nothing and returns the stored prefix.
    again = run_trial(spec(max_resource=3, checkpoint_dir=str(tmp_path)), benchmark=small_cifar)
    assert deterministic(again) == deterministic(resumed)[:3]


def test_eta_zero_warm_start_trains_exactly_like_the_baseline(small_cifar) -> None:
    """Pairing: same theta_0, same data order; the warm start consumes no training RNG."""
    baseline = run_trial(spec(warm_start=WarmStartSettings(mode="none")), benchmark=small_cifar)
    zero = run_trial(
        spec(warm_start=WarmStartSettings(mode="gradient", eta_h=0.0)), benchmark=small_cifar
    )
    nudged = run_trial(spec(), benchmark=small_cifar)
    keys = ("val_metric", "test_metric", "train_loss")
    assert [[r[k] for k in keys] for r in zero] == [[r[k] for k in keys] for r in baseline]
    assert zero[0]["warm_flops"] > 0 and baseline[0]["warm_flops"] == 0
    assert nudged[0]["hp.lr"] != baseline[0]["hp.lr"]
    assert nudged[0]["psi0.lr"] == baseline[0]["psi0.lr"] == math.log(0.1)


def test_report_contents(small_cifar) -> None:
    rows = run_trial(spec(), benchmark=small_cifar)
    row = rows[-1]
    assert row["resource"] == 2 and row["metric"] == "accuracy"
    assert 0.0 <= row["val_metric"] <= 1.0 and 0.0 <= row["test_metric"] <= 1.0
    assert row["train_flops"] == 2 * rows[0]["train_flops"] > 0
    assert row["warm_flops"] > 0 and row["compute_seconds"] > rows[0]["compute_seconds"]
    assert row["memory_measure"] == "cpu_peak_rss" and row["peak_memory_bytes"] > 0
    for name in small_cifar.space.continuous_names:
        assert {f"psi0.{name}", f"psi.{name}", f"hp.{name}"} <= row.keys()


def test_a_nan_loss_ends_the_trial_as_diverged(small_cifar, tmp_path) -> None:
    class Exploding(type(small_cifar)):
        calls = 0

        @staticmethod
        def train_loss(forward, batch, hp):
            Exploding.calls += 1
            loss = type(small_cifar).train_loss(forward, batch, hp)
            return loss * float("nan") if Exploding.calls > STEPS + 1 else loss

    benchmark = Exploding(preset="mini", **SMALL)
    # No warm start: its loss evaluations (how many depends on the hyper-gradient method)
    # would move the first NaN (the second unit's second step) out of the second unit.
    no_warm_start = WarmStartSettings(mode="none")
    exploding = spec(max_resource=4, checkpoint_dir=str(tmp_path), warm_start=no_warm_start)
    rows = run_trial(exploding, benchmark=benchmark)
    assert [r["status"] for r in rows] == ["running", "diverged"]
    assert rows[-1]["val_metric"] == benchmark.worst_metric == 0.0
    assert math.isnan(rows[-1]["train_loss"])
    # Resuming a diverged trial trains nothing more.
    again = run_trial(exploding, benchmark=benchmark)
    assert len(again) == 2


def test_the_reporter_can_stop_a_trial(small_cifar) -> None:
    rows = run_trial(spec(max_resource=4), lambda row: row["resource"] < 2, benchmark=small_cifar)
    assert len(rows) == 2


def test_a_checkpoint_of_another_trial_is_refused(small_cifar, tmp_path) -> None:
    run_trial(spec(max_resource=1, checkpoint_dir=str(tmp_path)), benchmark=small_cifar)
    with pytest.raises(ValueError, match="belongs to another trial"):
        run_trial(spec(seed=4, checkpoint_dir=str(tmp_path)), benchmark=small_cifar)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seed": -1}, "`seed` is -1"),
        ({"max_resource": 0}, "`max_resource` is 0"),
        ({"warm_start": {"mode": "sideways"}}, "`mode` is 'sideways'"),
        ({"warm_start": {"objective": "backward"}}, "`objective` is 'backward'"),
    ],
)
def test_bad_specs_name_the_field(change, match) -> None:
    with pytest.raises(ValueError, match=match):
        spec(**change)


def test_unknown_spec_fields_and_bad_configs_are_refused(small_cifar) -> None:
    with pytest.raises(ValueError, match=r"Unknown trial spec field\(s\) \['epochs'\]"):
        TrialSpec.from_dict({**spec().to_dict(), "epochs": 3})
    with pytest.raises(ValueError, match=r"`lr` is 7\.0"):
        run_trial(spec(config={**DEFAULT_CONFIG, "lr": 7.0}), benchmark=small_cifar)
    with pytest.raises(ValueError, match="Unknown benchmark 'mnist'"):
        run_trial(spec(benchmark="mnist"))


def test_the_trial_runs_as_a_process_from_a_spec_file(small_cifar, tmp_path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(max_resource=1).to_dict()))
    # The child sums floats with this process's thread count (an earlier test may change it).
    threads = {"OMP_NUM_THREADS": str(torch.get_num_threads())}
    done = subprocess.run(
        [sys.executable, "-m", "ohgw.cli", "trial", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **threads},
    )
    assert done.returncode == 0, done.stderr
    lines = [
        json.loads(x.split(" ", 1)[1])
        for x in done.stdout.splitlines()
        if x.startswith("[ohgw-report] ")
    ]
    in_process = run_trial(spec(max_resource=1), benchmark=small_cifar)
    assert deterministic(lines) == deterministic(in_process)


def test_a_checkpoint_folder_removed_by_another_shard_is_made_again(
    small_cifar, tmp_path, monkeypatch
) -> None:
    """A shard's pair loop removes the empty checkpoint folders at its end: it could remove
    the folder another shard's trial had just made, before ``torch.save`` wrote into it."""
    from ohgw.study.runner import _remove_empty_folders

    root = tmp_path / "checkpoints"
    folder = root / "baseline" / "3" / "0"
    save = torch.save

    def save_after_the_other_shard_tidied(obj, file, *args, **kwargs):
        _remove_empty_folders(root)
        return save(obj, file, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_after_the_other_shard_tidied)
    baseline = {"warm_start": WarmStartSettings(), "checkpoint_dir": str(folder)}
    run_trial(spec(max_resource=1, **baseline), benchmark=small_cifar)
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.json",
        "checkpoint.pt",
    ]  # no partial file
    seen = []
    run_trial(spec(max_resource=2, **baseline), seen.append, benchmark=small_cifar)
    assert [row["resource"] for row in seen] == [2]  # resumed from the checkpoint
