"""The pair loop's papercuts (issue 16): no empty run marked done; no empty folders left; a
failed or stopped study exports what it finished (issue 29)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ohgw.store import MEASURED
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.engines.simulated import SimulatedEngine
from ohgw.study.runner import _remove_empty_folders
from ohgw.study.runner import dry_run
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train_size": 128, "val_size": 64, "test_size": 64, "width": 4}
TWO_SEEDS = {
    "benchmark": "cifar10-mini", "variants": ["baseline"], "seeds": 2, "workers": 1,
    "budget": 1.0, "max_resource": 2, "flops_per_second": 1e10, "threads": 1,
}  # fmt: skip


def test_empty_checkpoint_folders_are_removed_and_kept_checkpoints_stay(tmp_path) -> None:
    root = tmp_path / "checkpoints"
    (root / "baseline" / "0").mkdir(parents=True)
    (root / "ohgw" / "1" / "7").mkdir(parents=True)
    (root / "ohgw" / "1" / "7" / "state.pt").write_bytes(b"paused")
    _remove_empty_folders(root)
    assert not (root / "baseline").exists()
    assert (root / "ohgw" / "1" / "7" / "state.pt").exists()
    (root / "ohgw" / "1" / "7" / "state.pt").unlink()
    _remove_empty_folders(root)
    assert not root.exists()


def test_a_budget_below_one_unit_is_refused_with_the_units_cost_and_nothing_marked_done(
    tmp_path,
) -> None:
    config = StudyConfig(
        directory=str(tmp_path),
        benchmark="cifar10-mini",
        benchmark_options=TINY_CIFAR,
        variants=["baseline"],
        seeds=1,
        workers=1,
        budget=1e-6,
        max_resource=3,
        flops_per_second=TINY_FLOPS,
        threads=1,
    )
    with pytest.raises(ValueError, match=r"first unit costs \d[\d.e+-]* seconds\. Raise `budget`"):
        run_study(config, progress=False, echo=lambda _: None)
    with Store(tmp_path) as store:
        assert store.done() == {} and store.rows() == []
    assert not (tmp_path / "checkpoints").exists()  # the failed study left no empty folders
    # nothing ran, so the directory pins no settings: the same study with a larger budget runs
    table = run_study(replace(config, budget=3.0), progress=False, echo=lambda _: None)
    assert table["baseline"]["units"] > 0
    with Store(tmp_path) as store:  # recorded for the analysis, which builds no benchmark
        assert store.get_meta("metric") == {"metric": "accuracy", "mode": "max"}


def test_a_study_refused_for_other_settings_leaves_the_store_byte_for_byte(tmp_path) -> None:
    config = StudyConfig(directory=str(tmp_path), **{**TWO_SEEDS, "seeds": 1},
                         benchmark_options=TINY_CIFAR)  # fmt: skip
    config = replace(config, flops_per_second=TINY_FLOPS)
    run_study(config, progress=False, echo=lambda _: None)
    path = tmp_path / "results.sqlite"
    before, modified = path.read_bytes(), path.stat().st_mtime_ns
    other = replace(config, budget=2.0)
    for name, attempt in [("run", lambda: run_study(other, progress=False)),
                          ("dry run", lambda: dry_run(other))]:  # fmt: skip
        with pytest.raises(ValueError, match=r"other settings \(budget: stored 1\.0, now 2\.0\)"):
            attempt()
        assert path.read_bytes() == before and path.stat().st_mtime_ns == modified, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.sqlite"]


def _two_seeds(directory: Path) -> StudyConfig:
    return StudyConfig(directory=str(directory), benchmark_options=dict(TINY), **TWO_SEEDS)


def _exported_pairs(directory: Path) -> list[tuple[str, int]]:
    """The pairs whose rows results.csv holds, checked against the store's rows of them."""
    lines = (directory / "results.csv").read_text().splitlines()
    pairs = sorted({(line.split(",")[0], int(line.split(",")[1])) for line in lines[1:]})
    with Store(directory) as store:
        assert set(store.done()) == set(pairs)
        expected = directory / "expected.csv"
        store.export_csv(expected, exclude=MEASURED, done_only=True)
    assert (directory / "results.csv").read_bytes() == expected.read_bytes()
    return pairs


class _FailsInSecondPair(SimulatedEngine):
    def run_pair(self, study: Any, pair: Any, store: Store, progress: Any) -> dict[str, Any]:
        if store.done():
            raise RuntimeError("the engine failed in the second pair")
        return super().run_pair(study, pair, store, progress)


def test_a_study_that_fails_in_its_second_pair_exports_its_first(tmp_path: Path) -> None:
    """results.csv used to be written only when a run ended normally: a failed or stopped
    run left an older one (or none) beside a store with more finished pairs."""
    with pytest.raises(RuntimeError, match="the engine failed in the second pair"):
        run_study(
            _two_seeds(tmp_path), progress=False, echo=lambda _: None, engine=_FailsInSecondPair()
        )
    assert _exported_pairs(tmp_path) == [("baseline", 0)]


STOPPED_IN_SECOND_PAIR = """
import pathlib, sys, time
from ohgw.study.engines import simulated

run_pair = simulated.SimulatedEngine.run_pair


def run_pair_then_wait(self, study, pair, store, progress):
    if store.done():  # the second pair: say so, and wait for SIGTERM
        pathlib.Path(sys.argv[1]).touch()
        time.sleep(120)
    return run_pair(self, study, pair, store, progress)


simulated.SimulatedEngine.run_pair = run_pair_then_wait
from ohgw.cli import main

sys.exit(main(sys.argv[2:]))
"""


def test_ohgw_study_stopped_by_sigterm_exports_what_it_finished(tmp_path: Path) -> None:
    """``run_shards.py``'s deadline, ``timeout`` and Slurm stop a study with SIGTERM, which used
    to end the process at once, before the export."""
    options = ",".join(f"{k}:{v}" for k, v in TINY.items())
    settings = [f"{k}={v}" for k, v in TWO_SEEDS.items() if k != "variants"]
    settings += [f"directory={tmp_path / 'study'}", "variants=[baseline]"]
    settings += [f"+benchmark_options={{{options}}}"]
    waiting = tmp_path / "in-second-pair"
    process = subprocess.Popen(
        [sys.executable, "-c", STOPPED_IN_SECOND_PAIR, str(waiting), "study", *settings,
         "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not waiting.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert waiting.exists(), process.communicate(timeout=10)[0]
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 128 + signal.SIGTERM, output
    assert _exported_pairs(tmp_path / "study") == [("baseline", 0)]
