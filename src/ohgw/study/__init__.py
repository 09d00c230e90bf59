"""Studies: variants, paired seeds, engines, budgets, run into a study directory's store.

The surface a user needs::

    from ohgw.study import StudyConfig, run_study
    run_study(StudyConfig(directory="runs/mine", seeds=2))

``load_study_config`` builds the settings from ``key=value`` overrides and a YAML file as
``ohgw study`` does, ``dry_run`` lists the pairs a study would run, and ``load_study`` reads a
study directory's finished runs. The report is :func:`ohgw.analysis.write_report`. The names
are imported on first use (``import ohgw.study.config`` does not import torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ohgw._lazy import lazy_exports

if TYPE_CHECKING:
    from ohgw.store.study_dir import load_study as load_study
    from ohgw.study.config import StudyConfig as StudyConfig
    from ohgw.study.config_files import load_study_config as load_study_config
    from ohgw.study.runner import dry_run as dry_run
    from ohgw.study.runner import run_study as run_study

_EXPORTS = {
    "StudyConfig": "ohgw.study.config",
    "dry_run": "ohgw.study.runner",
    "load_study": "ohgw.store.study_dir",
    "load_study_config": "ohgw.study.config_files",
    "run_study": "ohgw.study.runner",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
