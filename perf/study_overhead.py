"""The simulated clock's own overhead: everything but training, evaluation and warm starts.

A shell over :mod:`ohgw.measure.study_overhead`, which holds the logic:

    python perf/study_overhead.py [--budget 20] [--seeds 1]
"""

from ohgw.measure.study_overhead import main

if __name__ == "__main__":
    raise SystemExit(main())
