"""Training tuples and their pseudo labels, and the per-round artifacts.

Sampling follows GPL's ``HardNegativeDataset`` + ``PseudoLabeler``: batches of ``batch_size`` distinct queries
drawn epoch by epoch from a shuffled order (``drop_last``), for each query one random positive and one random hard
negative; with ``neg_sampling="gpl"`` the negative is uniform over the union of all miners' lists (GPL's
behaviour), with ``"per_miner"`` a random miner first, then one of its negatives. Unlike GPL, the sample for step
``s`` is a pure function of (seed, s, the round's negatives): the data position is just the step number, so a
resumed run sees exactly the batches an uninterrupted one would, and a round of R-GPL covers a range of steps.

Labels: ``margin = T(q, pos) - T(q, neg)`` by the teacher; each distinct (query, passage) pair is scored once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import Corpus
from ..fileio import atomic_open, stable_hash
from ..progress import progress_iter
from .faults import fault_point
from .qgen import doc_text, seed_for
from .workdir import Negatives, QueryNegatives, Round

log = logging.getLogger("harness")

SCORE_CHUNK = 65536  # distinct pairs per resumable labelling part


@dataclass
class Space:
    """Index spaces shared by every round: generated queries (by position) and corpus documents."""

    qids: list[str]
    queries: dict[str, str]
    corpus: Corpus

    def __post_init__(self) -> None:
        self.qindex = {q: i for i, q in enumerate(self.qids)}

    def query_text(self, i: int) -> str:
        return self.queries[self.qids[i]]

    def doc_text(self, i: int) -> str:
        return doc_text(self.corpus, i)


@dataclass
class Candidates:
    """Per query: positive doc indices and negative doc indices (union, or per miner)."""

    valid: np.ndarray  # query indices with >= 1 positive and >= 1 negative, ascending
    pos: list[np.ndarray]
    neg_union: list[np.ndarray]
    neg_by_miner: list[list[np.ndarray]]


def candidates(space: Space, negatives: Negatives) -> Candidates:
    get = space.corpus.index.get
    pos, union, by_miner, valid = [], [], [], []

    def ids(lst: list[str]) -> list[int]:
        return [i for i in map(get, lst) if i is not None]

    empty = QueryNegatives([], {})
    for qi, qid in enumerate(space.qids):
        entry = negatives.get(qid, empty)
        p = np.array(ids(entry.pos), dtype=np.int64)
        raw = [ids(lst) for lst in entry.neg.values()]
        lists = [np.array(lst, dtype=np.int64) for lst in raw]
        u = np.array(list(dict.fromkeys(i for lst in raw for i in lst)), dtype=np.int64)
        pos.append(p)
        union.append(u)
        by_miner.append([lst for lst in lists if len(lst)])
        if len(p) and len(u):
            valid.append(qi)
    return Candidates(np.array(valid, dtype=np.int64), pos, union, by_miner)


def sample_tuples(cands: Candidates, seed: int, start: int, end: int, batch_size: int,
                  neg_sampling: str = "gpl") -> np.ndarray:
    """int64 [(end-start)*batch_size, 3]: (query index, positive doc index, negative doc index) for steps start..end-1."""
    n_valid = len(cands.valid)
    if n_valid < batch_size:
        from ..errors import HarnessError

        raise HarnessError(f"only {n_valid} generated queries have a positive and a hard negative; batch_size "
                           f"{batch_size} needs at least that many (lower batch_size or generate more queries)")
    per_epoch = n_valid // batch_size
    out = np.empty(((end - start) * batch_size, 3), dtype=np.int64)
    perm_epoch, perm = -1, None
    for row, step in enumerate(range(start, end)):
        epoch, b = divmod(step, per_epoch)
        if epoch != perm_epoch:
            perm = np.random.default_rng([seed, 11, epoch]).permutation(n_valid)
            perm_epoch = epoch
        qs = cands.valid[perm[b * batch_size:(b + 1) * batch_size]]
        u = np.random.default_rng([seed, 13, step]).random((batch_size, 3))
        rows = out[row * batch_size:(row + 1) * batch_size]
        for j, q in enumerate(qs):
            p = cands.pos[q]
            if neg_sampling == "per_miner":
                lists = cands.neg_by_miner[q]
                lst = lists[int(u[j, 1] * len(lists))]
                n = lst[int(u[j, 2] * len(lst))]
            else:
                lst = cands.neg_union[q]
                n = lst[int(u[j, 2] * len(lst))]
            rows[j] = (q, p[int(u[j, 0] * len(p))], n)
    return out


def score_pairs(teacher, space: Space, q: np.ndarray, d: np.ndarray, parts_dir: Path, batch_size: int = 64,
                desc: str = "Teacher scoring") -> np.ndarray:
    """Teacher scores of (query q[i], doc d[i]); distinct pairs scored once, in resumable parts."""
    n_docs = max(len(space.corpus), 1)
    keys = q.astype(np.int64) * n_docs + d.astype(np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    # parts are only valid for exactly this set of pairs and this teacher
    parts_dir = parts_dir / stable_hash([getattr(teacher, "name", "?"), n_docs, hashlib.sha256(uniq.tobytes()).hexdigest()])
    parts_dir.mkdir(parents=True, exist_ok=True)
    scores = np.empty(len(uniq), dtype=np.float32)
    chunks = range(0, len(uniq), SCORE_CHUNK)
    for start in progress_iter(chunks, desc=desc, total=len(chunks)):
        part = parts_dir / f"{start:012d}.npy"
        if part.is_file():
            scores[start:start + SCORE_CHUNK] = np.load(part)
            continue
        keys_c = uniq[start:start + SCORE_CHUNK]
        qs, ds = keys_c // n_docs, keys_c % n_docs
        s = teacher.score([space.query_text(int(i)) for i in qs], [space.doc_text(int(i)) for i in ds], batch_size)
        with atomic_open(part, "wb") as fh:
            np.save(fh, s.astype(np.float32))
        scores[start:start + SCORE_CHUNK] = s
    return scores[inverse.reshape(-1)]


def rescale_margins(margins: np.ndarray, new_min: float, new_max: float) -> np.ndarray:
    """GPL's ``rescale_range`` (``gpl/toolkit/rescale.py``, ``rescale_fn``) over one file of margins.

    With ``lo``/``hi`` the smallest and largest margin: a positive margin ``m`` becomes ``m * new_max / hi`` and a
    non-positive one ``new_min + (m - lo) * -new_min / -lo`` (so 0 stays 0, ``hi`` goes to ``new_max`` and ``lo`` to
    ``new_min``); when ``lo`` or ``hi`` is exactly 0, the plain min-max map of ``[lo, hi]`` onto
    ``[new_min, new_max]``. Computed in float64, as GPL's Python floats.
    """
    m = np.asarray(margins, dtype=np.float64)
    if not len(m):
        return m
    lo, hi = float(m.min()), float(m.max())
    if lo == hi:
        from ..errors import HarnessError

        raise HarnessError(f"label_rescale: every pseudo-label margin equals {lo}; there is no range to rescale")
    if lo == 0 or hi == 0:
        return new_min + (m - lo) * (new_max - new_min) / (hi - lo)
    positive = new_max * m / hi  # org_min = new_min = 0
    non_positive = new_min + (m - lo) * (0.0 - new_min) / (0.0 - lo)  # org_max = new_max = 0
    return np.where(m > 0, positive, non_positive)


def label_tuples(teacher, space: Space, tuples: np.ndarray, parts_dir: Path, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(T(q, pos), T(q, neg)) for every tuple."""
    if len(tuples) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    q = np.concatenate([tuples[:, 0], tuples[:, 0]])
    d = np.concatenate([tuples[:, 1], tuples[:, 2]])
    s = score_pairs(teacher, space, q, d, parts_dir, batch_size, desc="Pseudo-labelling")
    return s[:len(tuples)], s[len(tuples):]


