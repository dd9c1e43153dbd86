"""The ``bm25`` system: embedded (``harness.bm25``, bm25s's index, Lucene's BM25 variant) by default; Elasticsearch
through the official client (``harness.bm25_elasticsearch``).

beir's own Elasticsearch wrapper does not work with the 9.x client, so the Elasticsearch backend talks to the
server directly with ``elasticsearch`` (index settings, bulk indexing, msearch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from harness.bm25 import BM25Index, BM25Params
from harness.datasets import Dataset
from harness.errors import SettingsError
from harness.systems import RunContext, SystemOutput


@dataclass
class BM25Settings:
    backend: str = field(default="bm25s", metadata={"help": "bm25s (embedded) or elasticsearch"})
    k1: float = 1.2
    b: float = 0.75
    method: str = field(default="lucene", metadata={"help": "bm25s variant: lucene, robertson, atire, bm25l, bm25+"})
    stemmer: str = field(default="english", metadata={"help": "PyStemmer language, or 'none'"})
    stopwords: str = field(default="en", metadata={"help": "bm25s stopword list, or 'none'"})
    es_url: str = field(default="http://localhost:9200", metadata={"help": "Elasticsearch URL (backend=elasticsearch)"})
    es_index_prefix: str = "harness"
    batch_size: int = field(default=256, metadata={"help": "queries per search batch (Elasticsearch: at most 100)"})

    # speed and where it runs, not the results (harness.provenance)
    RUNTIME_SETTINGS: ClassVar[tuple[str, ...]] = ("batch_size", "es_url", "es_index_prefix")

    def validate(self) -> None:
        if self.backend not in ("bm25s", "elasticsearch"):
            raise SettingsError(f"setting 'backend': '{self.backend}' is not one of bm25s, elasticsearch")
        if self.batch_size < 1:
            raise SettingsError(f"setting 'batch_size': must be >= 1, got {self.batch_size}")
        engine_params(self).validate()


class BM25System:
    name: ClassVar[str] = "bm25"
    description: ClassVar[str] = "Lexical BM25 (k1=1.2, b=0.75) over title+text; bm25s or Elasticsearch"
    Settings: ClassVar[type] = BM25Settings

    def retrieve(self, dataset: Dataset, settings: BM25Settings, ctx: RunContext) -> SystemOutput:
        if settings.backend == "elasticsearch":
            from harness.bm25_elasticsearch import search_elasticsearch

            run, extra = search_elasticsearch(dataset, es_params(settings), ctx.top_k)
            return SystemOutput(run=run, models={"bm25": f"elasticsearch@{extra['server_version']}"}, extra=extra)
        return SystemOutput(run=bm25s_search(dataset, settings, ctx.top_k), models={"bm25": "bm25s"})


def engine_params(settings: BM25Settings) -> BM25Params:
    return BM25Params(k1=settings.k1, b=settings.b, method=settings.method, stemmer=settings.stemmer,
                      stopwords=settings.stopwords)


def es_params(settings: BM25Settings):
    from harness.bm25_elasticsearch import ESParams

    return ESParams(url=settings.es_url, k1=settings.k1, b=settings.b, index_prefix=settings.es_index_prefix,
                    batch_size=max(1, min(settings.batch_size, 100)))


def bm25s_search(dataset: Dataset, settings: BM25Settings, top_k: int) -> dict[str, dict[str, float]]:
    index = BM25Index.from_corpus(dataset.corpus, engine_params(settings))
    return index.search(dataset.queries, top_k, batch_size=settings.batch_size)
