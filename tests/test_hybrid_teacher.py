"""The offline preset's hybrid teacher: frozen bi-encoder similarity + weight x Lucene BM25, checked against bm25s
and the bi-encoder computed independently."""

from __future__ import annotations

import numpy as np
import pytest

from fixtures import LOTTE_PASSAGES
from tiny_models import build_tiny_bert_encoder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return build_tiny_bert_encoder(tmp_path_factory.mktemp("hybrid") / "enc", LOTTE_PASSAGES, seed=5)


def test_pair_scores_are_cosine_plus_weighted_bm25(encoder):
    import bm25s
    import Stemmer
    from sentence_transformers import SentenceTransformer

    from harness.gpl.teacher import load_teacher

    t = load_teacher("hybrid", encoder, device="cpu", max_seq_length=64, score_function="cos", bm25_weight=0.3,
                     corpus_passages=LOTTE_PASSAGES)
    queries = ["cast iron rust skillet", "sourdough starter travel", "cast iron rust skillet", "the of and"]
    passages = [LOTTE_PASSAGES[2], LOTTE_PASSAGES[0], LOTTE_PASSAGES[3], LOTTE_PASSAGES[5]]
    got = t.score(queries, passages)

    # independent references: bm25s's own tokenizer and scorer, the encoder's own cosine
    tok = {"stopwords": "en", "stemmer": Stemmer.Stemmer("english"), "show_progress": False}
    ref = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    ref.index(bm25s.tokenize(LOTTE_PASSAGES, **tok), show_progress=False)
    lexical = []
    for q, p in zip(queries, passages):
        words = [w for w in bm25s.tokenize([q], return_ids=False, **tok)[0] if w in ref.vocab_dict]
        lexical.append(ref.get_scores(words)[LOTTE_PASSAGES.index(p)] if words else 0.0)
    model = SentenceTransformer(encoder, device="cpu")
    model.max_seq_length = 64
    qe = model.encode(queries, normalize_embeddings=True)
    pe = model.encode(passages, normalize_embeddings=True)
    want = (qe * pe).sum(1) + 0.3 * np.array(lexical)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert lexical[0] > 0 and lexical[3] == 0  # the lexical term is really there (and 0 for stop words only)
    assert got[0] != pytest.approx(t.dense.score(queries[:1], passages[:1])[0])


def test_hybrid_teacher_errors(encoder):
    from harness.errors import HarnessError, SettingsError
    from harness.gpl.settings import GPLSettings
    from harness.gpl.teacher import load_teacher
    from harness.systems import build_settings

    t = load_teacher("hybrid", encoder, device="cpu", corpus_passages=LOTTE_PASSAGES, bm25_weight=0.1)
    with pytest.raises(HarnessError, match="not in its corpus"):
        t.score(["q"], ["a passage that is not in the corpus"])
    with pytest.raises(HarnessError, match="needs the corpus"):
        load_teacher("hybrid", encoder, device="cpu")
    # given the dataset's corpus instead (as the pipeline and the figures do), it indexes the same texts
    from harness.datasets import Corpus

    corpus = Corpus(ids=[str(i) for i in range(len(LOTTE_PASSAGES))], titles=[""] * len(LOTTE_PASSAGES),
                    texts=LOTTE_PASSAGES)
    from_corpus = load_teacher("hybrid", encoder, corpus=corpus, device="cpu", bm25_weight=0.1)
    pairs = (["cast iron rust", "drain vinegar"], [LOTTE_PASSAGES[2], LOTTE_PASSAGES[7]])
    np.testing.assert_array_equal(from_corpus.bm25_scores(*pairs), t.bm25_scores(*pairs))
    with pytest.raises(SettingsError, match="teacher_bm25_weight"):
        build_settings(GPLSettings, {"teacher_kind": "hybrid", "teacher_bm25_weight": "0"})


def test_offline_preset_teacher_is_not_the_student():
    from harness.gpl.settings import GPLSettings, RGPLSettings
    from harness.systems import build_settings

    for cls in (GPLSettings, RGPLSettings):
        s = build_settings(cls, {}, preset="offline")
        assert s.teacher_kind == "hybrid" and s.teacher_bm25_weight > 0  # adds BM25: not the student's own scores
        assert vars(build_settings(cls, {}, preset="cpu")) == vars(s)  # the older name is an alias
    r = build_settings(RGPLSettings, {}, preset="offline")
    assert 0 < r.remine_every < r.steps  # the preset re-mines at least once
