"""The file of out-of-domain perplexities beside a language study: its one writer and reader.

:mod:`ohgw.measure.ood_perplexity` retrains the run each (variant, seed) picked and appends one
line per run to ``FILE`` in the study's folder; :mod:`ohgw.analysis.evidence` reads the ``ood``
column back for the paired test. The format: comment lines (``#``: the measurement header and
notes, and at the end the paired statistics of :func:`summary`), then a CSV table whose columns
are ``HEAD``. A rerun continues from the lines already in the file.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ohgw.analysis import stats as st

FILE = "ood_perplexity.txt"
SPLITS = ("val", "ood")  # the test split is left out: it is not needed, and costs as much
HEAD = ("variant", "seed", "trial_id", "resource", "committed_val", *SPLITS, "s")


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return {"True": True, "False": False}.get(text, text)


def read_runs(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """The runs in the file at ``path`` by (variant, seed), numbers parsed ({} when absent)."""
    if not path.is_file():
        return {}
    lines = [x for x in path.read_text().splitlines() if x and not x.startswith(("#", "|"))]
    rows = [dict(zip(HEAD, next(csv.reader([x])), strict=True)) for x in lines[1:]]
    rows = [r for r in rows if r["variant"] != "variant" and len(r) == len(HEAD)]
    return {(r["variant"], int(r["seed"])): {k: _number(v) for k, v in r.items()} for r in rows}


def read_ood(directory: Path) -> dict[str, dict[int, float]] | None:
    """Out-of-domain perplexity per variant and seed from ``FILE`` in ``directory`` (None when
    there is no such file)."""
    path = Path(directory) / FILE
    if not path.is_file():
        return None
    out: dict[str, dict[int, float]] = {}
    for (variant, seed), run in read_runs(path).items():
        out.setdefault(variant, {})[seed] = float(run["ood"])
    return out


def start(path: Path, comments: list[str]) -> None:
    """A new file: the comment lines (each starting with ``#``), then the table's head."""
    path.write_text("\n".join([*comments, ",".join(HEAD)]) + "\n")


def append(path: Path, run: dict[str, Any]) -> None:
    """One run's line (the values of ``HEAD``, already formatted) at the end of the file."""
    with path.open("a") as handle:
        handle.write(",".join(str(run[k]) for k in HEAD) + "\n")


def summary(done: dict[tuple[str, int], dict[str, Any]], labels: list[str]) -> list[str]:
    """Paired statistics of each treated variant's ood (and val) perplexity vs the first."""
    base, lines = labels[0], []
    for label in labels[1:]:
        seeds = sorted(s for v, s in done if v == label and (base, s) in done)
        if len(seeds) < 1:
            continue
        for split in ("ood", "val"):
            b = [done[base, s][split] for s in seeds]
            t = [done[label, s][split] for s in seeds]
            if not all(math.isfinite(x) for x in b + t):
                lines.append(f"# {label} vs {base}, {split}: non-finite perplexities, no test")
                continue
            diff = st.paired_test_metric(b, t)
            rel = st.paired_relative_change(b, t)
            better = sum(y < x for x, y in zip(b, t, strict=True))
            lines.append(
                f"# {label} vs {base}, {split} perplexity, n = {len(seeds)}: mean "
                f"{diff['mean_baseline']:.2f} -> {diff['mean_treated']:.2f}, difference "
                f"{diff['mean_difference']:+.2f} (95 % CI {diff['ci_low']:+.2f} to "
                f"{diff['ci_high']:+.2f}), median {rel['median_baseline']:.2f} -> "
                f"{rel['median_treated']:.2f} ({100 * rel['relative_change']:+.1f} %), "
                f"Wilcoxon p = {diff['p_value']:.2g}; lower in {better} of {len(seeds)} seeds"
            )
    return lines


def replace_summary(path: Path, lines: list[str]) -> None:
    """The file's summary lines (``# A vs B, ...``) replaced by ``lines``, at its end."""
    kept = [x for x in path.read_text().splitlines() if not (x.startswith("# ") and " vs " in x)]
    path.write_text("\n".join(kept + lines) + "\n")
