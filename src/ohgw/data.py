"""Where the benchmark data sets live, and a plain CIFAR-10 reader.

Looked up in order: ``$OHGW_DATA_DIR``, then a ``shared/data`` folder beside the repository (the
project's machines), then ``~/.cache/ohgw``. Download of the canonical archives when none has
them belongs to the benchmark loaders.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def data_dirs() -> list[Path]:
    """Candidate data roots, most specific first."""
    candidates = []
    if os.environ.get("OHGW_DATA_DIR"):
        candidates.append(Path(os.environ["OHGW_DATA_DIR"]))
    for start in (Path.cwd(), Path(__file__).resolve()):
        for parent in (start, *start.parents):
            candidates.append(parent / "shared" / "data")
            candidates.append(parent.parent / "shared" / "data")
    candidates.append(Path.home() / ".cache" / "ohgw")
    seen, unique = set(), []
    for path in candidates:
        if path not in seen and path.is_dir():
            seen.add(path)
            unique.append(path)
    return unique


def find(relative: str) -> Path:
    """The first data root holding ``relative``; a ``FileNotFoundError`` naming where it looked."""
    for root in data_dirs():
        if (root / relative).exists():
            return root / relative
    raise FileNotFoundError(
        f"{relative} was not found in {[str(p) for p in data_dirs()] or 'any data folder'}; "
        "set OHGW_DATA_DIR to a folder that holds it."
    )


def load_cifar10(
    split: str = "train", limit: int | None = None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised CIFAR-10 images (N, 3, 32, 32) and labels (N,) of a split, for examples.

    ``limit`` takes the first images of every class, interleaved (0, 1, ..., 9, 0, 1, ...), so
    any prefix is class-balanced. The benchmark itself uses ``ohgw.benchmarks.cifar10``.
    """
    from ohgw.datasets.cifar10 import balanced_prefix
    from ohgw.datasets.cifar10 import load_cifar10_arrays
    from ohgw.datasets.cifar10 import to_tensor

    if split not in ("train", "test"):
        raise ValueError(f"The value of `split` is {split!r}, but must be 'train' or 'test'.")
    arrays = load_cifar10_arrays()
    images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
    if limit is not None:
        order = balanced_prefix(np.arange(len(labels)), labels, limit)
        images, labels = images[order], labels[order]
    return to_tensor(np.ascontiguousarray(images)).to(dtype), torch.from_numpy(labels)
