"""Study settings from overrides and YAML files: a mistyped key is named with a suggestion."""

from __future__ import annotations

import pytest

from ohgw.study.config_files import load_study_config


def test_a_mistyped_override_names_the_setting_and_suggests_one() -> None:
    with pytest.raises(ValueError) as error:
        load_study_config(["seed=3"])
    message = str(error.value)
    assert message.startswith("unknown setting `seed` (did you mean `seeds`?)")
    assert "+seed" not in message  # Hydra's advice to append the key was wrong here


def test_a_mistyped_key_in_a_yaml_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("budget: 5\nseed: 3\n")
    with pytest.raises(ValueError, match=rf"unknown setting `seed` in {path} \(did you mean"):
        load_study_config([], path)
    assert load_study_config(["seeds=2"]).seeds == 2


def test_a_dict_setting_takes_the_plain_override_on_top_of_the_file(tmp_path) -> None:
    path = tmp_path / "study.yaml"
    path.write_text("benchmark_options: {train_size: 512, width: 4}\n")
    plain = "benchmark_options={train_size: 256, val_size: 128}"  # Hydra refused this form
    expected = {"train_size": 256, "width": 4, "val_size": 128}
    assert load_study_config([plain], path).benchmark_options == expected
    assert load_study_config(["+" + plain], path).benchmark_options == expected
    assert load_study_config([plain]).benchmark_options == {"train_size": 256, "val_size": 128}
