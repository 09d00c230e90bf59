"""The paper's figures of a study: best-so-far validation metric and training loss over time.

Every figure goes to ``<study>/figures/<name>.pdf`` and ``.png``, each file written whole
(matplotlib's object API, so the Agg canvas renders it and no global pyplot state is touched).
For the metric ``m`` ("accuracy" or "perplexity") and the config's scheduler ``s``:

* ``m_s-<variant>`` and ``training_loss_s-<variant>`` per variant: median over seeds and the
  inter-quartile band, evaluated on a common grid of study time from 0 to the budget. A curve
  starts once every seed has a result (on the FLOP clock all seeds' first units end together);
* ``m_comparison``: every variant's median (and a faint IQR band);
* ``m_trajectories``: every seed's own best-so-far curve, coloured by variant.

File name of a variant (:func:`variant_file_name`): the paper's names for the four built-in
variants (``baseline``, ``ohgw`` -> ``ohgw-1step``, ``ohgw-3step``, ``random-warm``); any other
label keeps letters, digits, ``-``, ``_`` and ``.``, turns ``=`` into ``-`` and every other
character (``:``, ``,``, ...) into ``_``: ``ohgw:eta_h=3e-4`` -> ``ohgw_eta_h-3e-4``.
Variants the study did not run, or with no finished seed, get no figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from matplotlib.ticker import NullFormatter

from ohgw.analysis.metrics import best_so_far
from ohgw.analysis.overview import demonstration_tag
from ohgw.analysis.overview import display
from ohgw.analysis.overview import time_axis
from ohgw.store.files import write_whole
from ohgw.store.study_dir import StudyData
from ohgw.store.study_dir import load_study

PAPER_NAMES = {
    "baseline": "baseline",
    "ohgw": "ohgw-1step",
    "ohgw-3step": "ohgw-3step",
    "random-warm": "random-warm",
}
GRID_POINTS = 400


@dataclass(frozen=True)
class FigureFile:
    """One written figure; ``image`` is its PNG as this process wrote it (what the report
    inlines: the file may be another process's by then)."""

    name: str
    caption: str
    png: Path
    pdf: Path
    image: bytes = field(default=b"", repr=False, compare=False)


def variant_file_name(label: str) -> str:
    """The file-name part of a variant (see the module docstring)."""
    if label in PAPER_NAMES:
        return PAPER_NAMES[label]
    keep = "".join(c if c.isalnum() or c in "-_." else "-" if c == "=" else "_" for c in label)
    return keep.strip("._") or "variant"


def metric_label(metric: str) -> str:
    if metric == "accuracy":
        return "best validation accuracy (%)"
    if metric == "perplexity":
        return "best validation perplexity (per token, log scale)"
    return f"best validation {metric}"


def step_values(curve: Sequence[tuple[float, float]], grid: np.ndarray) -> np.ndarray:
    """A right-continuous step curve evaluated on ``grid``; NaN before its first point."""
    if not curve:
        return np.full(grid.shape, math.nan)
    times = np.array([t for t, _ in curve])
    values = np.array([v for _, v in curve])
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, values[np.maximum(index, 0)], math.nan)


def loss_curve(rows: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """The running minimum of finite ``train_loss`` over time (best_so_far on that field)."""
    finite = [r for r in rows if math.isfinite(float(r.get("train_loss", math.nan)))]
    return best_so_far([{**r, "val_metric": r["train_loss"]} for r in finite], "min")


def _curves(study: StudyData, label: str, loss: bool) -> dict[int, list[tuple[float, float]]]:
    curves = {}
    for seed, rows in study.runs[label].items():
        curve = loss_curve(rows) if loss else best_so_far(rows, study.mode)
        if not loss:
            curve = [(t, display(study.metric, v)) for t, v in curve]
        curves[seed] = curve
    return curves


def _band(
    curves: dict[int, list[tuple[float, float]]], grid: np.ndarray
) -> tuple[np.ndarray, ...]:
    values = np.array([step_values(c, grid) for c in curves.values()])
    return tuple(np.percentile(values, [25, 50, 75], axis=0))  # NaN until every seed reports


def _axes(study: StudyData, title: str, ylabel: str, log: bool) -> tuple[Figure, Axes, float]:
    scale, unit = time_axis(study.config)
    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = figure.add_subplot()
    tag = demonstration_tag(study.config)
    ax.set_title(title if tag is None else f"{title}\n({tag})", fontsize=10)
    ax.set_xlabel(f"study time ({unit})")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, float(study.config["budget"]) / scale)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    return figure, ax, scale


def _tau_line(ax: Axes, study: StudyData, tau: float | None) -> None:
    if tau is not None:
        shown = display(study.metric, tau)
        unit = " %" if study.metric == "accuracy" else ""
        ax.axhline(shown, color="0.3", linestyle="--", lw=1, label=f"tau = {shown:g}{unit}")


def _save(study: StudyData, figure: Figure, name: str, caption: str) -> FigureFile:
    for ax in figure.axes:  # plain numbers on a log axis; minor labels within one decade
        if ax.get_yscale() == "log":
            low, high = ax.get_ylim()
            plain = FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain if high / low < 10 else NullFormatter())
    tag = demonstration_tag(study.config)
    caption = caption if tag is None else f"{tag[0].upper()}{tag[1:]}. {caption}"
    out = study.directory / "figures"
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    image = _render(figure, format="png", dpi=150, metadata={"Software": None})
    write_whole(png, image)  # whole files: other shards may write or read the report at once
    figure.set_layout_engine("none")  # the PNG's layout: each layout costs two draws
    write_whole(pdf, _render(figure, format="pdf", metadata={"CreationDate": None}))
    return FigureFile(name, caption, png, pdf, image)


