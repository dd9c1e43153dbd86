"""BM25: embedded (bm25s, Lucene's BM25 variant) by default; Elasticsearch through the official client.

beir's own Elasticsearch wrapper does not work with the 9.x client, so the Elasticsearch backend talks to the
server directly with ``elasticsearch`` (index settings, bulk indexing, msearch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar



from harness.datasets import Dataset
from harness.errors import SettingsError
from harness.fileio import stable_hash
from harness.progress import progress_iter
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
    batch_size: int = 256

    def validate(self) -> None:
        if self.backend not in ("bm25s", "elasticsearch"):
            raise SettingsError(f"setting 'backend': '{self.backend}' is not one of bm25s, elasticsearch")


class BM25System:
    name: ClassVar[str] = "bm25"
    description: ClassVar[str] = "Lexical BM25 (k1=1.2, b=0.75) over title+text; bm25s or Elasticsearch"
    Settings: ClassVar[type] = BM25Settings

    def retrieve(self, dataset: Dataset, settings: BM25Settings, ctx: RunContext) -> SystemOutput:
        if settings.backend == "elasticsearch":
            from .bm25_elasticsearch import search_elasticsearch

            run, extra = search_elasticsearch(dataset, settings, ctx.top_k)
            return SystemOutput(run=run, models={"bm25": f"elasticsearch@{extra['server_version']}"}, extra=extra)
        return SystemOutput(run=bm25s_search(dataset, settings, ctx.top_k), models={"bm25": "bm25s"})


def _tokenizer_args(settings: BM25Settings) -> dict:
    import Stemmer

    return {
        "stopwords": None if settings.stopwords == "none" else settings.stopwords,
        "stemmer": None if settings.stemmer == "none" else Stemmer.Stemmer(settings.stemmer),
        "show_progress": False,
    }


class BM25Index:
    """An in-memory bm25s index over a corpus, searchable by many query batches (also used as a GPL miner)."""

    def __init__(self, dataset: Dataset, settings: BM25Settings | None = None):
        import bm25s

        self.settings = settings or BM25Settings()
        self.doc_ids = dataset.corpus.ids
        self._tok = _tokenizer_args(self.settings)
        tokens = bm25s.tokenize(dataset.corpus.passages(), **self._tok)
        self.index = bm25s.BM25(method=self.settings.method, k1=self.settings.k1, b=self.settings.b)
        self.index.index(tokens, show_progress=False)

    def search(self, queries: dict[str, str], top_k: int, desc: str = "BM25 search") -> dict[str, dict[str, float]]:
        import bm25s

        k = min(top_k, len(self.doc_ids))
        qids = list(queries)
        run: dict[str, dict[str, float]] = {}
        bs = self.settings.batch_size
        for start in progress_iter(range(0, len(qids), bs), desc=desc, total=(len(qids) + bs - 1) // bs):
            batch = qids[start:start + bs]
            tokens = bm25s.tokenize([queries[q] for q in batch], return_ids=False, **self._tok)
            for qid, toks in zip(batch, tokens):
                if not toks:  # every term was a stopword: nothing can match
                    run[qid] = {}
                    continue
                docs, scores = self.index.retrieve([toks], k=k, show_progress=False, n_threads=1)
                run[qid] = {self.doc_ids[int(i)]: float(s) for i, s in zip(docs[0], scores[0]) if s > 0}
        return run


def bm25s_search(dataset: Dataset, settings: BM25Settings, top_k: int) -> dict[str, dict[str, float]]:
    return BM25Index(dataset, settings).search(dataset.queries, top_k)


def index_name(dataset: Dataset, settings: BM25Settings) -> str:
    key = stable_hash({"corpus": dataset.corpus_fingerprint, "k1": settings.k1, "b": settings.b}, 12)
    return f"{settings.es_index_prefix}-{key}"