def stats(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return {"mean": None, "std": None, "n": 0, "q05": None, "q25": None, "q50": None, "q75": None, "q95": None}
    qs = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"mean": float(v.mean()), "std": float(v.std()), "n": int(len(v)),
            **{k: float(x) for k, x in zip(("q05", "q25", "q50", "q75", "q95"), qs)}}


def score_sample_qids(qids: list[str], n: int, seed: int) -> list[str]:
    """The fixed sample of queries whose negatives are teacher-scored every round (same sample each round)."""
    if n >= len(qids):
        return list(qids)
    pick = np.random.default_rng(seed_for("score-sample", seed)).choice(len(qids), size=n, replace=False)
    return [qids[i] for i in sorted(pick)]


def negative_scores(teacher, space: Space, negatives: Negatives, sample: list[str], parts_dir: Path,
                    batch_size: int = 64) -> list[dict]:
    rows = [(qid, src, pid) for qid in sample if qid in negatives
            for src, lst in negatives[qid].neg.items() for pid in lst if pid in space.corpus.index]
    if not rows:
        return []
    q = np.array([space.qindex[r[0]] for r in rows], dtype=np.int64)
    d = np.array([space.corpus.index[r[2]] for r in rows], dtype=np.int64)
    s = score_pairs(teacher, space, q, d, parts_dir, batch_size, desc="Scoring negatives sample")
    return [{"qid": qid, "source": src, "pid": pid, "teacher_score": float(x)} for (qid, src, pid), x in zip(rows, s.tolist())]


