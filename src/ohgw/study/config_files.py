"""The ``ohgw study`` settings as a Hydra structured config: ``key=value`` overrides on top of
``StudyConfig``'s defaults, e.g. ``scheduler=pasha variants=[baseline,ohgw] seeds=4``, optionally
on top of a YAML file of settings (``ohgw study --config studies/cifar10-asha.yaml``).

Overrides are checked against the schema (an unknown key or a wrong type is an error naming it)
and then by :func:`ohgw.study.plan.validate`.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml
from hydra import compose
from hydra import initialize
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ohgw.study.config import StudyConfig

CONFIG_NAME = "ohgw_study"


def load_study_config(
    overrides: Sequence[str] = (), config_file: str | Path | None = None
) -> StudyConfig:
    """A ``StudyConfig`` from a YAML file (optional) and Hydra override strings on top of it.

    A ``ValueError`` names a bad setting, in the file or in an override.
    """
    ConfigStore.instance().store(name=CONFIG_NAME, node=StudyConfig)
    base = [] if config_file is None else file_overrides(config_file)
    if config_file is not None:
        check_keys(base, f" in {config_file}")
    check_keys(overrides, "")
    overrides = [_dict_override(override) for override in overrides]
    try:
        with initialize(version_base=None, config_path=None):
            composed = compose(config_name=CONFIG_NAME, overrides=[*base, *overrides])
        data = OmegaConf.to_container(composed, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        bad = _bad_value(error) or _bad_value(error.__cause__)
        if bad is not None:
            raise ValueError(bad) from None
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        raise ValueError(f"Bad study override: {error}{cause}".replace("\n", " ")) from None
    data.pop("hydra", None)
    return StudyConfig.from_dict(data)


def check_keys(overrides: Sequence[str], where: str) -> None:
    """A ``ValueError`` for the first override whose key is no setting: "unknown setting `seed`
    (did you mean `seeds`?)", with ``where`` (the YAML file it came from) in the message.

    Hydra's own answer ("To append to your config use +seed=3") is the wrong advice here."""
    known = [f.name for f in fields(StudyConfig)]
    for i, override in enumerate(overrides):
        key = override.split("=", 1)[0].lstrip("+~").split(".", 1)[0].strip()
        if key in known and "=" not in override and not override.startswith("~"):
            after = overrides[i + 1] if i + 1 < len(overrides) else ""
            example = f"{key}={after}" if after and "=" not in after else f"{key}=VALUE"
            raise ValueError(
                f"the setting `{key}`{where} has no value: write key=value without spaces, "
                f"e.g. `{example}` (`ohgw study --help` lists the settings)."
            )
        if key and key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise ValueError(
                f"unknown setting `{key}`{where}{hint}; the settings are {', '.join(known)} "
                "(`ohgw study --help` says what each means)."
            )


_DICT_SETTINGS = {f.name for f in fields(StudyConfig) if str(f.type).startswith("dict")}


def _dict_override(override: str) -> str:
    """``benchmark_options={train_size: 256}`` as Hydra's ``++benchmark_options={...}``: its
    keys set on top of the file's, as ``+benchmark_options=`` does. Hydra refuses the plain
    form (the dict's keys are in no schema): the GPU runbook's TOY mode used it and failed."""
    key, _, value = override.partition("=")
    if key.strip() in _DICT_SETTINGS and value.lstrip().startswith("{"):
        return f"++{override.lstrip()}"
    return override


def file_overrides(path: str | Path) -> list[str]:
    """The settings of a YAML study file as Hydra overrides (``key=value``), in file order."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as stream:  # YAML's errors then name the file
            data = yaml.safe_load(stream)
    except OSError as error:
        raise ValueError(
            f"Cannot read the study config file {path}: {error.strerror or error}.{_study_files()}"
        ) from None
    except yaml.YAMLError as error:
        raise ValueError(f"The study config file {path} is not valid YAML: {error}") from None
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ValueError(f"The study config file {path} must hold a mapping of settings.")
    out = []
    for key, value in data.items():
        if isinstance(value, dict):  # a Dict[str, Any] setting: one forced key at a time
            out += [f"++{key}.{k}={_hydra_value(v)}" for k, v in value.items()]
        else:
            out.append(f"{key}={_hydra_value(value)}")
    return out


def _study_files() -> str:
    """The sentence listing the study files in studies/ (the working directory's, else the
    checkout's), or nothing."""
    checkout = Path(__file__).resolve().parents[3]  # src/ohgw/study/ -> the repository
    for folder in (Path("studies"), checkout / "studies"):
        names = sorted(p.name for p in folder.glob("*.yaml")) if folder.is_dir() else []
        if names:
            return f" The study files in {folder}: {', '.join(names)}."
    return ""


def _bad_value(error: BaseException | None) -> str | None:
    """The message for a value of the wrong type (None for any other error), e.g. The value of
    `budget` is 'abc', but must be a number: Hydra's own text names the schema's internals."""
    if not isinstance(error, OmegaConfBaseException) or not getattr(error, "full_key", None):
        return None
    if getattr(error, "value", None) is None:
        return None
    types = {f.name: f.type for f in fields(StudyConfig)}
    key = str(error.full_key).split(".", 1)[0]
    if key not in types:
        return None
    text = str(types[key])  # the annotation: "float", "int | None", "list[str]", ...
    base = text.removesuffix(" | None")
    words = {"float": "a number", "int": "an integer", "str": "text", "bool": "true or false"}
    wanted = words.get(base, base) + (" or none" if base != text else "")
    return (
        f"The value of `{key}` is {error.value!r}, but must be {wanted} "
        f"(`ohgw study --help` says what `{key}` means)."
    )


def _hydra_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra_value(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"Unsupported value {value!r} in a study config file.")
