"""The packed loss split equals each benchmark's own training loss, bitwise."""

from __future__ import annotations

import pytest
import torch

from ohgw.benchmarks.base import make_benchmark
from ohgw.packed.losses import loss_split

OPTIONS = {
    "cifar10-mini": {"train_size": 64, "val_size": 50, "test_size": 50, "batch_size": 16},
    "wikitext-mini": {"n_layer": 1, "n_head": 2, "n_embd": 16, "context": 8, "vocab_size": 300},
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_prepare_then_criterion_is_train_loss(name) -> None:
    benchmark = make_benchmark(name, **OPTIONS[name])
    split = loss_split(benchmark)
    config = {**benchmark.default_config, "label_smoothing": 0.1}
    torch.manual_seed(0)
    model = benchmark.build_model()
    batch = next(benchmark.train_stream(3))
    state = torch.get_rng_state()
    expected = benchmark.train_loss(model, batch, config)
    generator = torch.Generator().manual_seed(0)
    generator.set_state(state)
    got = split.loss(model, batch, {**config, "label_smoothing": torch.tensor(0.1)}, generator)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    got_float = split.loss(model, batch, config, torch.Generator().set_state(state))
    assert torch.equal(got_float, expected)  # with the same draws and floats: bitwise


def test_a_benchmark_without_a_split_is_refused() -> None:
    class Other:
        name = "mnist"

    with pytest.raises(ValueError, match="'mnist' has no packed loss split"):
        loss_split(Other())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_a_pack_prepared_at_once_is_each_trial_prepared_alone(name) -> None:
    """draw per trial, then one apply for the pack: bitwise each trial's own prepare."""
    benchmark = make_benchmark(name, **OPTIONS[name])
    split = loss_split(benchmark)
    hps = [{**benchmark.default_config, "aug_magnitude": m} for m in (0.5, 0.1234567, 1.0)]
    streams = [benchmark.train_stream(seed) for seed in (3, 4, 5)]
    indices = [stream.next_index() for stream in streams]
    generators = [torch.Generator().manual_seed(seed) for seed in (7, 8, 9)]
    alone = [
        split.prepare(streams[0].make_batch(index), hp, torch.Generator().set_state(g.get_state()))
        for index, hp, g in zip(indices, hps, generators, strict=True)
    ]
    batch = streams[0].make_batch(torch.cat(indices))
    draws = [
        split.draw(hp, g, len(indices[0]), batch) for hp, g in zip(hps, generators, strict=True)
    ]
    merged = tuple(torch.cat(parts) for parts in zip(*draws, strict=True))
    inputs, targets = split.apply(batch, hps, merged)
    assert torch.equal(inputs, torch.cat([a[0] for a in alone]))
    assert torch.equal(targets, torch.cat([a[1] for a in alone]))
    if name.startswith("cifar10"):  # the draws were real: the augmentations differ
        assert not torch.equal(alone[0][0], streams[0].make_batch(indices[0])[0])
