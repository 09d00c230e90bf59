"""The ``ohgw`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ohgw", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="warm-start sampled configs on real CIFAR-10")
    demo.add_argument("--configs", type=int, default=8, help="how many configs (default 8)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--eta-h", type=float, default=1e-3, help="hyper-learning-rate")
    demo.add_argument("--objective", choices=["lookahead", "forward"], default="lookahead")
    demo.add_argument("--inner-steps", type=int, default=1, help="lookahead optimizer steps K")
    args = parser.parse_args(argv)
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
