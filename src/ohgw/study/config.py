"""A study's settings: ``StudyConfig``, what binds a directory to it, and the renamed settings.

``ohgw study key=value ...`` builds one from Hydra overrides on top of an optional YAML file
(:mod:`ohgw.study.config_files`); :func:`ohgw.study.plan.validate` checks it before anything
runs. Renamed settings are still read: ``clock`` is now ``engine``, ``address`` is
``ray_address`` (engine ray) or ``optuna_storage`` (engine optuna); each gives a
``FutureWarning`` naming the new key.

A storage URL's password is never part of what a directory is bound to, nor shown
(:mod:`ohgw.storage_url`); a child process gets the settings and the password through its
environment (:func:`child_env`), never through its command line.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from typing import Any

from ohgw.storage_url import PASSWORD_ENV
from ohgw.storage_url import password
from ohgw.storage_url import redact
from ohgw.study_dir import NOT_IDENTITY
from ohgw.study_dir import redacted_settings
from ohgw.study_dir import split_address

SCHEDULER_ALIASES = {"asha": "asha-stopping"}
DEPRECATED = ("clock", "address")
"""Old settings, read into their new names and never stored."""
CONFIG_ENV = "OHGW_STUDY_CONFIG"
"""The environment variable that hands a child process the study's settings (JSON)."""


