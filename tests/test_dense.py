"""Dense retrieval core: exact chunked search, order-preserving encoding, the embedding cache, dense_retrieve."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness import dense
from harness.datasets import Corpus
from harness.errors import HarnessError
from conftest import run_cli
from tiny_models import build_tiny_bert_encoder

TEXTS = [
    "Cast iron pans should be dried on the stove to stop rust forming.",
    "rust",
    "Season a cast iron skillet with a thin layer of flaxseed oil baked at high heat for an hour or so.",
    "Houseplants with yellow leaves are often overwatered; let the soil dry out between waterings, "
    "and check that the pot drains well, because standing water rots the roots of most common houseplants.",
    "Succulents need bright light.",
    "To remove red wine stains, blot and apply salt or club soda quickly.",
    "Baking soda and vinegar clean a clogged drain.",
    "A pressure cooker shortens the time for dried beans to under an hour.",
    "Rice cookers switch to warm when the water is absorbed and the temperature rises above boiling point.",
    "Compost needs a balance of green nitrogen and brown carbon material.",
    "Sharpen kitchen knives on a whetstone.",
    "How do I keep sourdough starter alive while travelling for two weeks without anyone to feed it?",
    "Feed it.",
]


# ------------------------------------------------------------------------------------------------ search
def brute_force(q: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: full score matrix, per row sort by score descending then index ascending."""
    s = q.astype(np.float64) @ d.astype(np.float64).T
    idx = np.broadcast_to(np.arange(d.shape[0]), s.shape)
    order = np.lexsort((idx, -s), axis=-1)[:, :k]
    return np.take_along_axis(s, order, 1), order


@pytest.mark.parametrize("chunk_size", [10_000, 257, 64, 7])
@pytest.mark.parametrize("top_k", [1, 10, 50])
def test_search_equals_brute_force_with_ties(chunk_size, top_k):
    """Small-integer embeddings: scores are exact in float32 and full of ties, across chunk boundaries too."""
    rng = np.random.default_rng(0)
    docs = rng.integers(-2, 3, size=(1037, 6)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(23, 6)).astype(np.float32)
    ref_s, ref_i = brute_force(queries, docs, top_k)
    s, i = dense.search(queries, docs, top_k, chunk_size=chunk_size)
    assert s.shape == (23, top_k) and i.shape == (23, top_k)
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(s, ref_s.astype(np.float32))


@pytest.mark.parametrize("chunk_size", [5000, 300, 33])
def test_search_equals_brute_force_on_float_embeddings(chunk_size):
    rng = np.random.default_rng(1)
    docs = rng.standard_normal((2000, 32)).astype(np.float32)
    queries = rng.standard_normal((40, 32)).astype(np.float32)
    ref_s, ref_i = brute_force(queries, docs, 100)
    s, i = dense.search(queries, docs, 100, chunk_size=chunk_size)
    np.testing.assert_allclose(s, ref_s, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(i, ref_i)
    assert np.all(np.diff(s, axis=1) <= 0)  # best first


@pytest.mark.parametrize("chunk_size", [10_000, 64, 7])
def test_torch_backend_equals_brute_force_with_ties(chunk_size):
    """The matmul + topk path (what runs on CUDA), exercised on the CPU."""
    rng = np.random.default_rng(3)
    docs = rng.integers(-2, 3, size=(503, 6)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(17, 6)).astype(np.float32)
    for top_k in (1, 20):
        ref_s, ref_i = brute_force(queries, docs, top_k)
        s, i = dense.search(queries, docs, top_k, chunk_size=chunk_size, device="cpu", backend="torch")
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_array_equal(s, ref_s.astype(np.float32))


def test_search_ties_prefer_lower_index_across_chunks():
    docs = np.ones((100, 4), dtype=np.float32)  # every document scores the same
    docs[[13, 77]] = 2.0  # two strictly better documents, in different chunks
    q = np.ones((3, 4), dtype=np.float32)
    s, i = dense.search(q, docs, 5, chunk_size=16)
    assert i[0].tolist() == [13, 77, 0, 1, 2]
    assert s[0].tolist() == [8.0, 8.0, 4.0, 4.0, 4.0]
    assert (i == i[0]).all()


def test_search_k_larger_than_corpus_and_memmap_input(tmp_path):
    rng = np.random.default_rng(2)
    docs = rng.standard_normal((12, 8)).astype(np.float32)
    mm = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=docs.shape)
    mm[:] = docs
    mm.flush()
    ro = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="r", shape=docs.shape)
    q = rng.standard_normal((3, 8)).astype(np.float32)
    s, i = dense.search(q, ro, 1000, chunk_size=5)
    assert i.shape == (3, 12)
    assert sorted(i[0].tolist()) == list(range(12))
    np.testing.assert_array_equal(i, brute_force(q, docs, 12)[1])


