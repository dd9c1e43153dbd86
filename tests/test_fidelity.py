"""Fidelity settings: ``--preset paper`` is what GPL's and the authors' R-GPL code did, each difference is a setting
that changes behaviour and the cache keys it should, and ``--preset controlled`` differs only in re-mining."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gpl_support import base_sets, build, load, tiny_world
from harness.errors import SettingsError
from harness.gpl.settings import GPLSettings, RGPLSettings
from harness.systems import build_settings

REPO = Path(__file__).resolve().parents[1]
FIDELITY_SETTINGS = ("corpus_sample", "encode_precision", "amp", "student_dropout", "mining_extra_depth",
                     "eval_self_hits", "remine_every", "qgen_top_p", "decay_params", "label_rescale",
                     "similarity_scale")


@pytest.fixture(scope="session")
def world(shared_data, tmp_path_factory):
    return tiny_world(shared_data, tmp_path_factory.getbasetemp() / "gpl-world")


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def values(s) -> dict:
    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


# ------------------------------------------------------------------------------------------------ presets
def test_paper_preset_is_gpls_pipeline_for_gpl_and_the_authors_code_for_rgpl():
    gpl = build_settings(GPLSettings, {}, "paper")
    rgpl = build_settings(RGPLSettings, {}, "paper")
    # GPL (UKPLab/gpl): corpus cut to ceil(250k/3), fp32 encodes, no AMP, top 50 minus positives
    assert (gpl.corpus_sample, gpl.queries_per_passage, gpl.encode_precision, gpl.amp, gpl.mining_extra_depth,
            gpl.student_dropout, gpl.eval_self_hits) == (-1, -1, "fp32", "none", 0, "on", "all")
    # the authors' R-GPL: whole corpus, fp32 encodes, fp16 AMP, top 51 cut to 50, eval mode after encode()
    assert (rgpl.corpus_sample, rgpl.queries_per_passage, rgpl.encode_precision, rgpl.amp, rgpl.mining_extra_depth,
            rgpl.student_dropout, rgpl.eval_self_hits, rgpl.remine_every) == (0, -1, "fp32", "fp16", 1, "off", "all", 30_000)
    shared = ("student", "max_seq_length", "score_function", "generator", "miners", "negatives_per_query", "teacher",
              "teacher_max_seq_length", "steps", "batch_size", "learning_rate", "warmup_steps", "weight_decay",
              "max_grad_norm", "remine_top_k")
    assert {k: getattr(gpl, k, None) for k in shared[:-1]} == {k: getattr(rgpl, k) for k in shared[:-1]}
    assert rgpl.remine_top_k == 50 and rgpl.remine_function() == "dot"  # lightning.py:342 re-mines with SCORE.DOT
    # the authors sampled queries with top-k 25 only (temperature=1 takes BEIR's branch without top_p) and decayed
    # every parameter (one AdamW group); GPL: top-p 0.95 and sentence-transformers' no-decay group
    assert (rgpl.qgen_top_p, rgpl.qgen_top_k, rgpl.decay_params) == (1.0, 25, "all")
    assert (gpl.qgen_top_p, gpl.qgen_top_k, gpl.decay_params) == (0.95, 25, "no_bias_norm")
    assert not gpl.label_rescale and gpl.similarity_scale == 1.0  # GPL's README example: dot, no rescaling
    # the harness's defaults stay as they were: presets only
    d = GPLSettings()
    assert (d.encode_precision, d.mining_extra_depth, d.student_dropout, d.eval_self_hits) == ("auto", 0, "on", "registry")


def test_controlled_preset_differs_only_in_remining():
    gpl = values(build_settings(GPLSettings, {}, "controlled"))
    rgpl = values(build_settings(RGPLSettings, {}, "controlled"))
    remining = {k for k in rgpl if k.startswith("remine_")}
    assert {k: v for k, v in rgpl.items() if k not in remining} == gpl
    assert rgpl["remine_every"] == 30_000
    # same data for both: GPL's cap, precision, depth, dropout and self-hit choice
    assert gpl["corpus_sample"] == -1 and gpl["encode_precision"] == "fp32" and gpl["student_dropout"] == "on"


def test_fidelity_table_names_every_setting_and_the_readme_points_to_it():
    doc = (REPO / "docs" / "gpl.md").read_text()
    section = doc[doc.index("## Fidelity"):]
    section = section[:section.find("\n## ", 5) if "\n## " in section[5:] else len(section)]
    for name in FIDELITY_SETTINGS + ("controlled",):
        assert f"`{name}" in section, name
    assert len(re.findall(r"^\|", section, re.M)) >= 15  # one row per decision
    readme = (REPO / "README.md").read_text()
    assert "exactly as the paper did" not in readme and "Fidelity" in readme


def test_bad_fidelity_values_are_one_line_errors():
    for key, value in (("encode_precision", "fp8"), ("student_dropout", "sometimes"), ("eval_self_hits", "some"),
                       ("mining_extra_depth", "-1")):
        with pytest.raises(SettingsError, match=key):
            build_settings(RGPLSettings, {key: value})


# ------------------------------------------------------------------------------------------------ encode precision
def test_encode_precision_changes_the_dtype_path_and_the_cache_key(world, tmp_path):
    from harness import dense

    model = dense.load_encoder(world["student"], device="cpu")
    linear = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    seen: list[torch.dtype] = []
    hook = linear.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
    texts = ["a dense retriever adapts", "hard negatives are re-mined", "dropout is off"]
    emb = {}
    for p in ("auto", "fp32", "fp16"):
        seen.clear()
        emb[p] = dense.encode_texts(model, texts, batch_size=2, precision=p)
        assert seen and set(seen) == {torch.float16 if p == "fp16" else torch.float32}, p
        assert emb[p].dtype == np.float32
    from harness.datasets import Corpus

    corpus = Corpus(["d1", "d2", "d3"], ["", "", ""], texts)
    for p in ("fp32", "fp16"):  # through the embedding cache too, each precision in its own cache entry
        seen.clear()
        cached = dense.encode_corpus(model, corpus, batch_size=2, cache_dir=tmp_path, corpus_fingerprint="c",
                                     precision=p)
        assert set(seen) == {torch.float16 if p == "fp16" else torch.float32}, p
        np.testing.assert_array_equal(np.asarray(cached), emb[p])
    hook.remove()
    np.testing.assert_array_equal(emb["auto"], emb["fp32"])  # on CPU, auto is fp32
    assert not np.array_equal(emb["fp16"], emb["fp32"]) and np.allclose(emb["fp16"], emb["fp32"], atol=0.05)
    model.train()
    dense.encode_texts(model, texts, precision="fp16")
    assert model.training  # harness encodes restore the caller's mode
    key = dict(model_fp="m", corpus_fp="c", normalize=False, max_seq_length=64, n=3)
    legacy = dense.embedding_cache_dir(tmp_path, **key)
    assert dense.embedding_cache_dir(tmp_path, **key, precision="auto") == legacy  # old caches stay valid
    assert len({legacy, dense.embedding_cache_dir(tmp_path, **key, precision="fp32"),
                dense.embedding_cache_dir(tmp_path, **key, precision="fp16")}) == 3
    with pytest.raises(Exception, match="precision"):
        dense.encode_texts(model, texts, precision="fp8")


# ------------------------------------------------------------------------------------------------ mining depth
def test_top51_cut_to_50_versus_gpls_top50_minus_positives(world):
    from harness.dense import dense_retrieve, load_encoder
    from harness.gpl.mining import mine_dense, ranked as by_score

    ds = load(world)
    corpus = ds.corpus
    assert len(corpus) > 60
    model = load_encoder(world["miner"], device="cpu")
    queries = dict(list(ds.queries.items())[:8])
    # reference ranking: the same exact search (same code path, k < corpus size) to depth 60; a brute force of its
    # own would break the tiny random encoder's near-ties differently
    deep = dense_retrieve(model, corpus, queries, top_k=60, score_function="cos")
    ranked = {qid: by_score(deep[qid]) for qid in queries}
    # half the queries have their positive at rank 1, the other half at rank 60
    qrels = {qid: [ranked[qid][0] if r % 2 == 0 else ranked[qid][-1]] for r, qid in enumerate(queries)}

    gpl = mine_dense(model, corpus, queries, qrels, 50, "cos", extra_depth=0)
    authors = mine_dense(model, corpus, queries, qrels, 50, "cos", extra_depth=1)
    for r, qid in enumerate(queries):
        pos = set(qrels[qid])
        assert gpl[qid] == [x for x in ranked[qid][:50] if x not in pos]
        assert authors[qid] == [x for x in ranked[qid][:51] if x not in pos][:50]
        assert len(authors[qid]) == 50 and not pos & set(authors[qid])
        assert len(gpl[qid]) == (49 if r % 2 == 0 else 50)
        if r % 2:  # positive not retrieved: the 51st document is cut, as HardNegativeMiner.py:114 does
            assert authors[qid] == gpl[qid] and ranked[qid][50] not in authors[qid]
        else:  # positive at rank 1: the 51st document fills its place
            assert authors[qid] == gpl[qid] + [ranked[qid][50]]


# ------------------------------------------------------------------------------------------------ self hits
def test_self_hits_dropped_on_every_beir_dataset_with_all_but_kept_on_lotte(world):
    from harness.dense import load_encoder
    from harness.gpl.pipeline import evaluation_run

    ds = load(world)
    doc = ds.corpus.ids[5]
    # a query whose id is a document id and whose text is that document: its own top hit
    queries = {doc: ds.corpus.passage(5), "other": ds.corpus.passage(9)}
    beir = dataclasses.replace(ds, queries=queries)
    model = load_encoder(world["student"], device="cpu")
    s = build("gpl", base_sets(world, score_function="cos"))  # identical text: cosine 1, the top hit
    kept = evaluation_run(model, beir, s, 10, None)
    assert next(iter(sorted(kept[doc], key=lambda x: -kept[doc][x]))) == doc  # SciFact is not marked in the registry
    s.eval_self_hits = "all"
    dropped = evaluation_run(model, beir, s, 10, None)
    assert doc not in dropped[doc] and len(dropped[doc]) == 10  # still top_k others, like BEIR's top_k + 1 search
    assert set(kept[doc]) - {doc} <= set(dropped[doc])
    assert dropped["other"] == kept["other"]
    lotte = dataclasses.replace(beir, info=dataclasses.replace(ds.info, suite="lotte"))
    assert doc in evaluation_run(model, lotte, s, 10, None)[doc]  # LoTTE keeps the registry's choice


# ------------------------------------------------------------------------------------------------ dropout, keys
def _mode_recorder(monkeypatch) -> list[bool]:
    """Train/eval mode of every student forward that builds a graph (training steps, not encodes)."""
    import harness.dense as dense

    modes: list[bool] = []
    original = dense.load_encoder

    def load(*a, **kw):
        model = original(*a, **kw)
        model[0].register_forward_pre_hook(
            lambda mod, inp: modes.append(mod.training) if torch.is_grad_enabled() else None)
        return model

    monkeypatch.setattr(dense, "load_encoder", load)
    return modes


def test_student_dropout_and_the_stage_keys_of_each_setting(world, tmp_path, monkeypatch):
    from harness.fileio import read_json
    from harness.gpl.pipeline import run_pipeline
    from harness.gpl.workdir import WorkDir

    ds, cache = load(world), tmp_path / "cache"
    modes = _mode_recorder(monkeypatch)

    def run(system, **over):
        modes.clear()
        res = run_pipeline(ds, build(system, base_sets(world, steps=4, checkpoint_every=4, **over)), cache, seed=1)
        return res, list(modes)

    base, on = run("gpl")
    assert on and all(on)  # GPL: dropout on throughout (sentence-transformers fit)
    off_res, off = run("gpl", student_dropout="off")
    assert len(off) == len(on) and not any(off)  # the authors' R-GPL: eval mode from step 0
    assert off_res.stages["labels"] == base.stages["labels"] and off_res.stages["train"] != base.stages["train"]
    same, _ = run("gpl", student_dropout="off_after_remine")  # without re-mining it changes nothing: GPL's key
    assert same.stages == base.stages
    hits, _ = run("gpl", eval_self_hits="all")  # decides only the final run: every stage reused
    assert hits.stages == base.stages

    # precision: the dense miner (and all after it) recomputed; generation and BM25 mining reused
    mine_before = {p.name for p in (cache / "gpl" / "mine").iterdir()}
    fp32, _ = run("gpl", encode_precision="fp32")
    assert fp32.stages["qgen"] == base.stages["qgen"] and fp32.stages["negatives"] != base.stages["negatives"]
    assert len({p.name for p in (cache / "gpl" / "mine").iterdir()} - mine_before) == 1  # the dense miner only

    # R-GPL with BM25 as the only initial miner, so that only re-mining sees the dense choices
    rg_on, modes_on = run("rgpl", remine_every=2, miners="bm25")
    assert len(modes_on) == len(on) and all(modes_on)  # re-mining restores train mode by default
    rg_after, after = run("rgpl", remine_every=2, miners="bm25", student_dropout="off_after_remine")
    half = len(after) // 2
    assert len(after) == len(on) and all(after[:half]) and not any(after[half:])  # eval from the step-2 re-mine
    assert rg_after.stages["labels"] == rg_on.stages["labels"] and rg_after.stages["train"] != rg_on.stages["train"]
    rg_deep, _ = run("rgpl", remine_every=2, miners="bm25", mining_extra_depth=1, encode_precision="fp32")
    assert rg_deep.stages["labels"] == rg_on.stages["labels"] and rg_deep.stages["train"] != rg_on.stages["train"]
    key = read_json(cache / "gpl" / "train" / rg_deep.stages["train"] / "stage.json")["inputs"]["remining"]
    assert key["extra_depth"] == 1 and key["precision"] == "fp32"
    shallow = WorkDir(rg_on.work_dir).round(2).negatives()
    deep = WorkDir(rg_deep.work_dir).round(2).negatives()
    assert all(len(v.neg["student"]) == 50 for v in deep.values())  # top 51 cut to 50
    assert any(len(v.neg["student"]) == 49 for v in shallow.values())  # top 50 minus the positive


def test_decay_params_all_decays_layernorm_and_biases_too(world, tmp_path):
    """One AdamW step from the same weights: with decay_params=all a LayerNorm weight w0 also shrinks by lr*wd*w0
    (torch's AdamW multiplies by 1 - lr*wd before the update); with GPL's groups it does not."""
    from harness.dense import load_encoder
    from harness.gpl.pipeline import run_pipeline

    lr, wd = 1e-3, 0.5
    models = {}
    for groups in ("no_bias_norm", "all"):
        s = build("gpl", base_sets(world, steps=1, checkpoint_every=1, warmup_steps=0, learning_rate=lr,
                                   weight_decay=wd, decay_params=groups))
        res = run_pipeline(load(world), s, tmp_path / "cache", seed=1)
        models[groups] = dict(load_encoder(str(res.model_dir), device="cpu").named_parameters())
    w0 = dict(load_encoder(world["student"], device="cpu").named_parameters())
    ln = next(n for n in w0 if "LayerNorm.weight" in n)
    bias = next(n for n in w0 if n.endswith("dense.bias"))
    weight = next(n for n in w0 if n.endswith("dense.weight"))
    for name in (ln, bias):
        diff = (models["no_bias_norm"][name] - models["all"][name]).detach()
        assert torch.allclose(diff, lr * wd * w0[name].detach(), atol=1e-7), name
    assert torch.equal(models["no_bias_norm"][weight], models["all"][weight])  # decayed in both
