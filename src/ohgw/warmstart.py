"""``warm_start``: nudge a freshly sampled configuration along its hyper-gradient.

The whole method: before a trial trains, take a mini-batch, differentiate the loss with respect
to psi (the continuous hyperparameters in unconstrained coordinates), take a step
``psi <- psi - eta_h * grad``, clip to the bounds, and hand the nudged config to training. The
model is left exactly as it was found; the caller's RNG streams are not advanced.

Beyond the paper's step (``mode="gradient"``, the default), two options exist because the
published step size barely moves a configuration (docs/warm-start-modes.md): ``mode="normalized"``
moves psi a fixed fraction ``eta_h`` of the space's range along the range-scaled hyper-gradient,
and ``grad_batches`` averages each hyper-step's gradient over several mini-batches. Neither beat
its random control in the 16-seed studies, so neither is the default.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import dataclass
from typing import Any
from typing import Literal

import numpy as np
import torch
from torch import nn

from ohgw import cost
from ohgw.hypergrad import Forward
from ohgw.hypergrad import Lookahead
from ohgw.hypergrad import LossFn
from ohgw.hypergrad import Objective
from ohgw.hypergrad import Problem
from ohgw.hypergrad import hypergradient
from ohgw.hypergrad import model_device
from ohgw.optim import SGD
from ohgw.optim import AdamW
from ohgw.optim import OptimizerKind
from ohgw.space import SearchSpace

Mode = Literal["gradient", "normalized", "random", "random-normalized", "none"]
MODES = ("gradient", "normalized", "random", "random-normalized", "none")


class HyperGradientWarning(UserWarning):
    """A hyper-gradient that carries no information: no path to the loss, zero, or non-finite."""


@dataclass(frozen=True)
class WarmStartRecord:
    """What a warm start did and cost.

    ``gradients`` and ``steps`` hold one entry per hyper-step taken; ``steps`` are the proposed
    moves in psi before clipping. ``peak_memory_bytes`` is measured as ``memory_measure`` says
    (see ``ohgw.cost``).
    """

    mode: str
    objective: str
    eta_h: float
    grad_batches: int
    psi_before: dict[str, float]
    psi_after: dict[str, float]
    gradients: tuple[dict[str, float], ...]
    steps: tuple[dict[str, float], ...]
    losses: tuple[float, ...]
    flops: int
    wall_seconds: float
    peak_memory_bytes: int
    memory_measure: str
    non_finite: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def warm_start(
    config: Mapping[str, Any],
    space: SearchSpace,
    model: nn.Module,
    batches: Iterable[Any] | Callable[[], Any],
    loss: LossFn,
    optimizer: OptimizerKind,
    *,
    eta_h: float | None = None,
    steps: int = 1,
    mode: Mode = "gradient",
    objective: Objective | None = None,
    seed: int = 0,
    grad_batches: int = 1,
) -> tuple[dict[str, Any], WarmStartRecord]:
    """Return ``config`` with its continuous hyperparameters nudged, and a record.

    Args:
        config: the sampled configuration; keys beyond the space pass through untouched.
        space: the search space; its continuous hyperparameters form psi.
        model: the model at theta_0; left bitwise unchanged (parameters and buffers).
        batches: the warm start's mini-batches, an iterable or a zero-argument callable. Give it
            its own stream so that training sees the same data order with or without it.
        loss: ``loss(forward, batch, hp) -> scalar``; see ``ohgw.hypergrad``.
        optimizer: ``SGD(...)`` or ``AdamW(...)``, naming the config keys it reads.
        eta_h: the hyper-learning-rate (the paper: 1e-3); with the normalised modes the step's
            length as a fraction of the space's range (psi scaled to the unit cube). None: 0.1
            for the normalised modes, the paper's 1e-3 for the others.
        steps: hyper-steps, each a fresh gradient on a fresh batch (the paper: 1).
        mode: ``"gradient"`` (the default): the paper's OHGW, ``-eta_h * grad``.
            ``"normalized"``: ``-eta_h * r * u / |u|`` with ``r`` the psi ranges and
            ``u = r * grad``, steepest descent in the unit cube, a fixed length whatever the
            gradient's scale (measured in docs/warm-start-modes.md: not the default).
            ``"random"``: an isotropic direction with the gradient step's norm (the paper's
            control). ``"random-normalized"``: a random direction in the unit cube of length
            ``eta_h`` (the control of ``"normalized"``). ``"none"``: the config unchanged. Both
            random modes compute the hyper-gradient too, so that they cost what the gradient
            modes cost.
        objective: ``Lookahead()`` (default) or ``Forward()``.
        seed: fixes the random direction and the random draws inside the loss.
        grad_batches: mini-batches whose hyper-gradients are averaged in each hyper-step (the
            paper: 1); costs that many hyper-gradients per step.

    Returns:
        The nudged config (a new dict) and a ``WarmStartRecord``.
    """
    objective = Lookahead() if objective is None else objective
    if eta_h is None:
        eta_h = 0.1 if mode in ("normalized", "random-normalized") else 1e-3
    _check_arguments(config, space, model, loss, optimizer, eta_h, steps, mode, objective, seed)
    check_step_settings(mode, eta_h, steps, grad_batches)
    space.validate(config, allow_extra=True)
    optimizer.check_config(config)
    names = space.continuous_names
    device = model_device(model)
    psi_before = space.to_psi(config, torch.float64).to(device)
    psi = psi_before.clone()
    low, high = space.psi_bounds()
    ranges = (high - low).to(device)
    problem = Problem(model, space, config, loss, optimizer)
    next_batch = _batch_source(batches)
    gradients: list[torch.Tensor] = []
    proposed: list[torch.Tensor] = []
    losses: list[float] = []
    non_finite = False
    with cost.measure(device) as spent:
        for step_index in range(steps if mode != "none" else 0):
            gradient, step_loss = _averaged_hypergradient(
                objective, problem, psi, next_batch, grad_batches, seed, step_index, spent, names
            )
            gradients.append(gradient)
            losses.append(step_loss)
            if not (math.isfinite(step_loss) and torch.isfinite(gradient).all()):
                non_finite = True
                warnings.warn(
                    f"Non-finite hyper-gradient or loss at hyper-step {step_index + 1} "
                    f"(loss={step_loss}); no step taken, config left as it was.",
                    HyperGradientWarning,
                    stacklevel=2,
                )
                break
            step = _step(mode, gradient, eta_h, ranges, _derived_seed(seed, step_index, 1))
            proposed.append(step)
            psi = space.clip_psi(psi + step)
    if non_finite:
        psi = psi_before.clone()
    nudged = dict(config)
    for index, hp in enumerate(space.continuous):
        if psi[index] != psi_before[index]:  # keep untouched values bit-exact (no exp(log(x)))
            nudged[hp.name] = min(max(hp.from_psi(float(psi[index])), hp.low), hp.high)
    record = WarmStartRecord(
        mode=mode,
        objective=objective.name,
        eta_h=float(eta_h),
        grad_batches=grad_batches,
        psi_before=_named(names, psi_before),
        psi_after=_named(names, psi),
        gradients=tuple(_named(names, g) for g in gradients),
        steps=tuple(_named(names, s) for s in proposed),
        losses=tuple(losses),
        flops=spent.flops,
        wall_seconds=spent.wall_seconds,
        peak_memory_bytes=spent.peak_memory_bytes,
        memory_measure=spent.memory_measure,
        non_finite=non_finite,
    )
    return nudged, record


def _averaged_hypergradient(
    objective: Objective,
    problem: Problem,
    psi: torch.Tensor,
    next_batch: Callable[[], Any],
    grad_batches: int,
    seed: int,
    step_index: int,
    spent: cost.Cost,
    names: tuple[str, ...],
) -> tuple[torch.Tensor, float]:
    """The mean hyper-gradient and loss over ``grad_batches`` fresh (sets of) mini-batches."""
    total, total_loss = None, 0.0
    for draw in range(grad_batches):
        batch_list = [next_batch() for _ in range(objective.batches_needed)]
        # draw 0 keeps the seed of the one-batch warm start, so grad_batches=1 is unchanged
        result = hypergradient(
            objective,
            problem,
            psi,
            batch_list,
            _derived_seed(seed, step_index, 0, draw),
            on_graph_end=spent.next_graph,
        )
        if step_index == 0 and draw == 0:
            _warn_uninformative(result.no_path, result.gradient, names, objective)
        spent.next_graph()
        total = result.gradient if total is None else total + result.gradient
        total_loss += result.loss
    return total / grad_batches, total_loss / grad_batches


def _step(
    mode: str, gradient: torch.Tensor, eta_h: float, ranges: torch.Tensor, seed: int
) -> torch.Tensor:
    step = -eta_h * gradient
    if mode == "gradient":
        return step
    if mode == "normalized":
        scaled = gradient * ranges  # the gradient with psi rescaled to the unit cube
        norm = scaled.norm()
        return -eta_h * ranges * scaled / norm if norm > 0 else torch.zeros_like(gradient)
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(gradient.shape, generator=generator, dtype=gradient.dtype)
    direction = direction.to(gradient.device) / direction.norm()
    if mode == "random-normalized":
        return eta_h * ranges * direction
    return direction * step.norm()


def _derived_seed(seed: int, step_index: int, stream: int, draw: int = 0) -> int:
    entropy = [seed, step_index, stream] + ([draw] if draw else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _batch_source(batches: Iterable[Any] | Callable[[], Any]) -> Callable[[], Any]:
    if callable(batches) and not hasattr(batches, "__next__"):
        return batches
    iterator = iter(batches)
    taken = 0

    def next_batch() -> Any:
        nonlocal taken
        try:
            batch = next(iterator)
        except StopIteration:
            raise ValueError(
                f"`batches` ran out after {taken} batch(es); the warm start needs one per "
                "hyper-step (two with a held-out objective)."
            ) from None
        taken += 1
        return batch

    return next_batch


def _warn_uninformative(
    no_path: tuple[str, ...], gradient: torch.Tensor, names: tuple[str, ...], objective: Objective
) -> None:
    if no_path:
        warnings.warn(
            f"Hyperparameter(s) {list(no_path)} have no path to the {objective.name} loss: "
            "their hyper-gradient is set to zero and the gradient step leaves them as they are.",
            HyperGradientWarning,
            stacklevel=4,
        )
    zero = [
        n for n, g in zip(names, gradient.tolist(), strict=True) if g == 0 and n not in no_path
    ]
    if zero:
        warnings.warn(
            f"Hyperparameter(s) {zero} have an exactly zero hyper-gradient under the "
            f"{objective.name} objective (e.g. momentum, or Adam's betas, after one optimizer "
            "step from zero state: use inner_steps >= 2).",
            HyperGradientWarning,
            stacklevel=4,
        )


def _named(names: tuple[str, ...], values: torch.Tensor) -> dict[str, float]:
    return dict(zip(names, values.tolist(), strict=True))


def check_step_settings(mode: Any, eta_h: Any, steps: Any, grad_batches: Any = 1) -> None:
    """Refuse a bad ``mode``, ``eta_h``, ``steps`` or ``grad_batches`` with a ``ValueError``."""
    if mode not in MODES:
        raise ValueError(f"The value of `mode` is {mode!r}, but must be one of {list(MODES)}.")
    if (
        isinstance(eta_h, bool)
        or not isinstance(eta_h, (int, float))
        or not (math.isfinite(eta_h) and eta_h >= 0)
    ):
        raise ValueError(f"The value of `eta_h` is {eta_h!r}, but must be a finite float >= 0.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"The value of `steps` is {steps!r}, but must be an int >= 1.")
    if isinstance(grad_batches, bool) or not isinstance(grad_batches, int) or grad_batches < 1:
        raise ValueError(
            f"The value of `grad_batches` is {grad_batches!r}, but must be an int >= 1."
        )


def _check_arguments(
    config: Any,
    space: Any,
    model: Any,
    loss: Any,
    optimizer: Any,
    eta_h: Any,
    steps: Any,
    mode: Any,
    objective: Any,
    seed: Any,
) -> None:
    if not isinstance(space, SearchSpace):
        raise TypeError(f"`space` must be a SearchSpace, got {type(space).__name__}.")
    if not isinstance(config, Mapping):
        raise TypeError(f"`config` must be a mapping, got {type(config).__name__}.")
    if not isinstance(model, nn.Module):
        raise TypeError(f"`model` must be a torch.nn.Module, got {type(model).__name__}.")
    if not callable(loss):
        raise TypeError(f"`loss` must be callable as loss(forward, batch, hp), got {loss!r}.")
    if not isinstance(optimizer, (SGD, AdamW)):
        raise TypeError(
            f"`optimizer` must be ohgw.SGD(...) or ohgw.AdamW(...), got {optimizer!r}."
        )
    check_step_settings(mode, eta_h, steps)
    if not isinstance(objective, (Forward, Lookahead)):
        raise TypeError(
            f"`objective` must be ohgw.Lookahead(...) or ohgw.Forward(), got {objective!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"The value of `seed` is {seed!r}, but must be an int >= 0.")
