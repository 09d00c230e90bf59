"""How closely the lean K=1 lookahead (``method="lean"``) agrees with the double-backward graph.

A shell over :mod:`ohgw.measure.lookahead_agreement`, which holds the logic:

    python perf/lookahead_agreement.py
"""

from ohgw.measure.lookahead_agreement import main

if __name__ == "__main__":
    raise SystemExit(main())
