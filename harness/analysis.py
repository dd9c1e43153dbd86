"""Figure data for GPL / R-GPL analyses, computed from training work folders and models.

Everything here is a pure function returning a small dataclass (no plotting). The work folders are read through
:class:`harness.gpl.workdir.WorkDir` (the one owner of their layout).

Model-dependent functions take an encoder (a SentenceTransformer, used through ``harness.dense``) and a teacher
(anything with ``score(queries, passages, batch_size) -> np.ndarray``, the ``harness.gpl.teacher.Teacher``
protocol).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .errors import HarnessError
from .gpl.workdir import Negatives, WorkDir, jaccard


class Scorer(Protocol):
    """The teacher protocol: raw relevance scores for aligned (query, passage) pairs."""

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray: ...


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


def passage_text(corpus, i: int) -> str:
    """Title and body, each stripped, joined by a space: the text GPL's teacher and miners see."""
    return " ".join(x.strip() for x in (corpus.titles[i], corpus.texts[i]) if x and x.strip())


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


# -------------------------------------------------------------------------------------- model-based
@dataclass
class TopKScores:
    """Teacher scores of each query's top-k retrieved passages."""

    label: str
    scores: np.ndarray  # float64 [n_queries, k]; NaN where a query got fewer than k results
    qids: list[str]

    def flat(self) -> np.ndarray:
        return self.scores[np.isfinite(self.scores)]

    def mean_by_rank(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.nanmean(self.scores, axis=0)


def teacher_scores_topk(encoder, teacher: Scorer, corpus, queries: dict[str, str], k: int = 100, label: str = "",
                        score_function: str = "dot", exclude: dict[str, set[str]] | None = None,
                        batch_size: int = 64, cache_dir: Path | None = None,
                        corpus_fingerprint: str | None = None) -> TopKScores:
    """Retrieve the top ``k`` passages per query with ``encoder`` and score each (query, passage) with ``teacher``.

    ``exclude`` drops given passage ids per query (the positives, to score mined negatives).
    """
    from .dense import dense_retrieve

    if not queries:
        raise HarnessError("no queries to retrieve for")
    k = min(k, len(corpus))
    run = dense_retrieve(encoder, corpus, queries, top_k=k, score_function=score_function, batch_size=batch_size,
                         cache_dir=cache_dir, corpus_fingerprint=corpus_fingerprint, exclude=exclude)
    qids = sorted(queries)
    q_texts, p_texts, cells = [], [], []
    for row, qid in enumerate(qids):
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        for rank, (pid, _) in enumerate(ranked):
            q_texts.append(queries[qid])
            p_texts.append(passage_text(corpus, corpus.index[pid]))
            cells.append((row, rank))
    scores = np.full((len(qids), k), np.nan)
    if cells:
        s = np.asarray(teacher.score(q_texts, p_texts, batch_size=batch_size), dtype=np.float64).reshape(-1)
        if s.shape[0] != len(cells):
            raise HarnessError(f"teacher returned {s.shape[0]} scores for {len(cells)} pairs")
        rows, cols = zip(*cells)
        scores[list(rows), list(cols)] = s
    return TopKScores(label=label, scores=scores, qids=qids)


@dataclass
class Projection:
    """2D PCA coordinates of a query, its positive(s) and its negatives before and after a remine."""

    query: np.ndarray  # [1, 2]
    positive: np.ndarray  # [n_pos, 2]
    before: np.ndarray  # [n_before, 2]
    after: np.ndarray  # [n_after, 2]
    before_shared: np.ndarray  # bool [n_before]: also among the negatives after
    after_shared: np.ndarray  # bool [n_after]
    explained: np.ndarray  # [2] fraction of the variance explained by each component
    title: str = ""
    before_label: str = "negatives before"
    after_label: str = "negatives after"
    before_scores: np.ndarray | None = None  # optional teacher scores, aligned with ``before``
    after_scores: np.ndarray | None = None


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


def projection_2d(encoder, query: str, positive: str | Sequence[str], negatives_before: Sequence[str],
                  negatives_after: Sequence[str], normalize: bool = False, batch_size: int = 64) -> Projection:
    """Embed the texts with ``encoder`` and project them jointly to 2D with PCA.

    Negatives present in both lists are embedded once and flagged as shared. ``normalize`` embeds with unit
    length (use it for a cosine-similarity model).
    """
    from .dense import encode_texts

    positives = [positive] if isinstance(positive, str) else list(positive)
    if not positives or not (negatives_before or negatives_after):
        raise HarnessError("a projection needs a positive and at least one negative")
    texts: dict[str, int] = {}
    for t in [query, *positives, *negatives_before, *negatives_after]:
        texts.setdefault(t, len(texts))
    emb = encode_texts(encoder, list(texts), batch_size=batch_size, normalize=normalize)
    coords_unique, explained = pca_2d(emb)

    def rows(items: Sequence[str]) -> np.ndarray:
        return coords_unique[[texts[t] for t in items]].reshape(len(items), 2)

    after_set, before_set = set(negatives_after), set(negatives_before)
    return Projection(query=rows([query]), positive=rows(positives), before=rows(negatives_before),
                      after=rows(negatives_after),
                      before_shared=np.array([t in after_set for t in negatives_before], dtype=bool),
                      after_shared=np.array([t in before_set for t in negatives_after], dtype=bool),
                      explained=explained)
