"""How far a language run's retrained validation perplexity drifts with the float rounding alone.

``perf/ood_perplexity.py`` (:mod:`ohgw.measure.ood_perplexity`) retrains each picked run on
the CPU; its validation perplexity agrees with the committed (GPU) one to within 0.05 per token
except for a few runs. This retrains chosen (variant, seed) runs twice on the CPU with nothing
changed but torch's thread count (1 and 2 threads sum in another order, so they round
differently) and prints both beside the committed value: a run whose result moves with the
thread count is sensitive to rounding, and its GPU and CPU trainings cannot be expected to agree
either.

    python perf/retrain_drift.py --runs baseline:112 baseline:102 --out FILE
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ohgw.analysis.published import read_rows
from ohgw.measure import ood_perplexity as ood
from ohgw.measure.header import header_lines
from ohgw.measure.header import this_command

THREADS = (1, 2)


def drift(rows: list[dict], label: str, seed: int, benchmark: str, hypergrad: str) -> str:
    """One line: the picked row's config, its committed val, and the retrained val per thread
    count."""
    row = ood.picked_run(rows, label, seed)
    vals = []
    for threads in THREADS:
        torch.set_num_threads(threads)
        vals.append(ood.retrain(row, label, benchmark, hypergrad)["val"])
    cells = [label, seed, row["trial_id"], row["resource"], f"{row['hp.lr']:.5f}"]
    cells += [f"{row['hp.beta1']:.3f}", f"{row['val_metric']:.4f}", *(f"{v:.4f}" for v in vals)]
    return ",".join(str(c) for c in cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=Path, default=Path("docs/results/wikitext-pasha/results.csv.gz")
    )
    parser.add_argument("--benchmark", default="wikitext-mini")
    parser.add_argument(
        "--runs", nargs="+", required=True, help="VARIANT:SEED, e.g. baseline:112 ohgw:102"
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = []
    for text in args.runs:
        label, _, seed = text.partition(":")
        if not seed.isdigit():
            parser.error(f"--runs {text!r}: write VARIANT:SEED, e.g. baseline:112")
        runs.append((label, int(seed)))
    rows = read_rows(args.rows)
    present = {(r["variant"], r["seed"]) for r in rows}
    for label, seed in runs:
        if (label, seed) not in present:
            parser.error(
                f"--runs {label}:{seed}: {args.rows} has no rows of that variant and seed"
            )
    hypergrad = ood.study_hypergrad(args.rows)
    lines = [
        *header_lines(this_command()),
        "# val perplexity per token: committed (the study's GPU run), then retrained on the CPU"
        " with 1 and 2 torch threads",
        "variant,seed,trial_id,resource,lr,beta1,committed_val,"
        + ",".join(f"val_{t}_threads" for t in THREADS),
    ]
    args.out.write_text("\n".join(lines) + "\n")
    for label, seed in runs:
        line = drift(rows, label, seed, args.benchmark, hypergrad)
        with args.out.open("a") as handle:
            handle.write(line + "\n")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
