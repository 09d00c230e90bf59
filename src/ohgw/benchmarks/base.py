"""The benchmark protocol, resumable batch streams, and the registry of presets.

A benchmark is a model, its data, its search space, its losses and its metric. The trial runner
knows nothing else about it. A new benchmark is one module that subclasses ``Benchmark``, plus
one entry per preset in :data:`BUILTIN` (or a ``register`` call): the registry names its
plug-ins and imports one only when it is built.
"""

from __future__ import annotations

import importlib
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Literal

import numpy as np
import torch
from torch import nn

from ohgw.hypergrad import LossFn
from ohgw.optim import OptimizerKind
from ohgw.space import SearchSpace

Batch = Any


class Benchmark(ABC):
    """A model, data, search space, losses and a validation metric.

    Subclasses set the class attributes and implement the abstract methods. Data are loaded
    lazily, once, onto ``device``.
    """

    name: str
    metric: str  # the validation metric's name, e.g. "accuracy" or "perplexity"
    mode: Literal["max", "min"]
    space: SearchSpace
    optimizer: OptimizerKind
    default_config: Mapping[str, Any]
    train_loss: LossFn
    eval_loss: LossFn  # the held-out objective of a lookahead warm start
    noise_option: str  # the constructor option that corrupts training data (a variant's noise)

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        # FLOPs of a training step and of an evaluation: fixed by the shapes, counted once.
        self.flop_counts: dict[str, int] = {}

    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised model on ``device``, drawn from torch's global RNG."""

    @abstractmethod
    def train_stream(self, seed: int) -> BatchStream:
        """The training batches of a trial, in an order fixed by ``seed``."""

    @abstractmethod
    def warm_stream(self, seed: int) -> BatchStream:
        """The warm start's own batches: independent of the training order."""

    @abstractmethod
    def batches_per_unit(self) -> int:
        """Training batches in one resource unit (an epoch, or a set fraction of one)."""

    @abstractmethod
    def evaluate(self, model: nn.Module, split: Literal["val", "test"] = "val") -> float:
        """The metric on a held-out split."""

    @property
    @abstractmethod
    def worst_metric(self) -> float:
        """The metric reported for a diverged trial."""

    @property
    @abstractmethod
    def default_tau(self) -> float:
        """The preset's T@tau target, fixed before any run."""

    def describe(self) -> dict[str, Any]:
        """Facts for reports: sizes, shapes, settings."""
        return {"name": self.name, "metric": self.metric, "mode": self.mode}


class BatchStream:
    """An endless, resumable stream of mini-batches: a seeded permutation per epoch.

    ``state()`` and ``restore()`` let a checkpointed trial continue with exactly the batches it
    would have seen. ``make_batch(indices)`` turns item indices into a batch.
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        seed: int,
        make_batch: Callable[[torch.Tensor], Batch],
        stream: int = 0,
    ) -> None:
        if batch_size > num_items:
            raise ValueError(
                f"The value of `batch_size` is {batch_size}, but the data have only "
                f"{num_items} items."
            )
        self.num_items, self.batch_size = num_items, batch_size
        self.seed, self.stream = seed, stream
        self.make_batch = make_batch
        self.epoch, self.position = 0, 0
        self._order: torch.Tensor | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.num_items // self.batch_size

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: Mapping[str, int]) -> None:
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self._order = None

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        return self.make_batch(self.next_index())

    def next_index(self) -> torch.Tensor:
        """The item indices of the next batch, without making it (a pack gathers the batches
        of all its trials at once: ``make_batch`` of their indices concatenated)."""
        if self.position >= self.batches_per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        if self._order is None:
            seed = np.random.SeedSequence([self.seed, self.stream, self.epoch]).generate_state(1)
            generator = torch.Generator().manual_seed(int(seed[0]))
            self._order = torch.randperm(self.num_items, generator=generator)
        start = self.position * self.batch_size
        self.position += 1
        return self._order[start : start + self.batch_size]


BUILTIN = {
    "cifar10-full": "ohgw.benchmarks.cifar10:full",
    "cifar10-mini": "ohgw.benchmarks.cifar10:mini",
    "wikitext-full": "ohgw.benchmarks.wikitext:full",
    "wikitext-mini": "ohgw.benchmarks.wikitext:mini",
}
"""The presets that ship with ohgw: name -> ``"module:factory"``, imported only when built."""
_REGISTRY: dict[str, str | Callable[..., Benchmark]] = dict(BUILTIN)


def register(name: str, factory: str | Callable[..., Benchmark]) -> None:
    """Make ``make_benchmark(name, **options)`` build ``factory(**options)``.

    ``factory`` is a callable or a ``"module:attribute"`` string, imported on first use.
    """
    _REGISTRY[name] = factory


def benchmark_names() -> list[str]:
    """The registered benchmark names (nothing is imported to list them)."""
    return sorted(_REGISTRY)


def make_benchmark(name: str, **options: Any) -> Benchmark:
    """Build a registered benchmark preset, e.g. ``make_benchmark("cifar10-mini")``."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown benchmark {name!r}; known: {sorted(_REGISTRY)}.")
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory(**options)
