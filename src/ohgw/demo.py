"""``ohgw demo``: the warm start alone, on real CIFAR-10, for a few sampled configurations.

It samples them from the paper's five-dimensional space, warm-starts each on a fresh ResNet-20,
and prints how far each hyperparameter moved and what it cost relative to one plain step.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable
from typing import Any

import torch
from tqdm import tqdm

from ohgw.benchmarks.cifar10 import SPACE
from ohgw.benchmarks.cifar10 import train_loss
from ohgw.cost import measure
from ohgw.data import load_cifar10
from ohgw.hypergrad import Forward
from ohgw.hypergrad import Lookahead
from ohgw.models import resnet20
from ohgw.optim import SGD
from ohgw.warmstart import HyperGradientWarning
from ohgw.warmstart import warm_start

SHORT = {
    "lr": "lr",
    "weight_decay": "wd",
    "momentum": "mom",
    "aug_magnitude": "aug",
    "label_smoothing": "ls",
}


def run_demo(
    configs: int = 8,
    seed: int = 0,
    eta_h: float = 1e-3,
    objective: str = "lookahead",
    inner_steps: int = 1,
    batch_size: int = 128,
    echo: Callable[[str], Any] = print,
) -> list[dict[str, Any]]:
    """Warm-start ``configs`` sampled configurations; print and return one row each."""
    if configs < 1:
        raise ValueError(f"The value of `configs` is {configs}, but must be >= 1.")
    chosen = Forward() if objective == "forward" else Lookahead(inner_steps=inner_steps)
    images, labels = load_cifar10("train", limit=4096)
    plain_flops = _plain_step_flops(images[:batch_size], labels[:batch_size])
    rows = []
    for index in tqdm(range(configs), desc="warm starts", unit="config"):
        config = SPACE.sample(seed * 100_003 + index)
        torch.manual_seed(seed * 100_003 + index)
        model = resnet20()
        generator = torch.Generator().manual_seed(seed * 100_003 + index)
        order = torch.randperm(len(labels), generator=generator)

        def batches(order=order):
            for start in range(0, len(order) - batch_size + 1, batch_size):
                yield (
                    images[order[start : start + batch_size]],
                    labels[order[start : start + batch_size]],
                )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", HyperGradientWarning)
            nudged, record = warm_start(
                config,
                SPACE,
                model,
                batches(),
                train_loss,
                SGD(),
                eta_h=eta_h,
                mode="gradient",  # the paper's step: the demo shows how little it moves
                objective=chosen,
                seed=seed,
            )
        rows.append({"config": config, "nudged": nudged, "record": record})
    _print_table(rows, plain_flops, eta_h, objective, inner_steps, batch_size, echo)
    return rows


def _plain_step_flops(images: torch.Tensor, labels: torch.Tensor) -> int:
    model = resnet20()
    with measure() as cost:
        train_loss(
            model, (images, labels), {"aug_magnitude": 0.5, "label_smoothing": 0.1}
        ).backward()
    return cost.flops


def _print_table(rows, plain_flops, eta_h, objective, inner_steps, batch_size, echo) -> None:
    names = SPACE.continuous_names
    label = objective if objective == "forward" else f"lookahead K={inner_steps}"
    echo(f"\nOHGW warm start on real CIFAR-10, ResNet-20, eta_h={eta_h}, objective {label}")
    echo("Gradients and steps are in psi (log for lr and wd). Columns per config:")
    head = "  #  " + "".join(
        f"{SHORT[n] + ' before':>12}{'grad':>10}{'step':>10}" for n in names[:2]
    )
    head += "".join(f"{SHORT[n]:>7}{'grad':>10}" for n in names[2:]) + f"{'x step':>8}{'sec':>6}"
    echo(head)
    for i, row in enumerate(rows):
        rec = row["record"]
        grad = rec.gradients[0] if rec.gradients else dict.fromkeys(names, math.nan)
        step = rec.steps[0] if rec.steps else dict.fromkeys(names, 0.0)
        line = f"{i:>3}  "
        for n in names[:2]:
            line += f"{row['config'][n]:>12.3g}{grad[n]:>10.2e}{step[n]:>10.1e}"
        for n in names[2:]:
            line += f"{row['config'][n]:>7.3f}{grad[n]:>10.2e}"
        line += f"{rec.flops / plain_flops:>8.2f}{rec.wall_seconds:>6.2f}"
        echo(line)
    moves = {
        n: statistics.median(
            abs(r["nudged"][n] - r["config"][n]) / abs(r["config"][n]) for r in rows
        )
        for n in names
    }
    echo(
        "Median relative change of each hyperparameter: "
        + ", ".join(f"{SHORT[n]} {100 * v:.3g}%" for n, v in moves.items())
    )
    echo(
        "x step: warm-start FLOPs over one plain training step (forward + backward, batch "
        f"{batch_size}). With one SGD step from a zero buffer, momentum's hyper-gradient is "
        "exactly zero."
    )
