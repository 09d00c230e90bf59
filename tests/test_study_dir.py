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


def test_the_metrics_mode_comes_from_the_store_never_from_a_benchmark(tmp_path) -> None:
    """A study records its metric and mode (``METRIC_KEY``); a store from before that knew only
    accuracy and perplexity, whose modes are known; any other metric without a record is named."""
    from ohgw.store import Store
    from ohgw.store.study_dir import METRIC_KEY
    from ohgw.store.study_dir import load_study

    def study(folder, metric: str, recorded: dict | None):
        with Store(tmp_path / folder) as store:
            store.put_meta("config", {"variants": ["ohgw"], "benchmark": "plug-in"})
            if recorded is not None:
                store.put_meta(METRIC_KEY, recorded)
            store.add_rows([{**_row("ohgw", 0, 1.0), "metric": metric}])
            store.mark_done("ohgw", 0)
        return tmp_path / folder

    assert load_study(study("old", "perplexity", None)).mode == "min"
    recorded = {"metric": "loss", "mode": "min"}
    assert load_study(study("new", "loss", recorded)).mode == "min"
    with pytest.raises(ValueError, match=r"metric 'loss' is better higher or lower"):
        load_study(study("unknown", "loss", None))
