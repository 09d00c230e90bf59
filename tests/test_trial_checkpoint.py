"""Trial checkpoints: tensors and plain data read without running code; a damaged or planted
one replays the trial (the same rows), or stops with an error naming the file (issue 28)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ohgw.benchmarks.base import make_benchmark
from ohgw.benchmarks.cifar10 import DEFAULT_CONFIG
from ohgw.study.config import StudyConfig
from ohgw.study.engines import simulated
from ohgw.study.runner import run_study
from ohgw.trial import TrialSpec
from ohgw.trial import WarmStartSettings
from ohgw.trial import run_trial
from ohgw.trial.checkpoint import CHECKPOINT_FILE
from ohgw.trial.checkpoint import PROGRESS_FILE
from ohgw.trial.checkpoint import CheckpointError
from ohgw.trial.checkpoint import CheckpointWarning
from ohgw.trial.checkpoint import read_checkpoint
from problems import TINY_CIFAR
from problems import TINY_FLOPS

MEASURED = {"compute_seconds", "warm_seconds", "peak_memory_bytes"}


@pytest.fixture(scope="module")
def tiny():
    return make_benchmark("cifar10-mini", **TINY_CIFAR)


def spec(folder: Path | None, max_resource: int) -> TrialSpec:
    return TrialSpec(
        benchmark="cifar10-mini",
        config=DEFAULT_CONFIG,
        seed=5,
        max_resource=max_resource,
        warm_start=WarmStartSettings(mode="gradient", eta_h=0.01),
        benchmark_options=TINY_CIFAR,
        checkpoint_dir=None if folder is None else str(folder),
    )


def computed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in MEASURED} for row in rows]


class Planted:
    """Unpickled, it creates ``marker`` (``open(marker, "w")``): what a planted file can do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def plant(path: Path, marker: Path) -> None:
    """A checkpoint-shaped file whose unpickling would run code, as ``torch.save`` writes it."""
    torch.save({"spec": Planted(marker), "model": {}, "optimizer": {}}, path)


@contextlib.contextmanager
def no_code_ran(marker: Path) -> Iterator[None]:
    """Check, however the block ends, that no planted file ran its code."""
    try:
        yield
    finally:
        assert not marker.exists(), "the planted file ran its code when it was read"


def test_the_planted_file_would_run_code_when_unpickled(tmp_path: Path) -> None:
    plant(tmp_path / "file.pt", tmp_path / "ran")
    torch.load(tmp_path / "file.pt", weights_only=False)["spec"].close()  # what 0.1 did
    assert (tmp_path / "ran").exists()


def test_a_checkpoint_holds_only_tensors_and_plain_data(tiny, tmp_path: Path) -> None:
    run_trial(spec(tmp_path, 2), benchmark=tiny)
    payload = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)

    def kinds(value) -> set[type]:
        if isinstance(value, dict):
            return {dict} | {t for v in value.values() for t in kinds(v)}
        if isinstance(value, (list, tuple)):
            return {type(value)} | {t for v in value for t in kinds(v)}
        return {type(value)}

    assert kinds(payload) <= {dict, list, tuple, int, float, str, bool, type(None), torch.Tensor}
    assert len(payload["reports"]) == 2
    assert (tmp_path / PROGRESS_FILE).read_text() == '{"units": 2}'


def test_a_planted_checkpoint_runs_no_code_and_the_trial_is_replayed(tiny, tmp_path: Path) -> None:
    straight = run_trial(spec(None, 3), benchmark=tiny)
    run_trial(spec(tmp_path, 1), benchmark=tiny)
    marker = tmp_path / "ran"
    plant(tmp_path / CHECKPOINT_FILE, marker)
    seen: list[dict] = []
    with (
        no_code_ran(marker),
        pytest.warns(CheckpointWarning, match=str(tmp_path / CHECKPOINT_FILE)),
    ):
        rows = run_trial(spec(tmp_path, 3), seen.append, benchmark=tiny)
    assert computed(rows) == computed(straight)  # replayed from the seed: the same rows
    assert [r["resource"] for r in seen] == [2, 3]  # unit 1 was reported before the pause
    assert read_checkpoint(spec(tmp_path, 3))["reports"][-1]["resource"] == 3  # replaced


