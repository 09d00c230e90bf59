"""Drivers on top of every layer: the measurements, and the checks and recoveries that combine
layers which may not import each other.

Each module here is the logic of one command (``perf/*.py`` and ``perf/measure.sh`` are shells
over the measuring ones): the timings (``packed_throughput``, ``warmstart_cost``, ...), the warm
start's charge factor (:mod:`ohgw.measure.warm_charge`), the out-of-domain perplexity of the
picked runs (:mod:`ohgw.measure.ood_perplexity`), how far a retraining drifts with the float
rounding (:mod:`ohgw.measure.retrain_drift`); and, run by ``scripts/``, whether this machine's
scheduler makes a committed study's decisions again (:mod:`ohgw.measure.replay`: the simulated
engine fed committed rows) and the settings of a study published before ``study.json`` existed
(:mod:`ohgw.measure.published_from_report`: the study config's defaults and the published
format; ``ohgw.analysis`` may not import the study harness). Every output committed under
``docs/`` starts with the same header (:func:`ohgw.measure.header.header_lines`: date,
machine, versions and commit, command). Nothing below ``ohgw.measure`` imports it.
"""
