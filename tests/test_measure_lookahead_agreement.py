"""ohgw.measure.lookahead_agreement (perf/lookahead_agreement.py): the lean lookahead's
hyper-gradient agrees with the graph's on the shared problems, and the table says so."""

from __future__ import annotations

import re

import pytest
import torch

from ohgw.measure import lookahead_agreement


def test_every_problem_agrees_to_float_precision(capsys: pytest.CaptureFixture[str]) -> None:
    threads = torch.get_num_threads()
    try:
        lookahead_agreement.main()
    finally:
        torch.set_num_threads(threads)
    lines = capsys.readouterr().out.splitlines()
    rows = [x for x in lines if x.startswith("| ") and x[2:9] in ("CNN+Bat", "tiny GP")]
    assert len(rows) == 6  # 3 problems x float64, float32
    for row in rows:
        worst = float(row.split("|")[2])
        bound = 1e-6 if "float64" in row else 1e-2
        assert worst < bound, row
        assert re.search(r"(momentum|beta1) abs 0\.0e\+00", row) or "Nesterov" in row, row