def test_a_planted_checkpoint_without_its_unit_count_stops_naming_the_file(
    tiny, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    plant(tmp_path / CHECKPOINT_FILE, marker)  # a folder holding only the planted file
    with no_code_ran(marker), pytest.raises(CheckpointError) as error:
        run_trial(spec(tmp_path, 2), benchmark=tiny)
    message = str(error.value)
    assert str(tmp_path / CHECKPOINT_FILE) in message and "cannot be read safely" in message
    assert f"Remove the folder {tmp_path}" in message
    assert isinstance(error.value, ValueError)  # `ohgw study` exits 2 with it


def test_a_truncated_checkpoint_is_replayed_with_the_same_rows(tiny, tmp_path: Path) -> None:
    straight = run_trial(spec(None, 3), benchmark=tiny)
    run_trial(spec(tmp_path, 2), benchmark=tiny)
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # cut short, as a full disk
    seen: list[dict] = []
    with pytest.warns(CheckpointWarning, match="replayed from its start to unit 2"):
        rows = run_trial(spec(tmp_path, 3), seen.append, benchmark=tiny)
    assert computed(rows) == computed(straight)
    assert [r["resource"] for r in seen] == [3]


def test_a_checkpoint_of_the_older_format_still_loads(tiny, tmp_path: Path) -> None:
    """Checkpoints before issue 28 held the same payload without checkpoint.json beside it:
    they load with weights_only as they are (checked on checkpoints the old code wrote)."""
    straight = run_trial(spec(None, 3), benchmark=tiny)
    run_trial(spec(tmp_path, 2), benchmark=tiny)
    (tmp_path / PROGRESS_FILE).unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)  # loaded, not replayed
        rows = run_trial(spec(tmp_path, 3), benchmark=tiny)
    assert computed(rows)[2] == computed(straight)[2]
    # rows 1-2 come from the checkpoint, which a run to unit 2 wrote: row 2 says "completed"
    assert [r["val_metric"] for r in rows] == [r["val_metric"] for r in straight]


def test_numpy_numbers_a_benchmark_reports_are_saved_as_python_numbers(
    tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """weights_only refuses numpy scalars: saved as they came, every resume would replay."""
    evaluate = tiny.evaluate
    monkeypatch.setattr(tiny, "evaluate", lambda *a, **k: np.float64(evaluate(*a, **k)))
    run_trial(spec(tmp_path, 1), benchmark=tiny)
    payload = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)
    assert type(payload["reports"][0]["val_metric"]) is float
    with warnings.catch_warnings():
        warnings.simplefilter("error", CheckpointWarning)  # loaded, not replayed
        assert len(run_trial(spec(tmp_path, 2), benchmark=tiny)) == 2


def test_a_study_with_truncated_checkpoints_continues_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study stopped between units leaves its paused and running trials' checkpoints; cut
    short, they are replayed and the study ends with the rows of an uninterrupted run."""

    def study(directory: Path) -> StudyConfig:
        pauses = {"scheduler": "hyperband", "max_resource": 3}  # paused trials: checkpoints
        tiny = {"benchmark_options": dict(TINY_CIFAR), "flops_per_second": TINY_FLOPS}
        pair = {"variants": ["baseline"], "seeds": 1, "workers": 2, "budget": 3.0}
        return StudyConfig(directory=str(directory), **pauses, **tiny, **pair)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(study(tmp_path / "straight"), progress=False, echo=lambda _: None)
    expected = (tmp_path / "straight" / "results.csv").read_bytes()

    real, calls = simulated.run_trial, []

    def stopped_at_the_sixth_unit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # as Ctrl-C between two units
        return real(*args, **kwargs)

    monkeypatch.setattr(simulated, "run_trial", stopped_at_the_sixth_unit)
    with warnings.catch_warnings(), pytest.raises(KeyboardInterrupt):
        warnings.simplefilter("ignore")
        run_study(study(tmp_path / "cut"), progress=False, echo=lambda _: None)
    monkeypatch.setattr(simulated, "run_trial", real)
    left = sorted((tmp_path / "cut" / "checkpoints").rglob(CHECKPOINT_FILE))
    assert left  # else the test would prove nothing
    for path in left:
        path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(CheckpointWarning) as caught:
        run_study(study(tmp_path / "cut"), progress=False, echo=lambda _: None)
    replayed = {Path(str(w.message).split()[3]) for w in caught if w.category is CheckpointWarning}
    assert replayed and replayed <= set(left)
    assert (tmp_path / "cut" / "results.csv").read_bytes() == expected
