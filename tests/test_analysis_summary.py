"""The terminal summary and the report show one number for one thing (issue 26)."""

from __future__ import annotations

import re

from ohgw.analysis import report as rp
from ohgw.analysis.summary import summary_text
from ohgw.store import Store
from ohgw.study.config import StudyConfig
from ohgw.study.runner import run_study
from problems import TINY_CIFAR
from problems import TINY_FLOPS


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_terminal_and_report_print_the_same_t_tau_trials_and_units_with_a_censored_run(
    tmp_path,
) -> None:
    config = StudyConfig(
        directory=str(tmp_path), benchmark="cifar10-mini", benchmark_options=TINY_CIFAR,
        variants=["baseline", "ohgw"], seeds=3, workers=2, budget=1.5, max_resource=2,
        flops_per_second=TINY_FLOPS, threads=1,
    )  # fmt: skip
    run_study(config, progress=False, echo=lambda _: None)
    with Store(tmp_path) as store:
        rows = store.rows()
    bests = sorted(max(r["val_metric"] for r in rows if r["seed"] == s) for s in range(3))
    tau = bests[1]  # the best of the middle seed: at least one run of each arm never gets there
    terminal = summary_text(tmp_path, tau)
    data = rp.load(tmp_path)  # report.md's text as write_report writes it, less the figures
    report = rp._md(rp._blocks(data, rp.analyse(data, tau), []))
    table = report.split("## Overview", 1)[1].split("##", 1)[0]
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    head, body = _cells(lines[0]), [_cells(line) for line in lines[2:]]
    assert head[2:4] == ["trials", "units"] and head[5].startswith("median T@")
    terminal_lines = [re.sub(r"\s+", " ", line).strip() for line in terminal.splitlines()]
    assert " ".join(head) in terminal_lines  # the same header, in the same order
    censored = 0
    for cells in body:
        assert " ".join(cells) in terminal_lines, cells  # every cell printed alike
        arm = [r for r in rows if r["variant"] == cells[0]]
        assert int(cells[2]) == len({(r["seed"], r["trial_id"]) for r in arm})  # trials
        assert int(cells[3]) == len(arm)  # units: one row each
        reached, seeds = map(int, cells[6].split("/"))
        censored += seeds - reached
        if 2 * (seeds - reached) >= seeds:
            assert cells[5].startswith(">= ") or cells[5] == "not reached", cells
    assert censored >= 1  # the comparison includes a run that never reached tau
    assert "nan" not in terminal and "nan" not in table
    assert "A demonstration, not evidence: 3 paired seeds of cifar10-mini" in terminal
    assert report.split("\n\n")[1].startswith("**A demonstration, not evidence: 3 paired seeds")
