"""The README's five-line integration runs: alone, without its OHGW lines, and under syne-tune."""

from __future__ import annotations

import ast
import json
import math
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "syne_tune_cifar10.py"
CONFIG = {
    "lr": 0.1,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "aug_magnitude": 0.5,
    "label_smoothing": 0.1,
}
ARGS = [f"--{k}={v}" for k, v in CONFIG.items()]
ARGS += ["--epochs=2", "--train_size=64", "--batch_size=32"]


def run_script(path: Path) -> list[dict]:
    done = subprocess.run(
        [sys.executable, str(path), *ARGS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(m) for m in re.findall(r"\[tune-metric\]: (\{.*\})", done.stdout)]


def test_the_at_most_five_marked_lines_are_the_whole_integration() -> None:
    lines = EXAMPLE.read_text().splitlines()
    marked = [line for line in lines if line.endswith("# ohgw")]
    assert 1 <= len(marked) <= 5, marked
    api = re.compile(r"\b(warm_start|SGD|record|warm)\b")
    assert all(api.search(line) for line in marked), marked  # each marked line is the warm start
    rest = ast.parse("\n".join(line for line in lines if not line.endswith("# ohgw")) + "\n")
    names = {n.id for n in ast.walk(rest) if isinstance(n, ast.Name)}
    imported = {a.asname or a.name for n in ast.walk(rest) if isinstance(n, ast.ImportFrom)
                for a in n.names}  # fmt: skip
    # what is left parses and names nothing of the warm start: no unmarked line belongs to it
    assert not ({"warm_start", "SGD", "record", "warm"} & (names | imported))
    assert "warm_start" in EXAMPLE.read_text()  # (the check above would pass on any script)


def test_example_runs_with_and_without_the_warm_start(tmp_path) -> None:
    with_ohgw = run_script(EXAMPLE)
    assert [r["epoch"] for r in with_ohgw] == [1, 2]
    assert with_ohgw[0]["lr"] != CONFIG["lr"]  # the warm start moved it, by a little
    # the default (the paper's step, eta_h 1e-3) moves log lr far less than 1 % of its range
    assert abs(math.log(with_ohgw[0]["lr"] / CONFIG["lr"])) < 0.01 * math.log(1e3)

    stripped = tmp_path / "baseline.py"
    lines = EXAMPLE.read_text().splitlines()
    stripped.write_text("\n".join(line for line in lines if not line.endswith("# ohgw")) + "\n")
    baseline = run_script(stripped)
    assert [r["epoch"] for r in baseline] == [1, 2]
    assert {k: baseline[0][k] for k in CONFIG} == CONFIG


@pytest.mark.slow  # 20 s of CPU; the default tier runs syne-tune's real Tuner in
# test_study_realclock.py and this example's script alone (with and without the warm start)
def test_example_under_a_real_syne_tune_tuner(tmp_path, monkeypatch) -> None:
    """examples/syne_tune_launch.py's own launch, two trials: the example script reports to a
    real Tuner with ASHA."""
    monkeypatch.chdir(tmp_path)  # the tuner leaves a std.out in the working directory
    monkeypatch.setenv("SYNETUNE_FOLDER", str(tmp_path))
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    launch = runpy.run_path(str(EXAMPLE.with_name("syne_tune_launch.py")))["launch"]
    tuner = launch(trials=2)
    assert tuner.tuning_status.num_trials_finished >= 2


def test_readme_shows_the_example_verbatim_and_starts_with_two_commands() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    assert EXAMPLE.read_text().rstrip("\n") in readme
    first_block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["bash scripts/main.sh", "bash scripts/test.sh"]
    ci = (EXAMPLE.parents[1] / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


LAUNCH = EXAMPLE.with_name("syne_tune_launch.py")


def test_readme_shows_the_tuner_launch_verbatim_with_the_working_import() -> None:
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    text = LAUNCH.read_text()
    assert text.rstrip("\n") in readme
    assert "from syne_tune.optimizer.legacy_baselines import ASHA" in text
    from ohgw import SGD

    assert (SGD().lr, SGD().weight_decay, SGD().momentum) == ("lr", "weight_decay", "momentum")


@pytest.mark.slow
def test_the_tuner_launch_runs_without_the_deprecation_notice(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, str(LAUNCH)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "SYNETUNE_FOLDER": str(tmp_path), "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr
    assert "trials finished: " in done.stdout
    assert "is deprecated and will be removed" not in done.stdout + done.stderr
