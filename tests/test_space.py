"""Search space: transforms, sampling, validation, conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ohgw import Categorical
from ohgw import Continuous
from ohgw import Integer
from ohgw import SearchSpace

SPACE = SearchSpace(
    [
        Continuous("lr", 1e-3, 1.0, "log"),
        Continuous("momentum", 0.5, 0.99),
        Integer("batch_size", 32, 256),
        Categorical("optimizer", ["sgd", "nesterov"]),
    ]
)


def test_psi_roundtrip_and_discrete_passthrough() -> None:
    config = {"lr": 0.1, "momentum": 0.9, "batch_size": 128, "optimizer": "sgd"}
    psi = SPACE.to_psi(config)
    assert psi.tolist() == [math.log(0.1), 0.9]
    back = SPACE.from_psi(psi, config)
    assert back["batch_size"] == 128 and back["optimizer"] == "sgd"
    assert back["lr"] == pytest.approx(0.1, rel=1e-15) and back["momentum"] == 0.9


def test_from_psi_clips_to_bounds() -> None:
    config = SPACE.sample(0)
    out = SPACE.from_psi(torch.tensor([5.0, -3.0], dtype=torch.float64), config)
    assert out["lr"] == 1.0 and out["momentum"] == 0.5
    clipped = SPACE.clip_psi(torch.tensor([5.0, -3.0], dtype=torch.float64))
    assert clipped.tolist() == [0.0, 0.5]


def test_sampling_is_seeded_and_in_bounds() -> None:
    first = [SPACE.sample(s) for s in range(50)]
    again = [SPACE.sample(np.random.default_rng(s)) for s in range(50)]
    assert first == again
    assert first[0] != first[1]
    for config in first:
        SPACE.validate(config)
    lrs = np.log10([c["lr"] for c in first])
    assert lrs.min() < -2.0 and lrs.max() > -1.0  # log-uniform over three decades


@pytest.mark.parametrize(
    ("config", "error", "match"),
    [
        (
            {"lr": 0.1, "momentum": 0.9, "batch_size": 64, "optimizer": "sgd", "depth": 3},
            ValueError,
            r"Unknown hyperparameter\(s\) \['depth'\]",
        ),
        ({"lr": 0.1, "momentum": 0.9, "batch_size": 64}, ValueError, r"missing.*'optimizer'"),
        (
            {"lr": 2.0, "momentum": 0.9, "batch_size": 64, "optimizer": "sgd"},
            ValueError,
            r"`lr` is 2.0, but must be in \[0.001, 1.0\]",
        ),
        (
            {"lr": "0.1", "momentum": 0.9, "batch_size": 64, "optimizer": "sgd"},
            TypeError,
            r"`lr` is '0.1', but must be a real number",
        ),
        (
            {"lr": 0.1, "momentum": True, "batch_size": 64, "optimizer": "sgd"},
            TypeError,
            r"`momentum` is True",
        ),
        (
            {"lr": 0.1, "momentum": 0.9, "batch_size": 64.0, "optimizer": "sgd"},
            TypeError,
            r"`batch_size` is 64.0, but must be an integer",
        ),
        (
            {"lr": 0.1, "momentum": 0.9, "batch_size": 64, "optimizer": "adam"},
            ValueError,
            r"`optimizer` is 'adam', but must be one of",
        ),
    ],
    ids=["unknown", "missing", "out-of-bounds", "wrong-type", "bool", "float-for-int", "choice"],
)
def test_validation_names_the_bad_field(config, error, match) -> None:
    with pytest.raises(error, match=match):
        SPACE.validate(config)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Continuous("lr", 1.0, 0.1), ValueError, r"bounds of `lr` are inverted"),
        (lambda: Continuous("lr", 0.0, 1.0, "log"), ValueError, r"`lr` is 0.0, but a log"),
        (lambda: Continuous("lr", 0.1, 1.0, "exp"), ValueError, r"transform of `lr`"),
        (lambda: Continuous("lr", "a", 1.0), TypeError, r"`low` bound of `lr`"),
        (lambda: Continuous("wd", 0.0, math.inf), TypeError, r"`high` bound of `wd`"),
        (lambda: Integer("n", 5, 1), ValueError, r"bounds of `n` are inverted"),
        (lambda: Categorical("c", []), ValueError, r"choices of `c` are empty"),
        (lambda: SearchSpace([Integer("n", 1, 2), Integer("n", 1, 3)]), ValueError, "repeated"),
    ],
)
def test_bad_definitions_name_the_field(make, error, match) -> None:
    with pytest.raises(error, match=match):
        make()


def test_to_psi_accepts_extra_keys_but_validate_does_not() -> None:
    config = {**SPACE.sample(1), "epochs": 10}
    SPACE.to_psi(config)
    with pytest.raises(ValueError, match="epochs"):
        SPACE.validate(config)


def test_syne_tune_config_space() -> None:
    from syne_tune.config_space import Categorical as StCategorical
    from syne_tune.config_space import Float
    from syne_tune.config_space import Integer as StInteger

    converted = SPACE.to_syne_tune()
    assert isinstance(converted["lr"], Float) and converted["lr"].lower == 1e-3
    assert converted["lr"].upper == 1.0
    assert "Log" in type(converted["lr"].sampler).__name__
    assert isinstance(converted["momentum"], Float)
    assert "Log" not in type(converted["momentum"].sampler).__name__
    assert isinstance(converted["batch_size"], StInteger)
    assert (converted["batch_size"].lower, converted["batch_size"].upper) == (32, 256)
    assert isinstance(converted["optimizer"], StCategorical)
    assert converted["optimizer"].categories == ["sgd", "nesterov"]
    sample = {k: v.sample() if hasattr(v, "sample") else v for k, v in converted.items()}
    SPACE.validate(sample)
