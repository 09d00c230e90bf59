"""Run the shards of several studies as parallel processes until a deadline.

A shell over :mod:`ohgw.study.parallel_shards`, which holds the logic:

    python scripts/run_shards.py --deadline 450 studies/cifar10-asha.yaml:8 studies/x.yaml:2
"""

from ohgw.study.parallel_shards import main

if __name__ == "__main__":
    raise SystemExit(main())
