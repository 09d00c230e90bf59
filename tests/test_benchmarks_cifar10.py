"""The CIFAR-10 benchmark: real hyper-gradients through its loss, splits, noise, presets."""

from __future__ import annotations

import pytest
import torch

from ohgw import Lookahead
from ohgw.benchmarks.base import make_benchmark
from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
from ohgw.benchmarks.cifar10 import SPACE
from ohgw.benchmarks.cifar10 import Cifar10Benchmark
from ohgw.hypergrad import Problem
from problems import check_against_fd

TINY = {
    "train_size": 64,
    "val_size": 20,
    "test_size": 20,
    "width": 4,
    "blocks_per_stage": 1,
    "batch_size": 16,
}


def test_every_psi_gets_a_finite_nonzero_hypergradient_matching_fd() -> None:
    """Through the benchmark's real loss (flip, translate, smoothed CE) and ResNet, float64."""
    benchmark = make_benchmark("cifar10-mini", **TINY)
    torch.manual_seed(0)
    model = benchmark.build_model().double()
    images, labels = next(benchmark.warm_stream(0))
    batches = [(images[:8].double(), labels[:8])]
    config = {**DEFAULT_CONFIG, "weight_decay": 5e-3}
    problem = Problem(model, SPACE, config, benchmark.train_loss, benchmark.optimizer)
    objective = Lookahead(inner_steps=2)
    check_against_fd(
        objective, problem, batches, set(SPACE.continuous_names), seed=1, step=1e-7
    )  # ReLU kinks make larger differences noisy at 1e-4


def test_full_preset_split_sizes_and_normalisation() -> None:
    benchmark = make_benchmark("cifar10-full")
    data = benchmark.data
    assert data["train"][0].shape == (45000, 3, 32, 32)
    assert data["val"][0].shape == (5000, 3, 32, 32) and data["test"][0].shape[0] == 10000
    assert torch.bincount(data["val"][1]).tolist() == [500] * 10
    assert torch.bincount(data["train"][1]).tolist() == [4500] * 10
    mean = data["train"][0].mean(dim=(0, 2, 3))
    std = data["train"][0].std(dim=(0, 2, 3))
    assert torch.allclose(mean, torch.zeros(3), atol=0.02)
    assert torch.allclose(std, torch.ones(3), atol=0.02)
    # The validation images are training images that the training split does not contain.
    train_sums = set(data["train"][0].flatten(1).sum(1).tolist())
    assert not any(s in train_sums for s in data["val"][0][:200].flatten(1).sum(1).tolist())


def test_mini_preset_sizes_and_model() -> None:
    benchmark = make_benchmark("cifar10-mini")
    facts = benchmark.describe()
    assert (facts["train_images"], facts["val_images"], facts["test_images"]) == (2048, 1000, 1000)
    assert torch.bincount(benchmark.data["train"][1]).tolist() == [205] * 8 + [204] * 2
    assert benchmark.batches_per_unit() == 16
    params = sum(p.numel() for p in make_benchmark("cifar10-full").build_model().parameters())
    assert 0.26e6 < params < 0.28e6  # ResNet-20: about 0.27 M


def test_label_noise_rate_is_fifteen_percent() -> None:
    clean = make_benchmark("cifar10-mini").data["train"][1]
    noisy = make_benchmark("cifar10-mini", label_noise=0.15).data["train"][1]
    rate = (clean != noisy).float().mean().item()
    assert abs(rate - 0.15) <= 0.01
    again = make_benchmark("cifar10-mini", label_noise=0.15).data["train"][1]
    assert torch.equal(noisy, again)  # seeded by data_seed


def test_streams_are_seeded_resumable_and_independent() -> None:
    benchmark = make_benchmark("cifar10-mini", **TINY)
    stream = benchmark.train_stream(5)
    first = [next(stream)[1] for _ in range(6)]  # crosses an epoch (4 batches an epoch)
    replay = benchmark.train_stream(5)
    replay.restore({"epoch": 1, "position": 0})
    assert torch.equal(next(replay)[1], first[4])
    assert not torch.equal(next(benchmark.train_stream(6))[1], first[0])
    assert not torch.equal(next(benchmark.warm_stream(5))[1], first[0])


def test_unknown_preset_and_oversized_batches_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown cifar10 preset 'huge'"):
        Cifar10Benchmark(preset="huge")
    with pytest.raises(ValueError, match="`batch_size` is 128, but the data have only 64"):
        make_benchmark("cifar10-mini", **{**TINY, "batch_size": 128}).train_stream(0)
