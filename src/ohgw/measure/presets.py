"""The benchmark presets: parameters, FLOPs and seconds per unit, and what the mini presets reach.

For each preset: parameters, training FLOPs per resource unit (FlopCounterMode on one real
training step, times the steps in a unit) and, for the mini presets, seconds per unit measured
here. Then the mini presets are trained with their default config for ``--units`` units over
``--seeds`` seeds through the trial runner, and the validation metric is printed per unit beside
the bar it should clear (mini CIFAR-10: accuracy; mini WikiText: perplexity against the unigram
perplexity of its data). The full presets are GPU presets: their FLOPs are counted on the meta
device, without data, and no time is measured here.

    python perf/presets.py [--units 10] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from itertools import pairwise

import torch
from torch.utils.flop_counter import FlopCounterMode

from ohgw.benchmarks.base import make_benchmark
from ohgw.benchmarks.cifar10 import PRESETS as CIFAR_PRESETS
from ohgw.benchmarks.cifar10 import CifarPreset
from ohgw.benchmarks.wikitext import PRESETS as LM_PRESETS
from ohgw.models import GPT
from ohgw.models import GPTConfig
from ohgw.models.resnet import CifarResNet
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial

CIFAR_BAR = (10, 0.35)  # best validation accuracy >= 0.35 within 10 epochs, in every seed


def step_flops_on_meta(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        logits = model(inputs)
        torch.nn.functional.cross_entropy(logits.flatten(0, -2), targets.flatten()).backward()
    return counter.get_total_flops()


def full_presets() -> None:
    preset: CifarPreset = CIFAR_PRESETS["full"]
    with torch.device("meta"):
        resnet = CifarResNet(preset.blocks_per_stage, preset.width)
        x, y = torch.empty(preset.batch_size, 3, 32, 32), torch.zeros(preset.batch_size).long()
        flops = step_flops_on_meta(resnet, x, y) * (45000 // preset.batch_size)
    params = sum(p.numel() for p in resnet.parameters())
    print(
        f"| cifar10-full | ResNet-20 w16 | {params / 1e6:.3f} M | 45,000 images "
        f"(1 epoch) | {flops / 1e12:.2f} TFLOP | GPU preset |"
    )
    lm = LM_PRESETS["full"]
    vocab = -(-lm.vocab_size // 64) * 64
    with torch.device("meta"):
        gpt = GPT(GPTConfig(vocab, lm.context, lm.n_layer, lm.n_head, lm.n_embd))
        tokens = torch.zeros(lm.batch_size, lm.context).long()
        flops = step_flops_on_meta(gpt, tokens, tokens) * lm.batches_per_unit
    params = sum(p.numel() for p in gpt.parameters())
    print(
        f"| wikitext-full | GPT-2 small, ctx {lm.context} | {params / 1e6:.1f} M | "
        f"{lm.batches_per_unit} x {lm.batch_size} x {lm.context} tokens | "
        f"{flops / 1e12:.1f} TFLOP | GPU preset |"
    )


def train_mini(name: str, units: int, seeds: int) -> dict[int, list[dict]]:
    benchmark = make_benchmark(name)
    runs = {}
    for seed in range(1, seeds + 1):
        spec = TrialSpec(name, benchmark.default_config, seed=seed, max_resource=units)
        runs[seed] = run_trial(spec, benchmark=benchmark)
    model = benchmark.build_model()
    params = sum(p.numel() for p in model.parameters())
    flops = runs[1][0]["train_flops"]
    seconds = statistics.median(
        b["compute_seconds"] - a["compute_seconds"]
        for rows in runs.values()
        for a, b in pairwise(rows)
    )
    facts = benchmark.describe()
    size = (
        f"{facts['train_images']:,} images (1 epoch)"
        if name.startswith("cifar")
        else f"{benchmark.batches_per_unit()} x {benchmark.preset.batch_size} x "
        f"{facts['context']} tokens"
    )
    print(
        f"| {name} | {facts['model']} | {params / 1e6:.3f} M | {size} | "
        f"{flops / 1e9:.1f} GFLOP | {seconds:.2f} s |"
    )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| preset | model | parameters | one unit | train FLOPs a unit | seconds a unit here |")
    print("| --- | --- | --- | --- | --- | --- |")
    cifar = train_mini("cifar10-mini", args.units, args.seeds)
    lm = train_mini("wikitext-mini", args.units, args.seeds)
    full_presets()

    print("\ncifar10-mini, default config, validation accuracy per epoch:")
    for seed, rows in cifar.items():
        print(f"  seed {seed}: " + " ".join(f"{r['val_metric']:.3f}" for r in rows))
    epoch, bar = CIFAR_BAR
    best = [max(r["val_metric"] for r in rows[:epoch]) for rows in cifar.values()]
    cleared = all(b >= bar for b in best)
    print(
        f"  bar: best >= {bar} within {epoch} epochs in every seed (best: "
        f"{', '.join(f'{b:.3f}' for b in best)}): {'met' if cleared else 'NOT met'}"
    )

    unigram = make_benchmark("wikitext-mini").describe()["unigram_perplexity"]
    print(
        "\nwikitext-mini, default config, validation perplexity per unit "
        f"(unigram perplexity of the data: {unigram:.1f}):"
    )
    for seed, rows in lm.items():
        print(f"  seed {seed}: " + " ".join(f"{r['val_metric']:.1f}" for r in rows))
    final = max(rows[-1]["val_metric"] for rows in lm.values())
    print(f"  worst final / unigram = {final / unigram:.2f}")


if __name__ == "__main__":
    main()
