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
from dataclasses import field
from dataclasses import fields
from dataclasses import make_dataclass
from typing import Any

from ohgw.settings import BY_NAME
from ohgw.settings import DEPRECATED
from ohgw.settings import NOT_IDENTITY
from ohgw.settings import SETTINGS
from ohgw.settings import shard_parts
from ohgw.storage_url import PASSWORD_ENV
from ohgw.storage_url import password
from ohgw.storage_url import redact
from ohgw.store.study_dir import redacted_settings
from ohgw.store.study_dir import split_address

SCHEDULER_ALIASES = {"asha": "asha-stopping"}
CONFIG_ENV = "OHGW_STUDY_CONFIG"
"""The environment variable that hands a child process the study's settings (JSON)."""


class _StudyConfigMethods:
    """What a ``StudyConfig`` does; its fields come from :data:`ohgw.settings.SETTINGS`."""

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
        parts = shard_parts(self.shard)
        if parts is None:
            raise ValueError(BY_NAME["shard"].error(self.shard))
        return parts

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


StudyConfig = make_dataclass(
    "StudyConfig",
    [
        (s.name, s.type, field(default_factory=s.default_value))
        if isinstance(s.default, (list, dict))
        else (s.name, s.type, field(default=s.default))
        for s in SETTINGS
    ],
    bases=(_StudyConfigMethods,),
    namespace={"__module__": __name__},  # pickles and resolves its annotations here
)
StudyConfig.__doc__ = """A study's settings, one field per :data:`ohgw.settings.SETTINGS` entry
(its default, help and check there); the defaults are the README's main job."""


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
