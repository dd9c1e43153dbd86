"""GPL's data stages on a SciFact slice with tiny real models: generation, mining, teacher, labels, caching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gpl_support import base_sets, build, load
from harness.gpl import labels as L
from harness.gpl.mining import mine_bm25, run_miner, sub_corpus
from harness.gpl.qgen import run_qgen, sample_passages
from harness.gpl.settings import generation_plan
from harness.fileio import read_jsonl
from harness.gpl.stages import Stage
from harness.gpl.workdir import Negatives, QueryNegatives, Round, WorkDir
from harness.gpl.teacher import load_teacher

pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread while training


def test_generation_plan_follows_gpl():
    # GPL: new_size=-1 caps the corpus at ceil(250k/3); queries_per_passage=-1 fills ~250k queries
    assert generation_plan(5183, -1, -1, 250_000) == (5183, math.ceil(250_000 / 5183))
    assert generation_plan(2_000_000, -1, -1, 250_000) == (83_334, 3)
    assert generation_plan(2_000_000, 3, 0, 250_000) == (2_000_000, 3)
    assert generation_plan(5183, 3, 100, 250_000) == (100, 3)
    idx = sample_passages(1000, 100, seed=1)
    assert len(set(idx.tolist())) == 100 and list(idx) == sorted(idx) and idx.max() < 1000
    assert (sample_passages(1000, 100, seed=1) == idx).all() and not (sample_passages(1000, 100, seed=2) == idx).all()


def test_t5_generation_queries_per_passage_and_resume(world, tmp_path):
    ds = load(world)
    s = build("gpl", base_sets(world, generator=world["t5"], qgen_max_length=12, qgen_max_input_length=64))
    idx = np.arange(40)
    stage = Stage(tmp_path, "qgen", {"t": 1})
    run_qgen(stage, ds.corpus, idx, 3, s, seed=7)
    info = stage.info()
    assert info["n_generated"] == 3 * 40  # the generator was asked for 3 per passage
    queries = {r["_id"]: r["text"] for _, r in read_jsonl(stage.dir / "qgen-queries.jsonl")}
    lines = (stage.dir / "qgen-qrels" / "train.tsv").read_text().splitlines()
    assert lines[0] == "query-id\tcorpus-id\tscore"
    per_passage: dict[str, list[str]] = {}
    for line in lines[1:]:
        q, d, score = line.split("\t")
        assert score == "1" and q in queries
        per_passage.setdefault(d, []).append(queries[q])
    assert set(per_passage) == {ds.corpus.ids[i] for i in idx}
    for qs in per_passage.values():  # up to 3, duplicates of one passage dropped (BEIR's QueryGenerator)
        assert 1 <= len(qs) <= 3 and len(set(qs)) == len(qs)
    assert sum(len(v) for v in per_passage.values()) == len(queries) == info["n_queries"]
    assert list(queries) == [f"genQ{i}" for i in range(1, len(queries) + 1)]
    # resumable and deterministic: drop the result and the only part, regenerate -> identical file
    before = (stage.dir / "qgen-queries.jsonl").read_text()
    again = Stage(tmp_path / "again", "qgen", {"t": 1})
    run_qgen(again, ds.corpus, idx, 3, s, seed=7)
    assert (again.dir / "qgen-queries.jsonl").read_text() == before
    (stage.dir / "stage.json").unlink()
    run_qgen(stage, ds.corpus, idx, 3, s, seed=7)  # parts reused
    assert (stage.dir / "qgen-queries.jsonl").read_text() == before


def test_offline_generator_draws_spans_of_the_passage(world, tmp_path):
    ds = load(world)
    s = build("gpl", base_sets(world, generator="offline"))
    stage = Stage(tmp_path, "qgen", {"t": 2})
    run_qgen(stage, ds.corpus, np.arange(len(ds.corpus)), 3, s, seed=1)
    from harness.gpl.qgen import load_qgen

    queries, qrels = load_qgen(stage.dir)
    per: dict[str, list[str]] = {}
    for q, (d,) in qrels.items():
        per.setdefault(d, []).append(queries[q])
    for i, d in enumerate(ds.corpus.ids):
        words = (ds.corpus.titles[i] + " " + ds.corpus.texts[i]).split()
        if len(words) >= 40:
            assert len(per[d]) == 3
        for q in per.get(d, []):
            assert " ".join(words).find(q) >= 0  # a contiguous span of the passage


def _tiny_qgen(world, tmp_path, ds, s):
    stage = Stage(tmp_path, "qgen", {"t": 3})
    run_qgen(stage, ds.corpus, np.arange(len(ds.corpus)), 2, s, seed=3)
    from harness.gpl.qgen import load_qgen

    return load_qgen(stage.dir)


def test_mining_takes_each_miners_top50_and_drops_positives(world, tmp_path):
    from harness.dense import dense_retrieve, load_encoder

    ds = load(world)
    s = build("gpl", base_sets(world))
    queries, qrels = _tiny_qgen(world, tmp_path, ds, s)
    st = Stage(tmp_path, "mine", {"m": 1})
    run_miner(st, world["miner"], "cos", ds.corpus, ds.corpus_fingerprint, queries, qrels, s, tmp_path / "emb")
    mined = {r["qid"]: r["neg"] for _, r in read_jsonl(st.dir / "negatives.jsonl")}
    model = load_encoder(world["miner"], device="cpu")
    top = dense_retrieve(model, ds.corpus, queries, top_k=50, score_function="cos")
    bm25 = mine_bm25(ds.corpus, queries, qrels, 50)
    from harness.bm25 import BM25Index

    bm25_top = BM25Index.from_corpus(ds.corpus).search(queries, 50)
    dropped = 0
    for q, pos in qrels.items():
        ranked = sorted(top[q], key=lambda d: -top[q][d])
        assert mined[q] == [d for d in ranked if d not in pos]
        assert not set(mined[q]) & set(pos) and not set(bm25[q]) & set(pos)
        assert set(bm25[q]) <= set(bm25_top[q]) and len(bm25[q]) >= len(bm25_top[q]) - len(pos)
        dropped += len(mined[q]) < 50
    assert dropped > 0  # the positive is often in a miner's top 50, and then the list is shorter


def test_cross_encoder_teacher_returns_raw_logits(world):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    teacher = load_teacher("cross-encoder", world["cross_encoder"], device="cpu", max_seq_length=512)
    ds = load(world)
    qs = ["effects of vitamin d", "protein folding in cells", "tumor growth"]
    ps = [ds.corpus.passage(i)[:300] for i in range(3)]
    got = teacher.score(qs, ps)
    tok = AutoTokenizer.from_pretrained(world["cross_encoder"])
    model = AutoModelForSequenceClassification.from_pretrained(world["cross_encoder"]).eval()
    with torch.no_grad():
        logits = model(**tok(qs, ps, padding=True, truncation=True, return_tensors="pt")).logits[:, 0].numpy()
    assert np.allclose(got, logits, atol=1e-5)
    assert got.dtype == np.float32 and (np.abs(got) > 1).any()  # no sigmoid squashing


def test_labels_are_teacher_margins_and_batches_follow_gpl(world, tmp_path):
    ds = load(world)
    s = build("gpl", base_sets(world, miners=f"{world['miner']},bm25"))
    queries, qrels = _tiny_qgen(world, tmp_path, ds, s)
    negs = Negatives()
    for miner in (world["miner"], "bm25"):
        st = Stage(tmp_path, "mine", {"m": miner})
        run_miner(st, miner, "cos", ds.corpus, ds.corpus_fingerprint, queries, qrels, s, tmp_path / "emb")
        for _, r in read_jsonl(st.dir / "negatives.jsonl"):
            negs.setdefault(r["qid"], QueryNegatives(qrels[r["qid"]], {})).neg[miner] = r["neg"]
    teacher = load_teacher("cross-encoder", world["cross_encoder"], device="cpu", max_seq_length=64)
    space = L.Space(list(qrels), queries, ds.corpus)
    r0 = Round(tmp_path / "r0", 0)
    L.write_round(r0, negatives=negs, previous=None, space=space, teacher=teacher, settings=s,
                  seed=5, start=0, end=12, miner="x", checkpoint_fingerprint="-", mine_seconds=0.0, mode="replace")
    rows = [l.split("\t") for l in r0.path(Round.TRAINING_TSV).read_text().splitlines()]
    assert len(rows) == 12 * 8
    margins = np.array([float(r[3]) for r in rows], dtype=np.float32)
    text = space.doc_text
    pos_s = teacher.score([queries[r[0]] for r in rows], [text(ds.corpus.index[r[1]]) for r in rows])
    neg_s = teacher.score([queries[r[0]] for r in rows], [text(ds.corpus.index[r[2]]) for r in rows])
    assert np.allclose(margins, pos_s - neg_s, atol=1e-5) and margins.std() > 0
    for step in range(12):
        batch = rows[step * 8:(step + 1) * 8]
        assert len({r[0] for r in batch}) == 8  # distinct queries per batch (an epoch-shuffled order)
        for q, p, n, _ in batch:
            assert p in qrels[q] and n not in qrels[q]
            assert n in negs.negatives(q)
    # the same seed gives the same tuples; another seed others
    again = L.sample_tuples(L.candidates(space, negs), 5, 0, 12, 8)
    assert (again == r0.tuples()["tuples"]).all()
    assert not (L.sample_tuples(L.candidates(space, negs), 6, 0, 12, 8) == again).all()
    # per_miner: a random miner, then one of its negatives
    only_bm25 = Negatives({q: QueryNegatives(v.pos, {"bm25": v.neg["bm25"], "m": v.neg[world["miner"]][:1]})
                           for q, v in negs.items()})
    t = L.sample_tuples(L.candidates(space, only_bm25), 5, 0, 40, 8, "per_miner")
    first = {space.qindex[q]: space.corpus.index[v.neg["m"][0]] for q, v in only_bm25.items() if v.neg["m"]}
    share = np.mean([first.get(int(q)) == int(n) for q, _, n in t])
    assert 0.35 < share < 0.7  # about half the negatives come from the one-item miner (uniform over the union: ~2%)
    t_gpl = L.sample_tuples(L.candidates(space, only_bm25), 5, 0, 40, 8, "gpl")
    assert np.mean([first.get(int(q)) == int(n) for q, _, n in t_gpl]) < 0.2
    manifest = r0.manifest()
    assert manifest["teacher_scores"]["n"] == sum(len(v) for v in r0.scores().by_source.values()) > 0
    assert manifest["n_negatives"] == sum(len(set(negs.negatives(q))) for q in negs)


def test_changed_setting_recomputes_only_downstream_stages(world, tmp_path):
    from harness.gpl.pipeline import run_pipeline

    ds = load(world)
    cache = tmp_path / "cache"
    first = run_pipeline(ds, build("gpl", base_sets(world, steps=4, checkpoint_every=2)), cache, seed=1)

    def stamps():
        return {p.parent.parent.name + "/" + p.parent.name: p.stat().st_mtime_ns
                for p in (cache / "gpl").glob("*/*/stage.json")}

    before = stamps()
    second = run_pipeline(ds, build("gpl", base_sets(world, steps=4, checkpoint_every=2, learning_rate=1e-4)), cache, seed=1)
    assert second.stages["labels"] == first.stages["labels"] and second.stages["train"] != first.stages["train"]
    after = stamps()
    assert all(after[k] == v for k, v in before.items())  # nothing upstream was rewritten
    third = run_pipeline(ds, build("gpl", base_sets(world, steps=4, checkpoint_every=2, teacher_max_seq_length=32)), cache, seed=1)
    assert third.stages["qgen"] == first.stages["qgen"] and third.stages["negatives"] == first.stages["negatives"]
    assert third.stages["labels"] != first.stages["labels"] and third.stages["train"] != first.stages["train"]
    assert all(stamps()[k] == v for k, v in after.items())
    fourth = run_pipeline(ds, build("gpl", base_sets(world, steps=4, checkpoint_every=2, miners="bm25")), cache, seed=1)
    assert fourth.stages["qgen"] == first.stages["qgen"] and fourth.stages["negatives"] != first.stages["negatives"]
    mine_dirs = sorted(p.name for p in (cache / "gpl" / "mine").iterdir())
    assert len(mine_dirs) == 2  # the BM25 miner's result was reused, not mined again
    assert WorkDir(fourth.work_dir).round(0).negatives().sources() == ["bm25"]


def test_bad_settings_are_one_line_errors_naming_the_setting():
    from harness.errors import SettingsError
    from harness.systems import build_settings, get_system_class

    rgpl = get_system_class("rgpl").Settings
    for sets, name in (({"remine_mode": "bogus"}, "remine_mode"), ({"teacher_kind": "llm"}, "teacher_kind"),
                       ({"miners": "bm25", "miner_score_functions": "cos,dot"}, "miner_score_functions"),
                       ({"score_function": "l2"}, "score_function"), ({"remine_every": "-1"}, "remine_every"),
                       ({"queries_per_passage": "0"}, "queries_per_passage")):
        with pytest.raises(SettingsError, match=name):
            build_settings(rgpl, sets)
    s = build_settings(rgpl, {"miner_score_functions": "cos_sim,dot"}, "paper")
    assert s.miner_score_functions == ["cos", "dot"] and s.remine_every == 30_000 and s.steps == 140_000
    assert build_settings(rgpl, {"remine_every": "3e4"}).remine_every == 30_000


def test_cache_key_membership_and_the_remining_spec_come_from_the_settings():
    from dataclasses import fields

    from harness.gpl.settings import cache_values

    s = build("rgpl", {"score_function": "cos"})
    train, remine = cache_values(s, "train"), cache_values(s, "remine")
    assert {"student", "max_seq_length", "steps", "learning_rate", "amp"} <= set(train)
    assert not {"device", "num_threads", "encode_batch_size", "checkpoint_every"} & set(train)  # no effect on the model
    # remine_score_function enters as the resolved function; the async schedule enters only when async (so sync keys
    # stay as they were), and the worker's device never (it does not change the negatives)
    assert set(remine) == {f.name for f in fields(s) if f.name.startswith("remine_")} - {
        "remine_score_function", "remine_schedule", "remine_lag", "remine_device"}
    assert cache_values(build("rgpl", {"learning_rate": "1e-4"}), "train") != train
    assert cache_values(build("rgpl", {"score_function": "cos", "encode_batch_size": "7"}), "train") == train
    spec = s.remining()
    assert (spec.every, spec.mode, spec.score_function) == (30_000, "replace", "cos")  # the student's by default
    assert build("gpl", {}).remining() is None and build("rgpl", {"remine_every": "0"}).remining() is None
