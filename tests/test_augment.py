"""The differentiable translation: a crop-like shift whose size is the magnitude."""

from __future__ import annotations

import torch

from ohgw import random_flip
from ohgw import random_translate


def test_zero_magnitude_is_identity(cifar_images) -> None:
    images = cifar_images[0][:8]
    out = random_translate(images, torch.tensor(0.0, dtype=torch.float64))
    torch.testing.assert_close(out, images, rtol=0, atol=1e-12)


def test_integer_shift_moves_pixels_exactly() -> None:
    """A shift of one pixel in x moves a horizontal ramp by exactly one column."""
    ramp = torch.arange(8, dtype=torch.float64).expand(1, 1, 8, 8).clone()
    unit = torch.rand(1, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x_direction = 2 * unit[0, 0].item() - 1
    max_shift = 1.0 / abs(x_direction)  # |shift_x| = 1 pixel at magnitude 1
    y_shift = abs(2 * unit[0, 1].item() - 1) * max_shift
    out = random_translate(ramp, 1.0, max_shift, generator=torch.Generator().manual_seed(0))
    rows = slice(int(y_shift) + 1, 8 - int(y_shift) - 1)  # rows untouched by the zero fill
    s = 1 if x_direction > 0 else -1
    interior = out[0, 0, rows, 1:-1]
    expected = ramp[0, 0, rows, 1 - s : 7 - s]
    torch.testing.assert_close(interior, expected, rtol=0, atol=1e-12)


def test_shift_is_bounded_by_magnitude_and_differentiable(cifar_images) -> None:
    images = cifar_images[0][:16]
    m = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    out = random_translate(images, m, generator=torch.Generator().manual_seed(3))
    (grad,) = torch.autograd.grad(out.pow(2).sum(), m)
    assert torch.isfinite(grad) and grad != 0
    # Zero fill enters only within magnitude * max_shift = 2 pixels of the border.
    assert (out[:, :, 3:-3, 3:-3] != 0).float().mean() > 0.99


def test_flip_is_a_mirror_or_identity(cifar_images) -> None:
    images = cifar_images[0][:32]
    out = random_flip(images, generator=torch.Generator().manual_seed(0))
    flipped = (out == images.flip(3)).flatten(1).all(1)
    same = (out == images).flatten(1).all(1)
    assert bool((flipped | same).all()) and 0 < int(flipped.sum()) < 32
