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