def test_search_rejects_bad_input():
    d = np.zeros((4, 3), np.float32)
    with pytest.raises(HarnessError, match="shapes"):
        dense.search(np.zeros((2, 5), np.float32), d, 2)
    with pytest.raises(HarnessError, match="top_k"):
        dense.search(np.zeros((2, 3), np.float32), d, 0)
    with pytest.raises(HarnessError, match="chunk_size"):
        dense.search(np.zeros((2, 3), np.float32), d, 1, chunk_size=0)


# ---------------------------------------------------------------------------------------------- encoding
@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> str:
    return build_tiny_bert_encoder(tmp_path_factory.mktemp("tiny") / "enc", TEXTS * 3)


@pytest.fixture()
def tiny(tiny_path):
    return dense.load_encoder(tiny_path, device="cpu")


def count_encode_calls(model) -> list[int]:
    """Record the number of texts of every ``model.encode`` call (the real encode still runs)."""
    calls: list[int] = []
    original = model.encode

    def wrapped(texts, *a, **kw):
        calls.append(len(texts))
        return original(texts, *a, **kw)

    model.encode = wrapped
    return calls


def corpus_of(texts: list[str]) -> Corpus:
    return Corpus([f"d{i}" for i in range(len(texts))], [""] * len(texts), list(texts))


def test_encode_texts_preserves_order_despite_length_sorting(tiny):
    one_by_one = np.stack([tiny.encode([t], convert_to_numpy=True)[0] for t in TEXTS])
    emb = dense.encode_texts(tiny, TEXTS, batch_size=4)
    assert emb.dtype == np.float32 and emb.shape == one_by_one.shape
    np.testing.assert_allclose(emb, one_by_one, atol=1e-5)
    # the texts have very different lengths, so a wrong order could not pass
    assert not np.allclose(emb[0], emb[1], atol=1e-3)


def test_encode_corpus_chunks_preserve_order_and_normalize(tiny):
    corpus = corpus_of(TEXTS)
    whole = dense.encode_texts(tiny, TEXTS, batch_size=64)
    chunked = dense.encode_corpus(tiny, corpus, batch_size=3, chunk=4)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    normed = dense.encode_corpus(tiny, corpus, batch_size=3, normalize=True, chunk=5)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(normed, whole / np.linalg.norm(whole, axis=1, keepdims=True), atol=1e-5)


def test_corpus_passages_join_title_and_text(tiny):
    corpus = Corpus(["a", "b"], ["Cast iron", ""], ["pans rust", "Feed it."])
    emb = dense.encode_corpus(tiny, corpus)
    np.testing.assert_allclose(emb, dense.encode_texts(tiny, ["Cast iron pans rust", "Feed it."]), atol=1e-5)


