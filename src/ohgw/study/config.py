"""The ``ohgw study`` settings as a Hydra structured config: ``key=value`` overrides on top of
``StudyConfig``'s defaults, e.g. ``scheduler=pasha variants=[baseline,ohgw] seeds=4``.

Overrides are checked against the schema (an unknown key or a wrong type is an error naming it)
and then by ``ohgw.study.study.validate``.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose
from hydra import initialize
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ohgw.study.study import StudyConfig

CONFIG_NAME = "ohgw_study"


def load_study_config(overrides: Sequence[str] = ()) -> StudyConfig:
    """A ``StudyConfig`` from Hydra override strings; a ``ValueError`` names a bad one."""
    ConfigStore.instance().store(name=CONFIG_NAME, node=StudyConfig)
    try:
        with initialize(version_base=None, config_path=None):
            composed = compose(config_name=CONFIG_NAME, overrides=list(overrides))
        data = OmegaConf.to_container(composed, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        cause = f" ({error.__cause__})" if error.__cause__ else ""
        raise ValueError(f"Bad study override: {error}{cause}".replace("\n", " ")) from None
    data.pop("hydra", None)
    return StudyConfig.from_dict(data)
