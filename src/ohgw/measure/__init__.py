"""Measuring drivers and the header of every committed measurement.

Each module here is the logic of one command that runs the code on top of every layer and
reports what it found (``perf/*.py`` and ``perf/measure.sh`` are shells over them): the warm
start's charge factor (:mod:`ohgw.measure.warm_charge`), the out-of-domain perplexity of the
picked runs (:mod:`ohgw.measure.ood_perplexity`), how far a retraining drifts with the float
rounding (:mod:`ohgw.measure.retrain_drift`), and whether this machine's scheduler makes a
committed study's decisions again (:mod:`ohgw.measure.replay`, a check that
``scripts/replay_scheduler.py`` runs). Every output committed under ``docs/`` starts with the
same header (:func:`ohgw.measure.header.header_lines`: date, machine, versions and commit,
command). Nothing below ``ohgw.measure`` imports it.
"""
