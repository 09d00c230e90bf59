"""ohgw.measure.replay (scripts/replay_scheduler.py): a study's scheduler replayed from its rows,
without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohgw.measure import replay as replay_scheduler
from ohgw.study.config_files import load_study_config
from ohgw.study.runner import run_study

STUDY = """\
benchmark: cifar10-mini
benchmark_options: {train_size: 128, val_size: 64, test_size: 64, width: 4}
scheduler: asha
variants: [baseline]
seeds: 1
workers: 2
budget: 2.0
max_resource: 3
flops_per_second: 1.0e+10
threads: 1
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny study file and the results.csv its run wrote."""
    root = tmp_path_factory.mktemp("replay")
    config_file = root / "tiny.yaml"
    config_file.write_text(STUDY)
    run_study(load_study_config([f"directory={root / 'run'}"], config_file), progress=False)
    return config_file, root / "run" / "results.csv"


def test_the_replay_makes_every_stored_decision_again(
    study: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config_file, rows = study
    trials = {line.split(",")[2] for line in rows.read_text().splitlines()[1:]}
    assert replay_scheduler.replay(config_file, rows, seed=0, variant="baseline") == []
    assert capsys.readouterr().out.count("as committed") == len(trials) >= 3


def test_a_changed_configuration_is_named_with_its_trial(
    study: tuple[Path, Path], tmp_path: Path
) -> None:
    config_file, rows = study
    header, *lines = rows.read_text().splitlines()
    column = header.split(",").index("config.lr")
    first_units = [i for i, line in enumerate(lines) if line.split(",")[3] == "1"]
    index = first_units[1]  # the second trial's first unit
    cells = lines[index].split(",")
    trial, committed = cells[2], cells[column]
    cells[column] = repr(float(committed) * 2)
    lines[index] = ",".join(cells)
    changed = tmp_path / "changed.csv"
    changed.write_text("\n".join([header, *lines]) + "\n")
    differences = replay_scheduler.replay(config_file, changed, seed=0, variant="baseline")
    assert differences == [
        f"trial {trial}: lr is {float(committed)!r} here, {cells[column]} committed"
    ]
