"""Shards on every engine: ``shard=i/n`` runs the seeds ``seed_list[i::n]`` (each seed's pairs),
the shards' union is the study, and the unsharded command after them runs nothing again.

The pair loop (:mod:`ohgw.study.runner`) is the same for every engine; the simulated case is
fast, the wall-clock engines start real processes (a tuner, a local Ray instance, an Optuna
worker) and are marked slow.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS

TINY = TINY_CIFAR
ENGINES = {
    "simulated": {"budget": 2.0, "flops_per_second": TINY_FLOPS, "workers": 2},
    # wall-clock seconds per pair: a cap that holds on a busy machine; a pair ends when its
    # one trial stops
    "real": {"budget": 300.0, "workers": 1, "max_trials": 1},
    "ray": {"budget": 300.0, "workers": 1, "max_trials": 1},
    "optuna": {"budget": 300.0, "workers": 1, "max_trials": 1},
}


def _config(directory: Path, engine: str, **changes: Any) -> StudyConfig:
    settings = {
        "directory": str(directory),
        "benchmark": "cifar10-mini",
        "benchmark_options": dict(TINY),
        "scheduler": "asha",
        "variants": ["baseline"],
        "seeds": 2,
        "max_resource": 2,
        "threads": 1,
        "engine": engine,
    }
    return StudyConfig(**{**settings, **ENGINES[engine], **changes})


def _run(config: StudyConfig) -> list[tuple[str, int]]:
    """Run the study; the pairs it ran (each pair the loop hands over prints one line)."""
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(config, progress=False, echo=lines.append)
    ran = [re.match(r"^[\w ]+: (\S+), seed (\d+): \d+ trials, ", line) for line in lines]
    return [(m[1], int(m[2])) for m in ran if m]


def _state(directory: Path) -> tuple[set[tuple[str, int]], list[dict[str, Any]]]:
    with Store(directory) as store:
        return set(store.done()), store.rows()


@pytest.mark.parametrize(
    "engine",
    [
        "simulated",
        pytest.param("real", marks=pytest.mark.slow),
        pytest.param("ray", marks=pytest.mark.slow),
        pytest.param("optuna", marks=pytest.mark.slow),
    ],
)
def test_two_shards_then_unsharded_run_each_pair_once(tmp_path: Path, engine: str) -> None:
    directory = tmp_path / "study"
    first = _run(_config(directory, engine, shard="0/2"))
    done, rows = _state(directory)
    assert done == {("baseline", 0)}, "shard 0/2 runs seed 0 only"
    assert {(r["variant"], r["seed"]) for r in rows} <= {("baseline", 0)}
    assert first == [("baseline", 0)]

    second = _run(_config(directory, engine, shard="1/2"))
    done, union = _state(directory)
    assert done == {("baseline", 0), ("baseline", 1)}
    assert [r for r in union if r["seed"] == 0] == rows  # shard 1 left seed 0 alone
    assert second == [("baseline", 1)]

    third = _run(_config(directory, engine))
    assert third == []  # every pair ran exactly once, in its shard
    assert _state(directory) == (done, union)
    assert union, "the study has rows"
    exported = (directory / "results.csv").read_text().splitlines()
    assert len(exported) == len(union) + 1


def test_shards_split_by_seed_round_robin_with_every_variant_together(tmp_path: Path) -> None:
    from ohgw.study.plan import validate
    from ohgw.study.runner import shard_pairs

    config = _config(
        tmp_path, "simulated", variants=["baseline", "ohgw"], seeds=5, first_seed=100, shard="1/2"
    )
    pairs = [(p.label, p.seed) for p in shard_pairs(validate(config))]
    assert pairs == [("baseline", 101), ("ohgw", 101), ("baseline", 103), ("ohgw", 103)]


def test_a_shard_exports_and_counts_finished_pairs_only(tmp_path: Path) -> None:
    """Rows of a pair another shard has not finished stay out of results.csv and the summary."""
    config = _config(tmp_path, "simulated", shard="0/2")
    # shard 1/2 cut off after one unit of seed 1: its first row stored, the pair not done
    _run(_config(tmp_path / "other", "simulated", shard="1/2"))
    with Store(tmp_path / "other") as store:
        partial = store.rows("baseline", 1)[:1]
    with Store(tmp_path) as store:
        store.add_rows(partial)
    lines: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = run_study(config, progress=False, echo=lines.append)
    exported = (tmp_path / "results.csv").read_text().splitlines()
    seeds = {line.split(",")[1] for line in exported[1:]}
    assert seeds == {"0"}, "the unfinished pair of seed 1 is not exported"
    assert table["baseline"]["seeds"] == 1
    with Store(tmp_path) as store:
        assert table["baseline"]["units"] == len(store.rows("baseline", 0))
