"""R-GPL: re-mining by the student at steps k, 2k, ...; per-round artifacts; modes; kill in round 2 and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gpl_support import base_sets, build, cli, load, read_log, run_args, work_dir_of
from harness.gpl.workdir import WorkDir

K = 10

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # trains models (tiny ones, seconds each)


def rgpl_sets(world, **over):
    return base_sets(world, **{"remine_every": K, "steps": 30, "checkpoint_every": 5, "keep_checkpoints": 10, **over})


@pytest.fixture(scope="module")
def reference(world, tmp_path_factory):
    """One uninterrupted R-GPL run (k=10, 30 steps) through the CLI, named as in a sweep."""
    base = tmp_path_factory.mktemp("rgpl-ref")
    r = cli(run_args("rgpl", world, rgpl_sets(world), base / "runs", name="rgpl-k10"), base / "cache")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = base / "runs" / "beir" / "scifact" / "rgpl-k10.manifest.json"
    return {"base": base, "work": work_dir_of(manifest), "manifest": json.loads(manifest.read_text())}


def _train_corpus_and_qgen(work: Path):
    from harness.datasets import Corpus
    from harness.gpl.qgen import load_qgen
    from harness.fileio import read_jsonl

    qgen_dir = Path(json.loads((work / "sources.json").read_text())["qgen_dir"])
    rows = [r for _, r in read_jsonl(qgen_dir / "corpus.jsonl")]
    corpus = Corpus([r["_id"] for r in rows], [r["title"] for r in rows], [r["text"] for r in rows])
    queries, qrels = load_qgen(qgen_dir)
    return corpus, queries, qrels


def test_remines_exactly_at_k_and_2k_and_logs_rounds(reference):
    work = reference["work"]
    assert sorted(int(p.name) for p in (work / "rounds").iterdir()) == [0, 10, 20]  # not at 0 (initial), not at 30
    log = read_log(work)
    assert [x["step"] for x in log] == list(range(1, 31))
    assert [x["round"] for x in log] == [0] * 10 + [10] * 10 + [20] * 10
    for step in (10, 20):
        m = json.loads((work / "rounds" / str(step) / "manifest.json").read_text())
        assert m["step"] == step and m["miner"] == "student" and m["mode"] == "replace"
        assert m["train_steps"] == [step, step + K] and m["n_tuples"] == K * 8
        assert 0 <= m["overlap_with_previous"] <= 1 and m["teacher_scores"]["n"] > 0
        assert {"mean", "std", "n", "q05", "q25", "q50", "q75", "q95"} == set(m["teacher_scores"])
    timing = json.loads((work / "timing.json").read_text())
    assert [r["step"] for r in timing["remine_rounds"]] == [10, 20]
    assert timing["remine_seconds"] > 0 and timing["label_seconds"] > 0 and timing["train_seconds"] > 0
    assert reference["manifest"]["name"] == "rgpl-k10" and reference["manifest"]["extra"]["work_dir"] == str(work)


def test_remined_negatives_are_the_current_models_top50_without_positives(reference):
    from harness.dense import load_encoder, model_fingerprint
    from harness.gpl.mining import mine_dense

    work = reference["work"]
    corpus, queries, qrels = _train_corpus_and_qgen(work)
    for step in (10, 20):
        model = load_encoder(str(work / "checkpoints" / f"step-{step}"), device="cpu", max_seq_length=64)
        manifest = json.loads((work / "rounds" / str(step) / "manifest.json").read_text())
        assert manifest["checkpoint_fingerprint"] == model_fingerprint(model)  # mined with the weights of step k
        expected = mine_dense(model, corpus, queries, qrels, 50, "dot")
        negs = WorkDir(work).round(step).negatives()
        assert set(negs) == set(qrels)
        for q, v in negs.items():
            assert list(v.neg) == ["student"]  # replace: the initial miners are gone
            assert v.neg["student"] == expected[q] and not set(v.neg["student"]) & set(qrels[q])
    r0 = WorkDir(work).round(0).negatives()
    assert len(next(iter(r0.values())).neg) == 2  # the initial round: two miners


def test_teacher_labels_the_remined_pairs(reference, world):
    from harness.gpl.qgen import doc_text
    from harness.gpl.teacher import load_teacher

    work = reference["work"]
    ds = load(world)
    _, queries, qrels = _train_corpus_and_qgen(work)
    negs = WorkDir(work).round(10).negatives()
    rows = [l.split("\t") for l in (work / "rounds" / "10" / "gpl-training-data.tsv").read_text().splitlines()]
    assert len(rows) == K * 8
    for q, p, n, _ in rows:
        assert p in qrels[q] and n in negs[q].neg["student"]
    teacher = load_teacher("cross-encoder", world["cross_encoder"], device="cpu", max_seq_length=64)
    text = lambda d: doc_text(ds.corpus, ds.corpus.index[d])  # noqa: E731
    pos = teacher.score([queries[r[0]] for r in rows], [text(r[1]) for r in rows])
    neg = teacher.score([queries[r[0]] for r in rows], [text(r[2]) for r in rows])
    assert np.allclose([float(r[3]) for r in rows], pos - neg, atol=1e-5)
    logged = [x["margin_mean"] for x in read_log(work)][10:20]
    margins = np.array([float(r[3]) for r in rows]).reshape(K, 8).mean(axis=1)
    assert np.allclose(logged, margins, atol=1e-6)  # steps 11-20 trained on round 10's labels
    sample = [json.loads(l) for l in (work / "rounds" / "10" / "negative-scores.jsonl").read_text().splitlines()]
    sample0 = [json.loads(l) for l in (work / "rounds" / "0" / "negative-scores.jsonl").read_text().splitlines()]
    assert {r["qid"] for r in sample} == {r["qid"] for r in sample0} and len({r["qid"] for r in sample}) == 20
    assert {r["source"] for r in sample} == {"student"}


def test_union_mode_merges_and_remine_at_end(world, tmp_path):
    from harness.dense import load_encoder
    from harness.gpl.mining import mine_dense
    from harness.gpl.pipeline import run_pipeline

    s = build("rgpl", rgpl_sets(world, remine_mode="union", remine_at_end="true", steps=20, remine_warmup_restart="true"))
    res = run_pipeline(load(world), s, tmp_path / "cache", seed=42)
    work = res.work_dir
    assert sorted(int(p.name) for p in (work / "rounds").iterdir()) == [0, 10, 20]  # 20 = the last step, by request
    corpus, queries, qrels = _train_corpus_and_qgen(work)
    r0 = WorkDir(work).round(0).negatives()
    r10 = WorkDir(work).round(10).negatives()
    r20 = WorkDir(work).round(20).negatives()
    model10 = load_encoder(str(work / "checkpoints" / "step-10"), device="cpu", max_seq_length=64)
    mined10 = mine_dense(model10, corpus, queries, qrels, 50, "dot")
    for q in qrels:
        assert {k: v for k, v in r10[q].neg.items() if k != "student"} == r0[q].neg  # old negatives kept
        assert r10[q].neg["student"] == mined10[q]
        assert set(r20[q].neg["student"]) >= set(r10[q].neg["student"])  # union accumulates
    m20 = json.loads((work / "rounds" / "20" / "manifest.json").read_text())
    assert m20["mode"] == "union" and m20["n_tuples"] == 0  # mined at the end for analysis, not trained on
    log = read_log(work)
    assert [x["round"] for x in log] == [0] * 10 + [10] * 10
    lrs = [x["lr"] for x in log]  # warm-up (5 steps) restarted after the re-mine at step 10
    assert lrs[0] == 0.0 and lrs[10] == 0.0 and 0 < lrs[11] < lrs[12] < lrs[15] and lrs[9] > lrs[11]


def test_kill_in_round_two_resumes_in_round_two(world, reference, tmp_path):
    ref_work = reference["work"]
    args = run_args("rgpl", world, rgpl_sets(world), tmp_path / "runs", name="rgpl-k10")
    cache = tmp_path / "cache"  # upstream stages copied from the reference; the training starts from nothing
    shutil.copytree(reference["base"] / "cache", cache, ignore=lambda d, names: ["train"] if Path(d).name == "gpl" else [])
    work = cache / ref_work.relative_to(reference["base"] / "cache")
    first = cli(args, cache, {"HARNESS_GPL_KILL_AT": "step:13"})  # in round 2 (steps 11-20, negatives of step 10)
    assert first.returncode == -9
    assert [x["round"] for x in read_log(work)][-1] == 10 and len(read_log(work)) == 13
    round10 = (work / "rounds" / "10" / "manifest.json").stat().st_mtime_ns
    second = cli(args, cache, {"HARNESS_GPL_KILL_AT": "round:20"})  # resumes at 10, dies while re-mining at 20
    assert second.returncode == -9, second.stderr[-2000:]
    assert "resuming" in second.stderr and "step 10" in second.stderr
    assert (work / "rounds" / "10" / "manifest.json").stat().st_mtime_ns == round10  # round 2 was not re-mined
    assert not (work / "rounds" / "20" / "manifest.json").exists()
    third = cli(args, cache)
    assert third.returncode == 0, third.stderr[-3000:]
    assert "from step 15" in third.stderr  # the checkpoint of step 20 is saved after its round: never written
    log, ref_log = read_log(work), read_log(ref_work)
    assert [x["round"] for x in log] == [x["round"] for x in ref_log]
    assert np.allclose([x["loss"] for x in log], [x["loss"] for x in ref_log], rtol=1e-5, atol=1e-7)
    for step in (10, 20):
        a = (work / "rounds" / str(step) / "gpl-training-data.tsv").read_text()
        assert a == (ref_work / "rounds" / str(step) / "gpl-training-data.tsv").read_text()


def test_rgpl_on_lotte_trains_once_per_domain(world, tmp_path):
    """``harness run --system rgpl --suite lotte``: search and forum share a collection, hence one training."""
    from fixtures import write_lotte
    from harness.runner import RunRequest, run
    from harness.runs import read_manifest, read_run

    write_lotte(tmp_path / "data", query_set="search")
    write_lotte(tmp_path / "data", query_set="forum")
    sets = base_sets(world, queries_per_passage=3, batch_size=4, steps=6, checkpoint_every=3, remine_every=3,
                     negatives_per_query=5, remine_top_k=5)
    paths = run(RunRequest(system="rgpl", suite="lotte", datasets=["lifestyle.search", "lifestyle.forum"],
                           data_dir=str(tmp_path / "data"), out=str(tmp_path / "runs"), sets=sets, top_k=10,
                           allow_download=False))
    assert [p.name for p in paths] == ["rgpl.trec", "rgpl.trec"]
    works = {read_manifest(p)["extra"]["work_dir"] for p in paths}
    assert len(works) == 1  # the forum run reused the search run's training
    work = Path(works.pop())
    assert sorted(int(p.name) for p in (work / "rounds").iterdir()) == [0, 3]
    negs = WorkDir(work).round(3).negatives()
    for v in negs.values():  # top 5 of the 12 passages, minus the positive when it is among them
        assert len(v.neg["student"]) in (4, 5) and not set(v.neg["student"]) & set(v.pos)
    assert all(len(docs) == 10 for docs in read_run(paths[0]).values())