def test_cache_reused_for_same_weights_and_recomputed_for_changed_weights(tiny, tmp_path):
    corpus = corpus_of(TEXTS)
    calls = count_encode_calls(tiny)
    stats: dict = {}
    first = np.array(dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1", stats=stats))
    assert stats["cache"] == "miss" and sum(calls) == len(TEXTS)

    stats = {}
    again = dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1", stats=stats)
    assert stats["cache"] == "hit" and sum(calls) == len(TEXTS)  # nothing re-encoded
    assert isinstance(again, np.memmap)
    np.testing.assert_array_equal(again, first)

    fp_before = dense.model_fingerprint(tiny)
    with torch.no_grad():
        dict(tiny.named_parameters())["0.model.encoder.layer.1.output.LayerNorm.bias"].add_(0.5)
    assert dense.model_fingerprint(tiny) != fp_before
    stats = {}
    changed = dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1", stats=stats)
    assert stats["cache"] == "miss" and sum(calls) == 2 * len(TEXTS)
    assert not np.allclose(changed, first)
    assert len(list((tmp_path / "dense-embeddings").iterdir())) == 2


def test_cache_key_covers_corpus_normalisation_and_max_seq_length(tiny, tmp_path):
    corpus = corpus_of(TEXTS)
    calls = count_encode_calls(tiny)
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1")
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c2")
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1", normalize=True)
    tiny.max_seq_length = 8
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c1")
    assert sum(calls) == 4 * len(TEXTS)
    assert len(list((tmp_path / "dense-embeddings").iterdir())) == 4
    # no corpus fingerprint given: the content is hashed, so an edited document is a different corpus
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path)
    dense.encode_corpus(tiny, corpus, cache_dir=tmp_path)
    assert sum(calls) == 5 * len(TEXTS)
    edited = corpus_of(TEXTS[:-1] + ["Feed it twice."])
    dense.encode_corpus(tiny, edited, cache_dir=tmp_path)
    assert sum(calls) == 6 * len(TEXTS)


def test_model_fingerprint_is_stable_across_loads(tiny_path):
    a = dense.load_encoder(tiny_path, device="cpu")
    b = dense.load_encoder(tiny_path, device="cpu")
    assert dense.model_fingerprint(a) == dense.model_fingerprint(b)
    assert dense.model_revision(a).startswith(f"{tiny_path}@sha:")


def test_interrupted_encoding_resumes_from_last_chunk(tiny, tmp_path):
    corpus = corpus_of(TEXTS)
    reference = dense.encode_texts(tiny, TEXTS)
    original = tiny.encode
    calls: list[int] = []

    def failing(texts, *a, **kw):
        calls.append(len(texts))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(texts, *a, **kw)

    tiny.encode = failing
    with pytest.raises(KeyboardInterrupt):
        dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c", chunk=4)
    tiny.encode = original
    calls_after = count_encode_calls(tiny)
    stats: dict = {}
    emb = dense.encode_corpus(tiny, corpus, cache_dir=tmp_path, corpus_fingerprint="c", chunk=4, stats=stats)
    assert stats["cache"] == "resumed"
    assert calls_after == [4, 1]  # rows 8..12: the two finished chunks were kept
    np.testing.assert_allclose(emb, reference, atol=1e-5)
    folder = next((tmp_path / "dense-embeddings").iterdir())
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"] and meta["n"] == len(TEXTS) and not (folder / "progress.json").exists()


def test_train_eval_mode_restored(tiny):
    corpus = corpus_of(TEXTS)
    tiny.train()
    dense.dense_retrieve(tiny, corpus, {"q": "cast iron rust"}, top_k=3)
    assert tiny.training and all(m.training for m in tiny.modules())
    tiny.eval()
    dense.encode_texts(tiny, ["rust"])
    assert not tiny.training and not any(m.training for m in tiny.modules())


# --------------------------------------------------------------------------------------------- retrieval
def test_dense_retrieve_matches_brute_force_and_scores(tiny, tmp_path):
    corpus = corpus_of(TEXTS)
    queries = {"q1": "cast iron rust", "q2": "sourdough starter", "q3": "houseplant yellow leaves"}
    for score_function, norm in (("dot", False), ("cos", True)):
        run = dense.dense_retrieve(tiny, corpus, queries, top_k=5, score_function=score_function,
                                   cache_dir=tmp_path, corpus_fingerprint="c", chunk_size=4)
        d = dense.encode_texts(tiny, TEXTS, normalize=norm)
        q = dense.encode_texts(tiny, list(queries.values()), normalize=norm)
        _, ref = brute_force(q, d, 5)
        for r, qid in enumerate(queries):
            assert list(run[qid]) == [f"d{i}" for i in ref[r]]
            np.testing.assert_allclose(list(run[qid].values()), (q[r] @ d[ref[r]].T), rtol=1e-4, atol=1e-5)
        if norm:
            assert all(abs(s) <= 1.0001 for hits in run.values() for s in hits.values())


