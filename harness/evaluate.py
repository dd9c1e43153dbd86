"""Per-query evaluation of run files: NDCG@10, Success@k, MRR@k and Recall@k.

Conventions (they decide the numbers, so they are fixed here and tested):

* Every query in the qrels counts. A query absent from the run scores 0 on every measure and is listed in
  ``PerQueryScores.missing``; a query with no relevant judgement (all grades <= 0, or a LoTTE question with an
  empty ``answer_pids``) also scores 0, as in trec_eval and the official LoTTE script. Run queries that are not in
  the qrels are ignored (and counted in ``extra``).
* Ranking order is trec_eval's (``runs.trec_order``): trec_eval reads every score as a C ``float``, so scores are
  compared in single precision, and ties (scores equal in single precision, even when their decimals differ) are
  broken by document id descending. The rank column of a run file is ignored. Our own run writer writes
  single-precision scores in this order, so for our files this is simply the written order.
* Every measure here is a function of the ranks of a query's relevant documents, so those ranks are all that is
  computed: a relevant document's rank is 1 + the number of documents scored higher + the number tied with it
  whose id sorts after it (trec_eval's order), counted with numpy over the query's scores. Nothing is sorted.
  ``ndcg`` is trec_eval's ``ndcg_cut`` (gain = grade, log2 discount, i.e. Jarvelin & Kekalainen, not Burges'
  2^grade - 1), ``recall`` is ``recall``, ``success`` is ``success`` and ``mrr@k`` is ``recip_rank`` on the run
  cut at ``k``; tests/test_evaluate.py checks every one against pytrec_eval on random runs with ties and missing
  queries. This is faster than pytrec_eval itself and than ranx (no numba compilation in a fresh process); see
  docs/performance.md.
* Success@k is the official LoTTE definition: 1 if any answer pid is among the first k results, else 0.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Container, Iterable, Mapping, Sequence

import numpy as np

from .datasets import cache_root, layout_of, locate
from .errors import DataError, HarnessError
from .fileio import atomic_open, parse_decimal, read_json, stable_hash
from .registry import DatasetInfo
from .runs import read_run, run_files_for, run_path, single, trec_order  # noqa: F401 (trec_order: re-exported)

EVAL_VERSION = 3  # bump when a convention above changes: it invalidates cached results

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


# ------------------------------------------------------------------------------------------------ metrics
@dataclass(frozen=True)
class Measure:
    """A measure family (ir_measures' shape): the name used here, and its names in reports, ranx and trec_eval."""

    name: str
    display: str
    ranx: str
    trec_eval: str


_MEASURES = {m.name: m for m in (
    Measure("ndcg", display="NDCG", ranx="ndcg", trec_eval="ndcg_cut"),
    Measure("success", display="Success", ranx="hit_rate", trec_eval="success"),
    Measure("mrr", display="MRR", ranx="mrr", trec_eval="recip_rank"),
    Measure("recall", display="Recall", ranx="recall", trec_eval="recall"),
)}
_ALIASES = {"ndcg_cut": "ndcg", "ndcg": "ndcg", "success": "success", "hit_rate": "success", "hits": "success",
            "mrr": "mrr", "recip_rank": "mrr", "rr": "mrr", "recall": "recall"}


@dataclass(frozen=True, order=True)
class Metric:
    """A rank-cutoff measure, e.g. ``Metric("ndcg", 10)``. A query missing from the run always scores 0."""

    measure: str
    cutoff: int

    def __post_init__(self) -> None:
        if self.measure not in _MEASURES:
            raise HarnessError(f"unknown measure '{self.measure}'; known: {', '.join(_MEASURES)}")
        if self.cutoff < 1:
            raise HarnessError(f"metric cutoff must be >= 1, got {self.cutoff}")

    @classmethod
    def parse(cls, text: "str | Metric") -> "Metric":
        """Accepts trec_eval names (``ndcg_cut_10``, ``success_5``, ``recall_100``), ``ndcg@10``, ``NDCG@10``,
        ``mrr@10``, ``hit_rate@5``."""
        if isinstance(text, Metric):
            return text
        m = re.fullmatch(r"\s*([A-Za-z_]+?)(?:[@_.](\d+))\s*", str(text))
        if not m or m.group(1).lower() not in _ALIASES:
            raise HarnessError(f"unknown metric '{text}'; use e.g. ndcg_cut_10, success_5, mrr@10, recall@100")
        return cls(_ALIASES[m.group(1).lower()], int(m.group(2)))

    @property
    def name(self) -> str:
        """trec_eval-style name (``ndcg_cut_10``); for MRR, ``recip_rank_10`` (trec_eval has no MRR cutoff)."""
        return f"{_MEASURES[self.measure].trec_eval}_{self.cutoff}"

    @property
    def ranx(self) -> str:
        return f"{_MEASURES[self.measure].ranx}@{self.cutoff}"

    @property
    def display(self) -> str:
        return f"{_MEASURES[self.measure].display}@{self.cutoff}"

    @property
    def binary(self) -> bool:
        """Per-query scores are 0 or 1 (the Wilcoxon test then reduces to a sign test, see docs/evaluation.md)."""
        return self.measure == "success"

    def __str__(self) -> str:
        return self.name


NDCG10 = Metric("ndcg", 10)
SUCCESS5 = Metric("success", 5)
MRR10 = Metric("mrr", 10)
RECALL100 = Metric("recall", 100)
DEFAULT_METRICS = (NDCG10, MRR10, RECALL100)


def metrics_for(info: DatasetInfo) -> tuple[Metric, ...]:
    """The dataset's official metric first, then MRR@10 and Recall@100."""
    main = Metric.parse(info.metric)
    return (main,) + tuple(m for m in (NDCG10, MRR10, RECALL100) if m != main)


# ------------------------------------------------------------------------------------------- per-query
@dataclass(frozen=True)
class PerQueryScores:
    """Scores of one run on one qrels: ``scores[metric]`` is aligned with ``qids`` (every judged query)."""

    qids: tuple[str, ...]
    scores: Mapping[Metric, np.ndarray]
    missing: tuple[str, ...] = ()  # judged queries absent from the run (scored 0)
    extra: int = 0  # run queries without judgements (ignored)
    source: str = ""  # run file, when read from one

    @property
    def n(self) -> int:
        return len(self.qids)

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return tuple(self.scores)

    def _get(self, metric: "Metric | str") -> np.ndarray:
        m = Metric.parse(metric)
        if m not in self.scores:
            raise HarnessError(f"metric {m.display} was not evaluated (have: {', '.join(x.display for x in self.scores)})")
        return self.scores[m]

    def mean(self, metric: "Metric | str") -> float:
        arr = self._get(metric)
        return float(arr.mean()) if arr.size else 0.0

    def means(self) -> dict[str, float]:
        return {m.name: self.mean(m) for m in self.scores}

    def array(self, metric: "Metric | str") -> np.ndarray:
        return self._get(metric)

    def of(self, metric: "Metric | str") -> dict[str, float]:
        return dict(zip(self.qids, self._get(metric).tolist()))

    def to_dict(self) -> dict:
        return {"qids": list(self.qids), "scores": {m.name: self.scores[m].tolist() for m in self.scores},
                "missing": list(self.missing), "extra": self.extra, "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "PerQueryScores":
        return cls(qids=tuple(d["qids"]), scores={Metric.parse(k): np.asarray(v, dtype=np.float64) for k, v in d["scores"].items()},
                   missing=tuple(d["missing"]), extra=int(d.get("extra", 0)), source=d.get("source", ""))

    @staticmethod
    def concat(parts: Sequence[tuple[str, "PerQueryScores"]]) -> "PerQueryScores":
        """Pool the queries of several parts (e.g. CQADupStack forums), qids prefixed with ``<part>/``."""
        metrics = parts[0][1].metrics
        qids = tuple(f"{p}/{q}" for p, s in parts for q in s.qids)
        scores = {m: np.concatenate([s.scores[m] for _, s in parts]) for m in metrics}
        missing = tuple(f"{p}/{q}" for p, s in parts for q in s.missing)
        return PerQueryScores(qids=qids, scores=scores, missing=missing, extra=sum(s.extra for _, s in parts))


def relevant_ranks(docs: Mapping[str, float], relevant: Mapping[str, int]) -> list[tuple[int, int]]:
    """(1-based rank in trec_eval order, grade) of each relevant document that ``docs`` retrieved, best first."""
    found = [(d, g) for d, g in relevant.items() if d in docs]
    if not found:
        return []
    ids, scores = list(docs), single(docs.values())  # compared in single precision, as trec_eval does
    position = {d: i for i, d in enumerate(ids)}
    out = []
    for d, g in found:
        s = scores[position[d]]
        rank = int(np.count_nonzero(scores > s)) + 1
        tied = np.flatnonzero(scores == s)
        if tied.size > 1:  # ties: documents with a larger id come first (trec_eval)
            rank += sum(1 for i in tied.tolist() if ids[i] > d)
        out.append((rank, g))
    out.sort()
    return out


def _score_query(ranked: list[tuple[int, int]], ideal: list[int], metric: Metric) -> float:
    """One measure from the (rank, grade) pairs of the retrieved relevant documents and every relevant grade
    (descending). Sums run in rank order with log2, as trec_eval's do, so the values are bit-identical."""
    k = metric.cutoff
    if metric.measure == "ndcg":
        dcg = 0.0
        for rank, g in ranked:
            if rank > k:
                break
            dcg += g / math.log2(rank + 1)
        idcg = 0.0
        for i, g in enumerate(ideal[:k]):
            idcg += g / math.log2(i + 2)
        return dcg / idcg if idcg > 0 else 0.0
    if metric.measure == "recall":
        return sum(1 for rank, _ in ranked if rank <= k) / len(ideal)
    first = ranked[0][0] if ranked else 0
    if metric.measure == "mrr":
        return 1.0 / first if 0 < first <= k else 0.0
    return 1.0 if 0 < first <= k else 0.0  # success


def evaluate_run(run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]],
                 metrics: Iterable["Metric | str"] = DEFAULT_METRICS, source: str = "") -> PerQueryScores:
    """Per-query scores for every query in ``qrels``; missing queries score 0 and are listed."""
    metrics = tuple(dict.fromkeys(Metric.parse(m) for m in metrics))
    if not metrics:
        raise HarnessError("no metrics to evaluate")
    retrieved = {q for q, docs in run.items() if docs}
    return _score_queries(qrels, metrics, retrieved, lambda q, relevant: relevant_ranks(run[q], relevant),
                          extra=sum(1 for q in run if q not in qrels), source=source)


