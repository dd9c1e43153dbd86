"""The ``base`` system end to end through the console entry point (in this process): real MiniLM on a slice of SciFact, real files, trec_eval."""

from __future__ import annotations


import numpy as np
import pytest

from harness_adapters.base import BaseSettings, BaseSystem
from harness.datasets import load_dataset
from harness.errors import SettingsError
from harness.registry import custom_dataset
from harness.runs import read_manifest, read_run
from harness.systems import build_settings

from conftest import ndcg10, run_cli
from fixtures import scifact_slice
from tiny_models import build_tiny_bert_encoder


def test_base_minilm_on_scifact_slice(shared_data, minilm_path, tmp_path):
    """Zero-shot MiniLM on 30 SciFact queries over ~240 documents; the embedding cache serves the second run."""
    data = tmp_path / "data"
    scifact_slice(shared_data, data / "scifact-slice", n_queries=30, extra_docs=200)
    runs = tmp_path / "runs"
    common = ["run", "--system", "base", "--datasets", "scifact-slice", "--data-dir", str(data), "--out", str(runs),
              "--top-k", "100", "--set", f"model={minilm_path}", "--set", "max_seq_length=128"]
    r = run_cli(*common, "--set", "score_function=cos")
    assert r.returncode == 0, r.stderr
    path = runs / "beir" / "scifact-slice" / "base.trec"
    run = read_run(path)
    ds = load_dataset(custom_dataset("scifact-slice"), data_dir=data)
    assert set(run) == set(ds.queries) and len(run) == 30
    assert all(len(docs) == 100 for docs in run.values())
    score = ndcg10(ds.qrels, run)
    assert score >= 0.75, score  # gold documents among ~240 others: MiniLM finds most of them near the top
    m = read_manifest(path)
    assert m["models"]["encoder"].startswith(f"{minilm_path}@sha:")
    assert m["extra"]["embedding_cache"] == "miss" and m["extra"]["embedding_dim"] == 384
    assert m["extra"]["max_seq_length"] == 128 and m["settings"]["score_function"] == "cos"

    # a second run (another name) with the same model and corpus reuses the cached corpus embeddings
    r = run_cli(*common, "--set", "score_function=cos", "--name", "base-again")
    assert r.returncode == 0, r.stderr
    again_path = runs / "beir" / "scifact-slice" / "base-again.trec"
    assert read_manifest(again_path)["extra"]["embedding_cache"] == "hit"
    again = read_run(again_path)
    for qid in run:
        assert list(again[qid]) == list(run[qid])
        np.testing.assert_allclose(list(again[qid].values()), list(run[qid].values()), atol=1e-5)


def test_base_settings_through_cli_with_tiny_model(shared_data, tmp_path):
    data = tmp_path / "data"
    scifact_slice(shared_data, data / "tiny-sci", n_queries=5, extra_docs=20)
    texts = [line for line in (data / "tiny-sci" / "corpus.jsonl").read_text().splitlines()]
    model = build_tiny_bert_encoder(tmp_path / "enc", texts)
    runs = tmp_path / "runs"
    base = ["run", "--system", "base", "--datasets", "tiny-sci", "--data-dir", str(data), "--out", str(runs)]
    r = run_cli(*base, "--set", f"model={model}", "--set", "device=cpu", "--set", "num_threads=1",
                "--set", "corpus_chunk_size=7", "--set", "cache_embeddings=false", "--set", "batch_size=4")
    assert r.returncode == 0, r.stderr
    path = runs / "beir" / "tiny-sci" / "base.trec"
    m = read_manifest(path)
    n_docs = len((data / "tiny-sci" / "corpus.jsonl").read_text().splitlines())
    assert all(len(docs) == n_docs for docs in read_run(path).values())  # top_k 1000 capped at the corpus
    assert m["extra"]["embedding_cache"] == "off" and m["extra"]["torch_threads"] == 1
    assert m["extra"]["device"] == "cpu" and m["extra"]["max_seq_length"] == 128

    bad = run_cli(*base, "--set", f"model={model}", "--set", "score_function=l2")
    assert bad.returncode == 2 and "score_function" in bad.stderr + bad.stdout
    missing = run_cli(*base, "--set", f"model={tmp_path / 'nowhere'}", "--force")
    assert missing.returncode == 2 and "cannot load encoder" in missing.stderr + missing.stdout


def test_base_settings_defaults_presets_and_validation(minilm_path):
    s = build_settings(BaseSettings, {})
    assert s.model == "GPL/msmarco-distilbert-margin-mse" and s.score_function == "dot" and s.max_seq_length is None
    offline = build_settings(BaseSettings, {}, preset="offline")
    assert offline.model == minilm_path and offline.score_function == "cos" and offline.max_seq_length == 256
    assert offline.device is None  # CUDA when present, like GPL/R-GPL's offline preset (`cpu` is its older name)
    gpl = build_settings(BaseSettings, {}, preset="gpl")
    assert gpl.max_seq_length == 350
    for key, value in (("batch_size", "0"), ("max_seq_length", "-1"), ("device", "tpu"), ("corpus_chunk_size", "0")):
        with pytest.raises(SettingsError, match=key):
            build_settings(BaseSettings, {key: value})
    assert BaseSystem.name == "base" and BaseSystem.Settings is BaseSettings
