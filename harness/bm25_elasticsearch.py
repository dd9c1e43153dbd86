"""BM25 through a real Elasticsearch server with the official client (8.x or 9.x).

The similarity is set explicitly in the index settings (BM25, k1/b from the settings), title+text are indexed
as one field with the ``english`` analyzer, documents go in with ``helpers.bulk`` and queries with ``msearch``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .datasets import Dataset
from .errors import HarnessError
from .fileio import stable_hash
from .progress import progress_iter


@dataclass(frozen=True)
class ESParams:
    """Where the server is and what decides the index (the ``english`` analyzer is fixed)."""

    url: str = "http://localhost:9200"
    k1: float = 1.2
    b: float = 0.75
    index_prefix: str = "harness"
    batch_size: int = 100


def index_name(dataset: Dataset, params: ESParams) -> str:
    key = stable_hash({"corpus": dataset.corpus_fingerprint, "k1": params.k1, "b": params.b}, 12)
    return f"{params.index_prefix}-{key}"


def _client(url: str):
    try:
        from elasticsearch import ApiError, Elasticsearch, __versionstr__
    except ImportError as e:  # pragma: no cover - it is a declared dependency
        raise HarnessError(f"backend=elasticsearch needs the 'elasticsearch' package ({e})") from None
    es = Elasticsearch(url, request_timeout=60, retry_on_timeout=True, max_retries=2)
    try:
        info = es.info()
    except ApiError as e:  # reachable, but it refused the request (e.g. a 9.x client against an 8.x server)
        major = __versionstr__.split(".")[0]
        hint = (f"; the installed elasticsearch client {__versionstr__} needs a server of major version {major} or later"
                if e.message == "media_type_header_exception" else "")
        raise HarnessError(f"Elasticsearch at {url} (setting es_url) refused the request: "
                           f"HTTP {e.status_code} {e.message}{hint}") from None
    except Exception as e:
        raise HarnessError(f"Elasticsearch at {url} (setting es_url) is unreachable: {type(e).__name__}") from None
    return es, info["version"]["number"]


def index_settings(settings: ESParams) -> dict:
    return {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "similarity": {"default": {"type": "BM25", "k1": settings.k1, "b": settings.b}},
        },
        "mappings": {"properties": {"contents": {"type": "text", "analyzer": "english"}}},
    }


def ensure_index(es, dataset: Dataset, settings: ESParams) -> str:
    from elasticsearch import helpers

    name = index_name(dataset, settings)
    if es.indices.exists(index=name):
        if es.count(index=name)["count"] == len(dataset.corpus):
            return name
        es.indices.delete(index=name)  # a partial index from a killed run
    es.indices.create(index=name, **index_settings(settings))
    corpus = dataset.corpus
    actions = ({"_index": name, "_id": corpus.ids[i], "_source": {"contents": corpus.passage(i)}} for i in range(len(corpus)))
    for _ in progress_iter(helpers.streaming_bulk(es, actions, chunk_size=1000, raise_on_error=True),
                           desc="Elasticsearch indexing", total=len(corpus)):
        pass
    es.indices.refresh(index=name)
    return name


def search_elasticsearch(dataset: Dataset, settings: ESParams, top_k: int) -> tuple[dict, dict]:
    es, version = _client(settings.url)
    name = ensure_index(es, dataset, settings)
    qids = list(dataset.queries)
    run: dict[str, dict[str, float]] = {}
    size = min(top_k, 10000)
    bs = max(1, min(settings.batch_size, 100))
    for start in progress_iter(range(0, len(qids), bs), desc="Elasticsearch msearch", total=(len(qids) + bs - 1) // bs):
        batch = qids[start:start + bs]
        searches = []
        for q in batch:
            searches.append({"index": name})
            searches.append({"size": size, "_source": False,
                             "query": {"match": {"contents": {"query": dataset.queries[q]}}}})
        resp = es.msearch(searches=searches)
        for qid, r in zip(batch, resp["responses"]):
            if "error" in r:
                raise HarnessError(f"Elasticsearch query '{qid}' failed: {r['error']}")
            run[qid] = {h["_id"]: float(h["_score"]) for h in r["hits"]["hits"]}
    return run, {"server_version": version, "index": name}
