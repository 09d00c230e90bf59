"""A benchmark's training loss split in two, so that many trials can share one forward pass.

``Benchmark.train_loss(forward, batch, hp)`` draws its augmentation from torch's global RNG and
then calls the model. A packed step needs the two apart: ``prepare`` runs per trial, outside
``vmap``, with the trial's own generator (so each trial draws exactly the random numbers it
draws unpacked), and ``criterion`` runs inside ``vmap`` on the packed model's output, with the
trial's hyperparameters as tensors. ``prepare`` then ``criterion`` must equal ``train_loss``;
the tests compare them bitwise, so that a change to a benchmark's loss cannot drift silently.

A pack prepares all its trials' batches at once where the split has ``draw`` and ``apply``:
each trial draws its random numbers from its own generator (``draw``, what ``prepare`` draws, in
the same order), then one ``apply`` augments the whole pack's images, with per-trial
hyperparameters; the result equals each trial's ``prepare``, bitwise (tested).

A new benchmark that should pack registers its split here with ``register_split``.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ohgw.augment import flip
from ohgw.augment import flip_draw
from ohgw.augment import random_flip
from ohgw.augment import random_translate
from ohgw.augment import translate
from ohgw.augment import translate_draw
from ohgw.benchmarks.base import Benchmark
from ohgw.losses import smoothed_cross_entropy

Prepare = Callable[[Any, Mapping[str, Any], "torch.Generator | None"], tuple[Any, Any]]
Criterion = Callable[[torch.Tensor, Any, Mapping[str, torch.Tensor]], torch.Tensor]
Draw = Callable[[Mapping[str, Any], "torch.Generator", int, Any], tuple[torch.Tensor, ...]]
Apply = Callable[[Any, Sequence[Mapping[str, Any]], tuple[torch.Tensor, ...]], tuple[Any, Any]]


@dataclass(frozen=True)
class LossSplit:
    """``train_loss`` as ``criterion(model(inputs), targets, hp)`` after ``prepare``.

    Attributes:
        prepare: ``(batch, hp, generator) -> (inputs, targets)``: the random, per-trial part.
        criterion: ``(output, targets, hp) -> loss``: vmappable; reads only ``tensor_hp``.
        tensor_hp: the config keys ``criterion`` reads, passed to it as per-trial tensors.
        draw: ``(hp, generator, n, batch) -> draws``: one trial's random numbers for ``n``
            items, as ``prepare`` draws them (None: the pack calls ``prepare`` per trial).
        apply: ``(batch, hps, draws) -> (inputs, targets)``: ``prepare`` of many trials at
            once; ``batch`` holds the trials' items in the order of ``hps`` (the same number
            each), ``draws`` their draws concatenated.
    """

    prepare: Prepare
    criterion: Criterion
    tensor_hp: tuple[str, ...]
    draw: Draw | None = None
    apply: Apply | None = None

    def loss(self, forward, batch, hp, generator=None) -> torch.Tensor:
        """The whole loss of one trial, as ``train_loss`` computes it."""
        inputs, targets = self.prepare(batch, hp, generator)
        return self.criterion(forward(inputs), targets, hp)


def _cifar_prepare(batch, hp, generator):
    images, labels = batch
    flipped = random_flip(images, generator=generator)
    return random_translate(flipped, hp["aug_magnitude"], generator=generator), labels


MAX_SHIFT = 4.0  # random_translate's default, which the CIFAR-10 loss uses


def _cifar_draw(hp, generator, n, batch):
    images = batch[0]
    return flip_draw(n, images, generator), translate_draw(n, images, generator)


def _cifar_apply(batch, hps, draws):
    images, labels = batch
    which, unit = draws
    # magnitude * max_shift in Python floats, then the image dtype: as random_translate's scalar
    scale = torch.tensor(
        [float(hp["aug_magnitude"]) * MAX_SHIFT for hp in hps],
        dtype=images.dtype,
        device=images.device,
    )
    per_image = scale.repeat_interleave(len(labels) // len(hps))[:, None]
    return translate(flip(images, which), unit, per_image), labels


def _cifar_criterion(logits, labels, hp):
    return smoothed_cross_entropy(logits, labels, hp["label_smoothing"])


def _lm_prepare(batch, hp, generator):
    return batch


def _lm_draw(hp, generator, n, batch):
    return ()


def _lm_apply(batch, hps, draws):
    return batch


def _lm_criterion(logits, targets, hp):
    return smoothed_cross_entropy(logits.transpose(1, 2), targets, hp["label_smoothing"])


_SPLITS: dict[str, LossSplit] = {
    "cifar10": LossSplit(
        _cifar_prepare, _cifar_criterion, ("label_smoothing",), _cifar_draw, _cifar_apply
    ),
    "wikitext": LossSplit(_lm_prepare, _lm_criterion, ("label_smoothing",), _lm_draw, _lm_apply),
}


def register_split(benchmark_name: str, split: LossSplit) -> None:
    """Let benchmarks named ``benchmark_name`` pack."""
    _SPLITS[benchmark_name] = split


def loss_split(benchmark: Benchmark) -> LossSplit:
    """The registered split of ``benchmark``'s training loss."""
    if benchmark.name not in _SPLITS:
        raise ValueError(
            f"The benchmark {benchmark.name!r} has no packed loss split; register one with "
            f"ohgw.packed.losses.register_split (known: {sorted(_SPLITS)})."
        )
    return _SPLITS[benchmark.name]
