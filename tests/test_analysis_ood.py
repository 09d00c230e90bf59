"""ohgw.analysis.ood: the out-of-domain perplexity file, written and read in one place."""

from __future__ import annotations

import math
from pathlib import Path

from ohgw.analysis import ood

COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "results" / "wikitext-pasha"


def _run(variant: str, seed: int, val: float, out: float) -> dict[str, object]:
    return {
        "variant": variant, "seed": seed, "trial_id": 3, "resource": 5,
        "committed_val": f"{val:.4f}", "val": f"{val:.4f}", "ood": f"{out:.4f}", "s": "1.5",
    }  # fmt: skip


def test_what_is_written_is_read_back_and_a_rerun_keeps_one_summary(tmp_path: Path) -> None:
    path = tmp_path / ood.FILE
    assert ood.read_runs(path) == {} and ood.read_ood(tmp_path) is None
    ood.start(path, ["# date: now", "# a note"])
    values = {0: (150.0, 1300.0, 149.0, 1250.0), 1: (140.0, 1200.0, 141.0, 1190.5)}
    for seed, (bval, bood, tval, tood) in values.items():
        ood.append(path, _run("baseline", seed, bval, bood))
        ood.append(path, _run("ohgw", seed, tval, tood))
    runs = ood.read_runs(path)
    assert runs["ohgw", 1] == {**_run("ohgw", 1, 141.0, 1190.5), "val": 141.0, "ood": 1190.5,
                               "committed_val": 141.0, "s": 1.5}  # fmt: skip
    assert ood.read_ood(tmp_path) == {
        "baseline": {0: 1300.0, 1: 1200.0},
        "ohgw": {0: 1250.0, 1: 1190.5},
    }
    lines = ood.summary(runs, ["baseline", "ohgw"])
    assert [x.split(":")[0] for x in lines] == [
        "# ohgw vs baseline, ood perplexity, n = 2",
        "# ohgw vs baseline, val perplexity, n = 2",
    ]
    assert "lower in 2 of 2 seeds" in lines[0] and "lower in 1 of 2 seeds" in lines[1]
    ood.replace_summary(path, lines)
    ood.replace_summary(path, lines)  # a rerun replaces the old summary
    text = path.read_text().splitlines()
    assert text[:3] == ["# date: now", "# a note", ",".join(ood.HEAD)]
    assert text[-2:] == lines and len(text) == 3 + 4 + 2
    assert ood.read_runs(path) == runs


def test_a_non_finite_perplexity_is_named_and_not_tested() -> None:
    runs = {
        ("baseline", 0): {"val": 1.0, "ood": math.inf},
        ("ohgw", 0): {"val": 2.0, "ood": 3.0},
    }
    assert ood.summary(runs, ["baseline", "ohgw"])[0] == (
        "# ohgw vs baseline, ood: non-finite perplexities, no test"
    )


def test_the_committed_files_runs_give_its_committed_summary() -> None:
    runs = ood.read_runs(COMMITTED / ood.FILE)
    assert len(runs) == 32 and set(ood.read_ood(COMMITTED)) == {"baseline", "ohgw"}
    committed = [
        x for x in (COMMITTED / ood.FILE).read_text().splitlines() if x.startswith("# ohgw vs")
    ]
    assert ood.summary(runs, ["baseline", "ohgw"]) == committed
