"""Paired statistics over seeds, censoring of T@tau, and the Gaussian KL of psi distributions.

Arms are paired by seed: index i of ``baseline`` and of ``treated`` come from the same seed
(same scheduler seed, same theta_0 and data order per trial), so every resampling keeps pairs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

LEVEL = 0.95  # the bootstrap confidence level
MIN_BOOT = 2  # seeds a bootstrap interval needs: one pair resamples to itself (zero width)


def _pair(baseline: Sequence[float], treated: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(baseline, dtype=float).ravel()
    t = np.asarray(treated, dtype=float).ravel()
    if b.size != t.size:
        raise ValueError(
            f"`baseline` has {b.size} values and `treated` {t.size}; paired arms need one "
            "per seed."
        )
    if b.size == 0:
        raise ValueError("`baseline` and `treated` are empty; a comparison needs seeds.")
    for name, values in (("baseline", b), ("treated", t)):
        if not np.isfinite(values).all():
            raise ValueError(f"`{name}` holds non-finite values: {values.tolist()}.")
    return b, t


def _wilcoxon(b: np.ndarray, t: np.ndarray) -> tuple[float, list[str]]:
    """Two-sided Wilcoxon signed-rank p of ``t - b`` (zeros dropped, "wilcox"); notes."""
    nonzero = int(np.count_nonzero(t - b))
    if b.size < 2 or nonzero < 1:
        return math.nan, [f"Wilcoxon p undefined: n={b.size}, {nonzero} non-zero differences."]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = stats.wilcoxon(t, b, zero_method="wilcox", alternative="two-sided")
    return float(result.pvalue), [f"scipy: {w.message}" for w in caught]


def _bootstrap(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampled seed indices, shape (n_boot, n): the same rows index both arms."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"The value of `n_boot` is {n_boot!r}, but must be an int >= 1.")
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _interval(values: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def paired_relative_change(
    baseline: Sequence[float], treated: Sequence[float], *, n_boot: int = 10000, seed: int = 0
) -> dict[str, Any]:
    """median(treated) / median(baseline) - 1, a paired bootstrap 95 % CI, and Wilcoxon's p.

    The CI is the percentile interval of the statistic over ``n_boot`` resamplings of the seed
    indices with replacement (numpy ``default_rng(seed)``). The p-value is the paired two-sided
    Wilcoxon signed-rank test (zero differences dropped); NaN, with a note, when n < 2 or no
    difference is non-zero. With one seed the CI is NaN too (a lone pair resamples to itself).
    Baseline values must be > 0 (times, perplexities, accuracies).
    """
    b, t = _pair(baseline, treated)
    if (b <= 0).any():
        raise ValueError(f"`baseline` must be > 0 for a relative change, but is {b.tolist()}.")
    idx = _bootstrap(b.size, n_boot, seed)
    boot = np.median(t[idx], axis=1) / np.median(b[idx], axis=1) - 1
    low, high = _interval(boot) if b.size >= MIN_BOOT else (math.nan, math.nan)
    p, notes = _wilcoxon(b, t)
    return {
        "n": int(b.size),
        "median_baseline": float(np.median(b)),
        "median_treated": float(np.median(t)),
        "relative_change": float(np.median(t) / np.median(b) - 1),
        "ci_low": low,
        "ci_high": high,
        "p_value": p,
        "note": " ".join(notes),
    }


def censored_times(values: Sequence[float | None], budget: float) -> tuple[np.ndarray, int]:
    """T@tau per seed with censored runs (``None``: tau not reached) set to ``budget``.

    The budget is a lower bound of a censored run's true time, so censored runs enter medians,
    bootstrap intervals and Wilcoxon tests as the budget. This is conservative: when the treated
    arm is faster, capping the baseline's missing times shrinks the gain; when both arms are
    censored the pair's difference is zero (dropped by Wilcoxon). The bias is toward no
    difference, never toward a gain. Report the count of censored runs next to the result.
    Returns the times and how many were censored.
    """
    if not (isinstance(budget, (int, float)) and budget > 0):
        raise ValueError(f"The value of `budget` is {budget!r}, but must be > 0.")
    times = np.array([budget if v is None else float(v) for v in values], dtype=float)
    return times, sum(v is None for v in values)


def _std(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else math.nan


def paired_test_metric(
    baseline: Sequence[float], treated: Sequence[float], *, n_boot: int = 10000, seed: int = 0
) -> dict[str, Any]:
    """Final test metrics per arm (mean, std with ddof=1), the mean paired difference
    (treated - baseline) with a paired bootstrap 95 % CI, and the Wilcoxon p (as
    :func:`paired_relative_change`).
    """
    b, t = _pair(baseline, treated)
    idx = _bootstrap(b.size, n_boot, seed)
    boot = (t[idx] - b[idx]).mean(axis=1)
    low, high = _interval(boot) if b.size >= MIN_BOOT else (math.nan, math.nan)
    p, notes = _wilcoxon(b, t)
    return {
        "n": int(b.size),
        "mean_baseline": float(b.mean()),
        "std_baseline": _std(b),
        "mean_treated": float(t.mean()),
        "std_treated": _std(t),
        "mean_difference": float((t - b).mean()),
        "ci_low": low,
        "ci_high": high,
        "p_value": p,
        "note": " ".join(notes),
    }


def std_ratio(baseline_times: Sequence[float], treated_times: Sequence[float]) -> float:
    """std(treated) / std(baseline) (ddof=1): the change in spread; NaN when undefined."""
    sb = _std(np.asarray(baseline_times, dtype=float).ravel())
    st = _std(np.asarray(treated_times, dtype=float).ravel())
    return st / sb if sb > 0 else math.nan


def _gaussian(samples: np.ndarray, name: str, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(samples, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"`{name}` has shape {np.shape(samples)}, but must be (n >= 2, d).")
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` holds non-finite values.")
    cov = np.atleast_2d(np.cov(x, rowvar=False, ddof=1)) + ridge * np.eye(x.shape[1])
    return x.mean(axis=0), cov


def kl_closed_form(
    mean_p: np.ndarray, cov_p: np.ndarray, mean_q: np.ndarray, cov_q: np.ndarray
) -> float:
    """KL(P || Q) of two Gaussians, in nats:
    0.5 * (tr(S_q^-1 S_p) + (m_q - m_p)^T S_q^-1 (m_q - m_p) - d + ln det S_q - ln det S_p).
    """
    mp, mq = np.atleast_1d(np.asarray(mean_p, float)), np.atleast_1d(np.asarray(mean_q, float))
    sp, sq = np.atleast_2d(np.asarray(cov_p, float)), np.atleast_2d(np.asarray(cov_q, float))
    d = mp.size
    if mq.shape != (d,) or sp.shape != (d, d) or sq.shape != (d, d):
        raise ValueError(
            f"Shapes mean_p {mp.shape}, cov_p {sp.shape}, mean_q {mq.shape}, cov_q {sq.shape} "
            f"do not describe two Gaussians in {d} dimensions."
        )
    sign_p, logdet_p = np.linalg.slogdet(sp)
    sign_q, logdet_q = np.linalg.slogdet(sq)
    if sign_p <= 0 or sign_q <= 0:
        raise ValueError("`cov_p` and `cov_q` must be positive definite.")
    diff = mq - mp
    trace = np.trace(np.linalg.solve(sq, sp))
    mahalanobis = diff @ np.linalg.solve(sq, diff)
    return float(0.5 * (trace + mahalanobis - d + logdet_q - logdet_p))


def gaussian_kl(samples_p: np.ndarray, samples_q: np.ndarray, ridge: float = 1e-6) -> float:
    """KL(P || Q) of Gaussians fitted to two samples (rows: draws; 1-D arrays: one dimension).

    The fit is the sample mean and covariance (ddof=1) plus ``ridge * I``. Why Gaussian: with
    the few trials of a run it is simple and stable where k-NN or histogram estimators are
    noisy or biased, and it is exact when psi is Gaussian; it sees only the first two moments,
    so it is blind to non-Gaussian shape (skew, several modes).
    """
    mp, sp = _gaussian(samples_p, "samples_p", ridge)
    mq, sq = _gaussian(samples_q, "samples_q", ridge)
    if mp.shape != mq.shape:
        raise ValueError(f"The samples have {mp.size} and {mq.size} dimensions.")
    return kl_closed_form(mp, sp, mq, sq)
