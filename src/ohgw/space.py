"""Search spaces: hyperparameters, their bounds, and the unconstrained coordinates psi.

The warm start moves only the continuous hyperparameters, and it moves them in psi: the
log of a log-scaled value, the value itself for a linear one. Discrete hyperparameters are
carried through untouched (the paper: only continuous psi move).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import Literal

import numpy as np
import torch

Transform = Literal["linear", "log"]


@dataclass(frozen=True)
class Continuous:
    """A real hyperparameter in ``[low, high]``, moved by the warm start in psi coordinates.

    Args:
        name: the key of this hyperparameter in a config dict.
        low: the lower bound (inclusive).
        high: the upper bound (inclusive), strictly above ``low``.
        transform: ``"log"`` (psi = log(value); needs ``low > 0``) or ``"linear"`` (psi = value).
    """

    name: str
    low: float
    high: float
    transform: Transform = "linear"

    def __post_init__(self) -> None:
        _check_name(self.name)
        for field in ("low", "high"):
            value = getattr(self, field)
            if not _is_real(value) or not math.isfinite(value):
                raise TypeError(
                    f"The `{field}` bound of `{self.name}` is {value!r}, "
                    "but must be a finite real."
                )
        if self.transform not in ("linear", "log"):
            raise ValueError(
                f"The transform of `{self.name}` is {self.transform!r}, "
                "but must be 'linear' or 'log'."
            )
        if not self.low < self.high:
            raise ValueError(
                f"The bounds of `{self.name}` are inverted or empty: low={self.low} must be "
                f"below high={self.high}."
            )
        if self.transform == "log" and self.low <= 0:
            raise ValueError(
                f"The lower bound of `{self.name}` is {self.low}, "
                "but a log transform needs low > 0."
            )

    def to_psi(self, value: float) -> float:
        """The unconstrained coordinate of ``value``."""
        return math.log(value) if self.transform == "log" else float(value)

    def from_psi(self, psi: float) -> float:
        """The value at coordinate ``psi`` (no clipping)."""
        return math.exp(psi) if self.transform == "log" else float(psi)

    @property
    def psi_bounds(self) -> tuple[float, float]:
        return self.to_psi(self.low), self.to_psi(self.high)

    def validate(self, value: Any) -> None:
        if not _is_real(value):
            raise TypeError(f"The value of `{self.name}` is {value!r}, but must be a real number.")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"The value of `{self.name}` is {value}, but must be in [{self.low}, {self.high}]."
            )

    def sample(self, rng: np.random.Generator) -> float:
        low, high = self.psi_bounds
        return min(max(self.from_psi(rng.uniform(low, high)), self.low), self.high)


@dataclass(frozen=True)
class Integer:
    """An integer hyperparameter in ``[low, high]``; never moved by the warm start."""

    name: str
    low: int
    high: int

    def __post_init__(self) -> None:
        _check_name(self.name)
        for field in ("low", "high"):
            value = getattr(self, field)
            if not _is_int(value):
                raise TypeError(
                    f"The `{field}` bound of `{self.name}` is {value!r}, but must be an integer."
                )
        if not self.low <= self.high:
            raise ValueError(
                f"The bounds of `{self.name}` are inverted: low={self.low} must not exceed "
                f"high={self.high}."
            )

    def validate(self, value: Any) -> None:
        if not _is_int(value):
            raise TypeError(f"The value of `{self.name}` is {value!r}, but must be an integer.")
        if not self.low <= value <= self.high:
            raise ValueError(
                f"The value of `{self.name}` is {value}, but must be in [{self.low}, {self.high}]."
            )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Categorical:
    """A hyperparameter with a finite set of choices; never moved by the warm start."""

    name: str
    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        _check_name(self.name)
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ValueError(f"The choices of `{self.name}` are empty.")

    def validate(self, value: Any) -> None:
        if value not in self.choices:
            raise ValueError(
                f"The value of `{self.name}` is {value!r}, "
                f"but must be one of {list(self.choices)}."
            )

    def sample(self, rng: np.random.Generator) -> Any:
        return self.choices[int(rng.integers(len(self.choices)))]


Hyperparameter = Continuous | Integer | Categorical


class SearchSpace:
    """An ordered set of hyperparameters.

    The continuous ones, in declaration order, are the coordinates of psi.

    Example:
        >>> space = SearchSpace([Continuous("lr", 1e-3, 1.0, "log"), Categorical("opt", ["sgd"])])
        >>> config = space.sample(seed=0)
        >>> space.from_psi(space.to_psi(config), config) == config
        True
    """

    def __init__(self, hyperparameters: Sequence[Hyperparameter]) -> None:
        names = [hp.name for hp in hyperparameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Hyperparameter names must be unique; repeated: {duplicates}.")
        self.hyperparameters: tuple[Hyperparameter, ...] = tuple(hyperparameters)
        self._by_name = {hp.name: hp for hp in self.hyperparameters}
        self.continuous: tuple[Continuous, ...] = tuple(
            hp for hp in self.hyperparameters if isinstance(hp, Continuous)
        )

    def __getitem__(self, name: str) -> Hyperparameter:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.hyperparameters)!r})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    @property
    def continuous_names(self) -> tuple[str, ...]:
        """The names of the psi coordinates, in order."""
        return tuple(hp.name for hp in self.continuous)

    def validate(self, config: Mapping[str, Any], *, allow_extra: bool = False) -> None:
        """Raise a ``ValueError``/``TypeError`` naming the first bad field of ``config``.

        Args:
            config: a config dict.
            allow_extra: accept keys the space does not know (fixed settings of a script).
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"A config must be a mapping, got {type(config).__name__}.")
        if not allow_extra:
            unknown = sorted(k for k in config if k not in self._by_name)
            if unknown:
                raise ValueError(
                    f"Unknown hyperparameter(s) {unknown}; the space has {list(self.names)}."
                )
        missing = [n for n in self.names if n not in config]
        if missing:
            raise ValueError(f"The config is missing hyperparameter(s) {missing}.")
        for hp in self.hyperparameters:
            hp.validate(config[hp.name])

    def sample(self, seed: int | np.random.Generator) -> dict[str, Any]:
        """A config drawn uniformly in psi (log-uniformly for log-scaled values)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        return {hp.name: hp.sample(rng) for hp in self.hyperparameters}

    def to_psi(
        self, config: Mapping[str, Any], dtype: torch.dtype = torch.float64
    ) -> torch.Tensor:
        """The psi vector of ``config`` (continuous hyperparameters only, in order)."""
        self.validate(config, allow_extra=True)
        return torch.tensor([hp.to_psi(config[hp.name]) for hp in self.continuous], dtype=dtype)

    def from_psi(self, psi: torch.Tensor | Sequence[float], config: Mapping[str, Any]) -> dict:
        """A copy of ``config`` with its continuous values set from ``psi``, clipped to bounds."""
        values = [float(v) for v in (psi.tolist() if isinstance(psi, torch.Tensor) else psi)]
        if len(values) != len(self.continuous):
            raise ValueError(
                f"psi has {len(values)} coordinates, but the space has {len(self.continuous)}: "
                f"{list(self.continuous_names)}."
            )
        out = dict(config)
        for hp, value in zip(self.continuous, values, strict=True):
            out[hp.name] = min(max(hp.from_psi(value), hp.low), hp.high)
        return out

    def psi_bounds(self, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper bounds of psi."""
        low, high = zip(*(hp.psi_bounds for hp in self.continuous), strict=True)
        return torch.tensor(low, dtype=dtype), torch.tensor(high, dtype=dtype)

    def clip_psi(self, psi: torch.Tensor) -> torch.Tensor:
        low, high = self.psi_bounds(psi.dtype)
        return torch.minimum(torch.maximum(psi, low.to(psi.device)), high.to(psi.device))

    def to_syne_tune(self) -> dict[str, Any]:
        """The equivalent syne-tune config space (``syne_tune.config_space`` domains)."""
        try:
            from syne_tune import config_space as cs
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_syne_tune() needs syne-tune 0.14: pip install 'syne-tune[gpsearchers]==0.14.2'"
            ) from error
        out: dict[str, Any] = {}
        for hp in self.hyperparameters:
            if isinstance(hp, Continuous):
                factory = cs.loguniform if hp.transform == "log" else cs.uniform
                out[hp.name] = factory(hp.low, hp.high)
            elif isinstance(hp, Integer):
                out[hp.name] = cs.randint(hp.low, hp.high)
            else:
                out[hp.name] = cs.choice(list(hp.choices))
        return out


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"A hyperparameter name must be a non-empty string, got {name!r}.")
