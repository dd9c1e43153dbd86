"""Per-query evaluation against trec_eval (pytrec_eval) and the official LoTTE Success@k definition."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval

from harness.datasets import load_lotte_folder
from harness.errors import DataError, HarnessError
from harness.evaluate import (MRR10, NDCG10, RECALL100, SUCCESS5, Metric, evaluate_dataset, evaluate_file,
                              evaluate_run, load_qrels, read_run_lenient, trec_order)
from harness.registry import get_suite
from harness.runs import write_run


def _random_case(seed: int, n_queries: int = 120, n_docs: int = 80, ties: bool = True):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 15))}
        if q % 9 == 0:
            qrels[qid] = {d: 0 for d in qrels[qid]}  # judged, but nothing relevant
        if q % 6 == 0:
            continue  # missing from the run
        ranked = rng.sample(docs, rng.randint(1, 60))
        run[qid] = {d: float(rng.randint(0, 6)) if ties else rng.random() for d in ranked}
    run["unjudged"] = {"d1": 1.0}
    return qrels, run


@pytest.mark.parametrize("seed,ties", [(0, True), (1, True), (2, False), (3, True), (4, False)])
def test_matches_trec_eval_on_graded_qrels_with_ties(seed, ties):
    qrels, run = _random_case(seed, ties=ties)
    res = evaluate_run(run, qrels, [NDCG10, RECALL100, SUCCESS5, MRR10])
    te = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100", "success_5"}).evaluate(run)
    # trec_eval has no MRR cutoff: recip_rank on the run cut to its first 10 results (in trec_eval order) is MRR@10
    cut = {q: {d: run[q][d] for d in trec_order(run[q])[:10]} for q in run}
    te_rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut)
    assert res.qids == tuple(qrels)
    for metric, name, table in ((NDCG10, "ndcg_cut_10", te), (RECALL100, "recall_100", te),
                                (SUCCESS5, "success_5", te), (MRR10, "recip_rank", te_rr)):
        got = res.of(metric)
        for q in qrels:
            expected = table[q][name] if q in table else 0.0  # trec_eval skips queries absent from the run
            assert got[q] == expected, (metric, q)  # bit-identical, not merely close
    assert set(res.missing) == {q for q in qrels if q not in run}
    assert res.extra == 1
    # missing queries count in the mean (as zeros): the mean is over every judged query
    assert res.mean(NDCG10) == pytest.approx(sum(te[q]["ndcg_cut_10"] for q in te) / len(qrels), abs=1e-12)


def test_ties_are_broken_by_docid_descending_like_trec_eval():
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}  # tie: trec_eval ranks 'b' before 'a'
    assert trec_order(run["q"]) == ["b", "a"]
    assert evaluate_run(run, qrels, [MRR10]).mean(MRR10) == pytest.approx(0.5)


def test_metric_names():
    assert Metric.parse("ndcg_cut_10") == NDCG10 == Metric.parse("NDCG@10")
    assert Metric.parse("success_5") == SUCCESS5 == Metric.parse("hit_rate@5")
    assert Metric.parse("recall@100").name == "recall_100" and MRR10.ranx == "mrr@10"
    assert SUCCESS5.binary and not NDCG10.binary
    with pytest.raises(HarnessError):
        Metric.parse("bleu@4")


def test_run_reader_accepts_ties_rejects_duplicates(tmp_path):
    p = tmp_path / "r.trec"
    p.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 2.0 t\n")
    assert read_run_lenient(p) == {"q1": {"d1": 2.0, "d2": 2.0}}
    p.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n")
    with pytest.raises(DataError, match=r"r.trec:2: document 'd1' appears twice"):
        read_run_lenient(p)
    p.write_text("q1 Q0 d1 1 x t\n")
    with pytest.raises(DataError, match=r"r.trec:1"):
        read_run_lenient(p)


def _write_trec(path: Path, run: dict, shuffle: random.Random | None = None, sep: str = " ") -> None:
    """Lines in any order (trec_eval re-sorts), with ties; ``sep`` between the columns."""
    lines = [sep.join((q, "Q0", d, str(i + 1), repr(s), "t")) for q, docs in run.items() for i, (d, s) in enumerate(docs.items())]
    if shuffle is not None:
        shuffle.shuffle(lines)
    path.write_text("".join(line + "\n" for line in lines))


@pytest.mark.parametrize("seed,shape", [(0, "adjacent"), (1, "shuffled"), (2, "tabs"), (3, "long ids"),
                                        (4, "non-ascii"), (5, "adjacent")])
def test_evaluate_file_equals_trec_eval_on_any_file_shape(tmp_path, monkeypatch, seed, shape):
    """The C column reader (plain files) and the line reader (anything else) give pytrec_eval's values."""
    import harness.evaluate as ev
    from harness.evaluate import QrelsFile

    if shape == "adjacent":  # a plain file must not need the line reader
        monkeypatch.setattr(ev, "read_run_lenient", lambda path: pytest.fail("line reader used"))

    qrels, run = _random_case(seed, ties=seed % 2 == 0)
    if shape == "long ids":  # one id far longer than those the column widths are taken from: the line reader
        long = max(run, key=lambda q: int(q[1:]) if q[1:].isdigit() else -1)
        run[long] = {d + "x" * 300: s for d, s in run[long].items()}
        qrels[long] = {d + "x" * 300: g for d, g in qrels[long].items()}
        run.update({f"pad{i}": {f"p{j}": 1.0 for j in range(40)} for i in range(120)})  # first 64 KiB: short ids
        run = {q: run[q] for q in sorted(run, key=lambda q: (not q.startswith("pad"), q == long))}
    if shape == "non-ascii":
        run = {q: {d + "é": s for d, s in docs.items()} for q, docs in run.items()}
        qrels = {q: {d + "é": g for d, g in docs.items()} for q, docs in qrels.items()}
    p = tmp_path / "r.trec"
    _write_trec(p, run, random.Random(seed) if shape == "shuffled" else None, "\t" if shape == "tabs" else " ")
    res = evaluate_file(p, QrelsFile(qrels, f"sha-{seed}", p), [NDCG10, RECALL100, SUCCESS5], use_cache=False)
    te = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100", "success_5"}).evaluate(run)
    for metric, name in ((NDCG10, "ndcg_cut_10"), (RECALL100, "recall_100"), (SUCCESS5, "success_5")):
        got = res.of(metric)
        assert all(got[q] == (te[q][name] if q in te else 0.0) for q in qrels), (shape, metric)
    assert set(res.missing) == {q for q in qrels if q not in run}
    assert res.extra == (121 if shape == "long ids" else 1)


