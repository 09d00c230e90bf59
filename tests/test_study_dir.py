"""Reading a study directory's rows (ohgw.store.study_dir): no finished pair dropped silently."""

from __future__ import annotations

import pytest

from ohgw.store.study_dir import group_runs


def _row(variant: str, seed: int, time: float) -> dict:
    return {"variant": variant, "seed": seed, "trial_id": 0, "resource": 1, "time": time}


def test_rows_are_grouped_by_finished_pair_and_the_rest_left_out() -> None:
    rows = [_row("ohgw", 0, 2.0), _row("ohgw", 0, 1.0), _row("ohgw", 1, 1.0), _row("x", 0, 1.0)]
    runs, left_out = group_runs(rows, ["ohgw"], {("ohgw", 0), ("x", 0)})
    assert [r["time"] for r in runs["ohgw"][0]] == [1.0, 2.0] and list(runs["ohgw"]) == [0]
    assert left_out == {("ohgw", 1), ("x", 0)}  # unfinished; a variant the study does not name


def test_a_finished_pair_without_rows_is_refused() -> None:
    """Rows exported before a pair finished (a stale results.csv beside study.json) used to
    drop that pair from every table and figure without a word."""
    rows = [_row("ohgw", 0, 1.0)]
    with pytest.raises(ValueError, match=r"The finished pairs \[\('ohgw', 1\)\] have no rows"):
        group_runs(rows, ["ohgw"], {("ohgw", 0), ("ohgw", 1)})


def test_a_store_marking_a_pair_finished_without_rows_is_refused(tmp_path) -> None:
    from ohgw.store import Store
    from ohgw.store.study_dir import load_study

    with Store(tmp_path) as store:
        store.put_meta("config", {"variants": ["ohgw"], "benchmark": "cifar10-mini"})
        store.add_rows([{**_row("ohgw", 0, 1.0), "metric": "accuracy"}])
        store.mark_done("ohgw", 0)
        store.mark_done("ohgw", 1)  # as a version before issue 16 marked an empty run
    with pytest.raises(ValueError, match=r"marks \[\('ohgw', 1\)\] finished but holds none"):
        load_study(tmp_path)
