"""The optimizer step of a pack: torch.optim's SGD and AdamW updates, with each trial's own
hyperparameters and state, on parameters stacked along a leading trial dimension.

It follows the update order of torch.optim's single-tensor SGD and AdamW (weight decay, momentum
buffer, bias corrections computed in float64 like torch's Python floats). ``to_torch`` and
``from_torch`` move one trial's state to and from a ``torch.optim`` optimizer, so that a packed
trial writes the same checkpoint as an unpacked one and either can resume it.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import torch

from ohgw.optim import SGD
from ohgw.optim import AdamW
from ohgw.optim import OptimizerKind

Stacked = dict[str, torch.Tensor]


class PackedOptimizer:
    """Per-trial SGD or AdamW over stacked parameters ``{name: (W, ...)}``.

    Args:
        kind: the benchmark's ``ohgw.optim.SGD`` or ``AdamW``.
        names: the parameter names, in the order of the model's ``named_parameters``.
        width: W, the number of slots.
        like: a parameter tensor giving device and dtype.
    """

    def __init__(self, kind: OptimizerKind, names: Sequence[str], width: int, like: torch.Tensor):
        if not isinstance(kind, (SGD, AdamW)):
            raise TypeError(f"A pack needs an ohgw SGD or AdamW optimizer, got {kind!r}.")
        self.kind, self.names, self.width = kind, list(names), width
        self.device, self.dtype = like.device, like.dtype
        roles = kind.roles()
        # Per-slot hyperparameters in float64 (torch.optim's Python floats).
        self.hp = {role: torch.zeros(width, dtype=torch.float64) for role in roles}
        self.steps = torch.zeros(width, dtype=torch.float64)  # optimizer steps taken per slot
        self.state: dict[str, Stacked] = {}

    def init_state(self, params: Stacked) -> None:
        keys = ("buf",) if isinstance(self.kind, SGD) else ("m", "v")
        self.state = {k: {n: torch.zeros_like(params[n]) for n in self.names} for k in keys}

    def set_slot(self, slot: int, config: Mapping[str, Any], optimizer, model) -> None:
        """Load one trial's hyperparameters and its torch.optim state into ``slot``."""
        for role, value in self.kind.resolve(config).items():
            self.hp[role][slot] = float(value)
        params = dict(model.named_parameters())
        taken = 0
        for name in self.names:
            st = optimizer.state.get(params[name], {})
            if isinstance(self.kind, SGD):
                buf = st.get("momentum_buffer")
                self.state["buf"][name][slot] = 0 if buf is None else buf.detach()
                taken = max(taken, 0 if buf is None else 1)
            else:
                if "step" in st:
                    self.state["m"][name][slot] = st["exp_avg"].detach()
                    self.state["v"][name][slot] = st["exp_avg_sq"].detach()
                    taken = max(taken, int(st["step"]))
                else:
                    self.state["m"][name][slot] = 0
                    self.state["v"][name][slot] = 0
        self.steps[slot] = taken  # SGD: 0 until the momentum buffer exists, then 1

    def copy_slot(self, source: int, target: int) -> None:
        for role in self.hp:
            self.hp[role][target] = self.hp[role][source]
        self.steps[target] = self.steps[source]
        for tensors in self.state.values():
            for t in tensors.values():
                t[target] = t[source]

    def to_torch(self, slot: int, optimizer, model) -> None:
        """Write ``slot``'s state into ``optimizer`` (a torch.optim optimizer over ``model``)."""
        params = dict(model.named_parameters())
        for name in self.names:
            p = params[name]
            if isinstance(self.kind, SGD):
                if self.steps[slot] > 0:
                    optimizer.state[p] = {"momentum_buffer": self.state["buf"][name][slot].clone()}
            elif self.steps[slot] > 0:
                scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else None
                step_dtype = scalar or torch.float32  # as torch.optim's _get_scalar_dtype
                optimizer.state[p] = {
                    "step": torch.tensor(float(self.steps[slot]), dtype=step_dtype),
                    "exp_avg": self.state["m"][name][slot].clone(),
                    "exp_avg_sq": self.state["v"][name][slot].clone(),
                }

    @torch.no_grad()
    def step(self, params: Stacked, grads: Stacked) -> None:
        """One in-place update of every slot (per-slot factors moved to the device once)."""
        if isinstance(self.kind, SGD):
            self._sgd(params, grads)
        else:
            self._adamw(params, grads)
        self.steps += 1

    def _on_device(self, **values: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v.to(device=self.device, dtype=self.dtype) for k, v in values.items()}

    def _sgd(self, params: Stacked, grads: Stacked) -> None:
        first = (self.steps == 0).to(self.device)
        f = self._on_device(lr=self.hp["lr"], wd=self.hp["weight_decay"], mom=self.hp["momentum"])
        for name in self.names:
            p, g, buf = params[name], grads[name], self.state["buf"][name]
            shape = (self.width,) + (1,) * (p.dim() - 1)
            lr, wd, mom = (f[k].view(shape) for k in ("lr", "wd", "mom"))
            g = g + wd * p
            buf.copy_(torch.where(first.view(shape), g, buf * mom + g))
            direction = g + mom * buf if self.kind.nesterov else buf
            p.sub_(lr * direction)

    def _adamw(self, params: Stacked, grads: Stacked) -> None:
        hp, step = self.hp, self.steps + 1
        b1, b2 = hp["beta1"], hp["beta2"]
        f = self._on_device(
            decay=1 - hp["lr"] * hp["weight_decay"],
            step_size=hp["lr"] / (1 - b1**step),
            correction2_sqrt=(1 - b2**step) ** 0.5,
            one_minus_b1=1 - b1,
            b2=b2,
            one_minus_b2=1 - b2,
            eps=hp["eps"],
        )
        for name in self.names:
            p, g = params[name], grads[name]
            m, v = self.state["m"][name], self.state["v"][name]
            shape = (self.width,) + (1,) * (p.dim() - 1)
            s = {k: t.view(shape) for k, t in f.items()}
            p.mul_(s["decay"])
            m.lerp_(g, s["one_minus_b1"])
            v.mul_(s["b2"]).add_(s["one_minus_b2"] * g * g)
            denom = v.sqrt() / s["correction2_sqrt"] + s["eps"]
            p.sub_(s["step_size"] * m / denom)
