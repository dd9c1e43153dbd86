"""The embedded BM25 engine (bm25s's index, Lucene's BM25 variant by default), used by the ``bm25`` system and by
GPL's BM25 negative miner.

Indexing tokenises like ``bm25s.tokenize`` (lower case, the regex ``(?u)\\b\\w\\w+\\b``, stopwords removed, each
distinct word stemmed once with PyStemmer) but maps tokens to ids in C-level loops, then hands the ids to
``bm25s.BM25.index``: the same tokens, the same index, the same scores, in about a third of bm25s's tokenising time.

Search scores a whole batch of queries from token ids on a thread pool. A query's scores are accumulated term by
term in float32 in the query's token order, exactly as bm25s's own numpy backend does, and its top ``k`` are
selected with the same ``argpartition``, so a batched search returns what a per-query ``BM25.retrieve`` returns.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import SettingsError

TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # bm25s's (and scikit-learn's CountVectorizer's) default
# bytes.translate table: ASCII word characters (what the regex's \\w matches) stay, everything else becomes a space
_ASCII_NON_WORD_TO_SPACE = bytes(c if chr(c).isalnum() or c == 95 else 32 for c in range(128)) + b" " * 128
METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


@dataclass(frozen=True)
class BM25Params:
    """What decides the index and its scores."""

    k1: float = 1.2
    b: float = 0.75
    method: str = "lucene"
    stemmer: str = "english"  # PyStemmer language, or "none"
    stopwords: str = "en"  # bm25s stopword list, or "none"

    def validate(self) -> None:
        if self.method not in METHODS:
            raise SettingsError(f"setting 'method': '{self.method}' is not one of {', '.join(METHODS)}")


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Tokenizer:
    """``bm25s.tokenize``'s tokens (as stems), with a vocabulary of stems that later texts extend or look up."""

    def __init__(self, params: BM25Params):
        import Stemmer
        from bm25s.tokenization import _infer_stopwords

        self._split = re.compile(r"\w\w+").findall  # = TOKEN_PATTERN: a maximal run of 2+ word characters
        self._stopwords = frozenset(_infer_stopwords(None if params.stopwords == "none" else params.stopwords))
        self._stem = Stemmer.Stemmer(params.stemmer).stemWords if params.stemmer != "none" else None

    def _words(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Distinct words (single characters included: :meth:`_stems` drops them), every text's word ids
        concatenated, and the texts' lengths in words. An ASCII text is split with ``bytes.translate`` (word
        characters kept, the rest turned into spaces), which finds exactly the regex's runs of word characters."""
        words: defaultdict = defaultdict()
        words.default_factory = words.__len__  # a new word gets the next id
        get, split, table = words.__getitem__, self._split, _ASCII_NON_WORD_TO_SPACE
        flat: list[int] = []
        extend, lengths = flat.extend, []
        for text in texts:
            low = text.lower()
            toks = low.encode().translate(table).split() if low.isascii() else split(low)
            extend(map(get, toks))
            lengths.append(len(toks))
        distinct = [w.decode() if isinstance(w, bytes) else w for w in words]
        return distinct, np.asarray(flat, dtype=np.int64), np.asarray(lengths, dtype=np.int64)

    def _stems(self, words: list[str]) -> list[str | None]:
        """Each word's stem, or None for a stopword or a single character (the regex needs two)."""
        drop = [len(w) < 2 or w in self._stopwords for w in words]
        keep = [w for w, d in zip(words, drop) if not d]
        stems = iter(self._stem(keep) if self._stem else keep)
        return [None if d else next(stems) for d in drop]

    def corpus(self, texts: Sequence[str]) -> tuple[list[list[int]], dict[str, int]]:
        """Token ids per text and the stem vocabulary (what ``bm25s.BM25.index`` takes)."""
        words, flat, lengths = self._words(texts)
        vocab: dict[str, int] = {}
        stem_of = np.array([-1 if s is None else vocab.setdefault(s, len(vocab)) for s in self._stems(words)],
                           dtype=np.int64)
        mapped = stem_of[flat]
        keep = mapped >= 0
        doc_lengths = np.add.reduceat(keep, np.r_[0, np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
        doc_lengths[lengths == 0] = 0  # reduceat repeats the next element for an empty segment
        ids = mapped[keep].tolist()
        bounds = np.r_[0, np.cumsum(doc_lengths)].tolist()
        return [ids[bounds[i]:bounds[i + 1]] for i in range(len(texts))], vocab

    def queries(self, texts: Sequence[str], vocab: dict[str, int]) -> list[list[int]]:
        """Token ids per query (in the query's order); words outside the vocabulary are dropped."""
        words, flat, lengths = self._words(texts)
        stem_of = np.array([-1 if s is None else vocab.get(s, -1) for s in self._stems(words)], dtype=np.int64)
        mapped = stem_of[flat].tolist()
        out, pos = [], 0
        for n in lengths.tolist():
            out.append([t for t in mapped[pos:pos + n] if t >= 0])
            pos += n
        return out


NUMBA_MIN_POSTINGS = 0  # postings a batch must touch before the compiled loop is used (0: always, when numba is there)
_KERNEL = []


def _accumulate(data, indices, indptr, toks, out):  # pragma: no cover - runs compiled
    for t in toks:
        for j in range(indptr[t], indptr[t + 1]):
            out[indices[j]] += data[j]


def _accumulate_kernel():
    """``_accumulate`` compiled with numba (cached on disk), or None when numba is not available."""
    if not _KERNEL:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba comes with ranx and bm25s's extras
            _KERNEL.append(None)
        else:
            try:
                _KERNEL.append(numba.njit(nogil=True, cache=True)(_accumulate))
            except Exception:  # pragma: no cover - no writable cache location
                _KERNEL.append(numba.njit(nogil=True)(_accumulate))
    return _KERNEL[0]


class BM25Index:
    """An in-memory bm25s index over passages, searchable by many query batches."""

    def __init__(self, passages: Sequence[str], params: BM25Params | None = None, doc_ids: Sequence[str] | None = None):
        import bm25s

        self.params = params or BM25Params()
        self.params.validate()
        self.doc_ids = list(doc_ids) if doc_ids is not None else [str(i) for i in range(len(passages))]
        if len(self.doc_ids) != len(passages):
            raise ValueError(f"{len(self.doc_ids)} document ids for {len(passages)} passages")
        self.tokenizer = Tokenizer(self.params)
        ids, vocab = self.tokenizer.corpus(passages)
        self.index = bm25s.BM25(method=self.params.method, k1=self.params.k1, b=self.params.b)
        self.index.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
        self.vocab = vocab  # bm25s keeps the vocabulary it was given

    @classmethod
    def from_corpus(cls, corpus, params: BM25Params | None = None) -> "BM25Index":
        """From a :class:`harness.datasets.Corpus` (title and text joined, as BEIR's BM25 sees a document)."""
        return cls(corpus.passages(), params, doc_ids=corpus.ids)

    def __len__(self) -> int:
        return len(self.doc_ids)

    def scores(self, token_ids: Sequence[int], kernel=None) -> np.ndarray:
        """float32 scores of every document for one query, summed term by term in the query's order (bm25s's
        order, so the sums are bit-identical to ``BM25.get_scores``)."""
        sc = self.index.scores
        data, indices, indptr = sc["data"], sc["indices"], sc["indptr"]
        out = np.zeros(sc["num_docs"], dtype=self.index.dtype)
        toks = np.asarray(token_ids, dtype=np.int64)
        if kernel is not None:
            kernel(data, indices, indptr, toks, out)
        elif len(toks):
            starts, ends = indptr[toks], indptr[toks + 1]
            np.add.at(out, np.concatenate([indices[a:b] for a, b in zip(starts, ends)]),
                      np.concatenate([data[a:b] for a, b in zip(starts, ends)]))
        if self.index.nonoccurrence_array is not None:
            out += self.index.nonoccurrence_array[toks].sum()
        return out

    def _kernel_for(self, token_ids: Sequence[list[int]]):
        """The compiled accumulation loop when the batch touches enough postings to repay loading it."""
        if NUMBA_MIN_POSTINGS <= 0:
            return _accumulate_kernel()
        indptr = self.index.scores["indptr"]
        work = sum(int((indptr[np.asarray(t, dtype=np.int64) + 1] - indptr[np.asarray(t, dtype=np.int64)]).sum())
                   for t in token_ids if t)
        return _accumulate_kernel() if work >= NUMBA_MIN_POSTINGS else None

    def _top(self, token_ids: list[int], k: int, kernel=None) -> tuple[np.ndarray, np.ndarray]:
        if not token_ids:  # every word a stopword or unknown: nothing matches
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores = self.scores(token_ids, kernel)
        n = scores.shape[0]
        top = np.argpartition(scores, -k)[-k:] if k < n else np.arange(n)
        top_scores = scores[top]
        order = np.flip(np.argsort(top_scores))  # bm25s's order
        top, top_scores = top[order], top_scores[order]
        keep = top_scores > 0
        return top_scores[keep], top[keep]

    def search_ids(self, token_ids: Sequence[list[int]], top_k: int,
                   n_threads: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(scores, document indices) per query, best first, documents with a positive score only."""
        k = min(top_k, len(self.doc_ids))
        n_threads = default_threads() if n_threads is None else max(1, n_threads)
        kernel = self._kernel_for(token_ids)
        if n_threads == 1 or len(token_ids) < 2:
            return [self._top(t, k, kernel) for t in token_ids]
        with ThreadPoolExecutor(max_workers=n_threads) as pool:  # the kernel and argpartition release the GIL
            return list(pool.map(lambda t: self._top(t, k, kernel), token_ids, chunksize=16))

    def search(self, queries: dict[str, str], top_k: int, desc: str = "BM25 search", batch_size: int = 1024,
               n_threads: int | None = None) -> dict[str, dict[str, float]]:
        """qid -> {docid: score} for documents with a positive score, at most ``top_k`` per query."""
        from .progress import progress_iter

        qids = list(queries)
        run: dict[str, dict[str, float]] = {}
        ids = np.asarray(self.doc_ids, dtype=object)
        for start in progress_iter(range(0, len(qids), batch_size), desc=desc,
                                   total=(len(qids) + batch_size - 1) // batch_size):
            batch = qids[start:start + batch_size]
            tokens = self.tokenizer.queries([queries[q] for q in batch], self.vocab)
            for qid, (scores, docs) in zip(batch, self.search_ids(tokens, top_k, n_threads)):
                run[qid] = dict(zip(ids[docs].tolist(), scores.tolist()))
        return run
