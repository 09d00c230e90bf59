"""ohgw.measure.ood_perplexity: the retraining follows the study's own settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ohgw.measure import ood_perplexity as ood

ROOT = Path(__file__).resolve().parents[1]


def test_the_hyper_gradient_path_is_the_studys() -> None:
    rows = ROOT / "docs" / "results" / "wikitext-pasha" / "results.csv.gz"
    assert ood.study_hypergrad(rows) == "graph"


def test_a_study_stored_before_the_setting_ran_the_graph_and_none_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "study.json").write_text(json.dumps({"config": {"benchmark": "wikitext-mini"}}))
    assert ood.study_hypergrad(tmp_path / "results.csv.gz") == "graph"
    with pytest.raises(ValueError, match=r"study\.json beside the rows"):
        ood.study_hypergrad(tmp_path / "elsewhere" / "results.csv.gz")
