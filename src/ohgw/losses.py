"""Losses written out so that their hyperparameters carry a gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smoothed_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, smoothing: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Cross-entropy with label smoothing, differentiable in ``smoothing``.

    Equal to ``F.cross_entropy(logits, targets, label_smoothing=smoothing)``, which takes only a
    Python float: ``(1 - eps) * nll + eps * mean over classes of -log p``.

    Args:
        logits: ``(N, C)`` or ``(N, C, ...)`` scores.
        targets: ``(N,)`` or ``(N, ...)`` class indices.
        smoothing: eps in [0, 1]; a tensor that requires grad gets a gradient.
    """
    log_probs = F.log_softmax(logits, dim=1)
    nll = F.nll_loss(log_probs, targets)
    uniform = -log_probs.mean(dim=1).mean()
    return (1 - smoothing) * nll + smoothing * uniform
