"""The trial runner's training throughput over a plain PyTorch loop of the same model and data.

A shell over :mod:`ohgw.measure.trial_throughput`, which holds the logic:

    python perf/trial_throughput.py [--units 3] [--repeats 3]
"""

from ohgw.measure.trial_throughput import main

if __name__ == "__main__":
    raise SystemExit(main())
