"""Replay a committed study's scheduler from its committed rows, without training anything.

A shell over :mod:`ohgw.measure.replay`, which holds the logic:

    python scripts/replay_scheduler.py studies/cifar10-dyhpo.yaml \
        docs/results/cifar10-dyhpo/results.csv.gz --seed 100 --variant baseline
"""

from ohgw.measure.replay import main

if __name__ == "__main__":
    raise SystemExit(main())
