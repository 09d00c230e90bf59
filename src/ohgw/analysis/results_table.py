"""The RESULTS.md table: every treated variant of every study against its paired baseline.

Reads only the study directories (their stores), through ``ohgw.analysis.evidence.analyse``, the
same numbers the studies' reports print. Also how far each variant moved a configuration: the
median length of the warm start's step in the unit cube (psi scaled by the space's ranges).

    python scripts/results_table.py runs/cifar10-asha runs/cifar10-dyhpo ...
"""

from __future__ import annotations

import argparse
import math
import statistics

from ohgw.analysis.evidence import analyse
from ohgw.analysis.figures import load_study
from ohgw.benchmarks.base import make_benchmark
from ohgw.store.study_dir import StudyData


def _ci(d: dict | None, key: str, scale: float, unit: str) -> str:
    if not d:
        return "n/a"
    text = f"{scale * d[key]:+.1f}{unit} ({scale * d['ci_low']:+.1f}, {scale * d['ci_high']:+.1f})"
    return text + ("" if math.isnan(d["p_value"]) else f", p = {d['p_value']:.2g}")


def _move(study: StudyData, label: str) -> float:
    """Median over trials of |psi - psi0| / range (the unit cube's length)."""
    benchmark = make_benchmark(study.config["benchmark"], **study.config["benchmark_options"])
    low, high = benchmark.space.psi_bounds()
    ranges = dict(zip(benchmark.space.continuous_names, (high - low).tolist(), strict=True))
    lengths = []
    for rows in study.runs[label].values():
        for row in {r["trial_id"]: r for r in rows}.values():
            squares = [((row[f"psi.{n}"] - row[f"psi0.{n}"]) / r) ** 2 for n, r in ranges.items()]
            lengths.append(math.sqrt(sum(squares)))
    return statistics.median(lengths) if lengths else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", nargs="+")
    args = parser.parse_args(argv)
    print(
        "| study | variant | vs | paired seeds | median T@tau change (95 % CI), p "
        "| final test metric difference (95 % CI), p | warm FLOPs share | step length |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for directory in args.studies:
        study = load_study(directory)
        result = analyse(study, study.config["tau"])
        name = directory.rstrip("/").split("/")[-1]
        unit = " points" if study.metric == "accuracy" else " ppl"
        for label, e in result["evidence"].items():
            share = e["overhead"]["warm_flops_share"] if e.get("overhead") else math.nan
            print(
                f"| {name} | {label} | {e['baseline']} | {len(e['seeds'])} "
                f"| {_ci(e.get('t_tau'), 'relative_change', 100, ' %')} "
                f"| {_ci(e.get('final_test'), 'mean_difference', 1, unit)} "
                f"| {100 * share:.2f} % | {_move(study, label):.4f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
