"""Hard-negative mining: each miner retrieves its top k for every generated query; positives are then removed.

As in GPL's ``NegativeMiner`` (``toolkit/mine.py:87-94``), a miner's list is its top ``k`` (50) with the query's
positives dropped, so it can hold fewer than ``k`` ids. With ``mining_extra_depth=1`` a dense miner retrieves
``k + 1``, drops the positives and keeps the first ``k``, as the authors' R-GPL miner does
(``HardNegativeMiner.py:107-114``); BM25 is never deepened (their BM25 miner takes its top ``k``, line 163).
Miners: any sentence-transformers bi-encoder (with its score function; GPL uses ``cos_sim`` for its two default
miners), ``bm25`` (:class:`harness.bm25.BM25Index`), or ``student`` (the model being
adapted, before training). R-GPL's re-mining uses :func:`mine_dense` with the model under training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..datasets import Corpus
from ..fileio import read_jsonl, stable_hash, write_jsonl
from .models import pick_device, resolve_model
from .stages import Stage
from .workdir import Negatives, QueryNegatives, Round


def sub_corpus(corpus: Corpus, indices: np.ndarray) -> Corpus:
    if len(indices) == len(corpus):
        return corpus
    return Corpus([corpus.ids[i] for i in indices], [corpus.titles[i] for i in indices],
                  [corpus.texts[i] for i in indices])


def sub_corpus_fingerprint(corpus_fp: str, n_corpus: int, indices: np.ndarray) -> str:
    if len(indices) == n_corpus:
        return corpus_fp
    return stable_hash({"corpus": corpus_fp, "subset": stable_hash(np.asarray(indices).tolist())}, 32)


def ranked(hits: dict[str, float]) -> list[str]:
    """Doc ids by score, descending (stable: ties keep the retriever's order)."""
    return [d for d, _ in sorted(hits.items(), key=lambda kv: -kv[1])]


def drop_positives(run: dict[str, dict[str, float]], qrels: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {}
    for qid, hits in run.items():
        pos = set(qrels.get(qid, ()))
        out[qid] = [d for d in ranked(hits) if d not in pos]
    return out


def mine_dense(model, corpus: Corpus, queries: dict[str, str], qrels: dict[str, list[str]], top_k: int,
               score_function: str, batch_size: int = 128, cache_dir: Path | None = None,
               corpus_fingerprint: str | None = None, timings: dict | None = None,
               index: str = "exact", extra_depth: int = 0, precision: str = "auto") -> dict[str, list[str]]:
    """Top ``top_k + extra_depth`` of ``model`` for every query, positives removed, at most ``top_k`` kept.
    ``index``: exact search, or an approximate one (:mod:`harness.ann`) whose recall against exact goes into
    ``timings["index"]``."""
    from ..ann import parse_index
    from ..dense import dense_retrieve

    run = dense_retrieve(model, corpus, queries, top_k=min(top_k + extra_depth, len(corpus)),
                         score_function=score_function, batch_size=batch_size, cache_dir=cache_dir,
                         corpus_fingerprint=corpus_fingerprint, timings=timings, ann=parse_index(index),
                         precision=precision)
    return {q: negs[:top_k] for q, negs in drop_positives(run, qrels).items()}


def mine_bm25(corpus: Corpus, queries: dict[str, str], qrels: dict[str, list[str]], top_k: int) -> dict[str, list[str]]:
    from ..bm25 import BM25Index

    index = BM25Index.from_corpus(corpus)
    return drop_positives(index.search(queries, top_k, desc="BM25 mining"), qrels)


def dense_mining_key(settings) -> dict:
    """Stage-key entries of the dense-mining choices that differ from the harness default (default keys unchanged)."""
    out = {}
    if settings.mining_extra_depth:
        out["extra_depth"] = settings.mining_extra_depth
    if settings.encode_precision != "auto":
        out["precision"] = settings.encode_precision
    return out


def run_miner(stage: Stage, miner: str, score_function: str, corpus: Corpus, corpus_fp: str,
              queries: dict[str, str], qrels: dict[str, list[str]], settings, cache_root: Path) -> None:
    """One miner's negatives -> ``<stage>/negatives.jsonl`` (lines ``{"qid", "neg": [...]}``)."""
    out = stage.start()
    t0 = time.time()
    info: dict = {}
    if miner == "bm25":
        negs = mine_bm25(corpus, queries, qrels, settings.negatives_per_query)
    else:
        from ..dense import load_encoder

        name = settings.student if miner == "student" else miner
        model = load_encoder(resolve_model(name), device=pick_device(settings.device),
                             max_seq_length=settings.max_seq_length if miner == "student" else None)
        timings: dict = {}
        negs = mine_dense(model, corpus, queries, qrels, settings.negatives_per_query, score_function,
                          settings.miner_batch_size, cache_dir=cache_root, corpus_fingerprint=corpus_fp,
                          timings=timings, index=getattr(settings, "mine_index", "exact"),
                          extra_depth=settings.mining_extra_depth, precision=settings.encode_precision)
        del model
        info["index"] = timings.get("index", "exact")
    write_jsonl(out / "negatives.jsonl", ({"qid": q, "neg": negs.get(q, [])} for q in qrels))
    stage.finish(miner=miner, score_function=score_function, n_queries=len(negs), mining_seconds=round(time.time() - t0, 3),
                 **info)


def load_miner(stage: Stage) -> dict[str, list[str]]:
    return {row["qid"]: row["neg"] for _, row in read_jsonl(stage.dir / "negatives.jsonl")}


def combine(stage: Stage, miners: list[tuple[str, Stage]], qrels: dict[str, list[str]]) -> None:
    """GPL's ``hard-negatives.jsonl`` from the per-miner results."""
    stage.start()
    per_miner = {name: load_miner(s) for name, s in miners}
    negatives = Negatives({q: QueryNegatives(list(pos), {name: per_miner[name].get(q, []) for name, _ in miners})
                           for q, pos in qrels.items()})
    Round(stage.dir, 0).write_negatives(negatives)
    stage.finish(miners=[name for name, _ in miners], n_queries=len(negatives),
                 mining_seconds=sum(s.info().get("mining_seconds", 0.0) for _, s in miners))
