"""The ohgw command's help: every study setting with its default; demo's defaults."""

from __future__ import annotations

import dataclasses

import pytest

from ohgw.cli import main
from ohgw.study.config import StudyConfig


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


def test_study_help_lists_every_setting_with_its_default(capsys) -> None:
    text = _help(capsys, "study")
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
    for setting in dataclasses.fields(StudyConfig):
        assert setting.name in lines, setting.name
        assert "see docs/studies.md" not in lines[setting.name]  # each has its own meaning
    assert "[15.0]" in lines["budget"] and "[[baseline,ohgw]]" in lines["variants"]


def test_demo_help_shows_defaults_and_top_level_help_has_no_rst(capsys) -> None:
    assert "(default: 8)" in _help(capsys, "demo")
    assert "``" not in _help(capsys)
