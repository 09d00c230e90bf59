"""A plain CIFAR-10 reader for examples, and where the data sets live (:mod:`ohgw.paths`).

Download of the canonical archives when no data root has them belongs to the loaders in
:mod:`ohgw.datasets`.
"""

from __future__ import annotations

import numpy as np
import torch

from ohgw.datasets.cifar10 import CIFAR10_MEAN
from ohgw.datasets.cifar10 import CIFAR10_STD
from ohgw.datasets.cifar10 import balanced_prefix
from ohgw.datasets.cifar10 import load_cifar10_arrays
from ohgw.datasets.cifar10 import to_tensor
from ohgw.paths import data_dirs
from ohgw.paths import find

__all__ = ["CIFAR10_MEAN", "CIFAR10_STD", "data_dirs", "find", "load_cifar10"]


def load_cifar10(
    split: str = "train", limit: int | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised CIFAR-10 images (N, 3, 32, 32) and labels (N,) of a split, for examples.

    ``limit`` takes the first images of every class, interleaved (0, 1, ..., 9, 0, 1, ...), so
    any prefix is class-balanced. The benchmark itself uses ``ohgw.benchmarks.cifar10``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"The value of `split` is {split!r}, but must be 'train' or 'test'.")
    arrays = load_cifar10_arrays()
    images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if limit is not None:
        order = balanced_prefix(np.arange(len(labels)), labels, limit)
        images, labels = images[order], labels[order]
    return to_tensor(np.ascontiguousarray(images)).to(dtype), torch.from_numpy(np.array(labels))
