"""How far a language run's retrained validation perplexity drifts with the float rounding alone.

A shell over :mod:`ohgw.measure.retrain_drift`, which holds the logic:

    python perf/retrain_drift.py --runs baseline:112 baseline:102 --out FILE
"""

from ohgw.measure.retrain_drift import main

if __name__ == "__main__":
    raise SystemExit(main())
