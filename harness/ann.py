"""Optional approximate search for hard-negative mining on large corpora (faiss IVF-Flat or HNSW).

Exact search (:func:`harness.dense.search`) stays the default everywhere. An approximate index is used only where
asked for (GPL's ``mine_index`` setting), and only after its recall@k against exact search has been measured on
the same data: a sample of the queries is searched both ways and ``recall@k = |approx top-k & exact top-k| / k``
(mean over the sample, k = 50 by default, the number of negatives GPL mines per query) is logged and returned.
With ``min_recall`` set, an index that falls short is not used: the search falls back to exact, with a warning.

* ``ivf``: ``IndexIVFFlat`` with ``nlist ~ 4 sqrt(n)`` inverted lists (trained on at most 256 x nlist rows),
  ``nprobe`` lists searched per query (default ``max(1, nlist // 16)``). Vectors stored uncompressed (4 x dim bytes
  each, like the exact memmap, but in RAM).
* ``hnsw``: ``IndexHNSWFlat`` with ``M`` = 32 links per node, ``efSearch`` = max(2k, 128). Memory ~ (4 x dim +
  8 x M) bytes per vector; building is the slow part.

Both use the inner product (``cos`` embeddings are normalised before they get here).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import HarnessError

log = logging.getLogger("harness")

KINDS = ("exact", "ivf", "hnsw")


@dataclass
class AnnSpec:
    kind: str = "ivf"  # ivf or hnsw
    nlist: int | None = None  # ivf: inverted lists (default ~4 sqrt(n))
    nprobe: int | None = None  # ivf: lists searched per query (default nlist // 16)
    m: int = 32  # hnsw: links per node
    ef_search: int | None = None  # hnsw: candidate list size (default max(2k, 128))
    check_k: int = 50  # recall@check_k is measured ...
    check_queries: int = 1000  # ... on at most this many queries (a seeded sample)
    min_recall: float | None = None  # below it the index is not used (exact search instead)
    seed: int = 0
    report: dict = field(default_factory=dict)  # filled by ann_search: recall, timings, parameters

    def __post_init__(self) -> None:
        if self.kind not in ("ivf", "hnsw"):
            raise HarnessError(f"approximate index must be 'ivf' or 'hnsw', got '{self.kind}'")
        if self.min_recall is not None and not 0.0 <= self.min_recall <= 1.0:
            raise HarnessError(f"min_recall must be in [0, 1], got {self.min_recall}")


def parse_index(value: str) -> AnnSpec | None:
    """A setting value: ``exact`` (None), ``ivf``, ``hnsw``, or with options ``ivf:nprobe=32,min_recall=0.95``."""
    kind, _, opts = value.strip().partition(":")
    if kind not in KINDS:
        raise HarnessError(f"index '{value}': expected one of {', '.join(KINDS)} (optionally kind:key=value,...)")
    if kind == "exact":
        return None
    kw: dict = {}
    for item in filter(None, (o.strip() for o in opts.split(","))):
        key, eq, raw = item.partition("=")
        if not eq or key not in ("nlist", "nprobe", "m", "ef_search", "check_k", "check_queries", "min_recall"):
            raise HarnessError(f"index '{value}': unknown option '{item}' (nlist, nprobe, m, ef_search, check_k, "
                               "check_queries, min_recall)")
        try:
            kw[key] = float(raw) if key == "min_recall" else int(raw)
        except ValueError:
            raise HarnessError(f"index '{value}': '{raw}' is not a number") from None
    return AnnSpec(kind=kind, **kw)


def build_index(doc_emb: np.ndarray, spec: AnnSpec, k: int):
    """A faiss index over ``doc_emb`` (added in chunks, so a memmap is read once and never copied whole)."""
    import faiss

    n, dim = doc_emb.shape
    chunk = 262_144
    if spec.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, spec.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = spec.ef_search or max(2 * k, 128)
        spec.report.update(m=spec.m, ef_search=index.hnsw.efSearch)
    else:
        nlist = spec.nlist or max(1, min(n // 39, int(4 * math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(spec.seed)
        n_train = min(n, 256 * nlist)
        rows = np.sort(rng.choice(n, size=n_train, replace=False))
        index.train(np.ascontiguousarray(doc_emb[rows], dtype=np.float32))
        index.nprobe = spec.nprobe or max(1, nlist // 16)
        spec.report.update(nlist=nlist, nprobe=index.nprobe, n_train=int(n_train))
    for s in range(0, n, chunk):
        index.add(np.ascontiguousarray(doc_emb[s:s + chunk], dtype=np.float32))
    return index


def recall_at_k(approx: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Mean over rows of |approx[:k] & exact[:k]| / min(k, row length) (ids; -1 padding ignored)."""
    if len(exact) == 0:
        return 1.0
    kk = min(k, exact.shape[1])
    hits = [len(set(a[:kk].tolist()) - {-1} & set(e[:kk].tolist())) for a, e in zip(approx, exact)]
    return float(np.mean(hits) / kk)


def ann_search(query_emb: np.ndarray, doc_emb: np.ndarray, top_k: int, spec: AnnSpec,
               chunk_size: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Approximate top-k ``(scores, indices)`` after measuring the index's recall@check_k against exact search on a
    sample of these queries over these documents; ``spec.report`` receives the figures."""
    from .dense import _order_rows, search

    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    n = doc_emb.shape[0]
    k = min(top_k, n)
    t0 = time.time()
    index = build_index(doc_emb, spec, k)
    t1 = time.time()
    rng = np.random.default_rng(spec.seed)
    sample = np.sort(rng.choice(len(q), size=min(len(q), spec.check_queries), replace=False))
    ck = min(spec.check_k, n)
    _, exact_idx = search(q[sample], doc_emb, ck, chunk_size=chunk_size, backend="faiss")
    _, approx_idx = index.search(q[sample], ck)
    recall = recall_at_k(approx_idx, exact_idx, ck)
    spec.report.update(kind=spec.kind, recall=round(recall, 4), recall_k=ck, recall_queries=int(len(sample)),
                       build_s=round(t1 - t0, 3), check_s=round(time.time() - t1, 3), n_docs=int(n))
    log.info("approximate index %s: recall@%d = %.4f against exact search on %d queries (%d documents)",
             spec.kind, ck, recall, len(sample), n)
    if spec.min_recall is not None and recall < spec.min_recall:
        log.warning("approximate index %s: recall@%d %.4f < min_recall %.4f; using exact search instead",
                    spec.kind, ck, recall, spec.min_recall)
        spec.report["used"] = "exact"
        return search(q, doc_emb, top_k, chunk_size=chunk_size)
    spec.report["used"] = spec.kind
    t2 = time.time()
    scores, idx = index.search(q, k)
    spec.report["search_s"] = round(time.time() - t2, 3)
    idx = idx.astype(np.int64)
    if (idx < 0).any():  # fewer than k found (IVF with small nprobe): pad with -inf so callers skip them
        scores = np.where(idx < 0, -np.inf, scores).astype(np.float32)
    return _order_rows(scores, idx, k)
