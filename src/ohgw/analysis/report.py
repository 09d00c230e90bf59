"""A study's report: ``report.md`` and a self-contained ``report.html`` beside its figures.

What was run, a table per aspect (time to target, final metric, cost and bias) per variant
against its paired baseline, the paper's published numbers beside this study's, and a verdict
per claim (rules in :mod:`ohgw.analysis.claims`). The HTML inlines every figure as a base64 PNG
and, once loaded, sets ``body[data-figures]`` to "<loaded>/<total>" images, which
``scripts/check_report.py`` reads from a headless browser. ``ohgw report STUDY_DIR`` is
:func:`main`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import html
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ohgw.analysis import claims as cl
from ohgw.analysis.evidence import OOD_FILE
from ohgw.analysis.evidence import analyse
from ohgw.analysis.figures import write_figures
from ohgw.analysis.overview import demonstration_note
from ohgw.analysis.overview import overview
from ohgw.analysis.overview import overview_table
from ohgw.analysis.overview import time_axis
from ohgw.analysis.published import is_published
from ohgw.analysis.published import load_published
from ohgw.slurm_accounting import SLURM_KEY
from ohgw.store import FILENAME
from ohgw.store import Store
from ohgw.store.files import folder_lock
from ohgw.store.files import write_whole
from ohgw.store.study_dir import StudyData
from ohgw.store.study_dir import load_study

Block = tuple[Any, ...]  # ("h1"|"h2"|"p", text), ("ul", items), ("table", head, rows), ("img", f)
SCALE_NOTE = (
    "A claim is judged on what transfers across scale: relative changes, shares and "
    "distributions, with this study's tau and clock in place of the paper's (T@93 % or "
    "T@ppl 30 in GPU hours). Rules: ohgw.analysis.claims."
)


def _num(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else format(x, spec)


def _ms(values: Sequence[float], digits: int = 3) -> str:
    if len(values) == 0:
        return "n/a"
    sd = np.std(values, ddof=1) if len(values) > 1 else math.nan
    return f"{np.mean(values):.{digits}g} +- {_num(sd, '.2g')}"


def _describe(config: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's own facts for a mini preset (cheap to load); the name otherwise."""
    name = config["benchmark"]
    if not name.endswith("-mini"):
        return {"preset": name, "facts": "not loaded (a full preset loads its whole data set)"}
    from ohgw.benchmarks.base import make_benchmark

    try:
        return make_benchmark(name, **config["benchmark_options"]).describe()
    except Exception as error:  # a report must not fail for want of the data files
        facts: dict[str, Any] = {"facts": f"not available ({type(error).__name__}: {error})"}
        if name == "wikitext-mini":
            from ohgw.datasets.wikitext import SMALL_PRESET_NOTE

            facts["data"] = SMALL_PRESET_NOTE
        return facts


def _ci(d: dict[str, Any] | None, key: str, scale: float = 1.0, unit: str = "") -> str:
    """``value (CI low, CI high), p`` of a paired comparison; empty without one."""
    if not d:
        return ""
    low, high = _num(scale * d["ci_low"], "+.3g"), _num(scale * d["ci_high"], "+.3g")
    text = f"{scale * d[key]:+.3g}{unit} ({low}, {high})"
    return text + ("" if math.isnan(d["p_value"]) else f", p = {d['p_value']:.2g}")


def _time_row(label: str, s: dict[str, Any], e: dict[str, Any], c: dict[str, Any]) -> list[Any]:
    scale, _ = time_axis(c)
    median = float(np.median(s["t_tau"]))
    sd = e.get("std")
    ratio = (
        f"{_num(sd[0], '.2f')} ({_num(sd[1][0], '.2f')}, {_num(sd[1][1], '.2f')})" if sd else ""
    )
    bound = ">= " if 2 * s["censored"] >= len(s["seeds"]) else ""  # the median is censored
    gpus = (c.get("slurm") or {}).get("gpus")
    hours = f"{bound}{median * (gpus or c['workers']) / 3600:.3g}"
    change = _ci(e.get("t_tau"), "relative_change", 100, " %")
    times = s["t_tau"] / scale
    head = [label, len(s["seeds"]), s["censored"], f"{bound}{median / scale:.3g}", _ms(times)]
    return [*head, hours, change, ratio]


def _final_row(label: str, s: dict[str, Any], e: dict[str, Any]) -> list[Any]:
    diff = _ci(e.get("final_test"), "mean_difference")
    test, val = _ms([*s["test"].values()], 4), _ms([*s["val"].values()], 4)
    return [label, test, diff, val, _ms(s["auc"], 4)]


