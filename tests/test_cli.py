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


def _refused(capsys, *argv: str) -> str:
    """Run ``ohgw *argv``, expecting exit 2; its stderr."""
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_a_value_of_the_wrong_type_is_named_with_the_type_it_must_have(capsys, tmp_path) -> None:
    err = _refused(capsys, "study", f"directory={tmp_path / 'd'}", "budget=abc")
    assert "The value of `budget` is 'abc', but must be a number" in err
    assert "full_key" not in err and "object_type" not in err  # not Hydra's internals
    err = _refused(capsys, "study", f"directory={tmp_path / 'd'}", "seeds=1.5")
    assert "The value of `seeds` is 1.5, but must be an integer" in err
    err = _refused(capsys, "study", f"directory={tmp_path / 'd'}", "max_trials=x")
    assert "The value of `max_trials` is 'x', but must be an integer or none" in err
    assert not (tmp_path / "d").exists()


def test_a_setting_written_as_a_flag_gets_the_study_usage_and_the_key_value_form(capsys) -> None:
    err = _refused(capsys, "study", "--seeds=1")
    assert err.startswith("usage: ohgw study")
    assert "settings are written key=value without dashes: seeds=1" in err


def test_a_setting_and_its_value_apart_are_shown_joined(capsys) -> None:
    err = _refused(capsys, "study", "seeds", "1")
    assert (
        "the setting `seeds` has no value: write key=value without spaces, e.g. `seeds=1`" in err
    )
    assert "unknown setting" not in err


def test_a_yaml_error_names_the_file_and_a_missing_file_lists_the_study_files(
    capsys, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no studies/ here: the checkout's are listed
    bad = tmp_path / "bad.yaml"
    bad.write_text("budget: [1\n")
    err = _refused(capsys, "study", "--config", str(bad))
    assert f'in "{bad}"' in err and "<unicode string>" not in err
    err = _refused(capsys, "study", "--config", "studies/cifar10-asah.yaml")
    assert "Cannot read the study config file studies/cifar10-asah.yaml: No such file" in err
    assert "cifar10-asha.yaml" in err.split("The study files in", 1)[1]
