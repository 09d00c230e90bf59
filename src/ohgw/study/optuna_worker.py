"""Workers of an Optuna study: ``python -m ohgw.study.optuna_worker [--one] [--ready F --go G]
[CONFIG]``.

The process the Optuna engine spawns for its extra workers, and a Slurm job's command: it runs
the study through the same pair loop as ``ohgw study`` (without the report), so it sits above
the engines, next to the loop. The settings come from ``$OHGW_STUDY_CONFIG`` (how the engine
and the Slurm jobs hand them over: a command line is readable by every user) or, by hand, from
``CONFIG``: JSON, or ``@FILE`` holding it. A storage password comes from the URL or from
``$OHGW_OPTUNA_STORAGE_PASSWORD``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ohgw.study.config import StudyConfig
from ohgw.study.config import config_from_env
from ohgw.study.engines.optuna_engine import OptunaEngine
from ohgw.study.runner import run_study


def read_config(text: str | None) -> StudyConfig:
    """The settings: ``text`` (JSON, or ``@FILE``), else ``$OHGW_STUDY_CONFIG``."""
    if text is None:
        return config_from_env()
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as error:
            raise ValueError(f"The settings file {text[1:]} cannot be read: {error}.") from None
    return StudyConfig.from_dict(json.loads(text))


def main(argv: list[str] | None = None) -> int:
    """``workers`` processes as ``ohgw study`` runs them (``--one``: this process only, as the
    children are)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "config",
        nargs="?",
        default=None,
        help="the study's settings as JSON or @FILE (default: $OHGW_STUDY_CONFIG)",
    )
    parser.add_argument("--one", action="store_true", help="one worker: this process only")
    parser.add_argument(
        "--ready", type=Path, default=None, help="create this file once able to take trials"
    )
    parser.add_argument(
        "--go", type=Path, default=None, help="with --ready: take trials once this file exists"
    )
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # a config written with old names
            config = read_config(args.config)
        echo = (lambda _: None) if args.one else print
        engine = OptunaEngine(children=not args.one, ready=args.ready, go=args.go)
        run_study(config, progress=False, echo=echo, engine=engine)
    except (ValueError, ImportError) as error:  # one line, as ``ohgw study`` says it
        print(f"ohgw optuna worker: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
