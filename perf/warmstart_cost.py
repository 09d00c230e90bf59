"""What a warm start costs, as a multiple of one plain training step of the same model and batch.

A shell over :mod:`ohgw.measure.warmstart_cost`, which holds the logic:

    python perf/warmstart_cost.py [--repeats 5] [--threads 2] [--device cpu|cuda] [--model gpt]
    python perf/warmstart_cost.py --device cuda --model resnet20 gpt   # both, one table each
"""

from ohgw.measure.warmstart_cost import main

if __name__ == "__main__":
    raise SystemExit(main())
