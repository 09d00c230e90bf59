"""The warm start's seconds per FLOP over a training unit's: the study setting ``warm_charge``.

A shell over :mod:`ohgw.measure.warm_charge`, which holds the logic:

    python perf/warm_charge.py --benchmark cifar10-mini --hypergrad graph --rounds 5 --threads 1
"""

from ohgw.measure.warm_charge import main

if __name__ == "__main__":
    raise SystemExit(main())
