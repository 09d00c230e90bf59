"""Studies on the simulated clock: determinism, every scheduler, pairing, kill and resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from dataclasses import replace

import pytest
import torch

from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.config_files import load_study_config
from ohgw.study.engines.simulated import clock_of
from ohgw.study.engines.simulated import unit_cost
from ohgw.study.pair import MEASURED
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_CIFAR_OVERRIDE
from problems import TINY_FLOPS

TINY = TINY_CIFAR


def tiny_study(directory, **changes) -> StudyConfig:
    settings = {
        "directory": str(directory),
        "benchmark": "cifar10-mini",
        "benchmark_options": TINY,
        "variants": ["baseline", "ohgw"],
        "seeds": 1,
        "workers": 2,
        "budget": 3.0,
        "max_resource": 3,
        "flops_per_second": TINY_FLOPS,
    }
    return StudyConfig(**{**settings, **changes})


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_two_runs_export_byte_identical_tables(tmp_path) -> None:
    first = tiny_study(tmp_path / "a", seeds=2)
    second = tiny_study(tmp_path / "b", seeds=2)
    run_study(first, progress=False, echo=lambda _: None)
    run_study(second, progress=False, echo=lambda _: None)
    a = (tmp_path / "a" / "results.csv").read_bytes()
    b = (tmp_path / "b" / "results.csv").read_bytes()
    assert a == b and a.count(b"\n") > 10
    assert not (tmp_path / "a" / "checkpoints").exists() or not any(
        (tmp_path / "a" / "checkpoints").rglob("*.pt")
    )


@pytest.mark.parametrize(
    ("scheduler", "max_resource"),
    [("asha", 3), ("asha-promotion", 3), ("pasha", 10), ("dyhpo", 3), ("hyperband", 3)],
)
def test_every_scheduler_runs_a_small_study_with_and_without_ohgw(
    tmp_path, scheduler, max_resource
) -> None:
    config = tiny_study(tmp_path, scheduler=scheduler, max_resource=max_resource, budget=2.5)
    table = run_study(config, progress=False, echo=lambda _: None)
    assert set(table) == {"baseline", "ohgw"}
    with Store(tmp_path) as store:
        for label in ("baseline", "ohgw"):
            rows = store.rows(label, 0)
            assert len({r["trial_id"] for r in rows}) >= 2, (scheduler, label)
            assert all(r["time"] <= config.budget for r in rows)
            warm = {r["warm_flops"] for r in rows}
            assert (warm == {0}) == (label == "baseline")
        assert set(store.done()) == {("baseline", 0), ("ohgw", 0)}


def test_max_trials_ends_each_pair_when_its_trials_stop(tmp_path) -> None:
    """Three trials, then the scheduler is asked for nothing more: the pair ends long before
    its budget, with the rows of the first three trials of a run the budget cut short."""
    limited = tiny_study(tmp_path / "limited", budget=1e4, max_trials=3)
    table = run_study(limited, progress=False, echo=lambda _: None)
    unlimited = tiny_study(tmp_path / "unlimited", variants=["baseline"], budget=1.5)
    run_study(unlimited, progress=False, echo=lambda _: None)

    def computed(rows):
        return [{k: v for k, v in r.items() if k not in MEASURED} for r in rows]

    with Store(limited.directory) as store:
        rows, done = store.rows(), store.done()
    with Store(unlimited.directory) as store:
        reference = computed(r for r in store.rows() if r["trial_id"] < 3)
    for label in ("baseline", "ohgw"):
        assert {r["trial_id"] for r in rows if r["variant"] == label} == {0, 1, 2}
        assert done[(label, 0)]["end_time"] < 100 and table[label]["trials"] == 3
    baseline = computed(r for r in rows if r["variant"] == "baseline" and r["time"] <= 1.5)
    assert len(reference) >= 3 and baseline == reference


def test_trial_k_is_paired_across_variants(tmp_path) -> None:
    """Same sampled config and theta_0: with eta_h = 0 every unit's metric is identical."""
    config = tiny_study(
        tmp_path, variants=["baseline", "ohgw:eta_h=0", "ohgw:eta_h=0.05"], budget=2.0
    )
    run_study(config, progress=False, echo=lambda _: None)
    with Store(tmp_path) as store:
        by_variant = {
            label: {(r["trial_id"], r["resource"]): r for r in store.rows(label, 0)}
            for label in config.variants
        }
    base, zero, moved = (by_variant[v] for v in config.variants)
    shared = sorted(set(base) & set(zero))
    assert len(shared) >= 3
    for key in shared:
        assert base[key]["val_metric"] == zero[key]["val_metric"]
        assert base[key]["train_loss"] == zero[key]["train_loss"]
    for trial in {k[0] for k in set(base) & set(moved)}:
        b, m = base[(trial, 1)], moved[(trial, 1)]
        assert {k: v for k, v in b.items() if k.startswith("config.")} == {
            k: v for k, v in m.items() if k.startswith("config.")
        }
        assert b["psi0.lr"] == m["psi0.lr"] and b["psi.lr"] != m["psi.lr"]


