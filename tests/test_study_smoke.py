"""The GPU smoke check (ohgw.study.smoke): on CUDA every GPU path, wherever a GPU is; on the CPU
its plumbing runs in tests/test_gpu_runbook.py (the runbook's first step)."""

from __future__ import annotations

import pytest
import torch

from ohgw.study import smoke
from ohgw.study.smoke import run_smoke


@pytest.mark.skipif(not torch.cuda.is_available(), reason="a CUDA GPU runs this")
def test_every_gpu_path_runs_on_cuda() -> None:
    lines: list[str] = []
    assert (
        run_smoke(
            "cuda", {"train_size": 256, "val_size": 100, "test_size": 100}, echo=lines.append
        )
        == 0
    ), "\n".join(lines)


def test_a_failing_check_is_said_with_its_traceback_and_the_others_still_run(
    monkeypatch,
) -> None:
    def broken() -> str:
        raise RuntimeError("NYI: Tensor.clone(memory_format) inside vmap")

    fake = {"first": broken, "second": lambda: "fine", "third": broken}
    monkeypatch.setattr(smoke, "checks", lambda *args: fake)
    lines: list[str] = []
    assert run_smoke("cpu", {}, echo=lines.append) == 2
    text = "\n".join(lines)
    assert "smoke: first: FAILED\nTraceback" in text and "inside vmap" in text
    assert "smoke: second: ok in" in text and "(fine)" in text
    assert lines[-1] == "smoke: 2 of 3 checks failed on cpu"
