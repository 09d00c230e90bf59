"""The packed engine: many pairs of a study on the simulated clock, their units in packs;
byte-identical tables on a rerun and after kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import warnings

import pytest
import torch

from ohgw.study.config import StudyConfig
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS

TINY = TINY_CIFAR
SETTINGS = {
    "benchmark": "cifar10-mini",
    "benchmark_options": TINY,
    "variants": ["baseline", "ohgw"],
    "seeds": 2,
    "workers": 2,
    "budget": 2.0,
    "max_resource": 2,
    "flops_per_second": TINY_FLOPS,
    "engine": "packed",
    "pack": 4,
}


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_a_packed_study_run_twice_exports_byte_identical_tables(tmp_path) -> None:
    for name in ("a", "b"):
        config = StudyConfig(directory=str(tmp_path / name), **SETTINGS)
        run_study(config, progress=False, echo=lambda _: None)
    a = (tmp_path / "a" / "results.csv").read_bytes()
    assert a == (tmp_path / "b" / "results.csv").read_bytes()
    assert a.count(b"\n") > 8 and b"baseline,1," in a and b"ohgw,1," in a
    assert not any((tmp_path / "a").rglob("*.pt"))  # checkpoints removed as pairs end


def test_pack_must_be_a_positive_int(tmp_path) -> None:
    config = StudyConfig(directory=str(tmp_path), **{**SETTINGS, "pack": 0})
    with pytest.raises(ValueError, match="`pack` is 0"):
        run_study(config, progress=False, echo=lambda _: None)


def _rows(path) -> int:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_9_at_three_moments_and_rerun_gives_the_same_table(tmp_path) -> None:
    """Minutes: four study processes (three killed)."""
    overrides = [f"{k}={v}" for k, v in SETTINGS.items() if k != "benchmark_options"]
    overrides = [o.replace("'", "").replace(" ", "") for o in overrides]
    overrides.append("+benchmark_options={" + ",".join(f"{k}:{v}" for k, v in TINY.items()) + "}")
    overrides.append(f"threads={torch.get_num_threads()}")
    reference = tmp_path / "reference"
    killed = tmp_path / "killed"

    def command(directory):
        base = [sys.executable, "-m", "ohgw.cli", "study", *overrides]
        return [*base, f"directory={directory}", "--no-progress"]

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command(reference), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = (reference / "results.csv").read_bytes()
    for threshold in (1, 5, 9):  # early, in a later pack, and near the end
        process = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL)
        deadline = time.time() + 900
        while _rows(killed / "results.sqlite") < threshold and process.poll() is None:
            assert time.time() < deadline, "the study made no progress"
            time.sleep(0.05)
        assert process.poll() is None, "the study ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    done = subprocess.run(command(killed), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (killed / "results.csv").read_bytes() == expected