def test_dense_retrieve_exclude_still_returns_top_k(tiny):
    corpus = corpus_of(TEXTS)
    queries = {"q1": "cast iron rust", "q2": "sourdough starter"}
    full = dense.dense_retrieve(tiny, corpus, queries, top_k=len(TEXTS))
    drop = {"q1": set(list(full["q1"])[:3]) | {"not-a-doc"}, "q2": {list(full["q2"])[1]}}
    run = dense.dense_retrieve(tiny, corpus, queries, top_k=4, exclude=drop)
    for qid in queries:
        assert len(run[qid]) == 4
        assert not set(run[qid]) & drop[qid]
        expected = [d for d in full[qid] if d not in drop[qid]][:4]
        assert list(run[qid]) == expected


def test_dense_retrieve_rejects_unknown_score_function(tiny):
    with pytest.raises(HarnessError, match="score_function"):
        dense.dense_retrieve(tiny, corpus_of(TEXTS), {"q": "x"}, top_k=2, score_function="l2")


def test_load_encoder_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="neither modules.json nor config.json"):
        dense.load_encoder(str(tmp_path / "empty"), device="cpu")
    with pytest.raises(HarnessError, match="cannot load encoder"):
        dense.load_encoder("no-such-org/no-such-model-xyz", device="cpu")


def test_kill_9_mid_encode_resumes_where_the_progress_note_says(world, tmp_path):
    """A ``base`` run killed with SIGKILL while encoding a corpus far smaller than one chunk resumes from its last
    progress note (not from row 0) and ends with the embeddings and run file of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = Path(__file__).with_name("slow_encode_script.py")
    n_docs = len(Path(world["data"], "scifact", "corpus.jsonl").read_text().splitlines())
    assert n_docs < dense.ENCODE_CHUNK  # one chunk: before finer notes, a kill lost the whole encode

    args = ["run", "--system", "base", "--datasets", "scifact", "--data-dir", world["data"], "--no-download",
            "--top-k", "20", "--set", f"model={world['student']}", "--set", "batch_size=2", "--set", "device=cpu",
            "--set", "num_threads=1"]

    def harness(cache: Path, out: Path, delay: float):
        env = dict(os.environ, HARNESS_CACHE=str(cache), OMP_NUM_THREADS="1")
        return subprocess.Popen([sys.executable, str(script), str(delay), "0.2", *args, "--out", str(out)], env=env,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    ref = run_cli(*args, "--out", str(tmp_path / "ref"))  # uninterrupted, in this process (under the test's cache)
    assert ref.returncode == 0, ref.stderr[-3000:]

    cache = tmp_path / "cache"
    killed = harness(cache, tmp_path / "runs", 0.02)  # 8 batches of 2 rows per encode call, ~0.2 s per call
    note = None
    deadline = time.time() + 120
    while time.time() < deadline and killed.poll() is None:
        path = next(cache.glob("dense-embeddings/*/progress.json"), None)
        note = json.loads(path.read_text()) if path else None  # written atomically: whole or absent
        if note and note["rows_done"] + note.get("chunk_rows_done", 0) >= 3 * dense.GROUP_BATCHES * 2:
            break
        time.sleep(0.05)
    assert killed.poll() is None, f"the encode ended before a progress note let it be killed mid-way (last note {note})"
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    note = json.loads(next(cache.glob("dense-embeddings/*/progress.json")).read_text())
    done = note["rows_done"] + note["chunk_rows_done"]
    assert note["rows_done"] == 0 and 0 < done < n_docs  # within the one chunk

    resumed = harness(cache, tmp_path / "runs", 0.0)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()[-3000:]
    err = resumed.stderr.read()
    assert f"resuming" in err and f"at row {done} of {n_docs}" in err
    folder = next(Path(os.environ["HARNESS_CACHE"]).glob("dense-embeddings/*"))
    embeddings = cache / "dense-embeddings" / folder.name / "embeddings.f32"
    assert embeddings.read_bytes() == (folder / "embeddings.f32").read_bytes()
    run, ref_run = (p / "beir" / "scifact" / "base.trec" for p in (tmp_path / "runs", tmp_path / "ref"))
    assert run.read_bytes() == ref_run.read_bytes()
