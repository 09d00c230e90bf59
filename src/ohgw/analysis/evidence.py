"""The evidence of a study, per treated variant against its paired baseline.

:func:`analyse` turns a study's finished runs into per-variant summaries (T@tau with censoring,
final metrics, normalised AUC, overhead, trial counts) and per treated variant the paired
statistics the claims are judged on (:mod:`ohgw.analysis.claims`): T@tau's relative change, the
std ratio with its bootstrap CI, final metrics, peak memory, the KL of the final psi with its
permutation p, and the out-of-domain perplexity where ``perf/ood_perplexity.py`` wrote it
(its file: :mod:`ohgw.analysis.ood`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ohgw.analysis import metrics as me
from ohgw.analysis import stats as st
from ohgw.analysis.ood import FILE as OOD_FILE
from ohgw.analysis.ood import read_ood
from ohgw.analysis.overview import display
from ohgw.store.study_dir import StudyData
from ohgw.variants import parse_variant

N_PERM = 200  # label permutations of the KL test


def _safe(what: dict[str, Any], key: str, compute: Any) -> None:
    """``what[key] = compute()``; a ValueError leaves None and its reason in ``key_why``."""
    try:
        what[key] = compute()
    except (ValueError, np.linalg.LinAlgError) as error:
        what[key], what[f"{key}_why"] = None, f"{key} not computed: {error}"


def baseline_for(label: str, ran: Sequence[str]) -> str | None:
    """The baseline a variant is paired with: a no-warm-start variant with the same noise."""
    variant = parse_variant(label)
    if variant.warm_start.mode == "none":
        return None
    same = [r for r in ran if parse_variant(r).warm_start.mode == "none"]
    same = [r for r in same if parse_variant(r).noise == variant.noise]
    return "baseline" if "baseline" in same else (same[0] if same else None)


def _std_ci(b: np.ndarray, t: np.ndarray, n_boot: int = 2000) -> tuple[float, float]:
    """Paired bootstrap 95 % CI of std(t) / std(b); NaN when most resamples have no spread."""
    if b.size < 2:
        return math.nan, math.nan
    idx = np.random.default_rng(0).integers(0, b.size, size=(n_boot, b.size))
    sb, stt = np.std(b[idx], axis=1, ddof=1), np.std(t[idx], axis=1, ddof=1)
    ratios = stt[sb > 0] / sb[sb > 0]
    if ratios.size < n_boot / 2:
        return math.nan, math.nan
    low, high = np.percentile(ratios, [2.5, 97.5])
    return float(low), float(high)


def _kl_test(b: np.ndarray, t: np.ndarray) -> tuple[float, float, tuple[int, int], int]:
    """KL(treated || baseline) of the final psi and its label-permutation p; both NaN when the
    arms are too small for a covariance (fewer than d + 2 final trials: the fitted Gaussian is
    the ridge in all but a few directions, and the KL of such fits runs to 1e5 nats)."""
    n, d = (len(b), len(t)), b.shape[1]
    if min(n) < d + 2:
        return math.nan, math.nan, n, d
    value = st.gaussian_kl(t, b)
    pooled, rng, hits = np.vstack([b, t]), np.random.default_rng(0), 0
    for _ in range(N_PERM):
        order = rng.permutation(len(pooled))
        hits += st.gaussian_kl(pooled[order[n[0] :]], pooled[order[: n[0]]]) >= value
    return value, (1 + hits) / (1 + N_PERM), n, d


def analyse(study: StudyData, tau: float | None) -> dict[str, Any]:
    """Per variant: its summary; per treated variant: its evidence against its baseline."""
    config, metric, mode = study.config, study.metric, study.mode
    budget = float(config["budget"])
    ran = [label for label, by_seed in study.runs.items() if by_seed]
    firsts = [me.best_so_far(r, mode)[0][1] for v in ran for r in study.runs[v].values() if r]
    worst = 0.0 if mode == "max" else (max(firsts) if firsts else None)
    summary: dict[str, dict[str, Any]] = {}
    for label in ran:
        runs = study.runs[label]
        s: dict[str, Any] = {"seeds": sorted(runs)}
        if tau is not None:
            hits = {seed: me.time_to_target(r, tau, mode) for seed, r in runs.items()}
            s["hits"] = hits
            s["t_tau"], s["censored"] = st.censored_times(list(hits.values()), budget)
        s["test"] = {k: display(metric, me.final_test_metric(r, mode)) for k, r in runs.items()}
        s["val"] = {k: display(metric, me.best_so_far(r, mode)[-1][1]) for k, r in runs.items()}
        s["auc"] = [
            display(metric, me.normalised_auc(r, mode, budget, worst)) for r in runs.values()
        ]
        rows = [x for r in runs.values() for x in r]
        _safe(s, "overhead", lambda rows=rows: me.overhead(rows))
        measured = getattr(study, "measured", {}).get(label)
        if s["overhead"] and measured:  # a published study: the store's measured quantities
            s["overhead"].update({k: v for k, v in measured.items() if v is not None})
        s["counts"] = me.trial_counts(rows)
        summary[label] = s
    evidence: dict[str, dict[str, Any]] = {}
    for label in ran:
        base = baseline_for(label, ran)
        if base is None:
            continue
        b, t = summary[base], summary[label]
        seeds = [k for k in t["seeds"] if k in b["seeds"]]
        e: dict[str, Any] = {"baseline": base, "seeds": seeds, "overhead": t["overhead"]}
        evidence[label] = e
        if not seeds:
            continue
        if tau is None:
            e["t_tau"], e["t_tau_why"] = None, "the study set no tau, so T@tau was not computed"
            e["std"], e["std_why"] = None, e["t_tau_why"]
        else:
            bt, _ = st.censored_times([b["hits"][k] for k in seeds], budget)
            tt, _ = st.censored_times([t["hits"][k] for k in seeds], budget)
            e["censored"] = tuple(sum(arm["hits"][k] is None for k in seeds) for arm in (b, t))
            _safe(e, "t_tau", lambda bt=bt, tt=tt: st.paired_relative_change(bt, tt))
            e["std"] = (st.std_ratio(bt, tt), _std_ci(bt, tt), len(seeds))
        for key in ("test", "val"):
            pair = [b[key][k] for k in seeds], [t[key][k] for k in seeds]
            _safe(e, f"final_{key}", lambda p=pair: st.paired_test_metric(*p))
        e["memory"], e["memory_why"] = _memory(b.get("overhead"), t.get("overhead"))
        names = sorted(k[4:] for k in study.runs[label][seeds[0]][0] if k.startswith("psi."))
        rows_b = [x for k in seeds for x in study.runs[base][k]]
        rows_t = [x for k in seeds for x in study.runs[label][k]]
        psi = me.final_psi(rows_b, names), me.final_psi(rows_t, names)
        _safe(e, "kl", lambda psi=psi: _kl_test(*psi))
    ood = read_ood(study.directory)
    for label, e in evidence.items():
        if ood is None:
            e["ood_why"] = f"no {OOD_FILE} beside the study (perf/ood_perplexity.py)"
            continue
        seeds = sorted(set(ood.get(label, {})) & set(ood.get(e["baseline"], {})))
        if seeds:
            pair = [ood[e["baseline"]][k] for k in seeds], [ood[label][k] for k in seeds]
            _safe(e, "ood", lambda p=pair: st.paired_test_metric(*p))
        else:
            e["ood_why"] = f"{OOD_FILE} holds no paired seeds of {label} and {e['baseline']}"
    return {"ran": ran, "summary": summary, "evidence": evidence, "tau": tau}


def _memory(b: dict[str, Any] | None, t: dict[str, Any] | None) -> tuple[float | None, str]:
    if not b or not t or b["peak_memory_bytes"] is None or t["peak_memory_bytes"] is None:
        return None, "peak memory was not measured"
    if b["memory_measure"] != "cuda_max_allocated" or t["memory_measure"] != b["memory_measure"]:
        why = f"peak memory is {t['memory_measure']}, which cannot isolate the warm start"
        return None, why
    return t["peak_memory_bytes"] / b["peak_memory_bytes"] - 1, ""