def test_column_reader_takes_plain_files_and_hands_the_rest_to_the_line_reader():
    from harness.evaluate import _run_columns

    cols = _run_columns(b"q1 Q0 d2 1 2.5 t\nq1 Q0 d1 2 2.5 t\n")
    assert cols["doc"].tolist() == [b"d2", b"d1"] and cols["score"].tolist() == [2.5, 2.5]
    long_id = b"q1 Q0 " + b"d" * 200 + b" 1 2.0 t\n"
    assert _run_columns(long_id)["doc"].tolist() == [b"d" * 200]  # columns as wide as the ids seen first
    late_long_id = b"".join(b"q0 Q0 d%d 1 2.0 t\n" % i for i in range(5000)) + long_id  # after the first 64 KiB
    for odd in (b"q1\tQ0 d1 1 2.0 t\n", b"q1 Q0 d1 1 2.0 t\r\n", b"q1 Q0  d1 1 2.0 t\n", b"q1 Q0 d1 1 2.0 t x\n",
                b"q1 Q0 d1 1 2.0\n", "q1 Q0 dé 1 2.0 t\n".encode(), late_long_id, b"q1 Q0 d1 1 x t\n", b""):
        assert _run_columns(odd) is None, odd[:80]


def test_evaluate_file_names_the_bad_line(tmp_path):
    from harness.evaluate import QrelsFile

    p = tmp_path / "r.trec"
    qrels = QrelsFile({"q1": {"d1": 1}}, "sha", p)
    for text, where in (("q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", r"r.trec:2: document 'd1' appears twice"),
                        ("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 nan t\n", r"r.trec:2: score is not finite"),
                        ("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 2.0\n", r"r.trec:2: expected 6 columns")):
        p.write_text(text)
        with pytest.raises(DataError, match=where):
            evaluate_file(p, qrels, [NDCG10], use_cache=False)