def _score_queries(qrels: Mapping[str, Mapping[str, int]], metrics: tuple[Metric, ...], retrieved: Container[str],
                   ranks: Callable[[str, dict[str, int]], list[tuple[int, int]]], extra: int, source: str) -> PerQueryScores:
    """Every judged query's scores from ``ranks(qid, relevant)`` (the sorted (rank, grade) pairs of the relevant
    documents it retrieved), asked only for the queries in ``retrieved``; the others are missing and score 0."""
    qids = tuple(qrels)
    scores = {m: np.zeros(len(qids), dtype=np.float64) for m in metrics}
    for i, q in enumerate(qids):
        if q not in retrieved:
            continue
        relevant = {d: g for d, g in qrels[q].items() if g > 0}
        if not relevant:  # judged, but nothing relevant: 0, as in trec_eval
            continue
        ranked = ranks(q, relevant)
        if not ranked:
            continue
        ideal = sorted(relevant.values(), reverse=True)
        for m in metrics:
            scores[m][i] = _score_query(ranked, ideal, m)
    missing = tuple(q for q in qids if q not in retrieved)
    return PerQueryScores(qids=qids, scores=scores, missing=missing, extra=extra, source=source)


# ------------------------------------------------------------------------------------------------ files
def read_run_lenient(path: str | Path) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``); ties and any line order are accepted (trec_eval
    re-sorts), but malformed lines, non-finite scores, a document listed twice for a query and a file without a
    single result line (empty, or blank lines only) are errors."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"run file not found: {path}")
    run = _read_run_fast(path)
    run = run if run is not None else read_run(path, ordered=False)
    if not run:
        raise DataError(f"{path}: no results: the run file is empty (or holds only blank lines)")
    return run


