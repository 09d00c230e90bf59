"""A published study (rows + study.json) reads back as the store it came from."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from ohgw.analysis import report as rp
from ohgw.analysis.published import load_published
from ohgw.analysis.published import write_published
from ohgw.analysis.published import write_settings
from ohgw.store import MEASURED
from ohgw.store import Store
from test_analysis_report import language_study


def publish(study: Path, out: Path) -> None:
    """What scripts/publish_results.sh does before it reports: the finished pairs' rows without
    the measured columns and study.json, from the store; the rows gzipped."""
    out.mkdir()
    rows, _ = write_published(study, out)
    with rows.open("rb") as source, gzip.open(out / "results.csv.gz", "wb") as sink:
        shutil.copyfileobj(source, sink)
    rows.unlink()


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


def test_published_rows_come_from_the_store_not_the_studys_results_csv(tmp_path: Path) -> None:
    """A stopped run may leave results.csv older than the store: publishing reads the store."""
    study, out = tmp_path / "study", tmp_path / "published"
    language_study(study, seeds=2)
    with Store(study) as store:
        store.export_csv(study / "expected.csv", exclude=MEASURED, done_only=True)
    (study / "results.csv").write_text("variant,seed,trial_id,resource\n")  # stale
    out.mkdir()
    rows, settings = write_published(study, out)
    assert rows.read_bytes() == (study / "expected.csv").read_bytes()
    assert settings == out / "study.json"


def test_rows_older_than_study_json_are_refused(tmp_path: Path) -> None:
    """study.json lists a pair whose rows the CSV lacks (rows exported before it finished):
    the pair used to vanish from the report without a word."""
    study, out = tmp_path / "study", tmp_path / "published"
    language_study(study, seeds=2)
    out.mkdir()
    with Store(study) as store:
        store.export_csv(study / "results.csv", exclude=MEASURED)
    lines = (study / "results.csv").read_text().splitlines(keepends=True)
    with gzip.open(out / "results.csv.gz", "wt", newline="") as sink:
        sink.writelines(x for x in lines if not x.startswith("ohgw,1,"))
    write_settings(study, out)
    with pytest.raises(ValueError) as refused:
        load_published(out)
    message = str(refused.value)
    assert "lists [('ohgw', 1)] as finished, but" in message and "results.csv.gz" in message
    assert "Publish the study again" in message
