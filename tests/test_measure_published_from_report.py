"""ohgw.measure.published_from_report: the committed study.json files are what it recovers from
the study file, the rows and the report committed beside them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ohgw.measure import published_from_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["cifar10-asha", "cifar10-full-asha"])
def test_the_committed_settings_are_recovered_again(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cifar10-full-asha's report leaves four unfinished runs out; cifar10-asha's none."""
    folder = tmp_path / name
    folder.mkdir()
    for file in ("report.md", "results.csv.gz"):
        shutil.copy(ROOT / "docs" / "results" / name / file, folder / file)
    monkeypatch.chdir(ROOT)  # the study file is read from studies/
    assert published_from_report.main([str(folder)]) == 0
    recovered = json.loads((folder / "study.json").read_text())
    committed = json.loads((ROOT / "docs" / "results" / name / "study.json").read_text())
    for key in ("finished", "measured", "slurm", "source"):
        assert recovered[key] == committed[key], key
    # settings that StudyConfig gained after the recovery are there too, at their old defaults
    for key, value in committed["config"].items():
        assert recovered["config"][key] == value, key
    assert recovered["config"]["hypergrad"] == "graph"
    assert not {"directory", "shard", "clock", "address"} & set(recovered["config"])


def test_the_measured_table_and_the_vram_verdict_are_read() -> None:
    report = "\n".join(
        [
            "| baseline | 1.00 % | 0.00 % | 100 MiB (cuda_max_allocated) |",
            "| ohgw | 1.00 % | 2.50 % | 101 MiB (cuda_max_allocated) |",
            "- VRAM: peak memory increase 1.23 % over 10 trials",
        ]
    )
    measured = published_from_report.measured(report)
    assert measured["baseline"] == {
        "warm_seconds_share": 0.0,
        "peak_memory_bytes": 100 * 2**20,
        "memory_measure": "cuda_max_allocated",
    }
    assert measured["ohgw"]["warm_seconds_share"] == 0.025
    assert measured["ohgw"]["peak_memory_bytes"] == round(100 * 2**20 * 1.0123)