def write_round(rnd: Round, *, negatives: Negatives, previous: Negatives | None, space: Space,
                teacher, settings, seed: int, start: int, end: int, miner: str, checkpoint_fingerprint: str,
                mine_seconds: float, mode: str, extra: dict | None = None) -> dict:
    """All artifacts of one round; its manifest is written last and marks the round complete."""
    rnd.write_negatives(negatives)
    t0 = time.time()
    cands = candidates(space, negatives)
    tuples = sample_tuples(cands, seed, start, end, settings.batch_size, settings.neg_sampling) if end > start \
        else np.zeros((0, 3), dtype=np.int64)
    pos_s, neg_s = label_tuples(teacher, space, tuples, rnd.label_parts, settings.teacher_batch_size)
    rnd.write_tuples(tuples, pos_s, neg_s, start, end, settings.batch_size, space.qids, space.corpus.ids)
    fault_point("round", rnd.step)
    label_seconds = time.time() - t0
    t1 = time.time()
    sample = score_sample_qids(space.qids, settings.score_sample_queries, seed)
    sample_rows = negative_scores(teacher, space, negatives, sample, rnd.label_parts, settings.teacher_batch_size)
    rnd.write_scores(sample_rows)
    sample_seconds = time.time() - t1
    manifest = {
        "step": rnd.step, "checkpoint_fingerprint": checkpoint_fingerprint, "seconds": round(mine_seconds, 3),
        "label_seconds": round(label_seconds, 3), "sample_seconds": round(sample_seconds, 3),
        "n_queries": negatives.n_queries_with_negatives(), "n_negatives": negatives.n_negatives(),
        "miner": miner, "teacher_scores": stats(np.array([r["teacher_score"] for r in sample_rows])),
        "overlap_with_previous": negatives.mean_jaccard(previous) if previous is not None else None,
        "mode": mode, "train_steps": [start, end], "n_tuples": int(len(tuples)),
        "label_margins": stats(pos_s - neg_s), "sample_queries": len(sample),
        "sources": negatives.sources(),
        **(extra or {}),
    }
    rnd.write_manifest(manifest)
    return manifest
