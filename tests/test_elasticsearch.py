"""Integration test against a real Elasticsearch server.

No Elasticsearch server can be installed on the project's CI machines, so this test runs only where
``HARNESS_ES_URL`` points at one (e.g. ``docker run -p 9200:9200 -e discovery.type=single-node
-e xpack.security.enabled=false elasticsearch:9.1.0`` then ``HARNESS_ES_URL=http://localhost:9200 pytest
tests/test_elasticsearch.py``). Unreachable-server handling is tested without a server in test_cli_run.py.
"""

import os

import pytest
import pytrec_eval

from harness_adapters.bm25 import BM25Settings, BM25System
from harness.datasets import load_dataset
from harness.registry import get_suite
from harness.systems import RunContext

ES_URL = os.environ.get("HARNESS_ES_URL")


@pytest.mark.es
@pytest.mark.skipif(not ES_URL, reason="HARNESS_ES_URL is not set (no Elasticsearch server here)")
def test_elasticsearch_bm25_on_scifact(shared_data, tmp_path):
    from elasticsearch import Elasticsearch

    ds = load_dataset(get_suite("beir").get("scifact"), data_dir=shared_data)
    settings = BM25Settings(backend="elasticsearch", es_url=ES_URL, es_index_prefix="harness-test")
    out = BM25System().retrieve(ds, settings, RunContext(tmp_path, top_k=100))
    es = Elasticsearch(ES_URL)
    idx = out.extra["index"]
    sim = es.indices.get_settings(index=idx)[idx]["settings"]["index"]["similarity"]["default"]
    assert sim["type"] == "BM25" and float(sim["k1"]) == 1.2 and float(sim["b"]) == 0.75
    per_q = pytrec_eval.RelevanceEvaluator(ds.qrels, {"ndcg_cut.10"}).evaluate(out.run)
    score = sum(v["ndcg_cut_10"] for v in per_q.values()) / len(ds.qrels)
    assert 0.64 <= score <= 0.70, score  # BEIR reports 66.5 for Elasticsearch BM25
    es.indices.delete(index=idx)
