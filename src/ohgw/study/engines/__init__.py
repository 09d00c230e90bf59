"""Study engines: who runs a study's trials. A registry that imports an engine only when asked.

An engine is a plug-in behind :class:`ohgw.study.engines.base.Engine`; a new one is one module
plus one entry in :data:`ENGINES` (``name -> ("module:factory", pip extra or None)``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ohgw._imports import try_import

if TYPE_CHECKING:
    from ohgw.study.engines.base import Engine

ENGINES: dict[str, tuple[str, str | None]] = {
    "simulated": ("ohgw.study.engines.simulated:SimulatedEngine", None),
    "real": ("ohgw.study.engines.realclock:RealClockEngine", None),
    "ray": ("ohgw.study.engines.raytune:RayEngine", "ray"),
    "optuna": ("ohgw.study.engines.optuna_engine:OptunaEngine", "optuna"),
    "packed": ("ohgw.study.engines.packed:PackedEngine", None),
}


def engine_names() -> list[str]:
    """The registered engines (nothing imported)."""
    return list(ENGINES)


def make_engine(name: str) -> Engine:
    """The engine ``name``, its module imported now; a missing extra raises an ``ImportError``
    that says which to install."""
    if name not in ENGINES:
        raise ValueError(f"The value of `engine` is {name!r}, but must be one of {list(ENGINES)}.")
    target, extra = ENGINES[name]
    module, _, factory = target.partition(":")
    with try_import(extra, f"engine={name}"):
        loaded = importlib.import_module(module)
    return getattr(loaded, factory)()
