"""The Optuna engine's pairing: storage, and the sampler and pruner that keep variants paired.

Trial ``k`` of seed ``s`` gets the configuration ``space.sample(trial_seed(s, k))`` in every
variant (a sampler that reads it from the trial number, which the storage hands out atomically,
so two processes never give one number two configurations) and, under Hyperband, the same
bracket (hashed from the seed and the number, not the study name).
"""

from __future__ import annotations

import time
import types
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.pruners import HyperbandPruner
from optuna.pruners import SuccessiveHalvingPruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.storages import JournalStorage
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial

from ohgw._imports import EXTRAS
from ohgw.space import Categorical
from ohgw.space import Continuous
from ohgw.space import SearchSpace
from ohgw.storage_url import PASSWORD_ENV
from ohgw.storage_url import connect_url
from ohgw.storage_url import hide
from ohgw.storage_url import password
from ohgw.storage_url import redact
from ohgw.study.config import StudyConfig
from ohgw.study.pair import trial_seed

JOURNAL_FILE = "optuna.journal"
"""The default storage, in the study directory."""
_CREATE_TRIES = 5  # opening a new database that other processes are setting up at once


def open_storage(config: StudyConfig) -> BaseStorage:
    """The shared Optuna storage: ``optuna_storage`` or the study directory's journal file.

    A database URL connects with its password, or with ``$OHGW_OPTUNA_STORAGE_PASSWORD``
    (:mod:`ohgw.storage_url`); a storage that cannot be opened is a one-line ``ValueError``
    naming the URL with its password masked (never the password)."""
    if config.optuna_storage is None:
        path = Path(config.directory) / JOURNAL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    url = str(config.optuna_storage)
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # wait for the writer lock
    check_driver(url)
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.exc import ProgrammingError

    for attempt in range(_CREATE_TRIES):
        try:
            return RDBStorage(connect_url(url), **kwargs)
        except (IntegrityError, ProgrammingError) as error:
            # Processes creating Optuna's tables in a new database at once: one wins ("already
            # exists", "duplicate key ... pg_type_typname_nsp_index"); the others find them.
            failed: Exception = error
            time.sleep(0.5 * (attempt + 1))
        except Exception as error:  # SQLAlchemy's errors: no server, no authentication, ...
            failed = error
            break
    lines = str(failed).strip().splitlines() or [type(failed).__name__]
    raise ValueError(
        f"The Optuna storage {redact(url)} could not be opened: "
        f"{hide(lines[0], password(url))}. Check the URL, that the server runs and this "
        f"machine reaches it, and the password (in the URL or in {PASSWORD_ENV})."
    ) from None


def check_driver(url: str) -> None:
    """An ``ImportError`` in one line when the database driver of ``url`` is not installed,
    naming the extra (``ohgw[postgresql]``) or the package to install; a URL SQLAlchemy cannot
    read is a ``ValueError``. Nothing connects."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError
    from sqlalchemy.exc import NoSuchModuleError

    try:
        create_engine(redact(url)).dispose()  # imports the driver; connects only when used
    except ModuleNotFoundError as error:
        module = (error.name or "a module").partition(".")[0]
        extra = next((e for e, modules in EXTRAS.items() if module in modules), None)
        how = (
            f"install `ohgw[{extra}]` (pip install 'ohgw[{extra}]')"
            if extra
            else "install the package that provides it"
        )
        raise ImportError(
            f"The Optuna storage {redact(url)} needs the database driver `{module}`, which is "
            f"not installed: {how}."
        ) from None
    except (ArgumentError, NoSuchModuleError) as error:
        raise ValueError(
            f"The value of `optuna_storage` is {redact(url)}, which SQLAlchemy cannot use: "
            f"{hide(str(error).splitlines()[0], password(url))}."
        ) from None


def study_name(label: str, seed: int, attempt: int) -> str:
    """The Optuna study of one attempt at (variant, seed)."""
    return f"ohgw|{label}|seed={seed}|attempt={attempt}"


class PairedSampler(BaseSampler):
    """Trial ``k`` gets ``space.sample(trial_seed(seed, k))``, in every variant and process.

    The storage numbers trials atomically, so each number, and with it each configuration, is
    taken exactly once per study, however many processes ask.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.seed = seed

    def config(self, number: int) -> dict[str, Any]:
        return self.space.sample(trial_seed(self.seed, number))

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: Any, trial: FrozenTrial, param_name: str, param_distribution: Any
    ) -> Any:
        return self.config(trial.number)[param_name]


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """The trial's configuration, recorded as Optuna parameters with the space's bounds."""
    config = {}
    for hp in space.hyperparameters:
        if isinstance(hp, Continuous):
            value = trial.suggest_float(hp.name, hp.low, hp.high, log=hp.transform == "log")
        elif isinstance(hp, Categorical):
            value = trial.suggest_categorical(hp.name, hp.choices)
        else:
            value = trial.suggest_int(hp.name, hp.low, hp.high)
        config[hp.name] = value
    return config


class PairedHyperbandPruner(HyperbandPruner):
    """``HyperbandPruner`` whose bracket of trial ``k`` depends on the seed, not on the study.

    Optuna hashes the study name and trial number into a bracket; the study names differ per
    variant, so trial ``k`` would get other brackets (other rungs) in each variant. Only the
    hash's input is changed; the brackets and their sizes are Optuna's.
    """

    def __init__(self, seed: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._paired = types.SimpleNamespace(study_name=f"ohgw-seed={seed}")

    def _get_bracket_id(self, study: Any, trial: FrozenTrial) -> int:
        return super()._get_bracket_id(self._paired, trial)


def make_pruner(config: StudyConfig, seed: int) -> BasePruner:
    """The study's pruner: successive halving (``asha``) or Hyperband."""
    if config.scheduler == "asha":
        return SuccessiveHalvingPruner(
            min_resource=config.grace_period, reduction_factor=config.reduction_factor
        )
    return PairedHyperbandPruner(
        seed,
        min_resource=config.grace_period,
        max_resource=config.max_resource,
        reduction_factor=config.reduction_factor,
    )
