"""Approximate mining index (faiss IVF / HNSW): its reported recall@50 is checked against brute force."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from harness.ann import AnnSpec, ann_search, parse_index, recall_at_k
from harness.errors import HarnessError


@pytest.fixture(scope="module")
def clustered():
    """20k documents in 64 clusters (the structure IVF exploits), 300 queries near random documents."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(64, 32)).astype(np.float32)
    docs = centres[rng.integers(0, 64, 20_000)] + 0.35 * rng.normal(size=(20_000, 32)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries = docs[rng.integers(0, 20_000, 300)] + 0.2 * rng.normal(size=(300, 32)).astype(np.float32)
    return np.ascontiguousarray(queries, dtype=np.float32), np.ascontiguousarray(docs, dtype=np.float32)


def brute_top(q: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("index", ["ivf:nprobe=8", "hnsw"])
def test_reported_recall_matches_brute_force(clustered, index, caplog):
    q, d = clustered
    spec = parse_index(index)
    spec.check_queries = 10_000  # all queries: the report covers exactly what is compared below
    with caplog.at_level(logging.INFO, logger="harness"):
        scores, idx = ann_search(q, d, 50, spec)
    truth = brute_top(q, d, 50)
    expected = np.mean([len(set(a) & set(t)) / 50 for a, t in zip(idx.tolist(), truth.tolist())])
    assert spec.report["recall"] == pytest.approx(expected, abs=1e-4) and spec.report["recall_k"] == 50
    assert f"recall@50 = {spec.report['recall']:.4f}" in caplog.text
    assert 0.8 < spec.report["recall"] <= 1.0 and spec.report["used"] == spec.kind
    assert idx.shape == (300, 50) and np.all(np.diff(scores, axis=1) <= 0)
    # the scores are the true inner products of the returned documents
    assert np.allclose(scores, np.take_along_axis(q @ d.T, idx, 1), atol=1e-4)


def test_low_recall_index_falls_back_to_exact(clustered, caplog):
    from harness.dense import search

    q, d = clustered
    spec = parse_index("ivf:nlist=256,nprobe=1,min_recall=0.99")
    with caplog.at_level(logging.WARNING, logger="harness"):
        scores, idx = ann_search(q, d, 50, spec)
    assert spec.report["recall"] < 0.99 and spec.report["used"] == "exact" and "using exact search" in caplog.text
    es, ei = search(q, d, 50)  # the default exact search
    assert np.array_equal(idx, ei) and np.array_equal(scores, es)


def test_recall_helper_and_settings():
    assert recall_at_k(np.array([[1, 2, 3], [4, 5, -1]]), np.array([[3, 2, 9], [4, 5, 6]]), 3) == pytest.approx(4 / 6)
    assert parse_index("exact") is None
    spec = parse_index("hnsw:m=16,ef_search=64,check_k=10")
    assert (spec.kind, spec.m, spec.ef_search, spec.check_k) == ("hnsw", 16, 64, 10)
    for bad in ("annoy", "ivf:nprobe", "ivf:foo=1", "ivf:nprobe=x"):
        with pytest.raises(HarnessError, match="index"):
            parse_index(bad)
    with pytest.raises(HarnessError, match="min_recall"):
        AnnSpec(kind="ivf", min_recall=1.5)


def test_dense_retrieve_with_an_approximate_index_reports_recall(tmp_path):
    """Through the retrieval core GPL's miners use: on a small corpus searched whole (efSearch >= its size), HNSW finds the
    exact top-k scores (with the default efSearch it may miss one of two near-equal scores, as approximate search does)."""
    from harness.datasets import Corpus
    from harness.dense import dense_retrieve, load_encoder
    from harness.gpl.settings import GPLSettings
    from harness.systems import build_settings
    from harness.errors import SettingsError

    from tiny_models import build_tiny_bert_encoder

    texts = [f"passage {i} about topic {i % 17} and subject {i % 5} with word{i % 23}" for i in range(400)]
    model = load_encoder(build_tiny_bert_encoder(tmp_path / "enc", texts, seed=0), device="cpu", max_seq_length=32)
    corpus = Corpus(ids=[f"d{i}" for i in range(400)], titles=[""] * 400, texts=texts)
    queries = {f"q{i}": f"topic {i} subject {i % 5}" for i in range(30)}
    exact = dense_retrieve(model, corpus, queries, top_k=20)
    timings: dict = {}
    spec = parse_index("hnsw:check_k=20,ef_search=400")  # efSearch >= the corpus: the graph is searched whole
    approx = dense_retrieve(model, corpus, queries, top_k=20, timings=timings, ann=spec)
    assert timings["index"]["recall"] >= 0.95 and timings["index"]["used"] == "hnsw"
    # the same scores at every rank (documents may differ only among equal scores, which exact breaks by index)
    assert approx.keys() == exact.keys()
    for q in exact:
        assert np.allclose(sorted(approx[q].values(), reverse=True), sorted(exact[q].values(), reverse=True), atol=1e-5)
    assert build_settings(GPLSettings, {"mine_index": "ivf:nprobe=4"}).mine_index == "ivf:nprobe=4"
    with pytest.raises(SettingsError, match="mine_index"):
        build_settings(GPLSettings, {"mine_index": "annoy"})
