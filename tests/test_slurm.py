"""The Slurm app: its composed Hydra config, the sbatch script submitit would write, the command
of each job, and one real job through submitit's local executor. No Slurm cluster here."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import submitit
from hydra import compose
from hydra import initialize_config_module
from hydra.core.utils import setup_globals
from hydra.errors import ConfigCompositionException
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from omegaconf import DictConfig
from omegaconf import OmegaConf

from ohgw import slurm
from ohgw.study.config import StudyConfig
from problems import TINY_CIFAR

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = [
    "hydra.launcher.partition=gpu",
    "hydra.launcher.account=hpo",
    "hydra.launcher.timeout_min=240",
    "hydra.launcher.gpus_per_node=1",
    "hydra.launcher.cpus_per_task=8",
    "study.optuna_storage=postgresql://ohgw@db.example/ohgw",
    "study.directory=/shared/runs/cifar",
    "study.device=cuda",
]


def _compose(overrides: list[str]) -> DictConfig:
    setup_globals()  # Hydra's resolvers (${now:...}), as a Hydra app registers them
    slurm.register_schema()  # the `study` block's schema, as `python -m ohgw.slurm` does
    with initialize_config_module("ohgw.conf.slurm", version_base="1.3"):
        return compose("slurm", overrides=overrides, return_hydra_config=True)


@pytest.fixture
def fake_srun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An ``srun`` on PATH: submitit's Slurm executor refuses to build without one. It is never
    called: only the sbatch text is generated."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield


def _sbatch(cfg: DictConfig, folder: Path) -> str:
    """The sbatch script of one job, built the way hydra-submitit-launcher 1.2.0 builds its
    executor (``SlurmLauncher.launch``) from the composed ``hydra.launcher``."""
    params: dict[str, Any] = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    params.pop("submitit_folder")
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=folder, slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    return executor._executor._make_submission_file_text("python -u -m job", "uid")


def test_the_default_launcher_is_slurm_with_the_cluster_settings() -> None:
    cfg = _compose(CLUSTER)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == (
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    )
    assert (launcher.partition, launcher.account) == ("gpu", "hpo")
    assert (launcher.timeout_min, launcher.gpus_per_node, launcher.cpus_per_task) == (240, 1, 8)
    assert (launcher.nodes, launcher.tasks_per_node, launcher.mem_gb) == (1, 1, 16)
    assert launcher.name == "ohgw-worker"
    assert list(launcher.setup) == ["export OMP_NUM_THREADS=8"]
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params == {"worker": "range(0,4)"}
    assert str(cfg.hydra.sweep.dir).startswith("/shared/runs/cifar/slurm/")


def test_the_sbatch_script_has_the_settings(fake_srun: None, tmp_path: Path) -> None:
    text = _sbatch(_compose(CLUSTER), tmp_path / "submitit")
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --account=hpo",
        "#SBATCH --time=240",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --mem=16GB",
        "#SBATCH --job-name=ohgw-worker",
        "export OMP_NUM_THREADS=8",
    ):
        assert line in text.splitlines(), (line, text)
    assert "python -u -m job" in text


def test_a_worker_job_runs_one_optuna_worker_of_the_study() -> None:
    cfg = _compose([*CLUSTER, "study.seeds=5", "study.budget=600"])
    command = slurm.job_command(cfg)
    # the settings go in the environment: a command line is readable by every user
    assert command.argv == [sys.executable, "-m", "ohgw.study.optuna_worker"]
    config = StudyConfig.from_dict(json.loads(command.env["OHGW_STUDY_CONFIG"]))
    assert config.engine == "optuna"
    assert config.optuna_storage == "postgresql://ohgw@db.example/ohgw"
    assert config.directory == "/shared/runs/cifar"
    assert (config.seeds, config.budget, config.workers, config.device) == (5, 600, 1, "cuda")
    # Every job of the sweep runs the same study: they are workers of it.
    other = _compose([*CLUSTER, "study.seeds=5", "study.budget=600", "worker=3"])
    assert slurm.job_command(other) == command


def test_a_password_reaches_the_job_through_its_environment_and_never_its_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OHGW_OPTUNA_STORAGE_PASSWORD", "s3cret")
    command = slurm.job_command(_compose(CLUSTER))
    assert command.env["OHGW_OPTUNA_STORAGE_PASSWORD"] == "s3cret"
    assert "s3cret" not in " ".join(command.argv) + command.env["OHGW_STUDY_CONFIG"]
    # Hydra and submitit write the overrides into study.directory/slurm/: refused before
    monkeypatch.setattr(
        sys, "argv", ["ohgw.slurm", "study.optuna_storage=postgresql://u:s3cret@h/d"]
    )
    with pytest.raises(SystemExit) as stopped:
        slurm.main()
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "s3cret" not in err
    assert (
        "postgresql://u:***@h/d, with its password" in err
        and "OHGW_OPTUNA_STORAGE_PASSWORD" in err
    )


def test_shard_and_trial_jobs(tmp_path: Path) -> None:
    cfg = _compose(["job=shard", "shards=4", "worker=2", "study.engine=simulated"])
    command = slurm.job_command(cfg, base=tmp_path)
    assert command.argv == [sys.executable, "-c", slurm.RUN_STUDY]
    config = StudyConfig.from_dict(json.loads(command.env["OHGW_STUDY_CONFIG"]))
    assert (config.shard, config.engine) == ("2/4", "simulated")
    assert config.directory == str(tmp_path / "runs" / "slurm")
    trial = slurm.job_command(_compose(["job=trial", "spec=specs/t0.json"]), base=tmp_path)
    assert trial.argv == [
        sys.executable,
        "-m",
        "ohgw.cli",
        "trial",
        str(tmp_path / "specs/t0.json"),
    ]
    assert trial.env == {}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["job=nope"], "`job`"),
        (["job=trial"], "`spec`"),
        (["study.engine=simulated"], "`study.engine`"),
        (["study.optuna_storage=not-a-url"], "`optuna_storage`"),
        (["job=shard", "shards=2", "worker=2"], "`worker`"),
    ],
)
def test_bad_settings_are_named(overrides: list[str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        slurm.job_command(_compose(overrides))


def test_an_unknown_study_setting_fails_when_composed() -> None:
    with pytest.raises(ConfigCompositionException, match="colour"):
        _compose(["study.colour=red"])
    with pytest.raises(ConfigCompositionException, match="seeds"):
        _compose(["study.seeds=many"])


@pytest.mark.slow  # 27 s of CPU; the default tier runs a trial process in test_trial.py
def test_a_trial_job_runs_through_submitit_local(tmp_path: Path) -> None:
    """The same app with ``hydra/launcher=submitit_local``: a real submitit job (a process)
    runs ``ohgw trial SPEC.json`` for a one-unit trial."""
    spec = {
        "benchmark": "cifar10-mini",
        "config": {
            "lr": 0.05,
            "weight_decay": 5e-4,
            "momentum": 0.9,
            "aug_magnitude": 0.1,
            "label_smoothing": 0.1,
        },
        "seed": 3,
        "max_resource": 1,
        "warm_start": {"mode": "gradient", "eta_h": 1e-3},
        "benchmark_options": TINY_CIFAR,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ohgw.slurm",
            "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=5",
            "job=trial",
            "spec=spec.json",
            "worker=0",
            f"study.directory={tmp_path}",
        ],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    logs = list((tmp_path / "slurm").glob("*/.submitit/*/*_log.out"))
    assert len(logs) == 1, result.stdout + result.stderr
    reports = [
        json.loads(line.removeprefix("[ohgw-report] "))
        for line in logs[0].read_text().splitlines()
        if line.startswith("[ohgw-report] ")
    ]
    assert [r["resource"] for r in reports] == [1]
    assert reports[0]["warm_flops"] > 0 and 0 <= reports[0]["val_metric"] <= 1
