"""The embedded BM25 engine against bm25s itself: same tokens, same scores, batched search = per-query search."""

from __future__ import annotations

import json

import bm25s
import pytest
import Stemmer

import harness.bm25 as engine
from harness.bm25 import BM25Index, BM25Params, Tokenizer

ODD = ["", "a b c", "the and of", "Über-große Zellen_2 x9 ÉTÉ naïve", "CD4+ T-cells (n=12); p<0.05", "tab\tsep\nline",
       "under_score __init__ 3.14 αβγ δ", "ß ǅ İstanbul"]


@pytest.fixture(scope="module")
def scifact(shared_data):
    docs = [json.loads(line) for line in open(shared_data / "scifact" / "corpus.jsonl", encoding="utf-8")][:1500]
    texts = [f"{d['title']} {d['text']}".strip() for d in docs] + ODD
    queries = [json.loads(line)["text"] for line in open(shared_data / "scifact" / "queries.jsonl", encoding="utf-8")]
    return texts, queries[:300] + ODD


def _bm25s_tokens(texts, **kw):
    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False,
                          return_ids=False, **kw)


def test_tokenizer_gives_bm25s_tokens(scifact):
    texts, _ = scifact
    ids, vocab = Tokenizer(BM25Params()).corpus(texts)
    stem = {i: s for s, i in vocab.items()}
    assert [[stem[i] for i in doc] for doc in ids] == _bm25s_tokens(texts)
    ids, vocab = Tokenizer(BM25Params(stemmer="none", stopwords="none")).corpus(texts)
    word = {i: s for s, i in vocab.items()}
    assert [[word[i] for i in doc] for doc in ids] == bm25s.tokenize(texts, stopwords=None, show_progress=False,
                                                                     return_ids=False)


@pytest.mark.parametrize("compiled", [False, True])
def test_search_equals_bm25s_retrieve_per_query(scifact, monkeypatch, compiled):
    monkeypatch.setattr(engine, "NUMBA_MIN_POSTINGS", 0 if compiled else 10**18)
    texts, queries = scifact
    ref = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    ref.index(bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False),
              show_progress=False)
    index = BM25Index(texts)
    assert (index._kernel_for([[0]]) is not None) == compiled
    run = index.search(dict(enumerate(queries)), 100, batch_size=64, n_threads=2)
    empty = 0
    for i, toks in enumerate(_bm25s_tokens(queries)):
        toks = [t for t in toks if t in ref.vocab_dict]
        if not toks:
            assert run[i] == {}
            empty += 1
            continue
        docs, scores = ref.retrieve([toks], k=100, show_progress=False)
        expected = {str(int(d)): float(s) for d, s in zip(docs[0], scores[0]) if s > 0}
        assert run[i] == expected  # the same documents with bit-identical scores
        assert list(run[i].values()) == sorted(run[i].values(), reverse=True)
    assert empty >= 2  # "" and "the and of"


def test_batched_threaded_search_equals_one_query_at_a_time(scifact):
    texts, queries = scifact
    index = BM25Index(texts, doc_ids=[f"d{i}" for i in range(len(texts))])
    batched = index.search(dict(enumerate(queries)), 1000, batch_size=50, n_threads=2)
    single = {i: index.search({i: q}, 1000, n_threads=1)[i] for i, q in enumerate(queries[:60])}
    assert all(batched[i] == single[i] for i in single)
    assert sum(len(v) for v in batched.values()) > 1000 * 50  # most queries fill their top 1000


def test_method_and_doc_ids_are_checked():
    from harness.errors import SettingsError

    with pytest.raises(SettingsError, match="method"):
        BM25Index(["a text"], BM25Params(method="bm26"))
    with pytest.raises(ValueError, match="2 document ids for 1 passages"):
        BM25Index(["a text"], doc_ids=["x", "y"])