def _cost_row(label: str, s: dict[str, Any], e: dict[str, Any]) -> list[Any]:
    o, kl, n = s["overhead"], e.get("kl"), s["counts"]
    counts = [f"{n[k]} of {n['trials']}" for k in ("diverged", "warm_non_finite")]
    if not o:
        return [label, "n/a", "n/a", "n/a", "", *counts]
    memory = "n/a"
    if o["peak_memory_bytes"] is not None:
        memory = f"{o['peak_memory_bytes'] / 2**20:.0f} MiB ({o['memory_measure']})"
    kl_text = (
        f"{_num(kl[0], '.3g')} (p = {_num(kl[1], '.2g')}, {kl[2][1]}/{kl[2][0]})" if kl else ""
    )
    shares = [_num(100 * o[k], ".2f") + " %" for k in ("warm_flops_share", "warm_seconds_share")]
    return [label, *[x.replace("n/a %", "n/a") for x in shares], memory, kl_text, *counts]


def _ood_row(label: str, e: dict[str, Any]) -> list[Any]:
    d = e["ood"]
    means = [f"{d[k]:.2f} +- {_num(d[k.replace('mean', 'std')], '.2g')}" for k in
             ("mean_baseline", "mean_treated")]  # fmt: skip
    return [label, e["baseline"], d["n"], *means, _ci(d, "mean_difference")]


def _what_ran(study: StudyData, result: dict[str, Any]) -> list[str]:
    c, tau = study.config, result["tau"]
    clock = "simulated " if c["engine"] == "simulated" else ""
    facts = ", ".join(f"{k} {v}" for k, v in _describe(c).items())
    seeds = list(range(c["first_seed"], c["first_seed"] + c["seeds"]))
    ran = ", ".join(f"{v} ({len(study.runs[v])})" for v in result["ran"])
    lines = [
        f"Benchmark: {c['benchmark']} ({facts}); options {c['benchmark_options'] or 'none'}.",
        f"Scheduler: {c['scheduler']} (max resource {c['max_resource']}, grace period "
        f"{c['grace_period']}, reduction factor {c['reduction_factor']}).",
        f"Variants (finished seeds): {ran}.",
        f"Seeds: {seeds}; {c['workers']} workers; budget {c['budget']:g} {clock}seconds per "
        f"(variant, seed) on the {c['engine']} clock ("
        + (
            f"cost {c['cost']}, {c['flops_per_second']:g} FLOP/s"
            + (
                f", the warm start's FLOPs charged x{c['warm_charge']:g})."
                if c.get("warm_charge", 1.0) != 1.0
                else ")."
            )
            if clock
            else "wall-clock time)."
        ),
        "tau: " + ("none; T@tau was not computed" if tau is None else f"{tau:g} ({study.metric})"),
    ]
    slurm = c.get("slurm")
    if slurm:
        lines.append(
            f"Slurm accounting (sacct): {len(slurm['jobs'])} jobs, {slurm['gpus']} GPUs, "
            f"{slurm['total'] / 3600:.3g} GPU-hours in all; T@tau in GPU-hours is T@tau x "
            f"{slurm['gpus']} GPUs."
        )
    return lines + ([f"Unfinished runs left out: {study.left_out}."] if study.left_out else [])


GLOSSARY = [
    "**T@tau**: the study time at which a run's best validation metric so far first reaches "
    "the target tau (time to target; lower is better).",
    "**censored**: a run that never reached tau within the budget; it counts as the whole "
    "budget, a lower bound of its true time, so a median that includes one is shown as >= x.",
    "**normalised AUC**: the area under a run's best-so-far curve over the budget divided by "
    "the budget: its mean metric over time (anytime performance).",
    "**KL**: the Kullback-Leibler divergence between Gaussians fitted to the final trials' "
    "hyperparameters (psi) of the treated and the baseline arm: how far the warm start shifts "
    "what the scheduler keeps (0: no shift).",
    "**worker-h**: study time x workers / 3600, the paper's GPU-hours when each worker is a "
    "GPU held for the whole study (idle waits included).",
]


MINI_COST = (
    " At mini scale a unit trains a few thousand images or fewer, so the warm start's one extra "
    "step on one mini-batch is a larger share of a trial than at full scale."
)


