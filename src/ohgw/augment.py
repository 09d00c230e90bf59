"""A differentiable image augmentation whose strength is a hyperparameter.

``random_translate`` is the continuous form of the usual pad-and-random-crop: each image moves by
a random sub-pixel offset of at most ``magnitude * max_shift`` pixels, with zero fill and bilinear
interpolation, so the loss is differentiable in the magnitude (twice, for the lookahead).

Each augmentation is its random draw then its application (``flip_draw``/``flip``,
``translate_draw``/``translate``): a pack draws each trial's numbers from the trial's own
generator and then augments all the pack's images in one call (``ohgw.packed.losses``), with
the same numbers and the same arithmetic per image as ``random_flip``/``random_translate``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_translate(
    images: torch.Tensor,
    magnitude: torch.Tensor | float,
    max_shift: float = 4.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Shift each image of ``images`` (N, C, H, W) by ``magnitude * max_shift * U(-1, 1)`` pixels.

    Args:
        images: a batch of images.
        magnitude: in [0, 1]; 1 shifts by up to ``max_shift`` pixels in each direction.
        max_shift: the largest shift in pixels (4 = the classic CIFAR crop of a 4-padded image).
        generator: the random source of the offsets (default: torch's global one).
    """
    unit = translate_draw(images.shape[0], images, generator)
    return translate(images, unit, magnitude * max_shift)


def translate_draw(n: int, like: torch.Tensor, generator: torch.Generator | None = None):
    """The (n, 2) uniform draws of ``random_translate`` (device and dtype of ``like``)."""
    return torch.rand(n, 2, generator=generator, device=like.device, dtype=like.dtype)


def translate(
    images: torch.Tensor, unit: torch.Tensor, scale: torch.Tensor | float
) -> torch.Tensor:
    """Shift each image by ``(unit * 2 - 1) * scale`` pixels (x, y), ``unit`` from
    ``translate_draw``; ``scale`` is ``magnitude * max_shift``, one for all or one per image
    as an (N, 1) tensor."""
    n, _, height, width = images.shape
    shift = (unit * 2 - 1) * scale  # (N, 2) pixels: x, y
    theta = torch.zeros(n, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    # affine_grid maps output to input in [-1, 1] coordinates: a shift of s pixels is -2 s / size.
    offset = torch.stack([-2 * shift[:, 0] / width, -2 * shift[:, 1] / height], dim=1)
    theta = theta + F.pad(offset.unsqueeze(-1), (2, 0))
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_flip(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2 (not a hyperparameter)."""
    return flip(images, flip_draw(images.shape[0], images, generator))


def flip_draw(n: int, like: torch.Tensor, generator: torch.Generator | None = None):
    """The (n,) booleans of ``random_flip``: which images to mirror (device of ``like``)."""
    return torch.rand(n, generator=generator, device=like.device) < 0.5


def flip(images: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``which`` (from ``flip_draw``) is true."""
    return torch.where(which[:, None, None, None], images.flip(3), images)
