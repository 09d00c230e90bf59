"""ohgw: one-shot hyper-gradient warm starts for multi-fidelity HPO (demo, study, report)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ohgw.settings import BY_NAME
from ohgw.settings import settings_help


def _as_setting(extra: Sequence[str]) -> str:
    """The hint "settings are key=value without dashes: seeds=1" for a flag named like one."""
    for flag in extra:
        key, _, value = flag.lstrip("-").partition("=")
        if flag.startswith("-") and key.replace("-", "_") in BY_NAME:
            example = f"{key.replace('-', '_')}={value or 'VALUE'}"
            return f"; settings are written key=value without dashes: {example}"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ohgw", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="warm-start sampled configs on real CIFAR-10",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--configs", type=int, default=8, help="how many configs")
    demo.add_argument("--seed", type=int, default=0, help="seed of the sampled configs")
    demo.add_argument("--eta-h", type=float, default=1e-3, help="hyper-learning-rate")
    demo.add_argument(
        "--objective",
        choices=["lookahead", "forward"],
        default="lookahead",
        help="the warm start's objective",
    )
    demo.add_argument("--inner-steps", type=int, default=1, help="lookahead optimizer steps K")
    trial = commands.add_parser("trial", help="run one trial from a JSON spec (a process)")
    trial.add_argument("spec", help="a JSON file with the TrialSpec fields")
    trial.add_argument("--reporter", choices=["json", "syne-tune"], default="json")
    study = commands.add_parser(
        "study",
        help="run or continue a paired study: ohgw study key=value ... (Hydra overrides)",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    study.add_argument(
        "overrides", nargs="*", help="e.g. scheduler=pasha variants=[baseline,ohgw]"
    )
    study.add_argument(
        "--config", default=None, help="a YAML file of settings (overrides apply on top)"
    )
    study.add_argument("--no-progress", action="store_true", help="no progress bar")
    study.add_argument(
        "--no-report",
        action="store_true",
        help="write no report.md / report.html at the end (`ohgw report DIR` writes them later)",
    )
    study.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the settings and print the pairs that would run; write nothing",
    )
    report = commands.add_parser("report", help="write report.md and report.html of a study")
    report.add_argument("study_dir", help="the study's directory")
    report.add_argument("--tau", type=float, default=None, help="the target of T@tau")
    args, extra = parser.parse_known_args(argv)
    # argparse stops the overrides at the first flag: those after one (ohgw study directory=D
    # --no-progress seeds=1) come back as unknown and are overrides too
    if extra and args.command == "study" and not any(e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra and args.command == "study":
        study.error(f"unrecognized arguments: {' '.join(extra)}{_as_setting(extra)}")
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "report":
        from ohgw.analysis.report import main as report_main

        extra = [] if args.tau is None else ["--tau", str(args.tau)]
        try:
            return report_main([args.study_dir, *extra])
        except OSError as error:  # the store was read (read-only); the report's files were not
            parser.exit(
                2,
                f"ohgw report: error: the report could not be written ({error}); it goes into "
                f"{args.study_dir} (report.md, report.html, figures/), which must be writable: "
                "copy the study directory to a writable place and run ohgw report there.\n",
            )
    if args.command == "study":
        from ohgw.analysis import summary_text
        from ohgw.study import dry_run
        from ohgw.study import load_study_config
        from ohgw.study import run_study

        try:
            config = load_study_config(args.overrides, args.config)
            if args.dry_run:
                pairs = dry_run(config)
                print(
                    f"{config.directory}: valid; {len(pairs)} pairs to run (shard {config.shard})"
                )
                for pair in pairs:
                    print(f"  seed {pair.seed}: {pair.label}")
                return 0
            if not args.no_report:  # imported first: a missing package stops before any run
                from ohgw.analysis import write_report
            run_study(config, progress=not args.no_progress)
            print(summary_text(config.directory))  # the report's overview, as the report reads it
            if not args.no_report:  # the study's tau is stored in its identity, the default
                md, html = write_report(config.directory)
                print(f"Report: {md} and {html}")
        except (ValueError, ImportError) as error:
            parser.exit(2, f"ohgw study: error: {error}\n")
        return 0
    if args.command == "trial":
        from ohgw.trial.cli import main as trial_main

        return trial_main([args.spec, "--reporter", args.reporter])
    if args.command == "demo":
        from ohgw.demo import run_demo

        run_demo(
            configs=args.configs,
            seed=args.seed,
            eta_h=args.eta_h,
            objective=args.objective,
            inner_steps=args.inner_steps,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
