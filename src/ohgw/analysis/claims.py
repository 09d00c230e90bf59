"""The paper's claims as data, and the rule that judges each one from a study's numbers.

A verdict is "holds", "does not hold", "inconclusive at this scale" or "not tested by this
study" (the claim's domain or variants were not run, or the quantity was not measured). Rules,
for the treated arm against its paired baseline over the seeds both finished; with fewer than
6 paired seeds every sampled claim is inconclusive (6 is the smallest n at which a two-sided
Wilcoxon test can reach p < 0.05: 2/64; a bootstrap CI over fewer seeds is too coarse to judge):

* T@tau reduction (published change ``e`` < 0): holds if the paired bootstrap 95 % CI of the
  relative change of median T@tau lies entirely below 0 and Wilcoxon p < 0.05; does not hold if
  the CI lies entirely above ``e / 2`` (it rules out even half the published gain) and fewer
  than half the baseline runs are censored (a censored median cannot refute a gain); else
  inconclusive. Every run censored in both arms is inconclusive (tau was not reached).
* Small gain of the random warm start (< 2 %): holds if the CI lies entirely above -2 %; does
  not hold if it lies entirely below -2 % and p < 0.05; else inconclusive.
* Overhead in FLOPs (or memory): measured, not sampled: holds if the warm start's share of all
  FLOPs (the peak-memory increase) is below the bound, else does not hold. The Background's two
  constraints (overhead <= 5 % FLOPs and <= 10 % VRAM) are judged the same way (bound included)
  on any domain's study. Peak memory counts
  only as CUDA allocations; CPU peak RSS of the whole process cannot isolate the warm start.
* Final metric unchanged (vision: test accuracy, in points, of the configuration picked by
  validation): does not hold if p < 0.05; holds
  if p >= 0.05 and the CI of the mean paired difference lies within +-0.5 points; else
  inconclusive. Not worse (language: the final best validation perplexity): does not hold if the
  treated arm is worse with p < 0.05; holds if the CI's upper end is below 2 % of the baseline
  mean; else inconclusive.
* Out-of-domain perplexity drops (language): on the picked configurations, retrained and
  evaluated on another domain's text (``perf/ood_perplexity.py``): holds if the CI of the
  mean paired difference lies below 0 and p < 0.05; does not hold if it lies entirely above
  half the published drop (relative to the baseline mean); else inconclusive.
* Variance (std of T@tau rises < 10 %): holds if the bootstrap CI of std(treated)/std(baseline)
  lies entirely below 1.10, does not hold if entirely above; else (or with n < 6) inconclusive.
* Negligible bias (KL of the final psi distributions): inconclusive with fewer than d + 2
  final trials per arm (no covariance in d dimensions); holds if KL <= 0.05 nats; does not hold
  if KL > 0.05 and a label-permutation test gives p < 0.05; else inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

MIN_N = 6  # see the module docstring
HOLDS = "holds"
FAILS = "does not hold"
UNSURE = "inconclusive at this scale"
UNTESTED = "not tested by this study"
ALPHA = 0.05


@dataclass(frozen=True)
class Claim:
    """One published claim: what it says, its numbers, and what a study needs to judge it."""

    key: str
    title: str
    metric: str  # the domain: "accuracy" (vision), "perplexity" (language), "" (pooled)
    kind: str  # reduction, small_gain, overhead, memory, unchanged, not_worse, variance, kl
    treated: str
    published: str
    baseline: str = "baseline"
    params: dict[str, float] = field(default_factory=dict)

    @property
    def scheduler(self) -> str:
        """The paper's scheduler for the claim's domain."""
        return {"accuracy": "asha", "perplexity": "pasha"}.get(self.metric, "")


V, L, ANY = "accuracy", "perplexity", "any"
CLAIMS = [
    Claim("vision-ohgw", "Vision: OHGW (1 step) cuts T@tau", V, "reduction", "ohgw",
          "11.4 h -> 9.1 h (-20.2 %, p = 3.1e-6), T@93 %, ASHA, 32 seeds", params={"e": -0.202}),
    Claim("vision-3step", "Vision: OHGW (3 steps) cuts T@tau", V, "reduction", "ohgw-3step",
          "8.9 h +- 1.3 (-21.9 %)", params={"e": -0.219}),
    Claim("vision-random", "Vision: a random warm start gains < 2 %", V, "small_gain",
          "random-warm", "11.2 h +- 1.0 (-1.8 %)", params={"bound": -0.02}),
    Claim("vision-final", "Vision: final test accuracy unchanged", V, "unchanged", "ohgw",
          "94.73 % +- 0.12 vs 94.81 % +- 0.10, n.s.", params={"margin": 0.5}),
    Claim("vision-flops", "Vision: warm-start overhead < 4 % FLOPs", V, "overhead", "ohgw",
          "2.7 % FLOPs", params={"bound": 0.04}),
    Claim("vision-3step-flops", "Vision: 3 steps cost <= 6 % FLOPs", V, "overhead",
          "ohgw-3step", "6 % FLOPs", params={"bound": 0.06}),
    Claim("vision-vram", "Vision: warm start adds < 0.1 % VRAM", V, "memory", "ohgw",
          "< 0.1 % VRAM", params={"bound": 0.001}),
    Claim("vision-std", "Vision: std of T@tau rises < 10 %", V, "variance", "ohgw",
          "+5 %", params={"bound": 1.10}),
    Claim("vision-kl", "Vision: negligible bias in final psi (KL)", V, "kl", "ohgw",
          "KL = 0.012", params={"bound": 0.05}),
    Claim("language-ohgw", "Language: OHGW cuts T@tau", L, "reduction", "ohgw",
          "6.9 h -> 5.6 h (-18.8 %, p = 7.5e-5), T@ppl 30, PASHA, 24 seeds",
          params={"e": -0.188}),
    Claim("language-eta", "Language: OHGW with eta_h = 3e-4 cuts T@tau", L, "reduction",
          "ohgw:eta_h=3e-4", "5.8 h (-16.3 %)", params={"e": -0.163}),
    Claim("language-noise", "Language: OHGW gains under 15 % token noise", L, "reduction",
          "ohgw:noise=0.15", "-11.6 %", baseline="baseline:noise=0.15", params={"e": -0.116}),
    Claim("language-final", "Language: final validation perplexity not worse", L, "not_worse",
          "ohgw", "24.8 +- 0.3 -> 24.6 +- 0.3", params={"margin": 0.02}),
    Claim("language-ood", "Language: out-of-domain perplexity drops", L, "ood", "ohgw",
          "32.1 -> 31.7", params={"e": -0.4 / 32.1}),
    Claim("language-flops", "Language: warm-start overhead < 4 % FLOPs", L, "overhead", "ohgw",
          "3.4 % FLOPs", params={"bound": 0.04}),
    Claim("language-vram", "Language: warm start adds <= 1.2 % VRAM", L, "memory", "ohgw",
          "1.2 % VRAM", params={"bound": 0.012}),
    Claim("language-std", "Language: std of T@tau rises < 10 %", L, "variance", "ohgw",
          "+3 %", params={"bound": 1.10}),
    Claim("language-kl", "Language: negligible bias in final psi (KL)", L, "kl", "ohgw",
          "KL = 0.018", params={"bound": 0.05}),
    Claim("constraint-flops", "Constraint (Background): overhead <= 5 % FLOPs", ANY,
          "overhead", "ohgw", "<= 5 % FLOPs (an aim, any domain)",
          params={"bound": 0.05, "inclusive": 1}),
    Claim("constraint-vram", "Constraint (Background): overhead <= 10 % VRAM", ANY, "memory",
          "ohgw", "<= 10 % VRAM (an aim, any domain)", params={"bound": 0.10, "inclusive": 1}),
    Claim("aggregate", "Both domains: median T@tau -19.5 % over 56 paired seeds", "",
          "pooled", "ohgw", "-19.5 %"),
]  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict, the sentence that gives its evidence, the measured value."""

    verdict: str
    sentence: str
    measured: str = ""
    claim: Claim | None = None


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:+.1f} %"


