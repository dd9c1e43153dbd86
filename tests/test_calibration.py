"""GPL's label calibration (rescale_range, the loss scale), the offline key-phrase generator and the query statistics.

The references are written here from GPL's code as published (UKPLab/gpl at 322edf7: ``gpl/toolkit/rescale.py``
``rescale_fn`` applied line by line to ``gpl-training-data.tsv``, ``gpl/toolkit/loss.py``
``MarginDistillationLoss``), scalar by scalar, independently of the harness's vectorised code.
"""

from __future__ import annotations

import json
import logging
import math

from pathlib import Path

import numpy as np
import pytest

from gpl_support import base_sets, build, load, read_log


def gpl_rescale_fn(margin, org_min, org_max, new_min, new_max):
    """GPL's ``rescale_fn``, transcribed as a scalar function."""
    if org_max == 0 or org_min == 0:
        pass
    elif margin > 0:
        org_min, new_min = 0, 0
    else:
        org_max, new_max = 0, 0
    return new_min + (margin - org_min) * (new_max - new_min) / (org_max - org_min)


def gpl_rescale_file(margins, new_min, new_max):
    lo, hi = min(margins), max(margins)
    assert lo != hi
    return [gpl_rescale_fn(m, lo, hi, new_min, new_max) for m in margins]