def _verdicts(verdicts: list[cl.Verdict], metric: str, mini: bool) -> list[Block]:
    """A bullet per claim of this study's domain (judged, or why not); the claims of another
    domain, and the pooled one, listed in one line: they would bury the ones that matter."""
    elsewhere = [
        v for v in verdicts if v.verdict == cl.UNTESTED and v.claim.metric not in (metric, cl.ANY)
    ]
    items = []
    for v in verdicts:
        if v in elsewhere:
            continue
        why = MINI_COST if mini and v.claim.kind in ("overhead", "memory") and v.measured else ""
        items.append(f"**{v.verdict}**: {v.claim.title}: {v.sentence}{why}")
    if elsewhere:
        domain = {"accuracy": "vision", "perplexity": "language"}.get(metric, metric)
        items.append(
            f"**{cl.UNTESTED}** (claims of another domain, or pooled over both; this is a "
            f"{domain} study): " + "; ".join(v.claim.title for v in elsewhere) + "."
        )
    return [("h2", "Verdicts"), ("p", SCALE_NOTE), ("ul", items)]


def _blocks(study: StudyData, result: dict[str, Any], figures: list[Any]) -> list[Block]:
    c, metric, ran = study.config, study.metric, result["ran"]
    summary, evidence = result["summary"], result["evidence"]
    blocks: list[Block] = [("h1", f"OHGW study report: {study.directory.name}")]
    note = demonstration_note(c)
    if note is not None:
        blocks += [("p", f"**{note}**")]
    items = overview({v: study.runs[v] for v in ran}, study.mode, result["tau"], c["budget"])
    head, rows = overview_table(items, c, metric, result["tau"])
    blocks += [("h2", "Overview (a censored run counts as the budget)"), ("table", head, rows)]
    blocks += [("h2", "What was run"), ("ul", _what_ran(study, result))]
    if result["tau"] is None:
        blocks += [("p", "T@tau was not computed: the study set no tau (pass one to the report).")]
    else:
        head = ["variant", "n", "censored", f"T@tau median ({time_axis(c)[1]})", "mean +- std"]
        slurm = c.get("slurm")
        hours = f"median GPU-h (Slurm, {slurm['gpus']} GPUs)" if slurm else "median worker-h"
        head += [hours, "vs baseline (95 % CI), p", "std ratio (95 % CI)"]
        rows = [_time_row(v, summary[v], evidence.get(v, {}), c) for v in ran]
        blocks += [("h2", "Time to target (a censored run counts as the budget)")]
        blocks += [("table", head, rows)]
    pct = " (%)" if metric == "accuracy" else ""
    head = ["variant", f"final test {metric}{pct}", "vs baseline (95 % CI), p"]
    head += [f"best val {metric}{pct}", f"normalised AUC{pct}"]
    rows = [_final_row(v, summary[v], evidence.get(v, {})) for v in ran]
    blocks += [("h2", "Final metric and anytime performance"), ("table", head, rows)]
    head = ["variant", "warm FLOPs share", "warm wall-time share", "peak memory"]
    head += ["KL vs baseline (p, final trials)", "diverged trials", "non-finite warm starts"]
    rows = [_cost_row(v, summary[v], evidence.get(v, {})) for v in ran]
    blocks += [("h2", "Cost and bias"), ("table", head, rows)]
    if any(e.get("ood") for e in evidence.values()):
        from ohgw.datasets.wikitext import OUT_OF_DOMAIN_NOTE

        head = ["variant", "vs", "n", "baseline (mean +- std)", "treated (mean +- std)"]
        head += ["difference (95 % CI), p"]
        rows = [_ood_row(v, e) for v, e in evidence.items() if e.get("ood")]
        note = (
            f"The configuration each run picked by validation, retrained on the CPU to its "
            f"resource with the same spec and evaluated on text of another domain "
            f"({OUT_OF_DOMAIN_NOTE}); {OOD_FILE} beside this report holds each run's numbers."
        )
        blocks += [("h2", "Out-of-domain perplexity"), ("p", note), ("table", head, rows)]
    verdicts = [cl.assess(claim, metric, evidence, c["scheduler"]) for claim in cl.CLAIMS]
    tested = [v for v in verdicts if v.verdict != cl.UNTESTED]
    rows = [[v.claim.title, v.claim.published, v.measured or "n/a", v.verdict] for v in tested]
    blocks += [("h2", "The paper's numbers beside this study's")]
    blocks += [("table", ["claim", "paper", "this study", "verdict"], rows)]
    blocks += _verdicts(verdicts, metric, str(c["benchmark"]).endswith("-mini"))
    blocks += [("h2", "Terms"), ("ul", GLOSSARY), ("h2", "Figures")]
    return blocks + [("img", f) for f in figures]


