"""The Elasticsearch BM25 backend end to end, through the real official client over real HTTP, against a stand-in.

No Elasticsearch server can run on CI, so these tests use the in-process stand-in of fake_elasticsearch.py (real
Lucene BM25 scoring with the k1/b the index was created with); tests/test_elasticsearch.py is the real-server test.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness_adapters.bm25 import BM25Settings, BM25System, bm25s_search
from harness.datasets import Dataset, load_dataset
from harness.errors import HarnessError
from harness.registry import custom_dataset
from harness.runs import read_manifest, read_run
from harness.systems import RunContext, SystemOutput

from conftest import ndcg10, run_cli
from fake_elasticsearch import FakeElasticsearch
from fixtures import scifact_slice

N_QUERIES, TOP_K, BATCH = 50, 100, 20
SLICE = "sci-es"


@pytest.fixture(scope="module")
def slice_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding a SciFact slice: 50 test queries, their gold documents and 300 others."""
    data = tmp_path_factory.mktemp("es-data")
    scifact_slice(shared_data, data / SLICE, n_queries=N_QUERIES)
    return data


@pytest.fixture
def ds(slice_dir: Path) -> Dataset:
    return load_dataset(custom_dataset(SLICE), data_dir=slice_dir)


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch(version="9.1.0") as server:
        yield server


def retrieve(ds: Dataset, fake: FakeElasticsearch, tmp_path: Path, **overrides: object) -> SystemOutput:
    settings = BM25Settings(backend="elasticsearch", es_url=fake.url, batch_size=BATCH, **overrides)
    return BM25System().retrieve(ds, settings, RunContext(tmp_path, top_k=TOP_K))