def _g(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else format(x, spec)


def _p(p: float) -> str:
    return "p = n/a" if p is None or math.isnan(p) else f"p = {p:.2g}"


def reduction(change: dict[str, Any], effect: float, censored: tuple[int, int]) -> Verdict:
    """T@tau: ``change`` from ``paired_relative_change``; ``censored`` (baseline, treated)."""
    n, low, high, p = change["n"], change["ci_low"], change["ci_high"], change["p_value"]
    text = f"median T@tau {_pct(change['relative_change'])} (95 % CI {_pct(low)} to "
    text += f"{_pct(high)}, {_p(p)}, n = {n}; censored {censored[0]} baseline, "
    text += f"{censored[1]} treated)"
    if n < MIN_N:
        verdict, why = UNSURE, f"fewer than {MIN_N} paired seeds"
    elif censored[0] == n and censored[1] == n:
        verdict, why = UNSURE, "no run reached tau"
    elif high < 0 and p < ALPHA:
        verdict, why = HOLDS, "the CI lies below 0 and p < 0.05"
    elif low > effect / 2 and 2 * censored[0] < n:
        verdict, why = FAILS, f"the CI rules out half the published {_pct(effect)}"
    else:
        verdict, why = UNSURE, "the CI spans both a gain and none, or p >= 0.05"
    return _verdict(verdict, text, why, _pct(change["relative_change"]))


def small_gain(change: dict[str, Any], bound: float) -> Verdict:
    """Random warm start: its T@tau change stays above ``bound`` (a gain smaller than it)."""
    low, high, p = change["ci_low"], change["ci_high"], change["p_value"]
    text = f"median T@tau {_pct(change['relative_change'])} (95 % CI {_pct(low)} to "
    text += f"{_pct(high)}, {_p(p)}, n = {change['n']})"
    if change["n"] < MIN_N:
        verdict, why = UNSURE, f"fewer than {MIN_N} paired seeds"
    elif low > bound:
        verdict, why = HOLDS, f"the CI lies above {_pct(bound)}"
    elif high < bound and p < ALPHA:
        verdict, why = FAILS, f"the CI lies below {_pct(bound)} and p < 0.05"
    else:
        verdict, why = UNSURE, f"the CI includes {_pct(bound)}"
    return _verdict(verdict, text, why, _pct(change["relative_change"]))


def bounded_share(
    share: float, bound: float, what: str, trials: int, inclusive: bool = False
) -> Verdict:
    """A measured overhead share (FLOPs or memory) against its published bound (``<``, or
    ``<=`` when ``inclusive``: the Background's constraints)."""
    sign = "<=" if inclusive else "<"
    text = f"{what} {100 * share:.2f} % over {trials} trials (bound {sign} {100 * bound:g} %)"
    if math.isnan(share):
        return _verdict(UNSURE, text, "nothing measured", "n/a")
    verdict = HOLDS if (share <= bound if inclusive else share < bound) else FAILS
    why = "within the bound" if verdict == HOLDS else "beyond the bound"
    return _verdict(verdict, text, why, f"{100 * share:.2f} %")


def unchanged(diff: dict[str, Any], margin: float, unit: str) -> Verdict:
    """Final metric unchanged: ``diff`` from ``paired_test_metric`` in display units."""
    text = _diff_text(diff, unit)
    p, low, high = diff["p_value"], diff["ci_low"], diff["ci_high"]
    if diff["n"] < MIN_N:
        verdict, why = UNSURE, f"fewer than {MIN_N} paired seeds"
    elif p < ALPHA:
        verdict, why = FAILS, "p < 0.05"
    elif p >= ALPHA and -margin <= low and high <= margin:
        verdict, why = HOLDS, f"p >= 0.05 and the CI lies within +-{margin:g}{unit}"
    else:
        verdict, why = UNSURE, f"the CI reaches beyond +-{margin:g}{unit} or p is undefined"
    return _verdict(verdict, text, why, f"{diff['mean_difference']:+.3g}{unit}")


def not_worse(diff: dict[str, Any], margin: float) -> Verdict:
    """Final perplexity not worse: the CI's upper end below ``margin`` x the baseline mean."""
    text = _diff_text(diff, "")
    allowed = margin * diff["mean_baseline"]
    if diff["n"] < MIN_N:
        verdict, why = UNSURE, f"fewer than {MIN_N} paired seeds"
    elif diff["p_value"] < ALPHA and diff["mean_difference"] > 0:
        verdict, why = FAILS, "worse with p < 0.05"
    elif diff["ci_high"] < allowed:
        verdict, why = HOLDS, f"the CI stays below +{allowed:.3g} ({100 * margin:g} %)"
    else:
        verdict, why = UNSURE, f"the CI reaches +{allowed:.3g} ({100 * margin:g} %)"
    return _verdict(verdict, text, why, f"{diff['mean_difference']:+.3g}")


def drops(diff: dict[str, Any], effect: float) -> Verdict:
    """A perplexity that drops (out of domain): ``diff`` from ``paired_test_metric``; ``effect``
    the published relative change."""
    text = _diff_text(diff, "")
    half = effect / 2 * diff["mean_baseline"]
    if diff["n"] < MIN_N:
        verdict, why = UNSURE, f"fewer than {MIN_N} paired seeds"
    elif diff["ci_high"] < 0 and diff["p_value"] < ALPHA:
        verdict, why = HOLDS, "the CI lies below 0 and p < 0.05"
    elif diff["ci_low"] > half:
        verdict, why = FAILS, f"the CI rules out half the published drop ({half:+.3g})"
    else:
        verdict, why = UNSURE, "the CI spans both a drop and none, or p >= 0.05"
    return _verdict(verdict, text, why, f"{diff['mean_difference']:+.3g}")


def variance(ratio: float, ci: tuple[float, float], n: int, bound: float) -> Verdict:
    """std(treated) / std(baseline) of T@tau with its bootstrap CI."""
    text = f"std ratio {_g(ratio, '.2f')} (95 % CI {_g(ci[0], '.2f')} to {_g(ci[1], '.2f')}, "
    text += f"n = {n})"
    if n < MIN_N or math.isnan(ratio) or any(math.isnan(c) for c in ci):
        verdict, why = UNSURE, "too few seeds, or no spread in the baseline"
    elif ci[1] < bound:
        verdict, why = HOLDS, f"the CI lies below {bound:g}"
    elif ci[0] > bound:
        verdict, why = FAILS, f"the CI lies above {bound:g}"
    else:
        verdict, why = UNSURE, f"the CI includes {bound:g}"
    return _verdict(verdict, text, why, f"{_pct(ratio - 1)}" if math.isfinite(ratio) else "n/a")


def kl(value: float, p: float, n: tuple[int, int], d: int, bound: float) -> Verdict:
    """KL(treated || baseline) of the final psi, its permutation p, final trials per arm."""
    text = f"KL {_g(value, '.3g')} nats ({_p(p)} by permutation; {n[1]} treated and {n[0]} "
    text += f"baseline final trials, d = {d})"
    if min(n) < d + 2 or math.isnan(value):
        verdict, why = UNSURE, f"fewer than d + 2 = {d + 2} final trials per arm"
    elif value <= bound:
        verdict, why = HOLDS, f"KL <= {bound:g}"
    elif p < ALPHA:
        verdict, why = FAILS, f"KL > {bound:g} and p < 0.05"
    else:
        verdict, why = UNSURE, f"KL > {bound:g} but within sampling noise (p >= 0.05)"
    return _verdict(verdict, text, why, _g(value, ".3g"))


def _diff_text(diff: dict[str, Any], unit: str) -> str:
    return (
        f"{diff['mean_baseline']:.4g} +- {_g(diff['std_baseline'], '.2g')} (baseline) vs "
        f"{diff['mean_treated']:.4g} +- {_g(diff['std_treated'], '.2g')}{unit}, difference "
        f"{diff['mean_difference']:+.3g} (95 % CI {_g(diff['ci_low'], '+.3g')} to "
        f"{_g(diff['ci_high'], '+.3g')}, {_p(diff['p_value'])}, n = {diff['n']})"
    )


def _verdict(verdict: str, text: str, why: str, measured: str) -> Verdict:
    return Verdict(verdict, f"{text}: {why}.", measured)


def untested(claim: Claim, why: str) -> Verdict:
    return Verdict(UNTESTED, f"{why}.", "", claim)


def assess(
    claim: Claim, metric: str, evidence: dict[str, Any], scheduler: str | None = None
) -> Verdict:
    """Judge ``claim`` for a study of ``metric`` (and ``scheduler``) from ``evidence``.

    ``evidence`` maps a treated label to its comparison with the baseline (keys: ``baseline``,
    ``t_tau`` and ``censored``, ``final_test`` (points), ``final_val``, ``overhead``,
    ``memory``, ``std``, ``kl``; as built by :func:`ohgw.analysis.evidence.analyse`); a missing
    key or None means not measured, and ``<key>_why`` may say why.
    """
    if claim.kind == "pooled":
        return untested(claim, "pools a vision and a language study; judge each on its own")
    if claim.metric not in (metric, ANY):
        return untested(claim, f"a claim on {claim.metric}; this study measures {metric}")
    found = evidence.get(claim.treated)
    if found is None or found.get("baseline") != claim.baseline:
        return untested(claim, f"needs the variants {claim.baseline} and {claim.treated}")
    rule, needs = _RULES[claim.kind]
    if found.get(needs) is None:
        return untested(claim, found.get(f"{needs}_why", f"{needs} was not measured"))
    verdict = replace(rule(claim, found), claim=claim)
    if claim.scheduler and scheduler and scheduler.removesuffix("-stopping") != claim.scheduler:
        note = f" The paper used {claim.scheduler.upper()}; this study {scheduler}."
        verdict = replace(verdict, sentence=verdict.sentence + note)
    return verdict


_RULES = {
    "reduction": (lambda c, f: reduction(f["t_tau"], c.params["e"], f["censored"]), "t_tau"),
    "small_gain": (lambda c, f: small_gain(f["t_tau"], c.params["bound"]), "t_tau"),
    "overhead": (
        lambda c, f: bounded_share(
            f["overhead"]["warm_flops_share"], c.params["bound"], "warm-start FLOPs share",
            f["overhead"]["trials"], bool(c.params.get("inclusive"))),
        "overhead",
    ),
    "memory": (
        lambda c, f: bounded_share(f["memory"], c.params["bound"], "peak memory increase",
                                   f["overhead"]["trials"], bool(c.params.get("inclusive"))),
        "memory",
    ),
    "unchanged": (
        lambda c, f: unchanged(f["final_test"], c.params["margin"], " points"), "final_test"),
    "not_worse": (lambda c, f: not_worse(f["final_val"], c.params["margin"]), "final_val"),
    "variance": (lambda c, f: variance(*f["std"], c.params["bound"]), "std"),
    "ood": (lambda c, f: drops(f["ood"], c.params["e"]), "ood"),
    "kl": (lambda c, f: kl(*f["kl"], c.params["bound"]), "kl"),
}  # fmt: skip