def _md(blocks: list[Block]) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2"):
            out.append(f"{'#' * int(kind[1])} {rest[0]}\n")
        elif kind == "p":
            out.append(f"{rest[0]}\n")
        elif kind == "ul":
            out.append("".join(f"- {item}\n" for item in rest[0]))
        elif kind == "table":
            for row in [rest[0], ["---"] * len(rest[0]), *rest[1]]:
                out.append("| " + " | ".join(str(x).replace("|", "/") for x in row) + " |")
            out.append("")
        else:
            f = rest[0]
            out.append(
                f"![{f.name}](figures/{f.png.name})\n\n*{f.caption}* "
                f"([PDF](figures/{f.pdf.name}))\n"
            )
    return "\n".join(out)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid
#ccc;padding:0.3em 0.6em;text-align:left}th{background:#f0f0f0}img{width:100%}
figure{display:inline-block;vertical-align:top;width:47%;margin:0.5em 1%}
figcaption{font-size:0.85em;color:#555}"""
SCRIPT = """window.addEventListener("load", function () {
  var images = document.querySelectorAll("img"), loaded = 0;
  images.forEach(function (img) { if (img.complete && img.naturalWidth > 0) loaded++; });
  document.body.dataset.figures = loaded + "/" + images.length;
});"""


def _inline(text: Any) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(str(text)))


def _html(blocks: list[Block], title: str) -> str:
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "p"):
            out.append(f"<{kind}>{_inline(rest[0])}</{kind}>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in rest[0])
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(x)}</td>" for x in row) + "</tr>"
                for row in rest[1]
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            f = rest[0]
            data = base64.b64encode(f.image or f.png.read_bytes()).decode("ascii")
            img = f'<img alt="{html.escape(f.name)}" src="data:image/png;base64,{data}">'
            out.append(f"<figure>{img}<figcaption>{_inline(f.caption)}</figcaption></figure>")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{CSS}</style></head><body>\n" + "\n".join(out)
        + f"\n<script>{SCRIPT}</script>\n</body></html>\n"
    )  # fmt: skip


def load(study_dir: str | Path) -> StudyData:
    """A study directory (its store) or a published study (``ohgw.analysis.published``), with
    the Slurm accounting, when recorded, as ``config["slurm"]``."""
    if not (Path(study_dir) / FILENAME).is_file() and is_published(study_dir):
        study = load_published(study_dir)
        slurm = study.slurm
    else:
        study = load_study(study_dir)
        with Store(study_dir, readonly=True) as store:
            slurm = store.get_meta(SLURM_KEY)
    study.config = {**study.config, "slurm": slurm}
    return study


def write_report(study_dir: str | Path, tau: float | None = None) -> tuple[Path, Path]:
    """Write the figures, ``report.md`` and ``report.html``; ``tau`` overrides the config's.

    Shards that end at once each write the report: they take turns (a lock on the study
    folder), and each reads the store only once it has its turn, so the last one leaves the
    report of the most finished pairs; every file is written whole, and the HTML inlines the
    figures this process drew, so no reader meets a half-written file.
    """
    exists = Path(study_dir).is_dir()  # else load() says what is missing
    with folder_lock(study_dir) if exists else contextlib.nullcontext():
        study = load(study_dir)
        tau = study.config.get("tau") if tau is None else tau
        figures = write_figures(study, tau)
        blocks = _blocks(study, analyse(study, tau), figures)
        md_path, html_path = study.directory / "report.md", study.directory / "report.html"
        write_whole(md_path, _md(blocks).encode("utf-8"))
        write_whole(html_path, _html(blocks, blocks[0][1]).encode("utf-8"))
    return md_path, html_path


def main(argv: Sequence[str] | None = None) -> int:
    """``ohgw report STUDY_DIR [--tau TAU]``: write the study's figures and report."""
    parser = argparse.ArgumentParser(prog="ohgw report", description=main.__doc__)
    parser.add_argument("study_dir", help="a study directory (with results.sqlite)")
    parser.add_argument("--tau", type=float, default=None, help="T@tau target (default: config)")
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.study_dir, args.tau)
    except ValueError as error:
        print(f"ohgw report: error: {error}", file=sys.stderr)
        return 2
    print("\n".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
