"""Write ``study.json`` for a study published before it existed, from what is committed.

The stores of the committed studies are gone (they lived on lent GPU machines and in ``runs/``,
which git ignores), and their rows (``results.csv.gz``) hold the deterministic columns only. So
this recovers, once, what ``ohgw.analysis.published.write_settings`` would have written:

* the settings: the committed study file ``studies/<name>.yaml`` over the ``StudyConfig``
  defaults, with ``hypergrad: graph`` (these studies ran before the lean path existed);
* the finished (variant, seed) pairs: every pair in the rows except those the committed
  ``report.md`` lists under "Unfinished runs left out";
* the measured quantities per variant, from the committed report's "Cost and bias" table: the
  warm start's share of measured wall time (two decimals of a percent) and the peak memory
  (rounded to a MiB there; the ``ohgw`` arm's peak is rebuilt from the baseline's and the
  increase that the report's VRAM verdict printed to 0.01 %, so that verdict reads the same).

    python scripts/published_from_report.py docs/results/cifar10-asha ...
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path

import yaml

from ohgw.analysis.published import SETTINGS
from ohgw.analysis.published import read_rows
from ohgw.study.config import StudyConfig


def settings(name: str) -> dict:
    """The study's settings: ``studies/<name>.yaml`` over the defaults, as it ran."""
    data = yaml.safe_load(Path("studies", f"{name}.yaml").read_text(encoding="utf-8"))
    config = StudyConfig.from_dict(data).to_dict()
    for key in ("directory", "shard", "clock", "address"):
        config.pop(key, None)
    config["hypergrad"] = "graph"
    for key in ("budget", "flops_per_second"):  # YAML 1.1 reads 1.0e12 as a string
        config[key] = float(config[key])
    return config


def measured(report: str) -> dict[str, dict]:
    """Per variant, the measured quantities of the report's "Cost and bias" table."""
    out = {}
    pattern = r"^\| (\S+) \| [\d.]+ % \| ([\d.]+) % \| (\d+) MiB \((\w+)\) \|"
    for label, share, mib, measure in re.findall(pattern, report, flags=re.M):
        out[label] = {
            "warm_seconds_share": float(share) / 100,
            "peak_memory_bytes": int(mib) * 2**20,
            "memory_measure": measure,
        }
    # The VRAM verdict printed the treated arm's increase to 0.01 %: rebuild its peak from it.
    found = re.search(r"VRAM: peak memory increase ([\d.]+) % over", report)
    if found and "ohgw" in out and "baseline" in out:
        base = out["baseline"]["peak_memory_bytes"]
        out["ohgw"]["peak_memory_bytes"] = round(base * (1 + float(found[1]) / 100))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("published", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for folder in args.published:
        report = (folder / "report.md").read_text(encoding="utf-8")
        left = re.search(r"^- Unfinished runs left out: (\[.*\])\.$", report, flags=re.M)
        left_out = {tuple(x) for x in ast.literal_eval(left[1])} if left else set()
        pairs = {(r["variant"], r["seed"]) for r in read_rows(folder / "results.csv.gz")}
        meta = {
            "config": settings(folder.name),
            "finished": sorted([v, s] for v, s in pairs - left_out),
            "measured": measured(report),
            "slurm": None,
            "source": (
                "recovered by scripts/published_from_report.py from studies/"
                f"{folder.name}.yaml and the report.md committed before it (no store left)"
            ),
        }
        (folder / SETTINGS).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        print(f"{folder / SETTINGS}: {len(meta['finished'])} finished pairs, "
              f"{len(left_out)} left out, measured {sorted(meta['measured'])}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
