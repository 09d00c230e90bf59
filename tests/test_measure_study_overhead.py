"""ohgw.measure.study_overhead (perf/study_overhead.py): the checkpoint functions are timed
under every name a module imported them as."""

from __future__ import annotations

import sys

import pytest

from ohgw.measure import study_overhead
from ohgw.trial.checkpoint import save_checkpoint


def test_a_function_is_timed_wherever_it_was_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    holders = [
        (module, name)
        for module_name, module in list(sys.modules.items())
        if module_name.split(".")[0] == "ohgw"
        for name, value in list(vars(module).items())
        if value is save_checkpoint
    ]
    assert {m.__name__ for m, _ in holders} >= {"ohgw.trial.checkpoint", "ohgw.trial.loop"}
    for module, name in holders:  # undone after the test
        monkeypatch.setattr(module, name, save_checkpoint)
    monkeypatch.setattr(study_overhead, "SPENT", {"checkpoint writes": 0.0})
    study_overhead.timed_everywhere(save_checkpoint, "checkpoint writes")
    for module, name in holders:
        wrapper = getattr(module, name)
        assert wrapper is not save_checkpoint and wrapper.__wrapped__ is save_checkpoint
    import ohgw.trial

    with pytest.raises(AttributeError):
        ohgw.trial.save_checkpoint(object(), {})  # not a spec: fails, but is timed
    assert study_overhead.SPENT["checkpoint writes"] > 0
