"""Out-of-domain perplexity of the configuration each language run picked, by retraining it.

The committed rows of a WikiText study (``docs/results/<study>/results.csv.gz``) hold no
weights, so for each (variant, seed) this takes the row a user would pick by validation (the
best ``val_metric``, ties to the earliest: :func:`ohgw.analysis.metrics.picked_row`), retrains
that trial from scratch to that row's resource with the same spec (sampled config, trial seed,
the variant's warm start and noise; the trial runner is deterministic given its spec), and
evaluates the trained model on the validation and out-of-domain splits
(``OUT_OF_DOMAIN_NOTE``). The retrained validation perplexity is printed beside the committed
one: the study ran on a GPU, this runs on the CPU, so they agree only up to float drift.

    python perf/ood_perplexity.py --variants baseline ohgw --seeds 16 \
        --out docs/results/wikitext-pasha/ood_perplexity.txt

Writes one line per retrained run, then the paired statistics of each treated variant against
the first, to ``--out`` in the format of :mod:`ohgw.analysis.ood` (its one writer and reader),
headed by the measurement header (:mod:`ohgw.measure.header`); a rerun continues from the lines
already in ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ohgw.analysis import ood as ood_file
from ohgw.analysis.metrics import picked_row
from ohgw.analysis.published import read_rows
from ohgw.benchmarks.base import Benchmark
from ohgw.benchmarks.base import make_benchmark
from ohgw.datasets.wikitext import OUT_OF_DOMAIN_NOTE
from ohgw.measure.header import header_lines
from ohgw.measure.header import this_command
from ohgw.store.study_dir import upgrade_settings
from ohgw.study.pair import trial_seed
from ohgw.trial import TrialSpec
from ohgw.trial import run_trial
from ohgw.trial.checkpoint import CHECKPOINT_FILE
from ohgw.variants import parse_variant

SPLITS = ood_file.SPLITS


@functools.cache
def _benchmark(name: str, options: str) -> Benchmark:
    """One benchmark per noise setting, its data loaded once."""
    return make_benchmark(name, device="cpu", **json.loads(options))


def retrain(
    row: dict[str, Any], label: str, benchmark_name: str, hypergrad: str
) -> dict[str, float]:
    """Retrain the trial of ``row`` to its resource on the CPU, with the study's hyper-gradient
    path; its val and ood perplexity."""
    variant = parse_variant(label)
    variant = replace(variant, warm_start=replace(variant.warm_start, hypergrad=hypergrad))
    options = variant.benchmark_options({}, "token_noise")
    config = {k[len("config.") :]: v for k, v in row.items() if k.startswith("config.")}
    benchmark = _benchmark(benchmark_name, json.dumps(options, sort_keys=True))
    with tempfile.TemporaryDirectory(prefix="ohgw-ood-") as folder:
        spec = TrialSpec(
            benchmark=benchmark_name,
            config=config,
            seed=trial_seed(int(row["seed"]), int(row["trial_id"])),
            max_resource=int(row["resource"]),
            warm_start=variant.warm_start,
            benchmark_options=options,
            checkpoint_dir=folder,
            report_test=False,
        )
        # The per-unit validation is skipped (a no-grad forward in eval mode draws no random
        # numbers and leaves the model as it was, so training is unchanged); saves half the time.
        benchmark.evaluate = lambda model, split="val": 0.0  # type: ignore[method-assign]
        run_trial(spec, benchmark=benchmark)
        del benchmark.evaluate  # the class's own evaluation again
        payload = torch.load(Path(folder, CHECKPOINT_FILE), weights_only=True)
    model = benchmark.build_model()
    model.load_state_dict(payload["model"])
    return {split: benchmark.evaluate(model, split) for split in SPLITS}


def picked_run(rows: list[dict[str, Any]], label: str, seed: int) -> dict[str, Any]:
    """The row a user would pick by validation from the run (``label``, ``seed``)."""
    run = [r for r in rows if r["variant"] == label and r["seed"] == seed]
    if not run:
        raise ValueError(f"The study has no rows of variant {label!r}, seed {seed}.")
    return picked_row(run, "min")


def study_hypergrad(rows: Path) -> str:
    """The hyper-gradient path the study ran with: its ``study.json`` beside the rows says
    (in today's names; a study stored before the setting existed ran the full graph)."""
    study = rows.parent / "study.json"
    if not study.is_file():
        raise ValueError(f"No {study} beside the rows: it says how the study ran.")
    return upgrade_settings(json.loads(study.read_text())["config"])["hypergrad"]


def comments() -> list[str]:
    """The file's comment lines: the measurement header, the split and what a line holds."""
    return [
        *header_lines(this_command()),
        f"# torch threads {torch.get_num_threads()}, CPU only",
        f"# {OUT_OF_DOMAIN_NOTE}",
        "# one line per (variant, seed): the picked trial, retrained; perplexities per token",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    rows = Path("docs/results/wikitext-pasha/results.csv.gz")
    parser.add_argument("--rows", type=Path, default=rows)
    parser.add_argument("--benchmark", default="wikitext-mini")
    parser.add_argument("--variants", nargs="+", default=["baseline", "ohgw"])
    parser.add_argument("--seeds", type=int, default=16, help="the first N seeds of the study")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = read_rows(args.rows)
    hypergrad = study_hypergrad(args.rows)
    seeds = sorted({r["seed"] for r in rows})[: args.seeds]
    done = ood_file.read_runs(args.out)
    if not done:
        ood_file.start(args.out, comments())
    for seed in seeds:
        for label in args.variants:
            if (label, seed) in done:
                continue
            row = picked_run(rows, label, seed)
            start = time.perf_counter()
            ppl = retrain(row, label, args.benchmark, hypergrad)
            line = {
                "variant": label,
                "seed": seed,
                "trial_id": row["trial_id"],
                "resource": row["resource"],
                "committed_val": f"{row['val_metric']:.4f}",
                **{k: f"{v:.4f}" for k, v in ppl.items()},
                "s": f"{time.perf_counter() - start:.1f}",
            }
            ood_file.append(args.out, line)
            done[label, seed] = ood_file.read_runs(args.out)[label, seed]
            print(json.dumps(line), flush=True)
    stats = ood_file.summary(done, args.variants)
    ood_file.replace_summary(args.out, stats)
    print("\n".join(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
