"""A published study (rows + study.json) reads back as the store it came from."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from ohgw.analysis import report as rp
from ohgw.analysis.published import load_published
from ohgw.analysis.published import write_settings
from ohgw.store import MEASURED
from ohgw.store import Store
from test_analysis_report import language_study


def publish(study: Path, out: Path) -> None:
    """What scripts/publish_results.sh does before it reports: rows without the measured
    columns, gzipped, and study.json from the store."""
    out.mkdir()
    with Store(study) as store:
        store.export_csv(study / "results.csv", exclude=MEASURED)
    with (
        (study / "results.csv").open("rb") as source,
        gzip.open(out / "results.csv.gz", "wb") as sink,
    ):
        shutil.copyfileobj(source, sink)
    write_settings(study, out)


def test_published_study_gives_the_stores_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, out = tmp_path / "study", tmp_path / "published"
    language_study(study)
    publish(study, out)
    monkeypatch.setattr(rp, "_describe", lambda config: {"preset": config["benchmark"]})
    with Store(study) as store:
        assert "compute_seconds" in store.rows()[0]
    published = load_published(out)
    assert "compute_seconds" not in published.runs["ohgw"][0][0]  # the rows lack it ...
    texts = []
    for directory in (study, out):
        loaded = rp.load(directory)
        blocks = rp._blocks(loaded, rp.analyse(loaded, loaded.config["tau"]), [])
        texts.append(rp._md(blocks).split("\n", 1)[1])  # past the title (the folder's name)
    assert texts[0] == texts[1]  # ... and study.json restores the measured shares and memory
    cost = next(x for x in texts[1].splitlines() if x.startswith("| ohgw | ") and "MiB" in x)
    assert "n/a" not in cost, cost  # wall-time share and memory came back from study.json
    figures = rp.write_figures(published)
    assert {f.pdf.suffix for f in figures} == {".pdf"} and len(figures) == 8
    for figure in figures:
        assert figure.pdf.read_bytes()[:5] == b"%PDF-" and figure.png.stat().st_size > 10_000
        assert figure.pdf.stat().st_size < 100_000  # small enough to commit
        assert "against study time" in figure.caption and "seed" in figure.caption


def test_unfinished_pairs_stay_out_of_a_published_study(tmp_path: Path) -> None:
    study, out = tmp_path / "study", tmp_path / "published"
    language_study(study, seeds=2)
    publish(study, out)
    meta = json.loads((out / "study.json").read_text())
    meta["finished"].remove(["ohgw", 1])  # as a pair that was still running when published
    (out / "study.json").write_text(json.dumps(meta))
    published = load_published(out)
    assert ("ohgw", 1) in published.left_out and 1 not in published.runs["ohgw"]
