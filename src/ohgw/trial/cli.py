"""``ohgw trial SPEC.json``: one trial as a process, one JSON report per line (or through
syne-tune's ``Reporter``); the real-clock and Slurm engines start trials this way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ohgw.trial.loop import run_trial
from ohgw.trial.settings import TrialSpec


def main(argv: list[str] | None = None) -> int:
    """``ohgw trial SPEC.json``: run a trial as a process, one JSON report per line."""
    import argparse

    parser = argparse.ArgumentParser(prog="ohgw trial", description=main.__doc__)
    parser.add_argument("spec", help="a JSON file with the TrialSpec fields")
    parser.add_argument("--reporter", choices=["json", "syne-tune"], default="json")
    args = parser.parse_args(argv)
    spec = TrialSpec.from_dict(json.loads(Path(args.spec).read_text()))
    if args.reporter == "syne-tune":
        from syne_tune import Reporter

        reporter = Reporter()

        def report(row: dict[str, Any]) -> None:
            reporter(**row)
    else:

        def report(row: dict[str, Any]) -> None:
            print("[ohgw-report] " + json.dumps(row), flush=True)

    run_trial(spec, report)
    return 0