# ------------------------------------------------------------------------------------------------ LoTTE
def _write_lotte(root: Path, rng: random.Random) -> Path:
    """A LoTTE-layout folder whose qids collide with pids (as in the real data)."""
    folder = root / "lotte" / "lifestyle" / "test"
    folder.mkdir(parents=True)
    n_docs, n_q = 60, 40
    with open(folder / "collection.tsv", "w") as fh:
        for pid in range(n_docs):
            fh.write(f"{pid}\tpassage number {pid} about topic {pid % 7}\n")
    with open(folder / "questions.search.tsv", "w") as fh:
        for qid in range(n_q):
            fh.write(f"{qid}\tquestion {qid}?\n")
    with open(folder / "qas.search.jsonl", "w") as fh:
        for qid in range(n_q):
            answers = [] if qid == 7 else rng.sample(range(n_docs), rng.randint(1, 4))
            if qid == 3:
                answers = [3]  # the answer pid equals the qid: must not be dropped as a "self hit"
            fh.write(json.dumps({"qid": qid, "query": f"question {qid}?", "answer_pids": answers}) + "\n")
    return folder


def _official_lotte_success(rankings_tsv: Path, qas_path: Path, k: int = 5) -> float:
    """The official LoTTE script's definition (ColBERT utility/evaluate/evaluate_lotte_rankings.py)."""
    rankings = defaultdict(list)
    with open(rankings_tsv) as f:
        for line in f:
            qid, pid, rank = line.strip().split("\t")[:3]
            rankings[int(qid)].append(int(pid))
            assert int(rank) == len(rankings[int(qid)])
    success = total = 0
    with open(qas_path) as f:
        for line in f:
            obj = json.loads(line)
            total += 1
            if int(obj["qid"]) not in rankings:
                continue
            if set(rankings[int(obj["qid"])][:k]) & set(obj["answer_pids"]):
                success += 1
    return success / total


def test_success_at_5_equals_official_lotte_definition(tmp_path):
    rng = random.Random(7)
    folder = _write_lotte(tmp_path / "data", rng)
    info = get_suite("lotte").get("lifestyle.search")
    ds = load_lotte_folder(folder, info)
    run = {}
    for qid in ds.queries:
        if int(qid) % 5 == 0:
            continue  # queries absent from the ranking count as failures
        pids = rng.sample(ds.corpus.ids, 20)
        if qid == "3":
            pids = ["3"] + [p for p in pids if p != "3"]
        run[qid] = {p: 100.0 - i for i, p in enumerate(pids)}
    runs_dir = tmp_path / "runs"
    run_file = runs_dir / "lotte" / "lifestyle.search" / "sys.trec"
    write_run(run_file, run, tag="sys")
    tsv = tmp_path / "ranking.tsv"
    with open(tsv, "w") as fh:
        for qid in run:
            for rank, pid in enumerate(trec_order(run[qid]), start=1):
                fh.write(f"{qid}\t{pid}\t{rank}\n")
    official = _official_lotte_success(tsv, folder / "qas.search.jsonl")
    scores = evaluate_dataset(info, "sys", runs_dir, tmp_path / "data")
    assert scores.n == 40  # every question, including the one without answers
    assert scores.mean(SUCCESS5) == pytest.approx(official, abs=1e-12)
    per_q = scores.pooled.of(SUCCESS5)
    assert per_q["3"] == 1.0 and per_q["7"] == 0.0 and per_q["0"] == 0.0
    assert set(scores.missing) == {q for q in ds.queries if int(q) % 5 == 0}


