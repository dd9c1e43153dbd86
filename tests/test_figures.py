"""Analyses and figures: figure data from work folders written here in the training's layout, real MiniLM for the
model-based figures, real matplotlib output, and ``harness figures`` end to end."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.figures import FIGURES
from harness.figures import data as A
from harness.figures import models as M
from harness.figures import plots as F
from harness.errors import HarnessError
from harness.gpl.workdir import WorkDir, jaccard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -------------------------------------------------------------------------------------------- helpers
def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_work_dir(work: Path, pids: list[str], queries: dict[str, str], positives: dict[str, str],
                   n_steps: int = 300, remines: tuple[int, ...] = (100, 200), seed: int = 0,
                   sources: dict | None = None, n_neg: int = 5) -> dict:
    """A training work folder in the agreed layout with known numbers; returns the expected per-round scores."""
    rng = np.random.default_rng(seed)
    work.mkdir(parents=True, exist_ok=True)
    src = {"dataset": "scifact-slice", "corpus_fingerprint": None, "qgen_dir": None, "mining_dir": None,
           "student": "base-model", "teacher": {"kind": "bi-encoder", "name": "teacher-model"},
           "miners": ["bm25", "dense-miner"], "settings": {"score_function": "dot"}}
    src.update(sources or {})
    (work / "sources.json").write_text(json.dumps(src), encoding="utf-8")
    _jsonl(work / "qgen-queries.jsonl", [{"_id": q, "text": t} for q, t in queries.items()])
    log = []
    for step in range(1, n_steps + 1):
        rnd = max([0] + [r for r in remines if r <= step])
        since = step - rnd
        log.append({"step": step, "loss": float(2.0 * math.exp(-since / 40) + 0.3 + 0.05 * rng.random()),
                    "margin_mean": float(3.0 - 2.0 * math.exp(-since / 40) + 0.1 * rng.random()),
                    "lr": 2e-5, "round": rnd})
    _jsonl(work / "train-log.jsonl", log)
    expected = {}
    rounds = (0, *remines)
    for i, step in enumerate(rounds):
        prng = random.Random(seed * 1000 + step)
        hn, ns, all_scores = [], [], []
        sources_ = ["bm25", "dense-miner"] if step == 0 else ["student"]
        for qid in queries:
            others = [p for p in pids if p != positives[qid]]
            neg = {s: prng.sample(others, n_neg) for s in sources_}
            hn.append({"qid": qid, "pos": [positives[qid]], "neg": neg})
            for s, ps in neg.items():
                for p in ps:
                    sc = float(rng.normal(1.0 + 0.5 * i + (0.3 if s == "dense-miner" else 0.0), 0.4))
                    ns.append({"qid": qid, "source": s, "pid": p, "teacher_score": sc})
                    all_scores.append(sc)
        folder = work / "rounds" / str(step)
        _jsonl(folder / "hard-negatives.jsonl", hn)
        _jsonl(folder / "negative-scores.jsonl", ns)
        v = np.array(all_scores)
        expected[step] = v
        man = {"step": step, "checkpoint_fingerprint": f"fp{step}", "seconds": 1.0, "n_queries": len(queries),
               "n_negatives": len(v), "miner": "student" if step else "bm25,dense-miner",
               "teacher_scores": {"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size),
                                  "q05": 0, "q25": 0, "q50": 0, "q75": 0, "q95": 0},
               "overlap_with_previous": 0.1 * i, "mode": "replace"}
        (folder / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    return expected


def synthetic_ids(n_docs: int = 60, n_queries: int = 8):
    pids = [f"d{i}" for i in range(n_docs)]
    queries = {f"q{i}": f"generated query {i}" for i in range(n_queries)}
    positives = {f"q{i}": pids[i] for i in range(n_queries)}
    return pids, queries, positives


def assert_figure_files(stem: Path) -> None:
    png, pdf = stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".pdf")
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000, png
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000, pdf
    assert not [p for p in stem.parent.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


# ------------------------------------------------------------------------------------------- analysis
def test_ema_equals_hand_computation():
    # span 3 -> alpha 0.5, weight 0.5; the NaN step ages the history without adding to it
    got = A.ema([1.0, 2.0, 3.0, float("nan"), 5.0], span=3)
    expected = [1.0, 2.5 / 1.5, 4.25 / 1.75, 2.125 / 0.875, 6.0625 / 1.4375]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(A.ema([4.0, -1.0, 7.0], span=1), [4.0, -1.0, 7.0])
    x = np.random.default_rng(1).normal(size=500)
    w = 1 - 2 / 51
    direct = [sum(w ** j * x[t - j] for j in range(t + 1)) / sum(w ** j for j in range(t + 1)) for t in range(500)]
    np.testing.assert_allclose(A.ema(x, span=50), direct, rtol=1e-10)
    assert np.isnan(A.ema([float("nan"), 1.0], span=5)[0])
    with pytest.raises(HarnessError):
        A.ema([1.0], span=0)


def test_train_log_remine_steps_and_curves(tmp_path):
    pids, queries, positives = synthetic_ids()
    work = tmp_path / "rgpl"
    write_work_dir(work, pids, queries, positives, n_steps=250, remines=(100, 200))
    # a resumed training re-logs steps 249-250: the last entries win
    with open(work / "train-log.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"step": 250, "loss": 9.5, "margin_mean": 1.0, "lr": 1e-5, "round": 200}) + "\n\n")
    log = WorkDir(work).train_log()
    assert len(log) == 250 and list(log.steps[:3]) == [1, 2, 3] and log.loss[-1] == 9.5
    assert set(log.round.tolist()) == {0, 100, 200}
    assert WorkDir(work).remine_steps() == [100, 200] and WorkDir(work).round_steps() == [0, 100, 200]
    curve = A.train_curve(WorkDir(work), "R-GPL", "margin", span=50)
    np.testing.assert_allclose(curve.smooth, A.ema(log.margin, 50))
    assert curve.remines == [100, 200]
    # without rounds/ the steps come from the log's round column
    import shutil

    shutil.rmtree(work / "rounds")
    assert WorkDir(work).remine_steps() == [100, 200]
    # a malformed line names file and line
    (work / "train-log.jsonl").write_text('{"step": 1, "loss": 0.5}\n{"step": 2, "loss": \n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"train-log.jsonl:2: malformed JSON"):
        WorkDir(work).train_log()
    (work / "train-log.jsonl").write_text('{"step": "1", "loss": 0.5}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"train-log.jsonl:1: field 'step'"):
        WorkDir(work).train_log()


def test_round_stats_from_manifests_and_sample(tmp_path):
    pids, queries, positives = synthetic_ids()
    work = tmp_path / "rgpl"
    expected = write_work_dir(work, pids, queries, positives, remines=(100, 200))
    stats = A.round_stats(WorkDir(work))
    assert [s.step for s in stats] == [0, 100, 200]
    for s in stats:
        v = expected[s.step]
        assert s.n == v.size == len(queries) * 5 * (2 if s.step == 0 else 1)
        assert s.mean == pytest.approx(v.mean()) and s.std == pytest.approx(v.std())
        assert s.stderr == pytest.approx(v.std() / math.sqrt(v.size))
    assert stats[1].miner == "student" and stats[2].overlap_with_previous == pytest.approx(0.2)
    # the synthetic negatives get harder every round
    assert stats[0].mean < stats[1].mean < stats[2].mean
    # a manifest without teacher scores falls back to negative-scores.jsonl
    man_path = work / "rounds" / "100" / "manifest.json"
    man = json.loads(man_path.read_text())
    del man["teacher_scores"]
    man_path.write_text(json.dumps(man))
    s100 = A.round_stats(WorkDir(work))[1]
    assert s100.mean == pytest.approx(expected[100].mean()) and s100.n == expected[100].size
    sample = A.round_stats(WorkDir(work), source="sample")
    assert [s.mean for s in sample] == pytest.approx([expected[s].mean() for s in (0, 100, 200)])


def test_negative_scores_hard_negatives_and_query_choice(tmp_path):
    pids, queries, positives = synthetic_ids()
    work = tmp_path / "rgpl"
    expected = write_work_dir(work, pids, queries, positives, remines=(100,))
    ns = WorkDir(work).find_round(0).scores()
    assert set(ns.by_source) == {"bm25", "dense-miner"} and ns.per_query == 5 and ns.qids == list(queries)
    assert ns.by_source["dense-miner"].mean() > ns.by_source["bm25"].mean()
    np.testing.assert_allclose(np.sort(np.concatenate(list(ns.by_source.values()))), np.sort(expected[0]))
    last = WorkDir(work).find_round("last").scores()
    assert last.step == 100 and set(last.by_source) == {"student"}
    with pytest.raises(HarnessError, match="no round 7"):
        WorkDir(work).find_round(7)
    assert WorkDir(work).find_round("first-remine").step == 100
    before, after = WorkDir(work).round(0).negatives(), WorkDir(work).round(100).negatives()
    assert before["q3"].pos == ["d3"] and len(before.negatives("q3")) <= 10
    # q5 keeps exactly its old negatives, q2 changes completely, the rest partly: q2 is picked
    lines = [json.loads(x) for x in (work / "rounds/100/hard-negatives.jsonl").read_text().splitlines()]
    for row in lines:
        row["neg"] = {"student": before.negatives(row["qid"])[:6]}  # partial overlap for every query
        if row["qid"] == "q5":
            row["neg"] = {"student": before.negatives("q5")}
        if row["qid"] == "q2":
            row["neg"] = {"student": [p for p in pids if p not in before.negatives("q2") and p != "d2"][:5]}
    _jsonl(work / "rounds/100/hard-negatives.jsonl", lines)
    after = WorkDir(work).round(100).negatives()
    assert jaccard(before.negatives("q5"), after.negatives("q5")) == 1.0
    assert A.pick_changed_query(before, after) == "q2"
    assert 0 < jaccard(before.negatives("q1"), after.negatives("q1")) < 1
    assert A.pick_changed_query(before, after, candidates=["q5", "q1"]) == "q1"


def test_pca_reproduces_variance_ordering():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(8, 8)))  # a random rotation
    scales = np.array([5.0, 2.0, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    x = (rng.normal(size=(400, 8)) * scales) @ basis.T + 3.0
    coords, explained = A.pca_2d(x)
    assert coords.shape == (400, 2)
    v0, v1 = coords.var(axis=0)
    assert v0 > v1 > 0
    eig = np.sort(np.linalg.eigvalsh(np.cov(x.T, bias=True)))[::-1]
    assert v0 == pytest.approx(eig[0]) and v1 == pytest.approx(eig[1])
    np.testing.assert_allclose(explained, eig[:2] / eig.sum(), rtol=1e-9)
    # the first component is the axis with the largest scale (up to sign)
    direction = (coords[:, 0] @ (x - x.mean(0))) / (coords[:, 0] @ coords[:, 0])
    assert abs(direction @ basis[:, 0]) > 0.99
    np.testing.assert_allclose(coords.mean(axis=0), 0, atol=1e-9)
    with pytest.raises(HarnessError):
        A.pca_2d(np.ones((1, 4)))


# ---------------------------------------------------------------------------------------------- figures
def test_every_figure_renders(tmp_path):
    rng = np.random.default_rng(0)
    topk = [M.TopKScores(label=lab, scores=rng.normal(mu, 1, size=(20, 100)), qids=[f"q{i}" for i in range(20)])
            for lab, mu in (("Base (before adaptation)", 0.0), ("GPL (after adaptation)", 0.8), ("R-GPL (after adaptation)", 1.1))]
    topk[0].scores[3, 90:] = np.nan  # a query with fewer results
    F.fig1_teacher_scores_top100(topk, tmp_path / "f1")
    F.fig2_negatives_per_miner([("bm25", rng.normal(0, 1, 200)), ("dense", rng.normal(1, 1, 200)),
                                ("GPL model\n(final)", rng.normal(2, 1, 200))], tmp_path / "f2", subtitle="test")
    steps = np.arange(1, 301)
    curves = [A.Curve("GPL", steps, np.exp(-steps / 100) + 0.1, A.ema(np.exp(-steps / 100) + 0.1), []),
              A.Curve("R-GPL", steps, np.exp(-(steps % 100) / 50) + 0.1, A.ema(np.exp(-(steps % 100) / 50) + 0.1), [100, 200])]
    F.fig3_loss(curves, tmp_path / "f3")
    F.fig4_margin(curves, tmp_path / "f4")
    proj = M.Projection(query=np.zeros((1, 2)), positive=np.ones((1, 2)), before=rng.normal(size=(10, 2)),
                        after=rng.normal(size=(6, 2)), before_shared=np.array([True] + [False] * 9),
                        after_shared=np.array([True] + [False] * 5), explained=np.array([0.4, 0.2]),
                        before_scores=rng.normal(size=10), after_scores=rng.normal(size=6))
    F.fig5_projection(proj, tmp_path / "f5")
    stats = [A.RoundStat(step=s, mean=m, std=0.5, n=100) for s, m in ((0, 1.0), (100, 1.5), (200, 1.7))]
    F.fig6_negative_relevance_per_round(stats, tmp_path / "f6", gpl=stats[:1], error="stderr")
    for i in range(1, 7):
        assert_figure_files(tmp_path / f"f{i}")
    with pytest.raises(HarnessError):
        F.fig6_negative_relevance_per_round([], tmp_path / "empty")
    with pytest.raises(HarnessError):
        F.fig1_teacher_scores_top100([], tmp_path / "empty")
    assert not list(tmp_path.glob("empty*"))


# ------------------------------------------------------------------------------------ CLI, work folders
def _invoke(args: list[str]):
    from harness.cli import app

    return CliRunner().invoke(app, args)


def test_cli_figures_from_work_folders_only(tmp_path):
    pids, queries, positives = synthetic_ids()
    gpl, rgpl = tmp_path / "gpl", tmp_path / "rgpl"
    write_work_dir(gpl, pids, queries, positives, remines=(), seed=1)
    write_work_dir(rgpl, pids, queries, positives, remines=(100, 200), seed=2)
    out = tmp_path / "figs"
    res = _invoke(["figures", "--gpl", str(gpl), "--rgpl", str(rgpl), "--out", str(out), "--only", "3,4,6"])
    assert res.exit_code == 0, res.output
    for stem in ("fig3-loss", "fig4-margin", "fig6-negative-relevance-per-round"):
        assert_figure_files(out / stem)
    assert not list(out.glob("fig1*")) and not list(out.glob("fig2*"))

    # all figures: figures 1 and 5 cannot be made (no dataset, no models) and say why; figure 2 falls back to the
    # work folder's own data (R-GPL's last remined negatives) and says what it left out; the others are written
    out2 = tmp_path / "figs2"
    res = _invoke(["figures", "--gpl", str(gpl), "--rgpl", str(rgpl), "--out", str(out2)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out2.glob("*.png")) == [
        "fig2-negatives-per-miner.png", "fig3-loss.png", "fig4-margin.png", "fig6-negative-relevance-per-round.png"]
    for n in (1, 5):
        assert f"figure {n} not made: " in res.output
    assert "note: figure 2: drawn without the final models' negatives" in res.output
    # GPL alone has no remined negatives, so without models figure 2 has nothing to compare the miners with
    res = _invoke(["figures", "--gpl", str(gpl), "--out", str(tmp_path / "figs3"), "--only", "2"])
    assert isinstance(res.exception, HarnessError) and "no adapted-model negatives" in str(res.exception)
    # a figure asked for alone that cannot be made is an error naming the reason
    res = _invoke(["figures", "--gpl", str(gpl), "--out", str(out2), "--only", "5"])
    assert isinstance(res.exception, HarnessError) and "R-GPL work folder" in str(res.exception)
    res = _invoke(["figures", "--out", str(out2), "--only", "3"])
    assert isinstance(res.exception, HarnessError) and "--gpl and/or --rgpl" in str(res.exception)
    res = _invoke(["figures", "--rgpl", str(rgpl), "--out", str(out2), "--only", "9"])
    assert isinstance(res.exception, HarnessError) and "unknown figure '9'" in str(res.exception)
    res = _invoke(["figures", "--rgpl", str(rgpl), "--out", str(out2), "--only", "6", "--error-bars", "sem"])
    assert isinstance(res.exception, HarnessError) and "--error-bars" in str(res.exception)
    res = _invoke(["figures", "--rgpl", str(tmp_path / "nope"), "--out", str(out2)])
    assert isinstance(res.exception, HarnessError) and "nope" in str(res.exception)


def test_cli_work_dir_from_run_manifest(tmp_path):
    pids, queries, positives = synthetic_ids()
    rgpl = tmp_path / "work"
    write_work_dir(rgpl, pids, queries, positives, remines=(100,))
    trec = tmp_path / "runs" / "rgpl.trec"
    trec.parent.mkdir()
    trec.write_text("")
    (tmp_path / "runs" / "rgpl.manifest.json").write_text(json.dumps({"extra": {"work_dir": str(rgpl)}}))
    res = _invoke(["figures", "--rgpl", str(trec), "--out", str(tmp_path / "o"), "--only", "6"])
    assert res.exit_code == 0, res.output
    assert_figure_files(tmp_path / "o" / "fig6-negative-relevance-per-round")


# ------------------------------------------------------------------------------- real models, SciFact
class BiEncoderScorer:
    """Teacher protocol over a SentenceTransformer: dot product of query and passage embeddings."""

    name = "bi-encoder-scorer"

    def __init__(self, model):
        self.model = model
        self._emb: dict[str, np.ndarray] = {}  # each distinct text is encoded once

    def _embed(self, texts):
        from harness.dense import encode_texts

        todo = [t for t in dict.fromkeys(texts) if t not in self._emb]
        if todo:
            self._emb.update(zip(todo, encode_texts(self.model, todo)))
        return np.stack([self._emb[t] for t in texts])

    def score(self, queries, passages, batch_size=64):
        return (self._embed(list(queries)) * self._embed(list(passages))).sum(axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def scifact_slice(tmp_path_factory, shared_data):
    """The first 150 SciFact documents (texts cut to 30 words, so that CPU encoding stays quick) as a BEIR folder,
    with 12 generated-style queries (each from one document's title)."""
    docs = []
    with open(shared_data / "scifact" / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            d["text"] = " ".join(d["text"].split()[:30])
            docs.append(d)
            if len(docs) == 150:
                break
    root = tmp_path_factory.mktemp("data")
    folder = root / "scifact-slice"
    queries = {f"g{i}": " ".join(docs[i * 12]["title"].split()[:8]) for i in range(12)}
    positives = {f"g{i}": docs[i * 12]["_id"] for i in range(12)}
    from fixtures import write_beir

    write_beir(folder, docs, [{"_id": q, "text": t} for q, t in queries.items()],
               [(q, positives[q], 1) for q in queries])
    return root, [d["_id"] for d in docs], queries, positives


@pytest.fixture(scope="module")
def minilm(minilm_path):
    from harness.dense import load_encoder

    return load_encoder(minilm_path, device="cpu")


@pytest.mark.slow
def test_teacher_scores_topk_and_projection_with_minilm(tmp_path, scifact_slice, minilm):
    from harness.datasets import load_dataset
    from harness.dense import encode_texts
    from harness.registry import custom_dataset

    root, pids, queries, positives = scifact_slice
    ds = load_dataset(custom_dataset("scifact-slice"), "scifact-slice", root, allow_download=False)
    teacher = BiEncoderScorer(minilm)
    some = {q: queries[q] for q in list(queries)[:4]}
    top = M.teacher_scores_topk(minilm, teacher, ds.corpus, some, k=20, label="MiniLM", cache_dir=tmp_path)
    assert top.scores.shape == (4, 20) and np.isfinite(top.scores).all()
    # the teacher is the retriever here: its scores must come out in rank order, best first
    assert (np.diff(top.scores, axis=1) <= 1e-4).all()
    # excluding each query's positive removes exactly its score from the ranking (when it was in the top 20)
    ex = M.teacher_scores_topk(minilm, teacher, ds.corpus, some, k=19, exclude={q: {positives[q]} for q in some},
                               cache_dir=tmp_path)
    corpus = ds.corpus
    text = lambda p: corpus.passage(corpus.index[p])  # noqa: E731
    pos_scores = teacher.score(list(some.values()), [text(positives[q]) for q in some])
    found = 0
    for row, qid in enumerate(top.qids):
        hit = np.flatnonzero(np.isclose(top.scores[row], pos_scores[row], atol=1e-4))
        found += hit.size > 0
        expected = np.delete(top.scores[row], hit[:1]) if hit.size else top.scores[row]
        np.testing.assert_allclose(ex.scores[row], expected[:19], rtol=1e-4, atol=1e-4)
    assert found >= 3  # title-derived queries find their own document
    assert top.mean_by_rank().shape == (20,)
    # figure 1's comparison: with the teacher equal to MiniLM, MiniLM's top k are the k passages the teacher scores
    # highest, so any other model's k passages, sorted, score no higher position by position
    from harness.dense import load_encoder
    from tiny_models import build_tiny_bert_encoder

    rand = load_encoder(build_tiny_bert_encoder(tmp_path / "rand", ds.corpus.texts, hidden=32, layers=1), device="cpu")
    low = M.teacher_scores_topk(rand, teacher, ds.corpus, some, k=20, cache_dir=tmp_path)
    assert (np.sort(low.scores, axis=1)[:, ::-1] <= top.scores + 1e-4).all()
    assert top.flat().mean() > low.flat().mean() + 0.05

    before = [text(p) for p in pids[100:108]]
    after = [text(p) for p in pids[104:110]]  # 4 shared with before
    proj = M.projection_2d(minilm, queries["g0"], text(positives["g0"]), before, after)
    assert proj.query.shape == (1, 2) and proj.positive.shape == (1, 2)
    assert proj.before.shape == (8, 2) and proj.after.shape == (6, 2)
    assert proj.before_shared.tolist() == [False] * 4 + [True] * 4
    assert proj.after_shared.tolist() == [True] * 4 + [False] * 2
    np.testing.assert_allclose(proj.before[4:], proj.after[:4])
    unique = [queries["g0"], text(positives["g0"]), *before, *[t for t in after if t not in before]]
    coords, explained = A.pca_2d(encode_texts(minilm, unique))
    np.testing.assert_allclose(proj.before, coords[2:10], atol=1e-4)
    np.testing.assert_allclose(proj.explained, explained, atol=1e-5)
    assert explained[0] >= explained[1] > 0


@pytest.mark.slow
def test_cli_all_six_figures_with_models(tmp_path, scifact_slice, minilm_path, minilm, monkeypatch):
    """``harness figures`` end to end: MiniLM as base, tiny random BERTs as the adapted models, MiniLM as teacher."""
    from harness.figures.models import ModelContext
    from harness.datasets import load_dataset
    from harness.registry import custom_dataset
    from tiny_models import build_tiny_bert_encoder

    root, pids, queries, positives = scifact_slice
    ds = load_dataset(custom_dataset("scifact-slice"), "scifact-slice", root, allow_download=False)
    src = {"dataset": "scifact-slice", "corpus_fingerprint": ds.corpus_fingerprint, "student": minilm_path,
           "teacher": {"kind": "bi-encoder", "name": minilm_path}}
    gpl, rgpl = tmp_path / "gpl", tmp_path / "rgpl"
    write_work_dir(gpl, pids, queries, positives, remines=(), seed=1, sources=src)
    write_work_dir(rgpl, pids, queries, positives, remines=(100, 200), seed=2, sources=src)
    for work, seed in ((gpl, 1), (rgpl, 2)):
        build_tiny_bert_encoder(work / "model", ds.corpus.texts, hidden=32, layers=1, seed=seed)
    loads = []

    def fake_load_teacher(self, kind, name):  # the Teacher protocol over MiniLM (already loaded by the fixture)
        loads.append((kind, name))
        return BiEncoderScorer(minilm)

    monkeypatch.setattr(ModelContext, "_load_teacher", fake_load_teacher)
    out = tmp_path / "figs"
    res = _invoke(["figures", "--gpl", str(gpl), "--rgpl", str(rgpl), "--out", str(out), "--data-dir", str(root),
                   "--sample", "4", "--k", "10", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert loads == [("bi-encoder", minilm_path)]  # loaded once, shared by figures 1, 2 and 5
    for spec in FIGURES.values():
        assert_figure_files(out / spec.stem)
    assert "not made" not in res.output and "note:" not in res.output

    # a corpus other than the one trained on is refused for the model figures
    for work in (gpl, rgpl):
        other = json.loads((work / "sources.json").read_text())
        other["corpus_fingerprint"] = "0" * 64
        (work / "sources.json").write_text(json.dumps(other))
    res = _invoke(["figures", "--rgpl", str(rgpl), "--out", str(tmp_path / "o2"), "--data-dir", str(root), "--only", "1"])
    assert isinstance(res.exception, HarnessError) and "not the one the training used" in str(res.exception)


# ------------------------------------------------------------------- real tiny GPL and R-GPL trainings
@pytest.mark.slow
def test_figures_from_real_tiny_gpl_and_rgpl_trainings(shared_data, tmp_path_factory, tmp_path):
    """The real pipeline (tiny random models, a SciFact slice, 30 steps, R-GPL re-mining every 10) feeds all six."""
    import torch
    from gpl_support import base_sets, build, load, tiny_world

    from harness.gpl.pipeline import run_pipeline

    world = tiny_world(shared_data, tmp_path_factory.getbasetemp() / "gpl-world")
    sets = base_sets(world, steps=30, checkpoint_every=10, keep_checkpoints=5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gpl = run_pipeline(load(world), build("gpl", sets), tmp_path / "cache", seed=3).work_dir
        rgpl = run_pipeline(load(world), build("rgpl", {**sets, "remine_every": "10"}), tmp_path / "cache", seed=3).work_dir
    finally:
        torch.set_num_threads(threads)

    # the analyses read the pipeline's own artifacts
    gpl, rgpl = WorkDir(gpl), WorkDir(rgpl)
    assert rgpl.remine_steps() == [10, 20] and gpl.remine_steps() == []
    stats = A.round_stats(rgpl)
    assert [s.step for s in stats] == [0, 10, 20] and all(s.n > 0 and math.isfinite(s.mean) for s in stats)
    manifest0 = json.loads((rgpl.root / "rounds" / "0" / "manifest.json").read_text())
    assert stats[0].mean == pytest.approx(manifest0["teacher_scores"]["mean"])
    assert set(rgpl.round(10).scores().by_source) == {"student"}
    log = rgpl.train_log()
    assert list(log.steps) == list(range(1, 31)) and sorted(set(log.round.tolist())) == [0, 10, 20]

    out = tmp_path / "figs"
    res = _invoke(["figures", "--gpl", str(gpl.root), "--rgpl", str(rgpl.root), "--out", str(out), "--data-dir", world["data"],
                   "--sample", "8", "--k", "20", "--device", "cpu", "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    assert "not made" not in res.output and "note:" not in res.output, res.output
    for spec in FIGURES.values():
        assert_figure_files(out / spec.stem)
    # figure 5 embeds with the checkpoint saved at the remine step; figure 2 mined with both final models
    assert "embedded by the model at step 10" in res.output
    assert "GPL model (final)" in res.output and "R-GPL model (final)" in res.output