def test_a_finished_study_reruns_nothing_and_a_changed_one_is_refused(tmp_path) -> None:
    config = tiny_study(tmp_path)
    run_study(config, progress=False, echo=lambda _: None)
    before = (tmp_path / "results.csv").read_bytes()
    started = time.perf_counter()
    run_study(config, progress=False, echo=lambda _: None)
    assert time.perf_counter() - started < 5
    assert (tmp_path / "results.csv").read_bytes() == before
    with pytest.raises(ValueError, match=r"other settings \(\W*budget"):
        run_study(tiny_study(tmp_path, budget=5.0), progress=False, echo=lambda _: None)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"benchmark": "mnist"}, "`benchmark` is 'mnist'"),
        ({"scheduler": "bohb"}, "`scheduler` is 'bohb'"),
        ({"variants": ["baseline", "ohgw-2step"]}, "Unknown variant 'ohgw-2step'"),
        ({"variants": ["baseline", "baseline"]}, "repeats a variant"),
        ({"variants": ["baseline", "ohgw:eta_h=-1"]}, "`eta_h` is -1.0"),
        ({"variants": ["baseline", "ohgw:steps=0"]}, "`steps` is 0"),
        ({"variants": ["baseline", "ohgw:inner_steps=0"]}, "`inner_steps` is 0"),
        ({"scheduler": "pasha", "max_resource": 9}, "PASHA"),
        ({"seeds": 0}, "`seeds` is 0"),
        ({"workers": -2}, "`workers` is -2"),
        ({"budget": 0}, "`budget` is 0"),
        ({"tau": 1.5}, "`tau` is 1.5, but accuracy can only reach"),
        ({"engine": "wall"}, "`engine` is 'wall'"),
        ({"shard": "2/2"}, "`shard` is '2/2'"),
        ({"shard": "half"}, "`shard` is 'half'"),
        ({"variants": ["baseline", "ohgw:grad_batches=0"]}, "`grad_batches` is 0"),
        ({"variants": ["baseline", "ohgw:mode=normalised"]}, "`mode` is 'normalised'"),
        ({"engine": "optuna", "scheduler": "pasha"}, "with engine=optuna it must be one of"),
        ({"warm_charge": 0}, "`warm_charge` is 0"),
        ({"max_trials": 0}, "`max_trials` is 0"),
        ({"warm_charge": float("inf")}, "`warm_charge` is inf"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, changes, match) -> None:
    directory = tmp_path / "study"
    with pytest.raises(ValueError, match=match):
        run_study(tiny_study(directory, **changes), progress=False, echo=lambda _: None)
    assert not directory.exists()


def test_warm_charge_scales_only_the_warm_starts_flops_in_a_first_unit() -> None:
    """A first unit costs (train + eval + charge x warm FLOPs) / flops_per_second; a later
    unit what it cost before; the study's setting reaches its clock."""
    clock = clock_of(tiny_study("unused", warm_charge=3.0))
    assert (clock.warm_charge, clock.flops_per_second) == (3.0, TINY_FLOPS)
    first = {"train_flops": 4e9, "eval_flops": 1e9, "warm_flops": 2e9}
    second = {"train_flops": 8e9, "eval_flops": 2e9, "warm_flops": 2e9}
    assert unit_cost(first, None, clock) == (5e9 + 3.0 * 2e9) / TINY_FLOPS
    assert unit_cost(second, first, clock) == 5e9 / TINY_FLOPS
    assert unit_cost(first, None, replace(clock, warm_charge=1.0)) == 7e9 / TINY_FLOPS


def test_hydra_overrides_build_the_config_and_name_bad_keys() -> None:
    config = load_study_config(
        ["scheduler=pasha", "variants=[baseline,'ohgw:eta_h=3e-4']", "seeds=4", "workers=2"]
    )
    assert config.scheduler == "pasha" and config.variants == ["baseline", "ohgw:eta_h=3e-4"]
    assert (config.seeds, config.workers) == (4, 2)
    with pytest.raises(ValueError, match="unknown setting `epochs`"):
        load_study_config(["epochs=3"])
    with pytest.raises(ValueError, match="The value of `seeds` is 'many', but must be an inte"):
        load_study_config(["seeds=many"])


@pytest.mark.slow  # tests/test_study_shards.py's simulated case covers the same loop faster
def test_shards_fill_one_directory_with_the_unsharded_table(tmp_path) -> None:
    whole = tiny_study(tmp_path / "whole", seeds=2)
    run_study(whole, progress=False, echo=lambda _: None)
    for shard in ("1/3", "0/3", "2/3"):  # any order; each runs every third (variant, seed)
        part = tiny_study(tmp_path / "sharded", seeds=2, shard=shard)
        run_study(part, progress=False, echo=lambda _: None)
    with Store(tmp_path / "sharded") as store:
        assert len(store.done()) == 4
    expected = (tmp_path / "whole" / "results.csv").read_bytes()
    assert (tmp_path / "sharded" / "results.csv").read_bytes() == expected