@dataclass
class StudyConfig:
    """A study's settings; the defaults are the README's main job."""

    directory: str = "runs/default"
    benchmark: str = "cifar10-mini"
    scheduler: str = "asha"  # asha (= asha-stopping), asha-promotion, pasha, dyhpo, hyperband
    variants: list[str] = field(default_factory=lambda: ["baseline", "ohgw"])
    seeds: int = 3  # paired seeds first_seed, first_seed + 1, ...
    first_seed: int = 0
    workers: int = 4
    budget: float = 15.0  # simulated seconds per (variant, seed)
    # At most this many trials per (variant, seed): once they have started, the scheduler is
    # asked for nothing more and the pair ends when they stop (None: as many as fit the budget).
    max_trials: int | None = None
    max_resource: int = 9  # units (epochs) a trial may train
    grace_period: int = 1
    reduction_factor: int = 3
    # Who runs the trials (ohgw.study.engines): "simulated" (FLOP-charged discrete-event
    # clock), "real" (syne-tune local workers), "ray" (Ray Tune on a Ray cluster) or "optuna"
    # (Optuna pruners, shared storage).
    engine: str = "simulated"
    ray_address: str | None = None  # engine ray: the cluster's address (None: a local one)
    # engine optuna: the storage URL (None: a journal file in the study directory)
    optuna_storage: str | None = None
    cost: str = "flops"  # simulated engine: "flops" (deterministic) or "measured"
    flops_per_second: float = 6e10  # a simulated second is about a real second here (mini)
    # simulated engine, cost flops: the warm start's FLOPs are charged times this factor. 1
    # charges them as counted; a factor measured once (ohgw.measure.warm_charge) makes the charge
    # follow wall time (the counter sees matmuls and convolutions only) and stay deterministic.
    warm_charge: float = 1.0
    pack: int = 8  # engine packed: trials trained as one vectorised model (docs/studies.md)
    tau: float | None = None  # T@tau's target; None: the benchmark preset's (fixed in advance)
    benchmark_options: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    # CPU threads for torch (0: torch's default). Float sums depend on the thread count, so a
    # study is bit-reproducible only with the same count (syne-tune's backend import sets
    # OMP_NUM_THREADS=1 for child processes when it is unset).
    threads: int = 0
    # The warm start's hyper-gradient path for every variant: "auto", "lean" or "graph".
    hypergrad: str = "auto"
    # "i/n": run only the seeds seed_list[i::n] (each seed's pairs together), so that n
    # processes (or Slurm array jobs) share one study directory; not part of the identity.
    shard: str = "0/1"
    clock: str | None = None  # deprecated: `engine`
    address: str | None = None  # deprecated: `ray_address` or `optuna_storage`

    def __post_init__(self) -> None:
        if self.clock is not None:
            warnings.warn(
                "The study setting `clock` is renamed `engine`: write "
                f"`engine={self.clock}` (`clock` will be removed).",
                FutureWarning,
                stacklevel=3,
            )
            if self.engine not in ("simulated", self.clock):
                raise ValueError(
                    f"The value of `clock` is {self.clock!r} and of `engine` {self.engine!r}; "
                    "`clock` is the old name of `engine`: give only `engine`."
                )
            self.engine, self.clock = self.clock, None
        if self.address is not None:
            target = {"ray": "ray_address", "optuna": "optuna_storage"}.get(self.engine)
            warnings.warn(
                "The study setting `address` is split into `ray_address` (engine ray) and "
                f"`optuna_storage` (engine optuna): write `{target or 'ray_address'}="
                f"{redact(self.address)}`"
                + ("" if target else f" (engine {self.engine} ignores it)"),
                FutureWarning,
                stacklevel=3,
            )
            moved = split_address({"engine": self.engine, "address": self.address})
            for key, value in moved.items():
                if key != "engine":
                    if getattr(self, key) not in (None, value):
                        raise ValueError(
                            f"The value of `address` is {self.address!r} and of `{key}` "
                            f"{getattr(self, key)!r}; give only `{key}`."
                        )
                    setattr(self, key, value)
            self.address = None

    def to_dict(self) -> dict[str, Any]:
        """The settings in today's names (the deprecated keys, always None, left out)."""
        out = asdict(self)
        for key in DEPRECATED:
            out.pop(key)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown study setting(s) {unknown}; known: {sorted(known)}.")
        return cls(**data)

    @property
    def scheduler_name(self) -> str:
        return SCHEDULER_ALIASES.get(self.scheduler, self.scheduler)

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def shard_index(self) -> tuple[int, int]:
        """``(i, n)`` of ``shard``; a ``ValueError`` names a bad one."""
        index, sep, count = str(self.shard).partition("/")
        try:
            i, n = int(index), int(count)
        except ValueError:
            i, n = -1, 0
        if not sep or n < 1 or not 0 <= i < n:
            raise ValueError(
                f"The value of `shard` is {self.shard!r}, but must be 'i/n' with 0 <= i < n."
            )
        return i, n

    @property
    def shard_seeds(self) -> list[int]:
        """The seeds this shard runs: every n-th seed from the i-th (round-robin)."""
        i, n = self.shard_index
        return self.seed_list[i::n]

    def identity(self, tau: float | None) -> dict[str, Any]:
        """The settings a study directory is bound to, with ``tau`` resolved (the preset's
        when unset): all but where the directory is spelled from and the shard, a storage
        URL's password masked (``postgresql://ohgw:***@host/db``)."""
        out = redacted_settings(self.to_dict())
        for key in NOT_IDENTITY:
            out.pop(key)
        out["tau"] = tau
        return out


def child_env(config: StudyConfig) -> dict[str, str]:
    """The environment that hands ``config`` to a child process (an Optuna worker, a Slurm
    job's command): the settings as JSON in ``OHGW_STUDY_CONFIG``, the storage URL's password
    masked there and given in ``OHGW_OPTUNA_STORAGE_PASSWORD``. Only the user can read a
    process's environment; every user can read its command line."""
    data = config.to_dict()
    secret = password(data["optuna_storage"]) if data["optuna_storage"] else None
    env = {CONFIG_ENV: json.dumps(redacted_settings(data))}
    if secret is not None:
        env[PASSWORD_ENV] = secret
    return env


def config_from_env() -> StudyConfig:
    """The settings :func:`child_env` handed this process; a ``ValueError`` when none were."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ValueError(
            f"No study settings were handed to this process: {CONFIG_ENV} is unset (`ohgw "
            "study` and `python -m ohgw.slurm` set it for the processes they start)."
        )
    return StudyConfig.from_dict(json.loads(text))
