"""Where the time of a trial unit goes, packed and unpacked, split by part, on one device.

Trials of cifar10-mini made small (``SIZES``: ResNet-8 at width 8, 256 training images in
steps of 32, 100 validation and 100 test images), without a warm start, train their first unit
untimed; then ``--units`` more units are timed one at a time, as the engines run them:
unpacked, ``run_trial`` of each of ``--unpacked`` trials resumed from its checkpoint (the
simulated engine); packed, one ``PackedTrainer(benchmark, W).run`` of W trials resumed from
their checkpoints (the packed engine's round), for each W of ``--widths``. A unit's wall time
is split into parts by wrapping the functions that do them (exclusive time: a wrapped call
inside another counts to its own part): open (checkpoint read, model build), data (batch
gather and augmentation), forward/backward, optimizer, evaluation, checkpoint writes, and
other (wall time minus the parts: the Python around them, a pack's stacking and unstacking).
Printed per trial-unit (seconds of the unit over its trials), the median over the timed units.

    python perf/packed_profile.py [--widths 1 16 64] [--units 2] [--device cpu]
    python perf/packed_profile.py --before COMMIT   # COMMIT's packed trainer too, interleaved

``--before`` runs each measurement in two fresh processes, one on COMMIT's ``src`` (taken with
``git archive``), one on this tree's, alternating, and prints both with after/before ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the checkout: src/ohgw/measure/this file
SIZES = {
    "train_size": 256,
    "val_size": 100,
    "test_size": 100,
    "width": 8,
    "blocks_per_stage": 1,
    "batch_size": 32,
}
PARTS = ("open", "data", "forward/backward", "optimizer", "evaluation", "checkpoint writes")
# (module, attribute, part): the functions whose calls are timed; "part()" times the function
# that the call returns. A module or name missing from the code measured (an older trainer) is
# skipped.
POINTS = [
    ("ohgw.trial", "load_checkpoint", "open"),  # a commit before ohgw.trial was a package
    ("ohgw.trial.loop", "load_checkpoint", "open"),
    ("ohgw.packed.trainer", "open_trials", "open"),
    ("ohgw.benchmarks.base", "BatchStream.__next__", "data"),
    ("ohgw.benchmarks.cifar10", "random_flip", "data"),
    ("ohgw.benchmarks.cifar10", "random_translate", "data"),
    ("ohgw.packed.losses", "random_flip", "data"),
    ("ohgw.packed.losses", "random_translate", "data"),
    ("ohgw.packed.trainer", "PackedTrainer._pack_batch", "data"),
    ("torch", "Tensor.backward", "forward/backward"),
    ("ohgw.packed.trainer", "PackedTrainer._packed_step", "forward/backward()"),
    ("ohgw.benchmarks.cifar10", "Cifar10Benchmark.train_loss", "forward/backward"),
    ("torch.optim", "SGD.step", "optimizer"),
    ("torch.optim", "Optimizer.zero_grad", "optimizer"),
    ("ohgw.packed.optim", "PackedOptimizer.step", "optimizer"),
    ("ohgw.trial", "evaluate_unit", "evaluation"),
    ("ohgw.trial.loop", "evaluate_unit", "evaluation"),
    ("ohgw.packed.trainer", "evaluate_unit", "evaluation"),
    ("ohgw.packed.trainer", "PackedTrainer._evaluate_pack", "evaluation"),
    ("ohgw.trial", "save_checkpoint", "checkpoint writes"),
    ("ohgw.trial.loop", "save_checkpoint", "checkpoint writes"),
    ("ohgw.packed.trainer", "save_checkpoint", "checkpoint writes"),
]


class Parts:
    """Exclusive seconds per part of the wrapped calls (device synchronised around each)."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []
        self.sync = sync

    def wrap(self, fn: Callable, part: str) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.sync()
            start = time.perf_counter()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                elapsed = time.perf_counter() - start
                self.seconds[part] += elapsed - self._inner.pop()
                if self._inner:
                    self._inner[-1] += elapsed

        return timed


