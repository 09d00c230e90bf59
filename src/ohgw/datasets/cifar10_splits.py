"""CIFAR-10's arrays made into a benchmark's data: a stratified validation split, label noise,
a class-balanced subset, and normalised tensors. Re-exported by :mod:`ohgw.datasets.cifar10`."""

from __future__ import annotations

import numpy as np
import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def stratified_split(
    labels: np.ndarray, val_size: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded disjoint (train_idx, val_idx), sorted, with every class's share of ``val_size``.

    Each class gives ``val_size * class_count / N`` images (rounded by largest remainder), so
    CIFAR-10's 50k training images split 45k/5k with 500 of each class held out.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0 < val_size < n:
        raise ValueError(f"The value of `val_size` is {val_size}, but must be in (0, {n}).")
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = val_size * counts / n
    take = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: val_size - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    val = [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
    val_idx = np.sort(np.concatenate(val)).astype(np.int64)
    train_idx = np.setdiff1d(np.arange(n, dtype=np.int64), val_idx)
    return train_idx, val_idx


def symmetric_label_noise(
    labels: np.ndarray, rate: float, num_classes: int = 10, seed: int = 0
) -> np.ndarray:
    """A copy of ``labels`` with exactly ``round(rate * N)`` of them flipped to another class.

    The flipped positions are drawn without replacement and each new class uniformly among the
    other ``num_classes - 1``, so the realised noise rate equals ``rate`` (up to rounding).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"The value of `rate` is {rate}, but must be in [0, 1).")
    if num_classes < 2:
        raise ValueError(f"The value of `num_classes` is {num_classes}, but must be at least 2.")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"The labels must be in [0, {num_classes}), but span [{labels.min()}, {labels.max()}]."
        )
    rng = np.random.default_rng(seed)
    flip = rng.choice(len(labels), size=round(rate * len(labels)), replace=False)
    shift = rng.integers(1, num_classes, size=len(flip))
    noisy = labels.copy()
    noisy[flip] = (labels[flip].astype(np.int64) + shift) % num_classes
    return noisy


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NHWC images as float32 NCHW, scaled to [0, 1] and normalised per channel."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"The images are {images.dtype} of shape {images.shape}, "
            "but must be uint8 of shape (N, H, W, 3)."
        )
    if not images.flags.writeable:  # a memory-mapped cache: torch wants memory it may write
        images = np.array(images)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().float().div_(255)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return x.sub_(mean).div_(std)


def balanced_prefix(index: np.ndarray, labels: np.ndarray, size: int | None) -> np.ndarray:
    """The first ``size`` of ``index`` taking classes in turn (a class-balanced subset)."""
    if size is None or size >= len(index):
        return np.asarray(index)
    classes = labels[index]
    rank = np.zeros(len(index), dtype=np.int64)
    for c in np.unique(classes):
        rank[classes == c] = np.arange(int((classes == c).sum()))
    order = np.lexsort((classes, rank))
    return np.asarray(index)[order[:size]]
