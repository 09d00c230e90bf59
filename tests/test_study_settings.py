"""The settings table: StudyConfig, ``ohgw study --help``, the clock and the legacy store
defaults all come from ``ohgw.settings.SETTINGS``."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from ohgw.cli import main
from ohgw.hypergrad import METHODS
from ohgw.settings import LEGACY_DEFAULTS
from ohgw.settings import SETTINGS
from ohgw.settings import check_settings
from ohgw.study.config import StudyConfig
from ohgw.study.engines.simulated import Clock
from ohgw.study.engines.simulated import clock_of


def _help(capsys) -> str:
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    return capsys.readouterr().out


def test_cli_help_studyconfig_and_clock_agree_on_every_default(capsys) -> None:
    config = StudyConfig()
    lines = {line.split()[0]: line for line in _help(capsys).splitlines() if line[:2] == "  "}
    assert [f.name for f in dataclasses.fields(StudyConfig)] == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert getattr(config, setting.name) == setting.default, setting.name
        shown = "none" if setting.default is None else str(setting.default).replace(" ", "")
        if isinstance(setting.default, list):
            shown = "[" + ",".join(setting.default) + "]"
        assert f"[{shown}] {setting.help}" in lines[setting.name], setting.name
    assert Clock() == clock_of(config)
    for name in Clock.__dataclass_fields__:
        assert getattr(Clock(), name) == getattr(config, name), name


def test_every_setting_has_help_and_a_check_that_passes_its_default() -> None:
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
        assert setting.error(setting.default) is None, setting.name
        assert (setting.check is None) == (setting.must == ""), setting.name
    check_settings(StudyConfig().to_dict())


def test_a_list_default_is_not_shared_between_configs() -> None:
    first = StudyConfig()
    first.variants.append("x")
    first.benchmark_options["a"] = 1
    assert StudyConfig().variants == ["baseline", "ohgw"]
    assert StudyConfig().benchmark_options == {}


def test_a_bad_value_names_the_setting_and_what_it_must_be() -> None:
    with pytest.raises(ValueError, match=r"^The value of `workers` is 0, but must be an int >= 1"):
        check_settings({"workers": 0})
    with pytest.raises(ValueError, match=r"`shard` is '3/2', but must be 'i/n' with 0 <= i < n"):
        check_settings({"shard": "3/2"})
    with pytest.raises(ValueError, match="`warm_charge` is inf, but must be a finite number"):
        check_settings({"warm_charge": float("inf")})
    check_settings({"budget": float("inf"), "max_trials": 4})  # a budget without end is fine


def test_the_hypergrad_choices_are_the_warm_starts() -> None:
    by_name = {s.name: s for s in SETTINGS}
    for method in METHODS:
        assert by_name["hypergrad"].error(method) is None
    assert by_name["hypergrad"].error("fast") is not None


def test_legacy_defaults_name_settings_and_the_config_pickles() -> None:
    assert set(LEGACY_DEFAULTS) <= {s.name for s in SETTINGS}
    assert LEGACY_DEFAULTS["hypergrad"] == "graph"  # older stores ran the full graph
    config = StudyConfig(seeds=2)
    assert pickle.loads(pickle.dumps(config)) == config
