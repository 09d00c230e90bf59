"""Replay a committed study's scheduler from its committed rows, without training anything.

A pair's rows are deterministic given its settings, but a model-based scheduler (DyHPO's
Gaussian process, in numpy) also depends on the BLAS kernels numpy runs: OpenBLAS picks them
for the CPU, and ``OPENBLAS_CORETYPE`` overrides the pick. Other kernels round differently, the
GP's fit moves in its last digits, and DyHPO suggests other configurations from its first
model-based trial on (measured: ``OPENBLAS_CORETYPE=Haswell`` changes seed 100's seventh trial
of ``cifar10-dyhpo``; the committed rows were made with a kernel OpenBLAS picks on an AVX-512
CPU: ``SkylakeX`` and ``Cooperlake`` both reproduce them). Rerunning a study takes minutes per
pair; this replay, a minute or two, says whether this machine's scheduler makes the committed
decisions: it feeds the committed results to the study's scheduler on the study's simulated
clock and compares each configuration it suggests with the committed one.

    python scripts/replay_scheduler.py studies/cifar10-dyhpo.yaml \
        docs/results/cifar10-dyhpo/results.csv.gz --seed 100 --variant baseline

Exit 0 when every suggestion matches, 1 at the first that does not (it is named).
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
from pathlib import Path
from typing import Any

import numpy as np

from ohgw.analysis.published import read_rows
from ohgw.study.config_files import load_study_config
from ohgw.study.engines.simulated import clock_of
from ohgw.study.engines.simulated import simulation
from ohgw.study.plan import validate


def blas_kernel() -> str:
    """The kernel set numpy's bundled OpenBLAS runs here (e.g. ``SkylakeX``), or ``unknown``."""
    pattern = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "libopenblas*")
    for path in glob.glob(pattern):
        library = ctypes.CDLL(path)
        for name in ("openblas_get_corename64_", "openblas_get_corename"):
            function = getattr(library, name, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return function().decode()
    return "unknown"


class Diverged(Exception):
    """A suggestion differs from the committed one."""


class CommittedRows:
    """The part of a store the simulation reads: the committed rows of one pair."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self._rows = rows

    def rows(self, label: str, seed: int) -> list[dict[str, Any]]:
        return self._rows

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Never called: the replay stops at the first unit it would have to train."""


def replay(config_file: Path, rows_file: Path, seed: int, variant: str) -> list[str]:
    """The differences between the configurations suggested now and the committed ones."""
    config = load_study_config(["directory=unused-by-the-replay"], config_file)
    study = validate(config)
    committed = [r for r in read_rows(rows_file) if r["variant"] == variant and r["seed"] == seed]
    if not committed:
        raise SystemExit(f"{rows_file} holds no rows of variant {variant!r}, seed {seed}.")
    first_unit = {r["trial_id"]: r for r in committed if r["resource"] == 1}
    scheduler = study.scheduler(seed)
    suggest, differences = scheduler.suggest, []

    def compared() -> Any:
        suggestion = suggest()
        if suggestion is not None and not suggestion.resume:
            row = first_unit.get(suggestion.trial_id)
            if row is None:  # suggested but never trained: its first unit ended past the budget
                print(f"trial {suggestion.trial_id}: no committed row to compare", flush=True)
                return suggestion
            for key, value in suggestion.config.items():
                if value != row[f"config.{key}"]:
                    differences.append(
                        f"trial {suggestion.trial_id}: {key} is {value!r} here, "
                        f"{row[f'config.{key}']} committed"
                    )
                    raise Diverged  # later decisions follow from this one
            print(f"trial {suggestion.trial_id}: as committed", flush=True)
        return suggestion

    scheduler.suggest = compared
    [template_variant] = [v for v in study.variants if v.label == variant]
    run = simulation(
        template=study.template(template_variant, seed),
        scheduler=scheduler,
        label=variant,
        clock=clock_of(config),
        store=CommittedRows(committed),
        checkpoint_root=Path(os.devnull),
    )
    try:
        next(run)
        # A unit whose cost is not known yet must be trained to learn whether it ends within
        # the budget; the committed run trained it, found that it did not, and stored nothing.
        print("stopped at a unit that ended past the budget (no row of it is committed)")
    except (StopIteration, Diverged):
        pass
    return differences


def main(argv: list[str] | None = None) -> int:
    """Replay one pair; exit status 1 when a suggestion differs from the committed one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "config", type=Path, help="the study file, e.g. studies/cifar10-dyhpo.yaml"
    )
    parser.add_argument("rows", type=Path, help="its committed rows (results.csv or .csv.gz)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--variant", default="baseline")
    args = parser.parse_args(argv)
    override = os.environ.get("OPENBLAS_CORETYPE", "unset")
    print(f"OpenBLAS kernel: {blas_kernel()} (OPENBLAS_CORETYPE: {override})")
    differences = replay(args.config, args.rows, args.seed, args.variant)
    print("\n".join(differences) or "every suggestion as committed")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