# ------------------------------------------------------------------------------------------ files, cache
def test_evaluate_file_is_cached_by_run_hash(tmp_path, shared_data):
    info = get_suite("beir").get("scifact")
    qrels = load_qrels(info, "scifact", shared_data)
    rng = np.random.default_rng(0)
    run = {q: {d: float(rng.random()) for d in list(docs) + ["4983", "5836"]} for q, docs in qrels.qrels.items()}
    p = tmp_path / "r.trec"
    write_run(p, run, tag="x")
    first = evaluate_file(p, qrels, [NDCG10])
    cached = list((Path(__import__("os").environ["HARNESS_CACHE"]) / "eval").glob("*.json"))
    assert len(cached) == 1
    again = evaluate_file(p, qrels, [NDCG10])
    assert np.array_equal(first.array(NDCG10), again.array(NDCG10))
    # a changed run file gets a new entry, not the stale one
    run[next(iter(run))] = {"4983": 1.0}
    write_run(p, run, tag="x")
    third = evaluate_file(p, qrels, [NDCG10])
    assert len(list(cached[0].parent.glob("*.json"))) == 2
    assert not np.array_equal(first.array(NDCG10), third.array(NDCG10))


def test_cqadupstack_is_macro_average_and_missing_parts_are_reported(tmp_path):
    info = get_suite("beir").get("cqadupstack")
    data, runs = tmp_path / "data", tmp_path / "runs"
    rng = random.Random(3)
    expected_means = []
    for i, key in enumerate(info.part_names):
        folder = data / key
        (folder / "qrels").mkdir(parents=True)
        docs = [f"{i}-{j}" for j in range(20)]
        with open(folder / "corpus.jsonl", "w") as fh:
            for d in docs:
                fh.write(json.dumps({"_id": d, "title": "", "text": f"doc {d}"}) + "\n")
        n_q = 3 + i  # parts of different sizes: macro average differs from the pooled mean
        with open(folder / "queries.jsonl", "w") as fh:
            for q in range(n_q):
                fh.write(json.dumps({"_id": f"q{q}", "text": f"query {q}"}) + "\n")
        qrels = {f"q{q}": {rng.choice(docs): 1} for q in range(n_q)}
        with open(folder / "qrels" / "test.tsv", "w") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for q, dd in qrels.items():
                for d, g in dd.items():
                    fh.write(f"{q}\t{d}\t{g}\n")
        run = {q: {d: rng.random() for d in docs} for q in qrels}
        if key == info.part_names[-1]:
            continue
        write_run(runs / "beir" / key / "sys.trec", run, tag="sys")
        te = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"}).evaluate(run)
        expected_means.append(np.mean([te[q]["ndcg_cut_10"] for q in qrels]))
    with pytest.raises(HarnessError, match=r"cqadupstack: 1 of 12 parts missing .*wordpress"):
        evaluate_dataset(info, "sys", runs, data)
    last = info.part_names[-1]
    write_run(runs / "beir" / last / "sys.trec", {"q0": {f"11-{j}": 1.0 - j / 100 for j in range(5)}}, tag="sys")
    scores = evaluate_dataset(info, "sys", runs, data)
    folder = data / last
    q_last = {}
    for line in open(folder / "qrels" / "test.tsv").read().splitlines()[1:]:
        q, d, g = line.split("\t")
        q_last.setdefault(q, {})[d] = int(g)
    te = pytrec_eval.RelevanceEvaluator(q_last, {"ndcg_cut_10"}).evaluate({"q0": {f"11-{j}": 1.0 - j / 100 for j in range(5)}})
    expected_means.append(te["q0"]["ndcg_cut_10"] / len(q_last))  # the other queries are missing: 0
    assert len(scores.parts) == 12
    assert scores.mean(NDCG10) == pytest.approx(float(np.mean(expected_means)), abs=1e-12)
    assert scores.pooled.n == sum(3 + i for i in range(12))
    assert len(scores.missing) == len(q_last) - 1
