"""ohgw.analysis.results_table: RESULTS.md's table, one row per treated variant of a study."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

from ohgw.analysis import results_table
from ohgw.analysis.evidence import analyse
from ohgw.analysis.figures import load_study
from ohgw.study.config import StudyConfig
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The baseline and the warm start, two seeds on tiny CIFAR-10."""
    directory = tmp_path_factory.mktemp("tiny-asha")
    config = StudyConfig(
        directory=str(directory), benchmark="cifar10-mini", benchmark_options=TINY_CIFAR,
        variants=["baseline", "ohgw"], seeds=2, workers=2, budget=3.0, max_resource=3,
        flops_per_second=TINY_FLOPS, tau=0.15,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_study(config, progress=False, echo=lambda _: None)
    return directory


def test_a_confidence_interval_cell_is_scaled_with_its_p_value() -> None:
    change = {"relative_change": -0.1234, "ci_low": -0.2, "ci_high": 0.05, "p_value": 0.0312}
    assert results_table._ci(change, "relative_change", 100, " %") == (
        "-12.3 % (-20.0, +5.0), p = 0.031"
    )
    no_test = {"mean_difference": 1.25, "ci_low": 0.5, "ci_high": 2.0, "p_value": math.nan}
    assert results_table._ci(no_test, "mean_difference", 1, " ppl") == "+1.2 ppl (+0.5, +2.0)"
    assert results_table._ci(None, "relative_change", 100, " %") == "n/a"


def test_the_table_has_a_row_per_treated_variant_from_the_studys_evidence(
    study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert results_table.main([f"{study}/"]) == 0
    header, rule, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("| study | variant | vs | paired seeds |")
    assert rule == "| --- | --- | --- | --- | --- | --- | --- | --- |"
    assert len(rows) == 1  # the baseline is the row's partner, not a row
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:4] == [study.name, "ohgw", "baseline", "2"]
    data = load_study(study)
    evidence = analyse(data, 0.15)["evidence"]["ohgw"]
    assert cells[6] == f"{100 * evidence['overhead']['warm_flops_share']:.2f} %"
    assert cells[7] == f"{results_table._move(data, 'ohgw'):.4f}"
    assert float(cells[7]) > 0  # the warm start moved the configurations
    assert results_table._move(data, "baseline") == 0  # no warm start: psi is psi0
