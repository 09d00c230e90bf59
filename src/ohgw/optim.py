"""Optimizer kinds: one description serves the differentiable lookahead and real training.

Each field names the config key that holds a hyperparameter (``lr="lr"``) or gives a constant
(``momentum=0.9``). ``step`` applies the optimizer's update out of place, so that the updated
parameters stay a differentiable function of the hyperparameters; it follows the update rules
of ``torch.optim.SGD`` and ``torch.optim.AdamW`` exactly (the tests compare them). ``build``
makes the matching ``torch.optim`` optimizer for training.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from typing import Any

import torch

HyperValue = str | float
Params = dict[str, torch.Tensor]
State = dict[str, Any]


class _OptimizerKind:
    """Shared plumbing: reading each role's value from a config or a constant."""

    def roles(self) -> dict[str, HyperValue]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "nesterov"}

    def config_keys(self) -> dict[str, str]:
        """Role -> config key, for the roles read from a config."""
        return {role: v for role, v in self.roles().items() if isinstance(v, str)}

    def check_config(self, config: Mapping[str, Any]) -> None:
        for role, key in self.config_keys().items():
            if key not in config:
                raise ValueError(
                    f"The optimizer's `{role}` reads config key `{key}`, which the config lacks "
                    f"(keys: {sorted(config)})."
                )

    def resolve(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Role -> value, looking names up in ``values`` (floats or tensors)."""
        return {role: values[v] if isinstance(v, str) else v for role, v in self.roles().items()}


@dataclass(frozen=True)
class SGD(_OptimizerKind):
    """SGD with (heavy-ball or Nesterov) momentum and L2 weight decay, as ``torch.optim.SGD``.

    With one step from a zero momentum buffer, momentum has no effect on the parameters and its
    hyper-gradient is exactly zero; two steps, or Nesterov, give it a signal.
    """

    lr: HyperValue = "lr"
    weight_decay: HyperValue = "weight_decay"
    momentum: HyperValue = "momentum"
    nesterov: bool = False

    def init_state(self, params: Params) -> State:
        return {"buf": {n: torch.zeros_like(p) for n, p in params.items()}}

    def step(
        self, params: Params, grads: Params, state: State, hp: Mapping[str, Any]
    ) -> tuple[Params, State]:
        h = self.resolve(hp)
        lr, wd, mom = h["lr"], h["weight_decay"], h["momentum"]
        new_params, new_buf = {}, {}
        for name, p in params.items():
            g = grads[name] + wd * p
            buf = mom * state["buf"][name] + g
            direction = g + mom * buf if self.nesterov else buf
            new_params[name] = p - lr * direction
            new_buf[name] = buf
        return new_params, {"buf": new_buf}

    def build(self, parameters: Iterable[torch.nn.Parameter], config: Mapping[str, Any]):
        h = self.resolve(config)
        return torch.optim.SGD(
            parameters,
            lr=float(h["lr"]),
            momentum=float(h["momentum"]),
            weight_decay=float(h["weight_decay"]),
            nesterov=self.nesterov,
        )


@dataclass(frozen=True)
class AdamW(_OptimizerKind):
    """AdamW with decoupled weight decay and bias correction, as ``torch.optim.AdamW``.

    With one step from zero moments the bias correction cancels beta1 and beta2 exactly: their
    hyper-gradients are zero; two steps give them a signal.
    """

    lr: HyperValue = "lr"
    weight_decay: HyperValue = "weight_decay"
    beta1: HyperValue = 0.9
    beta2: HyperValue = 0.999
    eps: HyperValue = 1e-8

    def init_state(self, params: Params) -> State:
        zeros = {n: torch.zeros_like(p) for n, p in params.items()}
        return {"m": zeros, "v": dict(zeros), "t": 0}

    def step(
        self, params: Params, grads: Params, state: State, hp: Mapping[str, Any]
    ) -> tuple[Params, State]:
        h = self.resolve(hp)
        lr, wd, b1, b2, eps = h["lr"], h["weight_decay"], h["beta1"], h["beta2"], h["eps"]
        t = state["t"] + 1
        correction1 = 1 - b1**t
        correction2_sqrt = (1 - b2**t) ** 0.5
        new_params, new_m, new_v = {}, {}, {}
        for name, p in params.items():
            g = grads[name]
            m = b1 * state["m"][name] + (1 - b1) * g
            v = b2 * state["v"][name] + (1 - b2) * g * g
            denom = _safe_sqrt(v) / correction2_sqrt + eps
            new_params[name] = p * (1 - lr * wd) - (lr / correction1) * m / denom
            new_m[name], new_v[name] = m, v
        return new_params, {"m": new_m, "v": new_v, "t": t}

    def build(self, parameters: Iterable[torch.nn.Parameter], config: Mapping[str, Any]):
        h = self.resolve(config)
        return torch.optim.AdamW(
            parameters,
            lr=float(h["lr"]),
            betas=(float(h["beta1"]), float(h["beta2"])),
            eps=float(h["eps"]),
            weight_decay=float(h["weight_decay"]),
        )


OptimizerKind = SGD | AdamW


def _safe_sqrt(v: torch.Tensor) -> torch.Tensor:
    """sqrt with a zero (not NaN) derivative where ``v == 0``.

    Parameters whose gradient is exactly zero (an embedding row no token of the batch uses) have
    v = 0, where sqrt's derivative is infinite and inf * 0 would poison the hyper-gradient.
    """
    positive = v > 0
    return torch.where(positive, torch.where(positive, v, torch.ones_like(v)).sqrt(), 0.0)


__all__ = ["SGD", "AdamW", "OptimizerKind"]