def _render(figure: Figure, **options: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, **options)
    return buffer.getvalue()


def write_figures(study: StudyData | str | Path, tau: float | None = None) -> list[FigureFile]:
    """Write every figure of ``study`` (a directory or loaded data) to ``<study>/figures``.

    ``tau`` (default: the config's) is drawn as a dashed line on the validation figures.
    """
    if not isinstance(study, StudyData):
        study = load_study(study)
    tau = study.config.get("tau") if tau is None else tau
    config, metric = study.config, study.metric
    out = study.directory / "figures"
    out.mkdir(parents=True, exist_ok=True)
    grid = np.linspace(0.0, float(config["budget"]), GRID_POINTS)
    ran = [label for label, by_seed in study.runs.items() if by_seed]
    colours = {label: f"C{i % 10}" for i, label in enumerate(config["variants"])}
    where = f"{config['benchmark']}, {config['scheduler']}"
    log = metric == "perplexity"
    files = []
    for loss in (False, True):
        for label in ran:
            curves = _curves(study, label, loss)
            n = len(curves)
            what = "training loss" if loss else f"validation {metric}"
            title = f"{where}, {label}: {what}, n = {n} seed{'s' * (n != 1)}"
            per = "token" if metric == "perplexity" else "example"
            ylabel = (
                f"running min training loss (nats per {per})" if loss else metric_label(metric)
            )
            figure, ax, scale = _axes(study, title, ylabel, log and not loss)
            low, mid, high = _band(curves, grid)
            ax.fill_between(grid / scale, low, high, color=colours[label], alpha=0.25, lw=0)
            ax.plot(grid / scale, mid, color=colours[label], label="median over seeds")
            if not loss:
                _tau_line(ax, study, tau)
            ax.legend(loc="best", fontsize=8)
            prefix = "training_loss" if loss else metric
            name = f"{prefix}_{config['scheduler']}-{variant_file_name(label)}"
            drawn = f"running-minimum training loss (nats per {per})" if loss else (
                f"best-so-far validation {metric}" + (" (%)" if metric == "accuracy" else "")
            )  # fmt: skip
            caption = (
                f"{where}, {label}: {drawn} against study time ({time_axis(config)[1]}); "
                f"median (line) and inter-quartile range (band) over {n} seed{'s' * (n != 1)}"
                + ("" if loss or tau is None else "; dashed: the target tau")
                + "."
            )
            files.append(_save(study, figure, name, caption))
    if ran:
        files.append(_comparison(study, ran, colours, grid, tau))
        files.append(_trajectories(study, ran, colours, tau))
    return files


def _comparison(
    study: StudyData,
    ran: list[str],
    colours: dict[str, str],
    grid: np.ndarray,
    tau: float | None,
) -> FigureFile:
    n = max(len(study.runs[label]) for label in ran)
    title = f"{study.config['benchmark']}, {study.config['scheduler']}: all variants, medians"
    figure, ax, scale = _axes(study, title, metric_label(study.metric), study.mode == "min")
    for label in ran:
        low, mid, high = _band(_curves(study, label, False), grid)
        ax.fill_between(grid / scale, low, high, color=colours[label], alpha=0.1, lw=0)
        ax.plot(
            grid / scale, mid, color=colours[label], label=f"{label} ({len(study.runs[label])})"
        )
    _tau_line(ax, study, tau)
    ax.legend(loc="best", fontsize=8, title="variant (seeds)", title_fontsize=8)
    caption = (
        f"{study.config['benchmark']}, {study.config['scheduler']}: best-so-far validation "
        f"{study.metric} of every variant against study time ({time_axis(study.config)[1]}); "
        f"median over seeds (up to {n}) with a faint inter-quartile band."
    )
    return _save(study, figure, f"{study.metric}_comparison", caption)


def _trajectories(
    study: StudyData, ran: list[str], colours: dict[str, str], tau: float | None
) -> FigureFile:
    budget = float(study.config["budget"])
    n = sum(len(study.runs[label]) for label in ran)
    title = f"{study.config['benchmark']}, {study.config['scheduler']}: every seed's curve"
    figure, ax, scale = _axes(study, title, metric_label(study.metric), study.mode == "min")
    for label in ran:
        curves = [c for c in _curves(study, label, False).values() if c]
        for i, curve in enumerate(curves):
            times = [t / scale for t, _ in curve] + [budget / scale]
            values = [v for _, v in curve] + [curve[-1][1]]
            ax.step(
                times,
                values,
                where="post",
                color=colours[label],
                alpha=0.6,
                lw=0.9,
                label=f"{label} ({len(study.runs[label])})" if i == 0 else None,
            )
    _tau_line(ax, study, tau)
    ax.legend(loc="best", fontsize=8, title="variant (seeds)", title_fontsize=8)
    caption = (
        f"{study.config['benchmark']}, {study.config['scheduler']}: best-so-far validation "
        f"{study.metric} of each of the {n} runs (one per variant and seed) against study time "
        f"({time_axis(study.config)[1]}), coloured by variant."
    )
    return _save(study, figure, f"{study.metric}_trajectories", caption)
