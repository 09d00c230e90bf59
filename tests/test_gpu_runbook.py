"""scripts/gpu_realistic.sh, the GPU runbook, end to end in its TOY mode on the CPU: every step
(receive, unpack, smoke, throughput, warm-start cost, pilot, plan, studies, results) at toy
sizes, so that its plumbing cannot break unseen between two lent GPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from ohgw.data import find
from ohgw.datasets import cifar10_bundle as gpu_bundle
from ohgw.datasets.cifar10 import load_cifar10_arrays

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_realistic.sh"


@pytest.fixture(scope="module")
def toy_bundle(tmp_path_factory) -> Path:
    """A two-part bundle of 200 training and 50 test images: TOY mode receives and unpacks it
    (the plumbing of the real runbook) but trains on ../shared/data, so its size is free."""
    out = tmp_path_factory.mktemp("bundle")
    shared = np.load(find("cifar10/cifar10.npz"))  # the small arrays, read one by one
    arrays = {**{k: shared[k] for k in gpu_bundle.OTHER_KEYS}, **load_cifar10_arrays()}
    source = out / "source.npz"  # images memory-mapped: no decompression of the whole npz
    np.savez(source, **{k: v[:200] if "train" in k else v[:50] for k, v in arrays.items()})
    gpu_bundle.pack(source, out, 2, None, level=0)
    return out


def test_the_runbook_runs_end_to_end_at_toy_size(toy_bundle, tmp_path) -> None:
    carry, out, stash = tmp_path / "carry", tmp_path / "out", tmp_path / "stash"
    env = {
        **os.environ, "CARRY": str(carry), "STASH": str(stash), "RUNS": str(tmp_path / "runs"),
        "OUT": str(out), "DEVICE": "cpu", "TOY": "1", "PYTHON": sys.executable, "WHEELS": "0",
        "OHGW_CACHE_DIR": os.environ.get("OHGW_CACHE_DIR", str(tmp_path / "cache")),
        "PYTHONWARNINGS": "ignore",
    }  # fmt: skip
    carry.mkdir()
    for name in ("manifest.json", "part-0.xz"):  # call 1 carries the first part
        (carry / name).write_bytes((toy_bundle / name).read_bytes())
    run = ["bash", str(SCRIPT)]
    received = subprocess.run([*run, "receive"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert received.returncode == 0, received.stderr
    for name in ("manifest.json", "part-0.xz"):  # a new call: the tree's gpu_data is gone
        (carry / name).unlink()
    (carry / "part-1.xz").write_bytes((toy_bundle / "part-1.xz").read_bytes())
    done = subprocess.run([*run, "run", "300"], cwd=ROOT, env=env, capture_output=True, text=True)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "smoke: 0 of 5 checks failed on cpu" in log
    for check in ("unpacked trial", "packed trial", "warm start, lean", "warm start, graph"):
        assert f"smoke: {check}: ok" in log, check
    assert "smoke: study's first units: ok" in log
    assert "packed_tflops=" in (out / "packed_throughput.txt").read_text()
    cost = (out / "warmstart_cost_cpu.txt").read_text()
    assert cost.startswith("# date:") and cost.count("| plain step") == 2  # ResNet-20 and GPT
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "cifar10-realistic-asha.yaml", "cifar10-realistic-normalized.yaml",
        "packed_throughput.txt", "run.log", "stores.tgz", "warmstart_cost_cpu.txt",
    ]  # fmt: skip
    assert "budget:" in (out / "cifar10-realistic-asha.yaml").read_text()
    with tarfile.open(out / "stores.tgz") as stores:
        names = stores.getnames()
    for study in ("pilot", "asha", "normalized"):
        assert f"runs/cifar10-realistic-{study}/results.sqlite" in names, names
    assert not any("checkpoints" in name for name in names)
    assert f"gpu_realistic: 6 files in {out}" in log