def test_a_yaml_file_gives_the_settings_and_overrides_win(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(
        "# a study\n"
        "directory: runs/x\n"
        "variants: [baseline, 'ohgw:mode=normalized,eta_h=0.1', \"it's\"]\n"
        "benchmark_options: {train_size: 256, width: 4}\n"
        "tau: 0.25\n"
        "optuna_storage: null\n"
    )
    config = load_study_config(["seeds=5"], path)
    assert config.variants == ["baseline", "ohgw:mode=normalized,eta_h=0.1", "it's"]
    assert config.benchmark_options == {"train_size": 256, "width": 4}
    assert (config.tau, config.seeds, config.optuna_storage) == (0.25, 5, None)
    assert load_study_config(["tau=0.3"], path).tau == 0.3
    path.write_text("epochs: 3\n")
    with pytest.raises(ValueError, match="unknown setting `epochs`"):
        load_study_config([], path)
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_study_config([], path)
    with pytest.raises(ValueError, match="Cannot read"):
        load_study_config([], tmp_path / "missing.yaml")


def test_the_committed_study_files_are_valid() -> None:
    from pathlib import Path

    from ohgw.study.runner import prepare

    files = sorted((Path(__file__).parent.parent / "studies").glob("*.yaml"))
    assert len(files) >= 6
    for path in files:
        config = load_study_config(["device=cpu"], path)
        study, _ = prepare(config)  # the engine's checks too
        assert config.directory == f"runs/{path.stem}", path.name
        if path.stem.endswith("-pilot"):  # the baseline only, on seeds no study uses
            assert config.variants == ["baseline"], path.name
            assert config.first_seed + config.seeds <= 100, path.name
            continue
        assert study.tau is not None and config.first_seed == 100, path.name
        assert len(study.variants) >= 2 and config.seeds >= 16, path.name


def count_rows(path) -> int:
    try:
        with sqlite3.connect(path) as connection:
            return connection.execute("select count(*) from rows").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow  # tests/test_store.py kills writers of the same store in a tenth of the time
def test_kill_9_and_rerun_loses_and_duplicates_nothing(tmp_path) -> None:
    overrides = [
        "benchmark=cifar10-mini",
        TINY_CIFAR_OVERRIDE,
        "variants=[baseline,ohgw]",
        "seeds=2",
        "workers=2",
        "budget=3",
        "max_resource=3",
        f"flops_per_second={TINY_FLOPS}",
        f"threads={torch.get_num_threads()}",  # sums differ between thread counts
    ]
    reference = tmp_path / "reference"
    run_study(
        load_study_config([*overrides, f"directory={reference}"]),
        progress=False,
        echo=lambda _: None,
    )
    expected = (reference / "results.csv").read_bytes()

    killed = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "ohgw.cli",
        "study",
        *overrides,
        f"directory={killed}",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for threshold in (3, 12):  # kill in the first run, then again in the middle of the second
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 240
        while count_rows(killed / "results.sqlite") < threshold and process.poll() is None:
            assert time.time() < deadline, "the study made no progress"
            time.sleep(0.05)
        assert process.poll() is None, "the study ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (killed / "results.csv").read_bytes() == expected


def test_the_directory_spelling_is_no_part_of_the_identity_and_old_stores_continue(
    tmp_path, monkeypatch
) -> None:
    """A copied study, ``runs/A/``, ``runs/A`` and an absolute path are one study; a store
    written with the old names (clock, address, directory in the identity) is continued."""
    import shutil

    monkeypatch.chdir(tmp_path)
    settings = {"variants": ["baseline"], "budget": 1.0}
    run_study(tiny_study("runs/A", **settings), progress=False, echo=lambda _: None)
    before = (tmp_path / "runs/A/results.csv").read_bytes()
    for spelling in ("runs/A/", str(tmp_path / "runs" / "A"), "./runs/A"):
        lines: list[str] = []
        run_study(tiny_study(spelling, **settings), progress=False, echo=lines.append)
        # no rerun: the pair's line is printed only when it runs
        assert not any("simulated: baseline, seed 0: " in line for line in lines), spelling
    shutil.copytree(tmp_path / "runs/A", tmp_path / "copy")
    run_study(tiny_study("copy", **settings), progress=False, echo=lambda _: None)
    assert (tmp_path / "copy/results.csv").read_bytes() == before
    with Store(tmp_path / "copy") as store:  # as a store of e5c84bf wrote it
        stored = store.get_meta("config")
        old = {k: v for k, v in stored.items() if k not in ("engine", "hypergrad")}
        old.update(clock=stored["engine"], address=None, directory="runs/elsewhere")
        old.pop("ray_address"), old.pop("optuna_storage")
        store.put_meta("config", old)
    # an old store ran the graph path (study_dir.LEGACY_DEFAULTS): continued with it only
    with pytest.raises(ValueError, match="hypergrad"):
        run_study(tiny_study("copy", **settings), progress=False, echo=lambda _: None)
    run_study(tiny_study("copy", hypergrad="graph", **settings), progress=False, echo=len)
    assert (tmp_path / "copy/results.csv").read_bytes() == before
    with pytest.raises(ValueError, match="budget"):
        run_study(tiny_study("copy", variants=["baseline"], budget=2.0, hypergrad="graph"))
