"""Out-of-domain perplexity of the configuration each language run picked, by retraining it.

A shell over :mod:`ohgw.measure.ood_perplexity`, which holds the logic:

    python perf/ood_perplexity.py --variants baseline ohgw --seeds 16 \
        --out docs/results/wikitext-pasha/ood_perplexity.txt
"""

from ohgw.measure.ood_perplexity import main

if __name__ == "__main__":
    raise SystemExit(main())
