"""Evaluating every slot of a pack at once: one vectorised forward of all slots per chunk.

Unpacked, ``benchmark.evaluate(model, split)`` runs each trial over the whole split in small
chunks (CIFAR-10: 250 images), so a pack of W trials made W times as many small forward passes
as it trained in large ones. A registered ``PackEvaluator`` scores all slots from one ``vmap``
over the stacked parameters and buffers per chunk, the images shared by every slot (not copied
per slot). Its score is ``benchmark.evaluate``'s: the same images, per-image arithmetic only
(eval-mode batch norm reads each slot's own running statistics) and the same count, so it is the
unpacked score up to the float rounding of the logits (accuracy: equal unless a rounding flips an
argmax; the tests compare them). A benchmark without one is evaluated per trial, as unpacked.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ohgw.benchmarks.base import Benchmark

PackForward = Callable[[torch.Tensor], torch.Tensor]  # inputs -> (W, n, ...) outputs
PackEvaluator = Callable[[Benchmark, PackForward, str, int], list[float]]
EVAL_ITEMS = {"cpu": 256, "cuda": 8192}
"""Items one vectorised evaluation forward holds over all slots (chunks of at most 250 images
a slot, as unpacked): on a CPU few, so that the activations stay in its caches (with 4,096
the CPU evaluation of a pack of 16 was slower than 16 unpacked ones); on a GPU many, for few
and large kernels."""


def _cifar_accuracy(benchmark: Benchmark, forward: PackForward, split: str, width: int):
    """Each slot's accuracy on ``split``, counted as ``Cifar10Benchmark.evaluate`` counts it."""
    images, labels = benchmark.data[split]  # type: ignore[attr-defined]
    chunk = max(1, min(250, EVAL_ITEMS.get(labels.device.type, 8192) // width))
    correct = torch.zeros(width, dtype=torch.long, device=labels.device)
    for start in range(0, len(labels), chunk):
        logits = forward(images[start : start + chunk].contiguous())  # contiguous: see _stack
        correct += (logits.argmax(-1) == labels[start : start + chunk]).sum(-1)
    return [count / len(labels) for count in correct.tolist()]


_EVALUATORS: dict[str, PackEvaluator] = {"cifar10": _cifar_accuracy}


def register_evaluator(benchmark_name: str, evaluator: PackEvaluator) -> None:
    """Let packs of benchmarks named ``benchmark_name`` evaluate all slots at once."""
    _EVALUATORS[benchmark_name] = evaluator


def pack_evaluator(benchmark: Benchmark) -> PackEvaluator | None:
    """The registered evaluator of ``benchmark``, or None (evaluate per trial)."""
    return _EVALUATORS.get(benchmark.name)