def test_index_bulk_msearch_and_quality(ds: Dataset, fake: FakeElasticsearch, tmp_path: Path) -> None:
    out = retrieve(ds, fake, tmp_path)
    idx = out.extra["index"]
    assert out.extra["server_version"] == "9.1.0" and out.models == {"bm25": "elasticsearch@9.1.0"}

    # the index was created once, with an explicit BM25 similarity and the english analyzer on `contents`
    (create,) = fake.calls("PUT", f"/{idx}")
    body = create.json()
    assert body["settings"]["similarity"] == {"default": {"type": "BM25", "k1": 1.2, "b": 0.75}}
    assert body["mappings"] == {"properties": {"contents": {"type": "text", "analyzer": "english"}}}
    from elasticsearch import Elasticsearch

    stored = Elasticsearch(fake.url).indices.get_settings(index=idx)[idx]["settings"]["index"]["similarity"]["default"]
    assert stored == {"type": "BM25", "k1": "1.2", "b": "0.75"}

    # documents went in through bulk requests as title + " " + text, then the index was refreshed before searching
    bulks = fake.calls("PUT", "/_bulk") + fake.calls("POST", "/_bulk")
    lines = [line for r in bulks for line in r.ndjson()]
    actions, sources = lines[0::2], lines[1::2]
    assert len(actions) == len(ds.corpus) and all(a == {"index": {"_index": idx, "_id": a["index"]["_id"]}} for a in actions)
    indexed = {a["index"]["_id"]: s["contents"] for a, s in zip(actions, sources)}
    assert indexed == {ds.corpus.ids[i]: ds.corpus.passage(i) for i in range(len(ds.corpus))}
    i = next(i for i in range(len(ds.corpus)) if ds.corpus.titles[i])
    assert indexed[ds.corpus.ids[i]] == f"{ds.corpus.titles[i]} {ds.corpus.texts[i]}"
    assert Elasticsearch(fake.url).count(index=idx)["count"] == len(ds.corpus)
    order = [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests]
    assert order.index(("POST", "_refresh")) > max(i for i, o in enumerate(order) if o[1] == "_bulk")
    assert order.index(("POST", "_refresh")) < order.index(("POST", "_msearch"))

    # queries went through msearch in batches of `batch_size`, each a match query on `contents` for top_k hits
    searches = [r.ndjson() for r in fake.calls("POST", "/_msearch")]
    assert [len(s) // 2 for s in searches] == [20, 20, 10]
    pairs = [(h, b) for s in searches for h, b in zip(s[0::2], s[1::2])]
    assert all(h == {"index": idx} and b["size"] == TOP_K and b["_source"] is False for h, b in pairs)
    assert [b["query"]["match"]["contents"]["query"] for _, b in pairs] == list(ds.queries.values())

    # the run covers every query with up to top_k corpus documents in score order
    run = out.run
    assert set(run) == set(ds.queries) and len(run) == N_QUERIES
    for docs in run.values():
        assert 0 < len(docs) <= TOP_K and set(docs) <= set(ds.corpus.ids)
        scores = list(docs.values())
        assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    assert max(len(d) for d in run.values()) == TOP_K

    # quality: close to the embedded bm25s backend on the same slice
    es_ndcg, bm25s_ndcg = ndcg10(ds.qrels, run), ndcg10(ds.qrels, bm25s_search(ds, BM25Settings(), TOP_K))
    assert es_ndcg > 0.8 and abs(es_ndcg - bm25s_ndcg) < 0.05, (es_ndcg, bm25s_ndcg)


def test_complete_index_is_reused_and_partial_index_rebuilt(ds: Dataset, fake: FakeElasticsearch, tmp_path: Path) -> None:
    first = retrieve(ds, fake, tmp_path)
    idx = first.extra["index"]
    n_bulk = len(fake.calls("PUT", "/_bulk"))
    assert n_bulk == math.ceil(len(ds.corpus) / 1000)

    fake.requests.clear()
    second = retrieve(ds, fake, tmp_path)
    assert second.extra["index"] == idx and second.run == first.run
    methods = {(r.method, r.path) for r in fake.requests}
    assert ("HEAD", f"/{idx}") in methods and ("POST", f"/{idx}/_count") in methods
    assert not fake.calls("PUT", "/_bulk") and not fake.calls("PUT", f"/{idx}") and not fake.calls("DELETE", f"/{idx}")

    # a partial index (as a killed run leaves it) is deleted and built again
    docs = fake.indices[idx].docs
    for doc_id in list(docs)[len(docs) // 2:]:
        del docs[doc_id]
    fake.requests.clear()
    third = retrieve(ds, fake, tmp_path)
    order = [(r.method, r.path) for r in fake.requests]
    assert order.index(("DELETE", f"/{idx}")) < order.index(("PUT", f"/{idx}")) < order.index(("PUT", "/_bulk"))
    assert len(fake.indices[idx].docs) == len(ds.corpus) and third.run == first.run


def test_k1_setting_gives_another_index_and_other_scores(ds: Dataset, fake: FakeElasticsearch, tmp_path: Path) -> None:
    default = retrieve(ds, fake, tmp_path)
    tuned = retrieve(ds, fake, tmp_path, k1=0.9)
    assert tuned.extra["index"] != default.extra["index"] and set(fake.indices) == {default.extra["index"], tuned.extra["index"]}
    (create,) = fake.calls("PUT", f"/{tuned.extra['index']}")
    assert create.json()["settings"]["similarity"]["default"] == {"type": "BM25", "k1": 0.9, "b": 0.75}
    # the settings sent drive the scores: the same query scores differently under k1=0.9
    changed = [q for q in ds.queries if default.run[q] != tuned.run[q]]
    assert len(changed) == N_QUERIES


def test_msearch_error_item_names_the_query(ds: Dataset, fake: FakeElasticsearch, tmp_path: Path) -> None:
    qid = list(ds.queries)[27]
    fake.fail_queries = {ds.queries[qid]}
    with pytest.raises(HarnessError, match=f"Elasticsearch query '{qid}' failed: .*search_phase_execution_exception"):
        retrieve(ds, fake, tmp_path)


def test_server_refusing_the_client_version_is_not_called_unreachable(ds: Dataset, tmp_path: Path) -> None:
    from elasticsearch import __versionstr__

    major = int(__versionstr__.split(".")[0])
    with FakeElasticsearch(version=f"{major - 1}.15.0") as old:  # e.g. an 8.x server refuses a 9.x client
        with pytest.raises(HarnessError, match=f"refused the request: HTTP 400 media_type_header_exception; the installed "
                                               f"elasticsearch client {__versionstr__} needs a server of major version {major}"):
            retrieve(ds, old, tmp_path)
        assert [(r.method, r.path) for r in old.requests] == [("GET", "/")]


def test_cli_run_writes_run_and_manifest(ds: Dataset, slice_dir: Path, fake: FakeElasticsearch, tmp_path: Path) -> None:
    r = run_cli("run", "--system", "bm25", "--datasets", SLICE, "--data-dir", str(slice_dir), "--out",
                str(tmp_path / "runs"), "--top-k", str(TOP_K), "--set", "backend=elasticsearch", "--set", f"es_url={fake.url}")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "runs" / "beir" / SLICE / "bm25.trec"
    run = read_run(path)
    assert set(run) == set(ds.queries) and all(0 < len(d) <= TOP_K for d in run.values())
    m = read_manifest(path)
    assert m["settings"]["backend"] == "elasticsearch" and m["settings"]["es_url"] == fake.url
    assert m["models"] == {"bm25": "elasticsearch@9.1.0"} and m["extra"]["server_version"] == "9.1.0"
    assert m["extra"]["index"] in fake.indices and m["n_queries"] == N_QUERIES
    assert fake.calls("POST", "/_msearch") and ndcg10(ds.qrels, run) > 0.8
