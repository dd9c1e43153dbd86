"""Paired significance tests on query-level scores: one-sided Wilcoxon signed-rank, corrections, effect sizes.

The test asks whether system B is better than system A on the same queries:
``scipy.stats.wilcoxon(d, alternative="greater")`` with ``d = round(b - a, decimals)``. Rounding removes float
noise (two NDCG values that are equal in exact arithmetic can differ by 1e-17 and would otherwise count as a
win or loss and get a rank).

``zero_method`` (how queries with d = 0 are treated) is a setting; the default is scipy's ``"wilcox"``, which drops
them before ranking (Wilcoxon's original procedure). ``"pratt"`` ranks them and then drops their ranks;
``"zsplit"`` splits their ranks between the positive and negative sums.

For a binary measure (Success@k) every non-zero difference is +1 or -1, all tied in absolute value, so the
test reduces to a sign test on the discordant queries: with scipy's normal approximation and tie correction
the statistic is z = (wins - losses) / sqrt(wins + losses), i.e. McNemar's test without continuity correction
(checked in tests/test_stats.py). ``exact_sign_test`` gives the exact binomial p-value on the same discordant counts.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats as sps

from .errors import HarnessError

ZERO_METHODS = ("wilcox", "pratt", "zsplit")
CORRECTIONS = ("none", "holm", "bh")


@dataclass(frozen=True)
class TestSettings:
    """How a paired comparison is tested and summarised."""

    __test__ = False  # not a pytest test class
    zero_method: str = "wilcox"  # scipy's default
    decimals: int = 10  # differences are rounded to this many decimals before testing
    alpha: float = 0.05
    correction: str = "none"  # across the datasets of one table or comparison: none, holm, bh
    n_boot: int = 10_000  # paired bootstrap resamples for the CI of the mean difference
    ci: float = 0.95
    seed: int = 0
    method: str = "auto"  # scipy's: auto, exact, approx

    def __post_init__(self) -> None:
        if self.zero_method not in ZERO_METHODS:
            raise HarnessError(f"zero_method must be one of {', '.join(ZERO_METHODS)}, got '{self.zero_method}'")
        if self.correction not in CORRECTIONS:
            raise HarnessError(f"correction must be one of {', '.join(CORRECTIONS)}, got '{self.correction}'")
        if not 0 < self.alpha < 1 or not 0 < self.ci < 1:
            raise HarnessError("alpha and ci must lie strictly between 0 and 1")
        if self.n_boot < 0:
            raise HarnessError("n_boot must be >= 0")

    def describe_bootstrap(self) -> str:
        """How the CI was computed, with what it takes to reproduce it exactly (resamples and seed)."""
        if self.n_boot == 0:
            return "no bootstrap (n_boot = 0)"
        return (f"paired bootstrap percentile interval of the mean difference, {self.n_boot} resamples of the "
                f"queries, seed {self.seed}")

    def describe(self, metric_display: str = "the per-query metric", with_alpha: bool = True,
                 family: str = "datasets") -> str:
        """The legend line naming the test actually run; ``family``: the tests a correction runs across."""
        corr = {"none": f"no correction for multiple {family}", "holm": f"Holm correction across {family}",
                "bh": f"Benjamini-Hochberg correction across {family}"}[self.correction]
        alpha = f"p < {self.alpha:g}; " if with_alpha else ""
        return (f"one-sided Wilcoxon signed-rank test on query-level {metric_display} "
                f"({alpha}zero differences: {self.zero_method}; {corr})")


@dataclass
class PairedTest:
    """Result of testing B > A on paired per-query scores."""

    n: int
    mean_a: float
    mean_b: float
    delta: float  # mean_b - mean_a
    ci_low: float
    ci_high: float
    p_value: float  # one-sided, B > A, uncorrected
    statistic: float
    wins: int  # queries where B > A
    ties: int
    losses: int
    zero_method: str
    alpha: float
    p_adjusted: float | None = None  # after a correction across datasets
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def p(self) -> float:
        return self.p_adjusted if self.p_adjusted is not None else self.p_value

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p) and self.p < self.alpha

    def to_dict(self) -> dict:
        d = asdict(self)
        d["significant"] = self.significant
        return d


def paired_differences(a: Sequence[float], b: Sequence[float], decimals: int = 10) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise HarnessError(f"paired scores must be two vectors of equal length, got {a.shape} and {b.shape}")
    return np.round(b - a, decimals)


def wilcoxon_greater(a: Sequence[float], b: Sequence[float], zero_method: str = "wilcox", decimals: int = 10,
                     method: str = "auto") -> tuple[float, float, str]:
    """One-sided Wilcoxon signed-rank test of B > A: (statistic, p-value, note).

    All-zero differences (identical systems) give p = 1 with a note instead of scipy's error or NaN.
    """
    d = paired_differences(a, b, decimals)
    if d.size == 0:
        return math.nan, math.nan, "no queries"
    if not np.any(d):
        return 0.0, 1.0, "all differences are zero"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about ties / small samples under the exact method
        res = sps.wilcoxon(d, zero_method=zero_method, alternative="greater", method=method)
    return float(res.statistic), float(res.pvalue), ""


def bootstrap_ci(d: np.ndarray, n_boot: int = 10_000, ci: float = 0.95, seed: int = 0,
                 strata: Sequence[int] | None = None, weights: Sequence[float] | None = None) -> tuple[float, float]:
    """Percentile CI of the mean of paired differences, resampling queries with replacement.

    With ``strata`` (lengths of consecutive blocks of ``d``, e.g. the 12 CQADupStack forums) queries are resampled
    within each block and the statistic is the mean of the block means (the macro average), or their weighted sum
    with ``weights`` (one per block, summing to 1: e.g. datasets of which some are macro averages of parts).
    """
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0 or n_boot == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    blocks = np.split(d, np.cumsum(strata)[:-1]) if strata else [d]
    if weights is not None and len(weights) != len(blocks):
        raise HarnessError(f"{len(weights)} weights for {len(blocks)} blocks")
    means = np.zeros(n_boot)
    for b, block in enumerate(blocks):
        chunk = max(1, 2_000_000 // max(1, block.size))
        for start in range(0, n_boot, chunk):
            stop = min(n_boot, start + chunk)
            idx = rng.integers(0, block.size, size=(stop - start, block.size))
            means[start:stop] += block[idx].mean(axis=1) * (1.0 if weights is None else weights[b])
    if weights is None:
        means /= len(blocks)
    lo, hi = np.quantile(means, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(lo), float(hi)


def _macro_mean(x: np.ndarray, strata: Sequence[int] | None) -> float:
    if x.size == 0:
        return math.nan
    if not strata:
        return float(x.mean())
    return float(np.mean([blk.mean() for blk in np.split(x, np.cumsum(strata)[:-1])]))


def paired_test(a: Sequence[float], b: Sequence[float], settings: TestSettings | None = None,
                strata: Sequence[int] | None = None) -> PairedTest:
    """Test B > A on the same queries: Wilcoxon p, mean difference with a bootstrap CI, win/tie/loss counts.

    ``strata`` (block lengths) marks a dataset made of parts: means, delta and CI are then macro averages over the
    parts, while the signed-rank test runs on all queries pooled.
    """
    settings = settings or TestSettings()
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = paired_differences(a_arr, b_arr, settings.decimals)
    if strata is not None and (sum(strata) != d.size or any(s < 1 for s in strata)):
        raise HarnessError(f"strata {list(strata)} do not add up to {d.size} queries")
    strata = list(strata) if strata and len(strata) > 1 else None
    stat, p, note = wilcoxon_greater(a_arr, b_arr, settings.zero_method, settings.decimals, settings.method)
    lo, hi = bootstrap_ci(d, settings.n_boot, settings.ci, settings.seed, strata)
    return PairedTest(
        n=int(d.size), mean_a=_macro_mean(a_arr, strata), mean_b=_macro_mean(b_arr, strata),
        delta=_macro_mean(b_arr - a_arr, strata), ci_low=lo, ci_high=hi, p_value=p, statistic=stat,
        wins=int((d > 0).sum()), ties=int((d == 0).sum()), losses=int((d < 0).sum()),
        zero_method=settings.zero_method, alpha=settings.alpha, note=note,
        extra={"strata": strata} if strata else {},
    )


def exact_sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test of B > A on the discordant queries of a binary measure (B right and A wrong:
    ``wins``; A right and B wrong: ``losses``): P(X >= wins) for X ~ Binomial(wins + losses, 1/2)."""
    n = wins + losses
    if n == 0:
        return 1.0
    return float(sps.binomtest(wins, n, 0.5, alternative="greater").pvalue)


def adjust_pvalues(pvalues: Sequence[float], method: str = "none") -> list[float]:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values; NaNs stay NaN."""
    if method not in CORRECTIONS:
        raise HarnessError(f"correction must be one of {', '.join(CORRECTIONS)}, got '{method}'")
    p = np.asarray(pvalues, dtype=np.float64)
    out = p.copy()
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if method == "none" or m == 0:
        return out.tolist()
    q = p[ok]
    order = np.argsort(q, kind="mergesort")
    ranked = q[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:  # bh
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    adj = np.minimum(adj, 1.0)
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out.tolist()


def apply_correction(tests: Sequence[PairedTest], method: str) -> None:
    """Set ``p_adjusted`` on each test (in place) for a family of datasets."""
    if method == "none":
        for t in tests:
            t.p_adjusted = None
        return
    for t, adj in zip(tests, adjust_pvalues([t.p_value for t in tests], method)):
        t.p_adjusted = adj