@pytest.mark.parametrize("margins", [
    [2.5, -1.0, 0.3, -0.2, 7.75, 0.0, -3.5],  # both signs: piecewise, 0 stays 0
    [0.0, 1.0, 2.0, 5.0],  # min exactly 0: plain min-max
    [0.5, 1.5, 4.0],  # all positive
    [-4.0, -0.5, -2.0],  # all negative
])
def test_label_rescale_is_gpls_rescale_fn(margins):
    from harness.gpl.labels import rescale_margins

    got = rescale_margins(np.array(margins, dtype=np.float32), -2.0, 2.0)
    want = gpl_rescale_file([float(np.float32(m)) for m in margins], -2.0, 2.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_label_rescale_on_random_teacher_margins_and_its_range():
    from harness.gpl.labels import rescale_margins

    rng = np.random.default_rng(0)
    m = (rng.normal(1.0, 2.0, 5000)).astype(np.float32)
    got = rescale_margins(m, -2.0, 3.0)
    want = gpl_rescale_file(m.tolist(), -2.0, 3.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got.max() == pytest.approx(3.0) and got.min() == pytest.approx(-2.0)
    assert (np.sign(got) == np.sign(m)).all()  # the piecewise map keeps each label's sign


def test_label_rescale_refuses_a_constant_file():
    from harness.errors import HarnessError
    from harness.gpl.labels import rescale_margins

    with pytest.raises(HarnessError, match="no range"):
        rescale_margins(np.ones(4, np.float32), -2, 2)


def test_calibration_settings_validate_and_enter_only_the_training_key():
    from harness.errors import SettingsError

    s = build("gpl", {"label_rescale": "-2,2", "similarity_scale": "4"})
    assert s.label_rescale == [-2.0, 2.0] and s.similarity_scale == 4.0
    assert s.training_key_extras() == {"label_rescale": [-2.0, 2.0], "similarity_scale": 4.0}
    assert build("gpl", {}).training_key_extras() == {}  # GPL's defaults leave the training key as it was
    assert build("gpl", {"similarity_scale_fit": "64"}).training_key_extras() == {"similarity_scale_fit": 64}
    for bad in ({"label_rescale": "2,-2"}, {"label_rescale": "1"}, {"label_rescale": "0,2"},
                {"similarity_scale": "0"}, {"similarity_scale": "nan"}, {"decay_params": "some"},
                {"similarity_scale_fit": "-1"}, {"similarity_scale": "2", "similarity_scale_fit": "8"}):
        with pytest.raises(SettingsError, match=next(iter(bad))):
            build("gpl", bad)


def test_rescale_and_scale_change_training_only_and_rescale_every_round(world, tmp_path):
    """label_rescale: the labels training reads are each round's margins through GPL's formula (the round files keep
    the teacher's raw margins); both settings re-train without re-labelling."""
    from harness.gpl.data import RoundData
    from harness.gpl.labels import Space
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.qgen import load_qgen
    from harness.gpl.workdir import WorkDir

    ds = load(world)
    cache = tmp_path / "cache"
    common = dict(steps=12, checkpoint_every=12, remine_every=6)
    plain = run_pipeline(ds, build("rgpl", base_sets(world, **common)), cache, seed=1)
    rescaled = run_pipeline(ds, build("rgpl", base_sets(world, label_rescale="-2,2", **common)), cache, seed=1)
    scaled = run_pipeline(ds, build("rgpl", base_sets(world, similarity_scale=4, **common)), cache, seed=1)
    for other in (rescaled, scaled):
        assert other.stages["labels"] == plain.stages["labels"] and other.stages["negatives"] == plain.stages["negatives"]
        assert other.stages["train"] != plain.stages["train"]
    work = WorkDir(rescaled.work_dir)
    queries, qrels = load_qgen(rescaled.qgen_dir)
    data = RoundData(work, Space(list(qrels), queries, ds.corpus), 6, 8, [-2.0, 2.0])
    for r in work.rounds():  # round 0 and the re-mined round 6, each rescaled over its own margins
        raw = r.tuples()["margin"]
        want = gpl_rescale_file(raw.tolist(), -2.0, 2.0)
        got = [row["label"] for step in range(r.step, r.step + 6) for row in data.batch(step)[0]]
        np.testing.assert_allclose(got, np.float32(want), rtol=0, atol=1e-6)
        assert max(got) == pytest.approx(2.0, abs=1e-6) or min(got) == pytest.approx(-2.0, abs=1e-6)
    # the loss really differs: the scaled and rescaled students fit other targets than the plain one
    first = [read_log(x.work_dir)[0]["loss"] for x in (plain, rescaled, scaled)]
    assert len({round(v, 6) for v in first}) == 3


def test_fitted_similarity_scale_is_the_least_squares_fit_of_the_labels(world, tmp_path):
    """similarity_scale_fit=N: the scale is argmin_c sum (c*m - y)^2 over round 0's first N tuples, m the untrained
    student's margins (encoded here with sentence-transformers directly) and y the labels; it is recorded, trains
    with that scale, and a second run finds the same value."""
    from sentence_transformers import SentenceTransformer

    from harness.gpl.data import RoundData
    from harness.gpl.labels import Space
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.qgen import load_qgen
    from harness.gpl.workdir import WorkDir

    ds = load(world)
    # as the offline preset: the student's own cosine + BM25 as teacher, so the fit is positive (a random
    # cross-encoder's labels could fit a negative scale: the next test)
    like_offline = dict(teacher_kind="hybrid", teacher=world["student"], teacher_score_function="cos",
                        teacher_bm25_weight=0.05, score_function="cos")
    res = run_pipeline(ds, build("gpl", base_sets(world, steps=6, checkpoint_every=6, similarity_scale_fit=20,
                                                  **like_offline)), tmp_path / "cache", seed=1)
    fit = json.loads((Path(res.work_dir) / "training.json").read_text())["similarity_scale_fit"]
    assert fit["n_tuples"] == 20
    queries, qrels = load_qgen(res.qgen_dir)
    rows = [row for step in range(3) for row in RoundData(WorkDir(res.work_dir), Space(list(qrels), queries, ds.corpus),
                                                          0, 8).batch(step)[0]][:20]
    model = SentenceTransformer(world["student"], device="cpu")
    model.max_seq_length = 64
    e = {k: model.encode([r[k] for r in rows], convert_to_numpy=True, normalize_embeddings=True)
         for k in ("query", "positive", "negative")}
    m = ((e["query"] * e["positive"]).sum(1) - (e["query"] * e["negative"]).sum(1)).astype(np.float64)
    y = np.array([r["label"] for r in rows])
    want = float(np.linalg.lstsq(m[:, None], y, rcond=None)[0][0])
    assert fit["fitted"] == pytest.approx(want, rel=1e-3) and fit["scale"] == fit["fitted"] > 0
    assert fit["mse_at_scale"] <= fit["mse_at_1"]
    fixed = run_pipeline(ds, build("gpl", base_sets(world, steps=6, checkpoint_every=6, similarity_scale=fit["scale"],
                                                    **like_offline)), tmp_path / "cache", seed=1)
    assert read_log(fixed.work_dir)[0]["loss"] == pytest.approx(read_log(res.work_dir)[0]["loss"], rel=1e-3)
    # R-GPL: the fit reads round 0 only, which exists before training starts (3 steps x 8 here, fewer than asked)
    r = run_pipeline(ds, build("rgpl", base_sets(world, steps=6, checkpoint_every=6, remine_every=3,
                                                  similarity_scale_fit=100, **like_offline)), tmp_path / "cache", seed=1)
    assert json.loads((Path(r.work_dir) / "training.json").read_text())["similarity_scale_fit"]["n_tuples"] == 24


def test_similarity_scale_is_gpls_loss_scale(world):
    """MarginMSE with similarity_scale = GPL's MarginDistillationLoss(scale): MSE(scale*(s(q,p) - s(q,n)), label)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss
    from sentence_transformers.util import pairwise_dot_score

    from harness.dense import load_encoder
    from harness.gpl.training import ScaledSimilarity

    model = load_encoder(world["student"], device="cpu")
    texts = (["tumor growth", "vitamin d"], ["tumor cells grow fast", "vitamin d and bones"],
             ["plants need light", "stars are hot"])
    labels = torch.tensor([1.5, -0.25])
    feats = [model.tokenize(list(t)) for t in texts]
    with torch.no_grad():
        e = [model(f)["sentence_embedding"] for f in feats]
        want = float(((3.0 * ((e[0] * e[1]).sum(-1) - (e[0] * e[2]).sum(-1)) - labels) ** 2).mean())
        got = float(MarginMSELoss(model, similarity_fct=ScaledSimilarity(pairwise_dot_score, 3.0))(feats, labels))
    assert got == pytest.approx(want, rel=1e-5)


def test_gpls_warnings_for_cosine_students(caplog):
    from harness.gpl.training import warn_calibration

    class Normalize(torch_module()):
        pass

    normalized = seq(torch_module()(), Normalize())
    plain = seq(torch_module()())
    cases = [({}, normalized, "not rescaled"), ({"score_function": "cos"}, plain, "not rescaled"),
             ({"label_rescale": "-2,2"}, plain, "dot-product"), ({"label_rescale": "-2,2"}, normalized, None),
             ({"similarity_scale": "4"}, normalized, None), ({}, plain, None)]
    for sets, model, expect in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="harness"):
            warn_calibration(build("gpl", sets), model)
        text = " ".join(r.getMessage() for r in caplog.records)
        assert (expect in text) if expect else not text, (sets, text)


def torch_module():
    import torch

    return torch.nn.Module


def seq(*mods):
    import torch

    return torch.nn.Sequential(*mods)


# ------------------------------------------------------------------------------------------- offline generators
PASSAGE = ("Vitamin D deficiency is common in patients with chronic kidney disease. We measured serum vitamin D "
           "levels in 312 dialysis patients and found that low vitamin D predicted cardiovascular mortality. "
           "Supplementation with cholecalciferol restored serum levels within twelve weeks.")


def test_keyphrase_generator_writes_short_queries_of_the_passages_key_phrases():
    from harness.gpl.qgen import KeyphraseGenerator

    gen = KeyphraseGenerator()
    phrases = gen.phrases(PASSAGE)
    assert phrases and all(p.lower() in PASSAGE.lower() for p in phrases)
    (queries,) = gen.generate([PASSAGE], 5, seed=3)
    assert len(queries) == 5 == len(set(queries))
    words = {w.lower() for p in phrases for w in p.split()}
    for q in queries:
        ws = q.split()
        assert 1 <= len(ws) <= 9 and {w.lower() for w in ws} <= words  # built from key-phrase words only
        assert len({w.lower() for w in ws}) == len(ws)  # no word twice
    assert sum(q.lower() not in PASSAGE.lower() for q in queries) >= 3  # mostly not copied spans
    assert gen.generate([PASSAGE], 5, seed=3) == [queries]  # seeded
    assert gen.generate([PASSAGE], 5, seed=4) != [queries]
    assert gen.generate([""], 3, seed=1) == [[]]


def test_offline_is_the_older_name_of_the_span_generator():
    from harness.errors import SettingsError

    assert build("gpl", {"generator": "offline"}).generator == "offline-span"
    assert build("gpl", {"generator": "offline-keyphrase"}).generator == "offline-keyphrase"
    with pytest.raises(SettingsError, match="generator"):
        build("gpl", {"generator": "offline-typo"})


def test_query_stats_against_a_brute_force_count(world):
    from harness.bm25 import BM25Index
    from harness.gpl.qgen import doc_text, query_stats

    ds = load(world)
    c = ds.corpus
    queries = {"a": doc_text(c, 0).split(".")[0], "b": "zebra quantum " + c.titles[1], "c": "nothing matches xyzzy",
               "d": " ".join(doc_text(c, 2).upper().split()[:6])}
    qrels = {"a": [c.ids[0]], "b": [c.ids[1]], "c": [c.ids[2]], "d": [c.ids[2]], "e": [c.ids[3]]}
    got = query_stats(queries, qrels, c)
    assert got["n_queries"] == 4 and got["rank1_sample"] == 4
    assert got["words_per_query"] == pytest.approx(np.mean([len(q.split()) for q in queries.values()]))
    assert got["verbatim_in_positive"] == pytest.approx(0.5)  # a (a sentence) and d (case-folded) are copies
    index = BM25Index(c.passages())
    best = {q: int(np.argmax(index.scores(index.tokenizer.queries([t], index.vocab)[0]))) for q, t in queries.items()}
    hits = [bool(index.tokenizer.queries([queries[q]], index.vocab)[0]) and c.ids[best[q]] in qrels[q] for q in queries]
    assert got["bm25_rank1_positive"] == pytest.approx(np.mean(hits))


def test_the_run_records_and_prints_the_query_statistics(world, tmp_path, caplog):
    from harness.gpl.pipeline import run_pipeline

    with caplog.at_level(logging.INFO, logger="harness"):
        res = run_pipeline(load(world), build("gpl", base_sets(world, generator="offline-keyphrase", steps=2,
                                                               checkpoint_every=2)), tmp_path / "c", seed=1)
    st = res.query_stats
    assert st["n_queries"] > 0 and 0 <= st["verbatim_in_positive"] <= 1 and not math.isnan(st["words_per_query"])
    assert any("words per query" in r.getMessage() for r in caplog.records)


def test_train_max_seq_length_cuts_training_only(world, tmp_path):
    """Training steps see train_max_seq_length tokens; re-mining, the saved model and retrieval keep max_seq_length."""
    from harness.dense import load_encoder, model_fingerprint
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.workdir import WorkDir

    ds = load(world)
    common = dict(steps=8, checkpoint_every=4, remine_every=4, max_seq_length=64)
    full = run_pipeline(ds, build("rgpl", base_sets(world, **common)), tmp_path / "c", seed=1)
    short = run_pipeline(ds, build("rgpl", base_sets(world, train_max_seq_length=16, **common)), tmp_path / "c", seed=1)
    assert short.stages["labels"] == full.stages["labels"] and short.stages["train"] != full.stages["train"]
    assert read_log(short.work_dir)[0]["loss"] != read_log(full.work_dir)[0]["loss"]
    assert load_encoder(str(short.model_dir), device="cpu").max_seq_length == 64
    work = WorkDir(short.work_dir)
    at4 = load_encoder(str(work.checkpoint_model(4)), device="cpu", max_seq_length=64)
    assert work.round(4).manifest()["checkpoint_fingerprint"] == model_fingerprint(at4)  # re-mined at length 64
    assert build("gpl", {"train_max_seq_length": "350"}).training_key_extras() == {}  # = max_seq_length: GPL's


def test_a_scale_fit_that_is_not_positive_trains_with_scale_1(caplog, monkeypatch):
    """A student whose untrained margins order the tuples against the labels gets scale 1 and a warning, not a
    negative scale (which would train it to invert the labels)."""
    from harness.gpl.training import fit_similarity_scale

    class Rounds:
        remine_every = 0  # GPL: one round

        def batch(self, step):
            if step > 0:
                raise RuntimeError("past round 0")
            rows = [{"query": "alpha", "positive": "alpha beta", "negative": "gamma delta", "label": -1.0},
                    {"query": "gamma", "positive": "gamma delta", "negative": "alpha beta", "label": -0.5}]
            return rows, None, 0

    class Model:  # bag of two words: alpha-ish vs gamma-ish, so q.p > q.n for both tuples
        def encode(self, texts, **kw):
            return np.array([[1.0, 0.0] if "alpha" in t.split()[0] else [0.0, 1.0] for t in texts], dtype=np.float32)

    monkeypatch.setattr("harness.dense.encode_texts", lambda model, texts, **kw: model.encode(texts))
    with caplog.at_level(logging.WARNING):
        fit = fit_similarity_scale(Model(), Rounds(), 8, "dot")
    assert fit["fitted"] < 0 and fit["scale"] == 1.0 and fit["n_tuples"] == 2
    assert "not positive" in caplog.text