@contextlib.contextmanager
def patched(parts: Parts) -> Iterator[None]:
    """Every point of ``POINTS`` present in the code wrapped by ``parts``; restored after."""
    undo = []
    for module_name, path, part in POINTS:
        try:
            owner = importlib.import_module(module_name)
        except ModuleNotFoundError:  # a module of another commit's layout
            continue
        *outer, name = path.split(".")
        for attribute in outer:
            owner = getattr(owner, attribute, None)
        original = None if owner is None else owner.__dict__.get(name)
        if original is None:
            continue
        if part.endswith("()"):
            setattr(owner, name, _wrap_result(original, parts, part[:-2]))
        elif isinstance(original, staticmethod):
            setattr(owner, name, staticmethod(parts.wrap(original.__func__, part)))
        else:
            setattr(owner, name, parts.wrap(original, part))
        undo.append((owner, name, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)


def _wrap_result(fn: Callable, parts: Parts, part: str) -> Callable:
    @functools.wraps(fn)
    def making(*args, **kwargs):
        return parts.wrap(fn(*args, **kwargs), part)

    return making


def measure(width: int, mode: str, units: int, device: str) -> list[dict[str, float]]:
    """Per timed unit: seconds of each part and the wall time, summed over the unit's trials."""
    import torch

    from ohgw.benchmarks.base import make_benchmark
    from ohgw.packed import PackedTrainer
    from ohgw.trial import TrialSpec
    from ohgw.trial import WarmStartSettings
    from ohgw.trial import run_trial

    benchmark = make_benchmark("cifar10-mini", device=device, **SIZES)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    out = []
    with tempfile.TemporaryDirectory() as folder:

        def specs(level: int) -> list[TrialSpec]:
            return [
                TrialSpec(
                    benchmark="cifar10-mini",
                    config=dict(benchmark.default_config),
                    seed=seed,
                    max_resource=level,
                    warm_start=WarmStartSettings(mode="none"),
                    benchmark_options=SIZES,
                    checkpoint_dir=f"{folder}/{seed}",
                    device=device,
                )
                for seed in range(width)
            ]

        def unit(level: int) -> None:
            if mode == "packed":
                PackedTrainer(benchmark, width).run(specs(level))
            else:
                for spec in specs(level):
                    run_trial(spec, benchmark=benchmark)

        unit(1)
        for level in range(2, units + 2):
            parts = Parts(sync)
            with patched(parts):
                sync()
                start = time.perf_counter()
                unit(level)
                sync()
                wall = time.perf_counter() - start
            out.append({**parts.seconds, "wall": wall})
    return out


def child(args: argparse.Namespace) -> None:
    """One measurement in this process: JSON per-trial-unit seconds on stdout."""
    import torch

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    width, mode = args.child
    samples = measure(int(width), mode, args.units, args.device)
    print(json.dumps(samples))


def run_child(trials: int, mode: str, args: argparse.Namespace, src: Path) -> list[dict]:
    """The timed units of ``trials`` trials (``mode``: packed, one pack; or unpacked) in a
    fresh process on the code in ``src``."""
    command = [
        sys.executable, __file__, "--child", str(trials), mode, "--units", str(args.units),
        "--device", args.device, "--threads", str(args.threads),
    ]  # fmt: skip
    # This file, run by its path, so that it measures ``src``'s ohgw (an older commit's has no
    # ohgw.measure); PYTHONSAFEPATH keeps this file's folder off the child's import path.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        "PYTHONSAFEPATH": "1",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"packed_profile: {mode} x{trials} on {src} failed:\n{done.stderr}")
    return [
        {**s, "other": s["wall"] - sum(s.get(p, 0.0) for p in PARTS)}
        for s in json.loads(done.stdout.strip().splitlines()[-1])
    ]


def per_trial_unit(samples: list[dict], trials: int) -> dict[str, float]:
    """Median over the samples of each part's seconds, over the trials."""
    return {
        part: statistics.median(s.get(part, 0.0) for s in samples) / trials
        for part in (*PARTS, "other", "wall")
    }


def table(title: str, columns: dict[str, dict[str, float]], ratios: list[tuple[str, str]]) -> None:
    """Rows: the parts and the total; columns: ms per trial-unit, then the ratios asked."""
    print(title + "".join(f"; ratio: {a} / {b}" for a, b in ratios))
    head = f"{'part':<18}" + "".join(f"{name:>20}" for name in columns)
    head += "".join(f"{'ratio':>8}" for _ in ratios)
    print(head)
    for part in (*PARTS, "other", "wall"):
        label = "total" if part == "wall" else part
        cells = "".join(f"{1e3 * col[part]:>20.1f}" for col in columns.values())
        for a, b in ratios:
            base = columns[b][part]
            cells += f"{columns[a][part] / base:>8.2f}" if base > 0 else f"{'-':>8}"
        print(f"{label:<18}{cells}")
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )  # fmt: skip
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--units", type=int, default=2, help="timed units a process (median)")
    parser.add_argument("--rounds", type=int, default=1, help="processes per column, alternating")
    parser.add_argument("--unpacked", type=int, default=4, help="unpacked trials timed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--before", default=None, help="a commit to compare with, side by side")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    import torch

    sizes = ", ".join(f"{k} {v}" for k, v in SIZES.items())
    print(
        f"cifar10-mini with {sizes} (ResNet-8); no warm start; {args.device}, "
        f"{args.threads} torch threads, torch {torch.__version__}; median of {args.units} "
        f"timed units; ms per trial-unit (a unit's seconds over its trials)\n"
    )
    with contextlib.ExitStack() as stack:
        sources = {"packed": ROOT / "src"}
        if args.before:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.before, "src"],
                capture_output=True, check=True,
            )  # fmt: skip
            subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
            sources = {f"packed {args.before}": folder / "src", "packed (now)": ROOT / "src"}
        unpacked = [
            u
            for _ in range(args.rounds)
            for u in run_child(args.unpacked, "unpacked", args, ROOT / "src")
        ]
        for width in args.widths:
            columns = {"unpacked": per_trial_unit(unpacked, args.unpacked)}
            samples: dict[str, list[dict]] = {name: [] for name in sources}
            for _ in range(args.rounds):  # before, after, before, after, ...
                for name, src in sources.items():
                    samples[name] += run_child(width, "packed", args, src)
            columns.update({name: per_trial_unit(s, width) for name, s in samples.items()})
            names = list(columns)
            ratios = [(names[2], names[1])] if args.before else [(names[1], names[0])]
            table(f"pack width {width}", columns, ratios)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