def _read_run_fast(path: Path) -> Run | None:
    """The common case in one tight loop; None on anything unusual, and the line-by-line reader names the line."""
    run: Run = {}
    current, docs, lines = None, {}, 0
    try:
        with open(path, encoding="utf-8", newline="\n") as fh:  # lines end at \n only, as for the line reader
            for line in fh:
                qid, _, doc, _, score, _ = line.split()  # ValueError unless exactly 6 columns
                if qid != current:
                    docs = run.get(qid)
                    if docs is None:
                        docs = run[qid] = {}
                    current = qid
                docs[doc] = parse_decimal(score)
                lines += 1
    except ValueError:  # a malformed line (or a byte that is not UTF-8)
        return None
    if sum(map(len, run.values())) != lines:
        return None  # a document twice for one query
    if not all(np.isfinite(np.fromiter(d.values(), dtype=np.float64, count=len(d))).all() for d in run.values()):
        return None
    return run


_OTHER_ASCII_SPACE = tuple(bytes([c]) for c in b"\0\t\r\x0b\x0c\x1c\x1d\x1e\x1f")  # str.split() splits there; NUL ends a numpy bytes field


def _column_dtype(data: bytes) -> np.dtype:
    """Fixed-width id columns twice as wide as the longest ids of the file's first 64 KiB (narrower columns parse
    faster; a longer id later is caught as cut off and the file goes to the line reader)."""
    widths = [16, 24]
    for line in data[:1 << 16].split(b"\n")[:-1]:
        cols = line.split(b" ")
        if len(cols) == 6:
            widths = [max(widths[0], 2 * len(cols[0])), max(widths[1], 2 * len(cols[2]))]
    qw, dw = (-(-w // 8) * 8 for w in widths)
    return np.dtype([("qid", f"S{qw}"), ("q0", "S1"), ("doc", f"S{dw}"), ("rank", "S1"), ("score", "f8"), ("tag", "S1")])


def _run_columns(data: bytes, path: Path | None = None) -> dict[str, np.ndarray] | None:
    """The common run file (ASCII, one space between exactly 6 columns, lines ending in LF) parsed in C by ``np.loadtxt``: a record
    dict of the raw-byte ``qid`` and ``doc`` columns and the float ``score`` column. None for anything else (non-ASCII, tabs,
    runs of spaces, a malformed line, an id longer than its column), which the line reader then takes.
    ``path``: the file ``data`` was read from; numpy reads it again itself (faster than from memory) and the
    columns are kept only if the file did not change meanwhile."""
    if not data.strip() or not data.isascii() or any(c in data for c in _OTHER_ASCII_SPACE):
        return None
    import io
    import warnings

    before = _stat(path) if path is not None else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. numpy's "input contained no data": the line reader decides
            cols = np.loadtxt(str(path) if before else io.BytesIO(data), dtype=_column_dtype(data), comments=None,
                              delimiter=" ", ndmin=1)
    except (ValueError, Warning):
        return None
    if not cols.size or (before and (before != _stat(path) or before[0] != len(data))):
        return None
    for name in ("qid", "doc"):  # a full last byte: the id may have been cut
        field, offset = cols.dtype.fields[name][:2]
        last = np.ndarray((len(cols),), np.uint8, cols, offset + field.itemsize - 1, (cols.dtype.itemsize,))
        if last.any():
            return None
    return {name: cols[name] for name in ("qid", "doc", "score")}


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _evaluate_columns(cols: dict[str, np.ndarray], qrels: Mapping[str, Mapping[str, int]], metrics: tuple[Metric, ...],
                      source: str) -> "PerQueryScores | None":
    """:func:`evaluate_run` on parsed columns (same conventions, same values): a relevant document's rank is
    1 + the documents of its query scored higher + those tied whose id sorts after it (bytes order = trec_eval's
    ``strcmp``). None when a query's lines are not adjacent, a document repeats or a score is not finite, so the
    line reader reports it."""
    qcol, dcol, scol = cols["qid"], cols["doc"], cols["score"]
    if not np.isfinite(scol).all():
        return None
    scol = scol.astype(np.float32)  # trec_eval's C float: scores equal in single precision tie
    cut = np.flatnonzero(qcol[1:] != qcol[:-1]) + 1
    starts, ends = np.concatenate(([0], cut)).tolist(), np.concatenate((cut, [len(qcol)])).tolist()
    segments = {q.decode(): (a, b) for q, a, b in zip(qcol[starts].tolist(), starts, ends)}
    if len(segments) != len(starts):
        return None  # a query's lines are split up
    for a, b in zip(starts, ends):
        docs = dcol[a:b].tolist()
        if len(set(docs)) != len(docs):
            return None

    def ranks(q: str, relevant: dict[str, int]) -> list[tuple[int, int]]:
        a, b = segments[q]
        d_q, s_q = dcol[a:b], scol[a:b]
        out = []
        for d, g in relevant.items():
            db = d.encode()
            hit = np.flatnonzero(d_q == db)
            if hit.size:
                s = s_q[hit[0]]
                out.append((int(np.count_nonzero(s_q > s)) + 1 + int(np.count_nonzero((s_q == s) & (d_q > db))), g))
        out.sort()
        return out

    return _score_queries(qrels, metrics, segments, ranks, extra=sum(1 for q in segments if q not in qrels),
                          source=source)


@dataclass(frozen=True)
class QrelsFile:
    """Judgements of one dataset part, read from its qrels file alone (no corpus needed)."""

    qrels: Qrels
    sha256: str
    path: Path


def read_qrels_file(info: DatasetInfo, folder: str | Path) -> QrelsFile:
    """BEIR: ``qrels/<split>.tsv``; LoTTE: ``qas.<search|forum>.jsonl`` (every question, answered or not)."""
    path, qrels, sha = layout_of(info).qrels(Path(folder), info)
    if not qrels:
        raise DataError(f"{path}: no judged queries")
    return QrelsFile(qrels=qrels, sha256=sha, path=path)


def load_qrels(info: DatasetInfo, key: str | None = None, data_dir: str | Path | None = None,
               lenient: bool = False) -> QrelsFile:
    """Find a dataset part like ``load_dataset`` does (``--data-dir``, HARNESS_DATA_DIR, cache) and read its qrels;
    a judgement naming a query id that is not in the queries file is an error naming its line. ``lenient``
    (``--lenient-qrels``): the judgements ``harness run --lenient-qrels`` keeps, i.e. the whole dataset is read and
    judgements naming unknown query or document ids are dropped (and reported), exactly as for the run."""
    key = key or info.name
    folder = locate(info, key, data_dir)
    if folder is None:
        from .datasets import data_dirs, relative_folder

        where = " or ".join(str(d / relative_folder(info, key)) for d in data_dirs(data_dir))
        raise HarnessError(f"qrels for '{key}' not found: no dataset folder at {where} (pass --data-dir)")
    if lenient:
        ds = layout_of(info).load(folder, info, key, lenient_qrels=True)
        return QrelsFile(qrels=ds.qrels, sha256=f"lenient:{ds.fingerprint}", path=Path(ds.files["qrels"]))
    return read_qrels_file(info, folder)


def _cache_path(key: str) -> Path:
    return cache_root() / "eval" / f"{key}.json"


def evaluate_file(run_path: str | Path, qrels: QrelsFile, metrics: Iterable["Metric | str"] = DEFAULT_METRICS,
                  use_cache: bool = True) -> PerQueryScores:
    """Evaluate a run file; results are cached under the run file's SHA-256, the qrels' SHA-256 and the metrics."""
    run_path = Path(run_path)
    if not run_path.is_file():
        raise DataError(f"run file not found: {run_path}")
    metrics = tuple(dict.fromkeys(Metric.parse(m) for m in metrics))
    if not metrics:
        raise HarnessError("no metrics to evaluate")
    data = run_path.read_bytes()
    key = stable_hash({"run": hashlib.sha256(data).hexdigest(), "qrels": qrels.sha256,
                       "metrics": [m.name for m in metrics], "version": EVAL_VERSION}, length=24)
    cached = _cache_path(key)
    if use_cache and cached.is_file():
        try:
            res = PerQueryScores.from_dict(read_json(cached))
            return PerQueryScores(res.qids, res.scores, res.missing, res.extra, source=str(run_path))
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recomputed
    columns = _run_columns(data, run_path)
    del data
    res = _evaluate_columns(columns, qrels.qrels, metrics, str(run_path)) if columns is not None else None
    if res is None:  # anything unusual: the line reader accepts it or names the line
        res = evaluate_run(read_run_lenient(run_path), qrels.qrels, metrics, source=str(run_path))
    if use_cache:
        import json

        with atomic_open(cached) as fh:
            json.dump(res.to_dict(), fh)
    return res


# ----------------------------------------------------------------------------------- whole datasets
@dataclass(frozen=True)
class DatasetScores:
    """One system on one registered dataset. For datasets with parts (CQADupStack) the mean is the macro average
    of the part means, and ``pooled`` holds every query of every part (used for the paired test)."""

    info: DatasetInfo
    system: str
    parts: tuple[tuple[str, PerQueryScores], ...]

    @property
    def pooled(self) -> PerQueryScores:
        if len(self.parts) == 1:
            return self.parts[0][1]
        return PerQueryScores.concat([(k.split("/", 1)[-1], s) for k, s in self.parts])

    def mean(self, metric: "Metric | str") -> float:
        return float(np.mean([s.mean(metric) for _, s in self.parts]))

    @property
    def missing(self) -> tuple[str, ...]:
        return self.pooled.missing

    @property
    def n(self) -> int:
        return sum(s.n for _, s in self.parts)


def evaluate_dataset(info: DatasetInfo, system: str, runs_dir: str | Path, data_dir: str | Path | None = None,
                     metrics: Iterable["Metric | str"] | None = None, use_cache: bool = True,
                     lenient_qrels: bool = False) -> DatasetScores:
    """Evaluate ``runs/<suite>/<dataset>[/<part>]/<system>.trec``; every part must be present. ``lenient_qrels``:
    see :func:`load_qrels`."""
    metrics = tuple(metrics) if metrics is not None else metrics_for(info)
    present, missing = run_files_for(info, runs_dir, system)
    if missing:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        what = f"{len(missing)} of {len(info.part_names)} parts" if info.parts else "the run file"
        raise HarnessError(f"{info.name}: {what} missing for system '{system}' ({shown}; expected e.g. "
                           f"{run_path(runs_dir, info.suite, missing[0], system)}); a macro average over fewer parts "
                           f"would not be comparable")
    parts = tuple((key, evaluate_file(path, load_qrels(info, key, data_dir, lenient_qrels), metrics, use_cache=use_cache))
                  for key, path in present)
    return DatasetScores(info=info, system=system, parts=parts)
