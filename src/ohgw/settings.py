"""Every study setting, defined once: its name, type, default, legacy default, help and check.

``StudyConfig`` (:mod:`ohgw.study.config`) is built from :data:`SETTINGS`; so are the lines of
``ohgw study --help``, the per-setting checks of :func:`ohgw.study.plan.validate`, the values
an older store ran with (:mod:`ohgw.store.study_dir`) and the simulated clock's defaults. A new
setting is one new ``Setting`` here. This module imports nothing of ohgw: it sits below the
study and the store, which both read it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NO_LEGACY = object()
"""``Setting.legacy`` of a setting that every stored study has (none was stored without it)."""


@dataclass(frozen=True)
class Setting:
    """One study setting.

    ``check`` is true for a good value; a bad one gives "The value of `name` is X, but must be
    ``must``." ``legacy`` is the value a store written before the setting existed ran with (a
    key absent from a stored identity compares equal to it). ``identity``: whether the setting
    binds a study directory. ``secret``: a URL that may hold a password (stored and shown
    redacted, compared without it). ``replaced_by``: a deprecated setting's new name(s).
    """

    name: str
    type: str  # the annotation of the StudyConfig field, as written in Python
    default: Any
    help: str
    check: Callable[[Any], bool] | None = None
    must: str = ""
    legacy: Any = NO_LEGACY
    identity: bool = True
    secret: bool = False
    replaced_by: str | None = None

    def default_value(self) -> Any:
        """The default, a fresh copy for a list or dict (a dataclass field's default_factory)."""
        return copy.deepcopy(self.default)

    def error(self, value: Any) -> str | None:
        """The message for a bad ``value``; None when it passes the check."""
        if self.check is None or self.check(value):
            return None
        return f"The value of `{self.name}` is {value!r}, but must be {self.must}."


def _int(value: Any, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


def _positive(value: Any) -> bool:
    """A number > 0 (infinity included: a budget without end, trials limited otherwise)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value > 0


def _finite_positive(value: Any) -> bool:
    return _positive(value) and value < math.inf


def shard_parts(shard: Any) -> tuple[int, int] | None:
    """``(i, n)`` of a shard ``"i/n"`` with 0 <= i < n; None for a bad one."""
    index, sep, count = str(shard).partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        return None
    return (i, n) if sep and n >= 1 and 0 <= i < n else None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "directory",
        "str",
        "runs/default",
        "the study's folder: results.sqlite, results.csv, report",
        identity=False,  # where the directory is spelled from binds nothing
    ),
    Setting(
        "benchmark",
        "str",
        "cifar10-mini",
        "cifar10-mini, cifar10-full, wikitext-mini or wikitext-full",
    ),  # checked against the benchmark registry by plan.validate
    Setting(
        "scheduler",
        "str",
        "asha",
        "asha (= asha-stopping), asha-promotion, pasha, dyhpo or hyperband",
    ),  # checked by the engine (which schedulers it runs)
    Setting(
        "variants",
        "list[str]",
        ["baseline", "ohgw"],
        "the paired variants, e.g. [baseline,ohgw,'ohgw:eta_h=3e-4']",
    ),  # parsed by ohgw.variants in plan.validate
    Setting(
        "seeds",
        "int",
        3,
        "how many paired seeds",  # first_seed, first_seed + 1, ...
        lambda v: _int(v, 1),
        "an int >= 1",
    ),
    Setting(
        "first_seed",
        "int",
        0,
        "the first of the paired seeds",
        lambda v: _int(v, 0),
        "an int >= 0",
    ),
    Setting(
        "workers",
        "int",
        4,
        "simulated (or real) workers running trials at once",
        lambda v: _int(v, 1),
        "an int >= 1",
    ),
    Setting(
        "budget",
        "float",
        15.0,
        "seconds per (variant, seed): simulated, or wall clock off the simulated engine",
        _positive,
        "> 0",
    ),
    # Once this many trials of a pair have started, the scheduler is asked for nothing more and
    # the pair ends when they stop.
    Setting(
        "max_trials",
        "int | None",
        None,
        "trials per (variant, seed) at most; the pair ends when they stop (none: as many as "
        "the budget allows)",
        lambda v: v is None or _int(v, 1),
        "an int >= 1 or null (no limit but the budget)",
        legacy=None,  # trials were limited by the budget only
    ),
    Setting("max_resource", "int", 9, "units (epochs) a full trial trains"),
    Setting("grace_period", "int", 1, "the scheduler's lowest rung, in units"),
    Setting("reduction_factor", "int", 3, "the spacing of the scheduler's rungs"),
    # Who runs the trials (ohgw.study.engines): "simulated" (FLOP-charged discrete-event clock),
    # "real" (syne-tune local workers), "ray" (Ray Tune on a Ray cluster), "optuna" (Optuna
    # pruners, shared storage) or "packed" (the simulated clock, trials trained in packs).
    Setting(
        "engine",
        "str",
        "simulated",
        "who runs the trials: simulated, real, ray, optuna or packed",
        legacy="simulated",
    ),
    Setting(
        "ray_address",
        "str | None",
        None,
        "engine ray: the cluster's address (none: a local Ray instance)",
        legacy=None,
        secret=True,
    ),
    Setting(
        "optuna_storage",
        "str | None",
        None,
        "engine optuna: a storage URL (none: a journal file in directory); its password is "
        "never stored or shown; give it in $OHGW_OPTUNA_STORAGE_PASSWORD (or a --config file), "
        "not on a command line, which every user can read",
        legacy=None,
        secret=True,
    ),
    Setting(
        "cost",
        "str",
        "flops",
        "simulated engine: flops (deterministic) or measured (compute seconds)",
        lambda v: v in ("flops", "measured"),
        "'flops' or 'measured'",
    ),
    Setting(
        "flops_per_second",
        "float",
        6e10,  # a simulated second is about a real second on the mini presets
        "the simulated machine's speed (6e10: about this 2-core CPU)",
        _positive,
        "> 0",
    ),
    # 1 charges the warm start's FLOPs as counted; a factor measured once
    # (ohgw.measure.warm_charge) makes the charge follow wall time (the counter sees matmuls and
    # convolutions only) and stay deterministic.
    Setting(
        "warm_charge",
        "float",
        1.0,
        "simulated engine: the warm start's FLOPs charged times this (1: as counted)",
        _finite_positive,
        "a finite number > 0 (1 charges the warm start's FLOPs as counted)",
        legacy=1.0,
    ),
    Setting(
        "pack",
        "int",
        8,
        "engine packed: trials trained as one vectorised model",
        lambda v: _int(v, 1),
        "an int >= 1 (engine packed: the trials trained as one model, e.g. pack=32)",
        legacy=8,  # read only by engine=packed, which no older store ran
    ),
    Setting(
        "tau",
        "float | None",
        None,
        "the target of T@tau (none: the benchmark preset's)",
    ),  # its range depends on the metric: checked by plan.validate
    Setting(
        "benchmark_options",
        "dict[str, Any]",
        {},
        "e.g. +benchmark_options={train_size:512}",
    ),
    Setting("device", "str", "cpu", "cpu or cuda"),
    # Float sums depend on the thread count, so a study is bit-reproducible only with the same
    # count (syne-tune's backend import sets OMP_NUM_THREADS=1 for child processes when unset).
    Setting(
        "threads",
        "int",
        0,
        "torch CPU threads (0: torch's default; 1 is best on a busy machine)",
        lambda v: _int(v, 0),
        "an int >= 0",
    ),
    Setting(
        "hypergrad",
        "str",
        "auto",
        "the warm start's hyper-gradient path: auto, lean or graph",
        lambda v: v in ("auto", "lean", "graph"),  # ohgw.hypergrad.METHODS
        "one of ['auto', 'lean', 'graph']",
        legacy="graph",  # a store written before the path was a setting ran the full graph
    ),
    Setting(
        "shard",
        "str",
        "0/1",
        "i/n: run every n-th seed, so n processes share one directory",
        lambda v: shard_parts(v) is not None,
        "'i/n' with 0 <= i < n",
        identity=False,  # which part of the study a process runs
    ),
    Setting("clock", "str | None", None, "old name of engine", replaced_by="engine"),
    Setting(
        "address",
        "str | None",
        None,
        "old name of ray_address / optuna_storage",
        secret=True,
        replaced_by="ray_address / optuna_storage",
    ),
)
"""The study settings, in ``StudyConfig``'s (and ``ohgw study --help``'s) order."""

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}
"""Each setting's default (a shared object for a list or dict: copy it before changing it)."""
LEGACY_DEFAULTS: dict[str, Any] = {s.name: s.legacy for s in SETTINGS if s.legacy is not NO_LEGACY}
"""Settings added after a study could have been stored: the value an older store ran with.

A key absent from a stored identity compares equal to its value here. A new setting whose
default changes what a study computes must give the value the older code ran with."""
NOT_IDENTITY = tuple(s.name for s in SETTINGS if not s.identity)
"""Settings that never bind a directory: where it is spelled from, and which part runs."""
SECRET_SETTINGS = tuple(s.name for s in SETTINGS if s.secret)
"""Settings that may be URLs with a password: stored and shown redacted, compared without it."""
DEPRECATED = tuple(s.name for s in SETTINGS if s.replaced_by)
"""Old settings, read into their new names and never stored."""
RENAMED = {s.name: s.replaced_by for s in SETTINGS if s.replaced_by in BY_NAME}
"""Old setting -> its new name (the old name is still read, with a ``FutureWarning``)."""


def check_settings(values: dict[str, Any]) -> None:
    """A ``ValueError`` naming the first setting of ``values`` that fails its check."""
    for name, value in values.items():
        message = BY_NAME[name].error(value)
        if message is not None:
            raise ValueError(message)


def settings_help() -> str:
    """Every setting with its default and meaning, as ``ohgw study --help`` prints them."""
    lines = ["settings (key=value; defaults in brackets; docs/studies.md has more):"]
    for setting in SETTINGS:
        value = setting.default
        if isinstance(value, list):
            value = "[" + ",".join(map(str, value)) + "]"
        shown = "none" if value is None else str(value).replace(" ", "")
        lines.append(f"  {setting.name:<18} [{shown}] {setting.help}")
    return "\n".join(lines)
