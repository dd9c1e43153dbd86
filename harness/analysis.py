"""Figure data for GPL / R-GPL analyses, computed from training work folders and models.

Everything here is a pure function returning a small dataclass (no plotting). Work folder layout (one GPL or
R-GPL training): ``sources.json``, ``train-log.jsonl``, ``rounds/<step>/{manifest.json, hard-negatives.jsonl,
negative-scores.jsonl}`` (round 0 = the initial negatives), ``model/`` (the adapted model), and the generated
queries (``qgen-queries.jsonl``, in the work folder or in ``sources.json``'s ``qgen_dir``).

Model-dependent functions take an encoder (a SentenceTransformer, used through ``harness.dense``) and a teacher
(anything with ``score(queries, passages, batch_size) -> np.ndarray``, the ``harness.gpl.teacher.Teacher``
protocol).
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np

from .errors import HarnessError
from .fileio import read_json


class Scorer(Protocol):
    """The teacher protocol: raw relevance scores for aligned (query, passage) pairs."""

    def score(self, queries: list[str], passages: list[str], batch_size: int = 64) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------- reading
def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line_no, object)`` for each non-blank line; malformed lines raise naming file and line."""
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise HarnessError(f"missing file: {path}") from None
    with fh:
        for no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise HarnessError(f"{path}:{no}: malformed JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise HarnessError(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
            yield no, obj


def _field(path: Path, no: int, obj: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in obj:
        raise HarnessError(f"{path}:{no}: missing field '{key}'")
    val = obj[key]
    if isinstance(val, bool) or not isinstance(val, kind):
        raise HarnessError(f"{path}:{no}: field '{key}' has type {type(val).__name__}")
    return val


def check_work_dir(work_dir: str | os.PathLike) -> Path:
    """The work folder as a Path, or a HarnessError saying why it is not one."""
    p = Path(work_dir)
    if not p.is_dir():
        raise HarnessError(f"not a training work folder (no such directory): {p}")
    if not (p / "sources.json").is_file() and not (p / "train-log.jsonl").is_file():
        raise HarnessError(f"not a training work folder (no sources.json or train-log.jsonl): {p}")
    return p


def load_sources(work_dir: str | os.PathLike) -> dict:
    """``sources.json`` of a work folder (dataset, student, teacher, miners, settings)."""
    path = Path(work_dir) / "sources.json"
    if not path.is_file():
        raise HarnessError(f"missing file: {path}")
    try:
        obj = read_json(path)
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}: malformed JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise HarnessError(f"{path}: expected a JSON object")
    return obj


def resolve_path(work_dir: str | os.PathLike, value: str | None) -> Path | None:
    """A path recorded in ``sources.json``: absolute, relative to the work folder, or relative to the cwd."""
    if not value:
        return None
    p = Path(value)
    if p.is_absolute():
        return p
    return Path(work_dir) / p if (Path(work_dir) / p).exists() else p


@dataclass
class TrainLog:
    """One entry per optimizer step, sorted by step (a resumed training's re-logged steps keep the last entry)."""

    steps: np.ndarray  # int64 [n]
    loss: np.ndarray  # float64 [n]
    margin: np.ndarray  # float64 [n]; NaN where the log has no margin
    lr: np.ndarray  # float64 [n]
    round: np.ndarray  # int64 [n]: step at which the negatives in use were mined (0 = initial)

    def __len__(self) -> int:
        return len(self.steps)


def load_train_log(work_dir: str | os.PathLike) -> TrainLog:
    """Read ``train-log.jsonl``."""
    path = Path(work_dir) / "train-log.jsonl"
    rows: dict[int, tuple[float, float, float, int]] = {}
    for no, obj in _jsonl(path):
        step = _field(path, no, obj, "step", int)
        loss = float(_field(path, no, obj, "loss", (int, float)))
        margin = obj.get("margin_mean")
        margin = float(margin) if isinstance(margin, (int, float)) and not isinstance(margin, bool) else math.nan
        lr = obj.get("lr")
        lr = float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else math.nan
        rnd = obj.get("round", 0)
        if isinstance(rnd, bool) or not isinstance(rnd, int):
            raise HarnessError(f"{path}:{no}: field 'round' has type {type(rnd).__name__}")
        rows[step] = (loss, margin, lr, rnd)
    if not rows:
        raise HarnessError(f"{path}: no training steps logged")
    steps = np.array(sorted(rows), dtype=np.int64)
    cols = list(zip(*(rows[s] for s in steps)))
    return TrainLog(steps=steps, loss=np.array(cols[0], dtype=np.float64), margin=np.array(cols[1], dtype=np.float64),
                    lr=np.array(cols[2], dtype=np.float64), round=np.array(cols[3], dtype=np.int64))


def round_steps(work_dir: str | os.PathLike) -> list[int]:
    """Steps of all rounds present under ``rounds/`` (0 = the initial negatives), ascending."""
    root = Path(work_dir) / "rounds"
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def remine_steps(work_dir: str | os.PathLike) -> list[int]:
    """Steps at which the negatives were re-mined (``rounds/<step>/``, step > 0), else the log's round changes."""
    steps = [s for s in round_steps(work_dir) if s > 0]
    if steps:
        return steps
    if (Path(work_dir) / "train-log.jsonl").is_file():
        return sorted({int(r) for r in load_train_log(work_dir).round if r > 0})
    return []


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


def train_curve(work_dir: str | os.PathLike, label: str, column: str = "loss", span: int = 50) -> Curve:
    """``column`` ("loss" or "margin") of ``train-log.jsonl`` with its EMA and the remine steps."""
    log = load_train_log(work_dir)
    raw = {"loss": log.loss, "margin": log.margin}[column]
    if not np.isfinite(raw).any():
        raise HarnessError(f"{Path(work_dir) / 'train-log.jsonl'}: no '{'margin_mean' if column == 'margin' else column}' values logged")
    return Curve(label=label, steps=log.steps, raw=raw, smooth=ema(raw, span), remines=remine_steps(work_dir))


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


def round_stats(work_dir: str | os.PathLike, source: str = "manifest") -> list[RoundStat]:
    """Mean, std and n of the teacher scores of each round's negatives, ascending by step.

    ``source="manifest"`` reads ``rounds/<step>/manifest.json`` (``teacher_scores``), falling back to
    ``negative-scores.jsonl`` for a round whose manifest lacks them; ``source="sample"`` always uses
    ``negative-scores.jsonl`` (the fixed query sample, the same every round).
    """
    if source not in ("manifest", "sample"):
        raise HarnessError(f"round stats source must be 'manifest' or 'sample', got '{source}'")
    out = []
    for step in round_steps(work_dir):
        folder = Path(work_dir) / "rounds" / str(step)
        man: dict = {}
        if (folder / "manifest.json").is_file():
            try:
                man = read_json(folder / "manifest.json")
            except json.JSONDecodeError as e:
                raise HarnessError(f"{folder / 'manifest.json'}: malformed JSON ({e.msg} at line {e.lineno})") from None
        ts = man.get("teacher_scores") if source == "manifest" else None
        if isinstance(ts, dict) and all(isinstance(ts.get(k), (int, float)) for k in ("mean", "std", "n")) and ts["n"] > 0:
            mean, std, n = float(ts["mean"]), float(ts["std"]), int(ts["n"])
        elif (folder / "negative-scores.jsonl").is_file():
            all_scores = np.concatenate(list(negative_scores_by_source(work_dir, step).by_source.values()) or [np.zeros(0)])
            mean, std, n = _stats_from_scores(all_scores)
        else:
            continue  # a round without scores (e.g. still being written) is left out
        if n == 0:
            continue
        overlap = man.get("overlap_with_previous")
        out.append(RoundStat(step=step, mean=mean, std=std, n=n, miner=str(man.get("miner", "")),
                             overlap_with_previous=float(overlap) if isinstance(overlap, (int, float)) else None))
    return out


# ---------------------------------------------------------------------------------------- negatives
@dataclass
class NegativeScores:
    """Teacher scores of one round's negatives for the fixed query sample, grouped by who mined them."""

    step: int
    by_source: dict[str, np.ndarray]  # source (miner name or "student") -> scores
    qids: list[str]  # the sampled queries, in first-seen order
    per_query: int  # largest number of negatives one query has from one source


def _resolve_round(work_dir: str | os.PathLike, step: int | str) -> int:
    steps = round_steps(work_dir)
    if not steps:
        raise HarnessError(f"no rounds under {Path(work_dir) / 'rounds'}")
    if step in ("last", -1):
        return steps[-1]
    if step == "first-remine":
        later = [s for s in steps if s > 0]
        if not later:
            raise HarnessError(f"{Path(work_dir)}: no remine rounds (only round 0)")
        return later[0]
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise HarnessError(f"round must be a step number, 'last' or 'first-remine', got '{step}'") from None
    if step not in steps:
        raise HarnessError(f"{Path(work_dir)}: no round {step}; rounds present: {', '.join(map(str, steps))}")
    return step


def negative_scores_by_source(work_dir: str | os.PathLike, round: int | str = 0) -> NegativeScores:
    """Read ``rounds/<round>/negative-scores.jsonl`` (``round`` may be a step, "last" or "first-remine")."""
    step = _resolve_round(work_dir, round)
    path = Path(work_dir) / "rounds" / str(step) / "negative-scores.jsonl"
    by: dict[str, list[float]] = {}
    qids: dict[str, None] = {}
    counts: dict[tuple[str, str], int] = {}
    for no, obj in _jsonl(path):
        qid = str(_field(path, no, obj, "qid", (str, int)))
        src = str(_field(path, no, obj, "source", str))
        score = float(_field(path, no, obj, "teacher_score", (int, float)))
        by.setdefault(src, []).append(score)
        qids.setdefault(qid)
        counts[(qid, src)] = counts.get((qid, src), 0) + 1
    if not by:
        raise HarnessError(f"{path}: no scores")
    return NegativeScores(step=step, by_source={k: np.array(v, dtype=np.float64) for k, v in by.items()},
                          qids=list(qids), per_query=max(counts.values()))


@dataclass
class HardNegatives:
    """One round's ``hard-negatives.jsonl``: positives and negatives per query."""

    step: int
    pos: dict[str, list[str]]
    neg: dict[str, dict[str, list[str]]]  # qid -> source -> pids

    def negatives(self, qid: str) -> list[str]:
        """All negatives of a query, de-duplicated, in source order."""
        seen: dict[str, None] = {}
        for pids in self.neg.get(qid, {}).values():
            for p in pids:
                seen.setdefault(p)
        return list(seen)


def load_hard_negatives(work_dir: str | os.PathLike, round: int | str = 0) -> HardNegatives:
    step = _resolve_round(work_dir, round)
    path = Path(work_dir) / "rounds" / str(step) / "hard-negatives.jsonl"
    pos: dict[str, list[str]] = {}
    neg: dict[str, dict[str, list[str]]] = {}
    for no, obj in _jsonl(path):
        qid = str(_field(path, no, obj, "qid", (str, int)))
        pos[qid] = [str(p) for p in _field(path, no, obj, "pos", list)]
        negs = _field(path, no, obj, "neg", dict)
        neg[qid] = {str(k): [str(p) for p in v] for k, v in negs.items() if isinstance(v, list)}
    return HardNegatives(step=step, pos=pos, neg=neg)


def load_generated_queries(work_dir: str | os.PathLike) -> dict[str, str]:
    """``qgen-queries.jsonl`` from the work folder, else from ``sources.json``'s ``qgen_dir``."""
    candidates = [Path(work_dir) / "qgen-queries.jsonl"]
    if (Path(work_dir) / "sources.json").is_file():
        qdir = resolve_path(work_dir, load_sources(work_dir).get("qgen_dir"))
        if qdir is not None:
            candidates.append(qdir / "qgen-queries.jsonl")
    for path in candidates:
        if path.is_file():
            out = {}
            for no, obj in _jsonl(path):
                out[str(_field(path, no, obj, "_id", (str, int)))] = str(_field(path, no, obj, "text", str))
            return out
    raise HarnessError(f"no generated queries: looked for {' and '.join(str(c) for c in candidates)}")


def load_training_corpus(work_dir: str | os.PathLike):
    """``(Corpus, sha256)`` of the passages the training generated queries for and mined from
    (``<qgen_dir>/corpus.jsonl``, GPL's generated-data layout), or None when the work folder does not record it."""
    from .datasets import read_beir_corpus

    if not (Path(work_dir) / "sources.json").is_file():
        return None
    qdir = resolve_path(work_dir, load_sources(work_dir).get("qgen_dir"))
    if qdir is None or not (qdir / "corpus.jsonl").is_file():
        return None
    return read_beir_corpus(qdir / "corpus.jsonl")


def passage_text(corpus, i: int) -> str:
    """Title and body, each stripped, joined by a space: the text GPL's teacher and miners see."""
    return " ".join(x.strip() for x in (corpus.titles[i], corpus.texts[i]) if x and x.strip())


def jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = set(a), set(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def pick_changed_query(before: HardNegatives, after: HardNegatives, candidates: Sequence[str] | None = None) -> str:
    """The query whose negatives changed most between two rounds (lowest Jaccard overlap; ties by qid)."""
    qids = [q for q in (candidates if candidates is not None else after.neg) if q in before.neg and q in after.neg
            and before.pos.get(q)]
    if not qids:
        raise HarnessError(f"no query has negatives in both round {before.step} and round {after.step}")
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
