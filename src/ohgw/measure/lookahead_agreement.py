"""How closely the lean K=1 lookahead (``method="lean"``) agrees with the double-backward graph.

On the tests' problems (:mod:`ohgw.testing.problems`: a small CNN with BatchNorm, SGD
heavy-ball and Nesterov, real CIFAR-10 images; a tiny GPT with AdamW, real text), in float64 and
float32, the relative difference |lean - graph| / |graph| of each hyper-gradient coordinate.
Coordinates that are zero in exact arithmetic (heavy-ball momentum, AdamW's betas after one step)
are shown as absolute differences.

    python perf/lookahead_agreement.py
"""

from __future__ import annotations

import torch

from ohgw import SGD
from ohgw import AdamW
from ohgw import Lookahead
from ohgw.data import find
from ohgw.data import load_cifar10
from ohgw.hypergrad import Problem
from ohgw.hypergrad import hypergradient
from ohgw.testing.problems import LM_CONFIG
from ohgw.testing.problems import LM_SPACE
from ohgw.testing.problems import VISION_CONFIG
from ohgw.testing.problems import VISION_SPACE
from ohgw.testing.problems import lm_batches
from ohgw.testing.problems import lm_loss
from ohgw.testing.problems import make_cnn
from ohgw.testing.problems import make_gpt
from ohgw.testing.problems import vision_batches
from ohgw.testing.problems import vision_loss

EXACT_ZERO = {"momentum", "beta1", "beta2"}  # with one step from zero state


def compare(label: str, problem: Problem, batches: list, heavy_ball: bool) -> float:
    psi = problem.space.to_psi(problem.config)
    graph = hypergradient(Lookahead(method="graph"), problem, psi, batches, 7).gradient
    lean = hypergradient(Lookahead(method="lean"), problem, psi, batches, 7).gradient
    cells, worst = [], 0.0
    for name, g, x in zip(problem.space.continuous_names, graph, lean, strict=True):
        if name in EXACT_ZERO and (heavy_ball or name != "momentum"):
            cells.append(f"{name} abs {abs(x - g):.1e}")
            continue
        relative = float(abs(x - g) / abs(g))
        worst = max(worst, relative)
        cells.append(f"{name} {relative:.1e}")
    print(f"| {label} | {worst:.1e} | {', '.join(cells)} |")
    return worst


def main() -> None:
    torch.set_num_threads(1)
    images, labels = load_cifar10("test", limit=64, dtype=torch.float64)
    text = find("tinyshakespeare/input.txt").read_text()[:20000]
    vocab = sorted(set(text))
    ids = torch.tensor([vocab.index(c) for c in text], dtype=torch.long)
    print(f"torch {torch.__version__}, 1 thread; relative |lean - graph| / |graph| per coordinate")
    print("| problem | worst relative | per coordinate |")
    print("| --- | --- | --- |")
    for dtype in (torch.float64, torch.float32):
        bits = str(dtype).removeprefix("torch.")
        batch = [(x.to(dtype), y) for x, y in vision_batches(images, labels)[:1]]
        for optimizer, name in ((SGD(), "SGD heavy-ball"), (SGD(nesterov=True), "SGD Nesterov")):
            problem = Problem(make_cnn().to(dtype), VISION_SPACE, VISION_CONFIG, vision_loss,
                              optimizer)  # fmt: skip
            compare(f"CNN+BatchNorm, {name}, {bits}", problem, batch, not optimizer.nesterov)
        optimizer = AdamW(beta1="beta1", beta2="beta2")
        problem = Problem(make_gpt().to(dtype), LM_SPACE, LM_CONFIG, lm_loss, optimizer)
        compare(f"tiny GPT, AdamW, {bits}", problem, lm_batches(ids)[:1], False)


if __name__ == "__main__":
    main()
