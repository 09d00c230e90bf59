"""A smoke check of every path that touches a GPU: the first step of the GPU runbook.

Each check runs a small piece of the real code on ``device``, with the benchmark's own device
branches (on CUDA: channels_last images and model): an unpacked trial (``run_trial``, two units
then one more resumed from its checkpoint), a packed trial (``PackedTrainer``, two trials in a
pack of four: two padded slots, one unit resumed packed), the warm start by both hyper-gradient
paths (lean and graph), and the first units of a study file (the realistic pilot: engine packed)
in a temporary folder, its trials capped at one per worker (packed together) and two units
each. Small data
(``options``) keep it to seconds; the code paths are the real ones. A failure prints its
traceback and the other checks still run; the count of failures is the result. On a CPU it
checks the plumbing (a test runs it); only a run on CUDA checks the CUDA branches.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STUDY_FILE = "studies/cifar10-realistic-pilot.yaml"
GPU_OPTIONS = {"train_size": 1024, "val_size": 500, "test_size": 500}


def checks(
    study_file: str | Path, device: str, options: Mapping[str, Any], folder: Path
) -> dict[str, Callable[[], str]]:
    """The checks by name; each returns a short note of what it saw."""
    from ohgw.benchmarks.base import make_benchmark
    from ohgw.packed import PackedTrainer
    from ohgw.study.config_files import file_overrides
    from ohgw.study.config_files import load_study_config
    from ohgw.study.runner import run_study
    from ohgw.trial import TrialSpec
    from ohgw.trial import WarmStartSettings
    from ohgw.trial import run_trial

    settings = dict(line.split("=", 1) for line in file_overrides(study_file) if "=" in line)
    name = settings.get("benchmark", "'cifar10-full'").strip("'")
    benchmark = make_benchmark(name, device=device, **options)

    def spec(seed: int, units: int, mode: str = "none", hypergrad: str = "auto", **kw: Any):
        return TrialSpec(
            benchmark=name,
            config=dict(benchmark.default_config),
            seed=seed,
            max_resource=units,
            warm_start=WarmStartSettings(mode=mode, eta_h=0.05, hypergrad=hypergrad),
            benchmark_options=dict(options),
            device=device,
            **kw,
        )

    def unpacked() -> str:
        folder_1 = str(folder / "unpacked")
        run_trial(spec(0, 2, checkpoint_dir=folder_1), benchmark=benchmark)
        rows = run_trial(spec(0, 3, checkpoint_dir=folder_1), benchmark=benchmark)
        return _describe(rows)

    def packed() -> str:
        specs = [spec(s, 1, checkpoint_dir=str(folder / f"packed-{s}")) for s in (1, 2)]
        PackedTrainer(benchmark, 4).run(specs)
        more = [spec(s, 2, checkpoint_dir=str(folder / f"packed-{s}")) for s in (1, 2)]
        return "; ".join(_describe(rows) for rows in PackedTrainer(benchmark, 4).run(more))

    def warm(hypergrad: str) -> Callable[[], str]:
        def check() -> str:
            rows = run_trial(spec(3, 1, "gradient", hypergrad), benchmark=benchmark)
            moved = {k: v for k, v in rows[0].items() if k.startswith("hp.")}
            return f"{_describe(rows)}, warm GFLOP {rows[0]['warm_flops'] / 1e9:.1f}, {moved}"

        return check

    def study() -> str:
        workers = int(settings.get("workers", "4"))
        options_text = ",".join(f"{k}:{v}" for k, v in options.items())
        overrides = [
            f"directory={folder / 'study'}", f"device={device}", "seeds=1",
            f"max_trials={workers}", f"pack={workers}", "max_resource=2", "grace_period=1",
            f"+benchmark_options={{{options_text}}}",
        ]  # fmt: skip
        config = load_study_config(overrides, study_file)
        summary = run_study(config, progress=False, echo=lambda _: None)
        return f"engine {config.engine}, pack {config.pack}: {json.dumps(summary, default=str)}"

    return {
        "unpacked trial": unpacked,
        "packed trial": packed,
        "warm start, lean": warm("lean"),
        "warm start, graph": warm("graph"),
        "study's first units": study,
    }


def _describe(rows: list[dict[str, Any]]) -> str:
    last = rows[-1]
    return f"{len(rows)} units, val {last['val_metric']:.3f}, {last['status']}"


def run_smoke(
    device: str,
    options: Mapping[str, Any],
    study_file: str | Path = STUDY_FILE,
    echo: Callable[[str], Any] = print,
) -> int:
    """Run every check; echo one line each (and a failure's traceback); return the failures."""
    import torch

    on = torch.cuda.get_device_name(device) if device.startswith("cuda") else "the CPU"
    echo(f"smoke: torch {torch.__version__}, CUDA available {torch.cuda.is_available()}, on {on}")
    failures = 0
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to_run = checks(study_file, device, options, Path(folder))
        for name, check in to_run.items():
            start = time.perf_counter()
            try:
                note = check()
            except Exception:  # every check runs; each failure is said with its traceback
                failures += 1
                echo(f"smoke: {name}: FAILED\n{traceback.format_exc()}")
                continue
            echo(f"smoke: {name}: ok in {time.perf_counter() - start:.1f} s ({note})")
    echo(f"smoke: {failures} of {len(to_run)} checks failed on {device}")
    return failures


def main(argv: list[str] | None = None) -> int:
    """``python scripts/gpu_smoke.py --device cuda``: exit status 1 when any check failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--study", default=STUDY_FILE, help=f"default {STUDY_FILE}")
    parser.add_argument(
        "--options", default=json.dumps(GPU_OPTIONS), help="benchmark options, JSON"
    )
    args = parser.parse_args(argv)
    return 1 if run_smoke(args.device, json.loads(args.options), args.study) else 0
