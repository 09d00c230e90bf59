"""The written-out smoothed cross-entropy equals PyTorch's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ohgw import smoothed_cross_entropy


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("shape", [(8, 10), (4, 7, 5)], ids=["classes", "sequence"])
def test_equals_torch_label_smoothing(eps, shape) -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(*shape, generator=generator, dtype=torch.float64)
    targets = torch.randint(shape[1], (shape[0], *shape[2:]), generator=generator)
    expected = F.cross_entropy(logits, targets, label_smoothing=eps)
    actual = smoothed_cross_entropy(logits, targets, torch.tensor(eps, dtype=torch.float64))
    torch.testing.assert_close(actual, expected, rtol=1e-14, atol=1e-14)


def test_gradient_in_smoothing_is_uniform_minus_nll() -> None:
    logits = torch.randn(6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    targets = torch.arange(6) % 5
    eps = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(smoothed_cross_entropy(logits, targets, eps), eps)
    log_probs = F.log_softmax(logits, dim=1)
    expected = -log_probs.mean() - F.nll_loss(log_probs, targets)
    torch.testing.assert_close(grad, expected)
