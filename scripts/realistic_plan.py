"""Fix the realistic study's budget and tau from its pilot, by the rule written before any run.

A shell over :mod:`ohgw.analysis.realistic_plan`, which holds the logic:

    python scripts/realistic_plan.py runs/cifar10-realistic-pilot/results.csv --tflops 40 \
        --gpu-minutes 9 [--write studies]
"""

from ohgw.analysis.realistic_plan import main

if __name__ == "__main__":
    raise SystemExit(main())
