"""Figure data computed from training work folders alone: smoothed curves, per-round statistics, the query whose
negatives changed most, PCA. Pure functions returning small dataclasses (no plotting, no models). The work folders
are read through :class:`harness.gpl.workdir.WorkDir` (the one owner of their layout).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import HarnessError
from ..gpl.workdir import Negatives, WorkDir, jaccard


# ------------------------------------------------------------------------------------------------- EMA
def ema(values: Sequence[float] | np.ndarray, span: int = 50) -> np.ndarray:
    """Bias-corrected exponential moving average with ``alpha = 2 / (span + 1)``.

    ``y_t = sum_i w^i x_{t-i} / sum_i w^i`` over the finite values seen so far, ``w = 1 - alpha`` (the same as
    pandas' ``Series.ewm(span=span).mean()``); NaN inputs are skipped; leading NaNs stay NaN.
    """
    if span < 1:
        raise HarnessError(f"EMA span must be >= 1, got {span}")
    x = np.asarray(values, dtype=np.float64)
    w = 1.0 - 2.0 / (span + 1.0)
    out = np.empty_like(x)
    num = den = 0.0
    for i, v in enumerate(x):
        if math.isfinite(v):
            num = num * w + v
            den = den * w + 1.0
        else:  # a missing value ages the history like any step, without adding to it
            num *= w
            den *= w
        out[i] = num / den if den > 0 else math.nan
    return out


@dataclass
class Curve:
    """A per-step series and its EMA, for one training."""

    label: str
    steps: np.ndarray
    raw: np.ndarray
    smooth: np.ndarray
    remines: list[int] = field(default_factory=list)


def train_curve(work: WorkDir, label: str, column: str = "loss", span: int = 50) -> Curve:
    """``column`` ("loss" or "margin") of the training log with its EMA and the remine steps."""
    log = work.train_log()
    raw = {"loss": log.loss, "margin": log.margin}[column]
    if not np.isfinite(raw).any():
        raise HarnessError(f"{work.log_path}: no '{'margin_mean' if column == 'margin' else column}' values logged")
    return Curve(label=label, steps=log.steps, raw=raw, smooth=ema(raw, span), remines=work.remine_steps())


# ------------------------------------------------------------------------------------------ round stats
@dataclass
class RoundStat:
    """Teacher scores of one round's hard negatives."""

    step: int
    mean: float
    std: float
    n: int
    miner: str = ""
    overlap_with_previous: float | None = None

    @property
    def stderr(self) -> float:
        return self.std / math.sqrt(self.n) if self.n > 0 else math.nan


def _stats_from_scores(scores: np.ndarray) -> tuple[float, float, int]:
    n = int(scores.size)
    if n == 0:
        return math.nan, math.nan, 0
    return float(scores.mean()), float(scores.std()), n  # population std, as the round manifests record it


def round_stats(work: WorkDir, source: str = "manifest") -> list[RoundStat]:
    """Mean, std and n of the teacher scores of each round's negatives, ascending by step.

    ``source="manifest"`` reads each round's manifest (``teacher_scores``), falling back to the round's teacher
    scores of the sampled queries when the manifest lacks them; ``source="sample"`` always uses the sample (the
    same queries every round).
    """
    if source not in ("manifest", "sample"):
        raise HarnessError(f"round stats source must be 'manifest' or 'sample', got '{source}'")
    out = []
    for rnd in work.rounds():
        man = rnd.manifest() or {}
        ts = man.get("teacher_scores") if source == "manifest" else None
        if isinstance(ts, dict) and all(isinstance(ts.get(k), (int, float)) for k in ("mean", "std", "n")) and ts["n"] > 0:
            mean, std, n = float(ts["mean"]), float(ts["std"]), int(ts["n"])
        elif rnd.has_scores():
            mean, std, n = _stats_from_scores(np.concatenate(list(rnd.scores().by_source.values()) or [np.zeros(0)]))
        else:
            continue  # a round without scores (e.g. still being written) is left out
        if n == 0:
            continue
        overlap = man.get("overlap_with_previous")
        out.append(RoundStat(step=rnd.step, mean=mean, std=std, n=n, miner=str(man.get("miner", "")),
                             overlap_with_previous=float(overlap) if isinstance(overlap, (int, float)) else None))
    return out


def pick_changed_query(before: Negatives, after: Negatives, candidates: Sequence[str] | None = None) -> str:
    """The query whose negatives changed most between two rounds (lowest Jaccard overlap; ties by qid)."""
    qids = [q for q in (candidates if candidates is not None else after) if q in before and q in after
            and before[q].pos]
    if not qids:
        raise HarnessError("no query has negatives in both rounds")
    return min(qids, key=lambda q: (jaccard(before.negatives(q), after.negatives(q)), q))


def sample_ids(ids: Sequence[str], n: int, seed: int = 42) -> list[str]:
    """A seeded sample of ``n`` ids (all of them, sorted, when there are no more than ``n``)."""
    ids = sorted(ids)
    if n <= 0 or len(ids) <= n:
        return ids
    return sorted(random.Random(seed).sample(ids, n))


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``x`` on their first two principal components (SVD of the centred data).

    Returns ``(coords [n, 2], explained_variance_ratio [2])``; coordinate 0 has the larger variance. Signs are
    fixed so that each component's largest-magnitude loading is positive (deterministic output).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise HarnessError(f"PCA needs at least 2 points in a 2D array, got shape {x.shape}")
    xc = x - x.mean(axis=0, keepdims=True)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    for i in range(vt.shape[0]):
        if vt[i, np.argmax(np.abs(vt[i]))] < 0:
            vt[i] *= -1
    comps = vt[:2]
    coords = xc @ comps.T
    if coords.shape[1] < 2:  # one-dimensional data: pad with a zero coordinate
        coords = np.hstack([coords, np.zeros((coords.shape[0], 2 - coords.shape[1]))])
    total = float((s ** 2).sum())
    explained = np.zeros(2)
    if total > 0:
        explained[: min(2, s.size)] = (s[:2] ** 2) / total
    return coords, explained
