"""Slurm jobs for ohgw through Hydra's submitit launcher: ``python -m ohgw.slurm [key=value]``.

Three kinds of job (configuration: ``ohgw/conf/slurm/slurm.yaml``, launcher settings in
``ohgw/conf/slurm/hydra/launcher/ohgw_slurm.yaml``):

* ``job=worker`` (default): each job is one worker of an Optuna study: it runs
  ``python -m ohgw.study.optuna_worker``, the same worker that
  ``ohgw study engine=optuna`` runs in its own process, with the ``study`` settings. All jobs
  share the study's trials through its storage and its store directory, so N jobs are N workers
  (a pair's budget is shared by them); the study is done when every job has returned, and
  ``ohgw report DIR`` (or ``ohgw study`` with the same settings) then summarises it.
* ``job=shard``: job ``worker=i`` of ``shards=n`` runs the study's shard ``i/n`` (its share of
  the seeds, every variant of each, any engine) into the shared ``directory``, through
  :func:`run_study_from_env`.
* ``job=trial``: each job runs the standalone trial runner ``ohgw trial SPEC.json``.

The command a job runs is :func:`job_command`; it is built (and the study settings checked)
when the job starts, and run as a child process so a crash of the trainer is the job's exit
code. ``hydra/launcher=submitit_local`` runs the same jobs as local processes.

The study's settings reach that command through its environment (``$OHGW_STUDY_CONFIG``), and a
storage password through ``$OHGW_OPTUNA_STORAGE_PASSWORD``: a command line is readable by every
user of the node. Hydra and submitit write the settings into ``study.directory/slurm/``, so a
password in ``study.optuna_storage`` is refused before anything is submitted: export the
variable instead (Slurm passes the submitting environment to the jobs).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ohgw.storage_url import PASSWORD_ENV
from ohgw.storage_url import holds_password
from ohgw.storage_url import redact
from ohgw.study.config import StudyConfig
from ohgw.study.config import child_env

JOBS = ("worker", "shard", "trial")
RUN_STUDY = "import sys; from ohgw.slurm import run_study_from_env; sys.exit(run_study_from_env())"
_STORAGE_OVERRIDE = re.compile(r"^[+~]*study\.optuna_storage=(?P<url>.*)$")


@dataclass(frozen=True)
class JobCommand:
    """What one job runs: a command line that holds no setting and no secret, and what it adds
    to the environment (the study's settings and a storage password, :func:`child_env`)."""

    argv: list[str]
    env: dict[str, str]


def register_schema() -> None:
    """Register the ``study`` block's schema with Hydra (before composing the app's config):
    every StudyConfig field can be overridden (study.seeds=8), and an unknown or mistyped one
    is an error when the config is composed."""
    ConfigStore.instance().store(group="study", name="ohgw", node=StudyConfig)


def study_config(study: Any, base: str | Path | None = None) -> StudyConfig:
    """The ``study`` block as a ``StudyConfig`` (schema-checked), ``directory`` made absolute.

    ``base``: the folder a relative ``directory`` is taken from (default: Hydra's original
    working directory, i.e. where the jobs were submitted).
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(StudyConfig), study or {})
    except OmegaConfBaseException as error:
        raise ValueError(f"Bad `study` setting: {error}".replace("\n", " ")) from None
    config = StudyConfig.from_dict(OmegaConf.to_container(merged, resolve=True))
    if base is None:
        config.directory = to_absolute_path(config.directory)
    else:
        config.directory = str(Path(base, config.directory).resolve())
    return config


def job_command(cfg: DictConfig | dict[str, Any], base: str | Path | None = None) -> JobCommand:
    """The command one job runs, from the app's configuration; a ``ValueError`` names a bad
    setting. A study job's settings go in its environment (:func:`child_env`), not its argv."""
    job = cfg["job"]
    if job == "trial":
        if not cfg.get("spec"):
            raise ValueError("The value of `spec` is empty, but job=trial needs a TrialSpec JSON.")
        spec = Path(base, cfg["spec"]) if base is not None else Path(to_absolute_path(cfg["spec"]))
        return JobCommand([sys.executable, "-m", "ohgw.cli", "trial", str(spec.resolve())], {})
    if job not in JOBS:
        raise ValueError(f"The value of `job` is {job!r}, but must be one of {list(JOBS)}.")
    config = study_config(cfg["study"], base)
    if job == "shard":
        shards, index = cfg.get("shards"), cfg.get("worker")
        for name, value, low in (("shards", shards, 1), ("worker", index, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"The value of `{name}` is {value!r}, but must be an int >= {low}."
                )
        if index >= shards:
            raise ValueError(
                f"The value of `worker` is {index}, but must be below shards={shards}."
            )
        config.shard = f"{index}/{shards}"
        return JobCommand([sys.executable, "-c", RUN_STUDY], child_env(config))
    if config.engine != "optuna":
        raise ValueError(
            f"The value of `study.engine` is {config.engine!r}, but worker jobs share an Optuna "
            "study: it must be 'optuna'."
        )
    from ohgw.study.engines.optuna_engine import WORKER_MODULE
    from ohgw.study.engines.optuna_engine import check_settings

    check_settings(config)
    return JobCommand([sys.executable, "-m", WORKER_MODULE], child_env(config))


def run_study_from_env() -> int:
    """Run (or continue) the study whose settings ``$OHGW_STUDY_CONFIG`` holds; no report (the
    shards may still be running: ``ohgw report DIR`` once all are done)."""
    from ohgw.study.config import config_from_env
    from ohgw.study.runner import run_study

    run_study(config_from_env(), progress=False)
    return 0


@hydra.main(version_base="1.3", config_path="conf/slurm", config_name="slurm")
def run_job(cfg: DictConfig) -> int:
    """One job: run its command; its exit status is the job's (a failure raises)."""
    command = job_command(cfg)
    print("ohgw job:", " ".join(command.argv), flush=True)
    subprocess.run(command.argv, env={**os.environ, **command.env}, check=True)
    record_accounting(cfg)
    return 0


def record_accounting(cfg: DictConfig | dict[str, Any]) -> None:
    """A study's job (worker or shard) records its allocation's GPU-seconds from ``sacct`` in the
    study's store (``ohgw.slurm_accounting``); outside Slurm (no ``SLURM_JOB_ID``) nothing."""
    job_id = os.environ.get("SLURM_JOB_ID")
    if cfg["job"] == "trial" or not job_id:
        return
    from ohgw.slurm_accounting import record_job

    record_job(study_config(cfg["study"]).directory, job_id)


def refuse_passwords(overrides: list[str]) -> None:
    """A ``ValueError`` for a ``study.optuna_storage`` override that holds a password: Hydra and
    submitit would write it into ``study.directory/slurm/``."""
    for override in overrides:
        found = _STORAGE_OVERRIDE.match(override)
        if found is not None and holds_password(found["url"]):
            raise ValueError(
                f"The value of `study.optuna_storage` is {redact(found['url'])}, with its "
                "password: Hydra and submitit would write it into study.directory/slurm/. Give "
                f"the URL without it and export {PASSWORD_ENV} (the jobs inherit it)."
            )


def main() -> None:
    """``python -m ohgw.slurm [key=value ...]``: the schema registered, then Hydra's app."""
    try:
        refuse_passwords(sys.argv[1:])
    except ValueError as error:
        print(f"ohgw slurm: error: {error}", file=sys.stderr)
        sys.exit(2)
    register_schema()
    run_job()


if __name__ == "__main__":
    main()
