"""Scores tie as trec_eval sees them: in single precision (a C ``float``), broken by document id descending.

trec_eval and pytrec_eval read every score into a ``float``: two scores that differ as doubles but are equal in
single precision are a tie. The harness must give pytrec_eval's number on every measure it reports, by every path
(a run held in memory, a plain file read by the column reader, any other file read line by line), and its own run
files must hold no distinction trec_eval cannot see. pytrec_eval is the reference throughout; nothing here uses the
harness's ordering to build an expected value.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import pytrec_eval
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from fixtures import write_beir
from harness.evaluate import MRR10, NDCG10, RECALL100, SUCCESS5, QrelsFile, evaluate_file, evaluate_run
from harness.runs import format_score, read_run, write_run

MEASURES = (NDCG10, MRR10, RECALL100, SUCCESS5)  # every measure the harness reports (BEIR, LoTTE)


def reference(qrels: dict, run: dict) -> dict:
    """Per judged query and measure, pytrec_eval's value (0 for a query absent from the run). MRR@10 is trec_eval's
    ``recip_rank`` of the whole run, kept when the first relevant document is within the first 10 (1/rank >= 0.1)."""
    te = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100", "success_5", "recip_rank"}).evaluate(run)
    out = {}
    for q in qrels:
        v = te.get(q, {})
        rr = v.get("recip_rank", 0.0)
        out[q] = {NDCG10: v.get("ndcg_cut_10", 0.0), RECALL100: v.get("recall_100", 0.0),
                  SUCCESS5: v.get("success_5", 0.0), MRR10: rr if rr >= 0.1 else 0.0}
    return out


def assert_equal_to_trec_eval(res, qrels: dict, run: dict) -> None:
    expected = reference(qrels, run)
    for m in MEASURES:
        got = res.of(m)
        for q in qrels:
            assert got[q] == pytest.approx(expected[q][m], abs=1e-12), (m.display, q, got[q], expected[q][m])


def write_lines(path: Path, run: dict, sep: str = " ") -> None:
    """A foreign run file: every double written exactly (repr), in the dict's order (not trec_eval's)."""
    path.write_text("".join(sep.join((q, "Q0", d, str(i), repr(s), "x")) + "\n"
                            for q, docs in run.items() for i, (d, s) in enumerate(docs.items(), start=1)),
                    encoding="utf-8")


# ----------------------------------------------------------------------------------- the issue's example
REPRO_QRELS = {"q1": {"d1": 1}}
REPRO_RUN = "q1 Q0 d1 1 5.094171524047852 r\nq1 Q0 d2 2 5.094171524047851 r\nq1 Q0 d3 3 1.0 r\n"


@pytest.mark.parametrize("sep", [" ", "\t"])  # the column reader and the line reader
def test_issue_example_gives_pytrec_evals_numbers(tmp_path, sep):
    data = write_beir(tmp_path / "data" / "tiny", [{"_id": d, "text": d} for d in ("d1", "d2", "d3")],
                      [{"_id": "q1", "text": "q"}], [("q1", "d1", 1)])
    run_file = tmp_path / "run.trec"
    run_file.write_text(REPRO_RUN.replace(" ", sep), encoding="utf-8")
    r = run_cli("evaluate", str(run_file), "-d", "tiny", "--data-dir", str(data.parent))
    assert r.returncode == 0, r.stderr
    scores = dict(re.findall(r"^(\S+)\s+(\d\.\d{4})$", r.stdout, flags=re.M))
    te = pytrec_eval.RelevanceEvaluator(REPRO_QRELS, {"ndcg_cut.10", "recip_rank"}).evaluate(
        {"q1": {"d1": 5.094171524047852, "d2": 5.094171524047851, "d3": 1.0}})["q1"]
    assert (scores["NDCG@10"], scores["MRR@10"]) == (f"{te['ndcg_cut_10']:.4f}", f"{te['recip_rank']:.4f}")
    assert (scores["NDCG@10"], scores["MRR@10"]) == ("0.6309", "0.5000")  # d2 first: the tie goes to the larger id


# ------------------------------------------------------------------- runs built to tie in single precision
def _within(v: np.float32, where: float) -> float:
    """A double that rounds to ``v`` in single precision: ``where`` in [-1, 1] spans most of v's rounding interval."""
    lo, hi = np.nextafter(v, np.float32(-np.inf)), np.nextafter(v, np.float32(np.inf))
    half = (float(hi) - float(lo)) / 4  # the interval is [v - ulp/2, v + ulp/2]; stay inside it
    x = float(v) + where * 0.99 * half
    return x if np.float32(x) == v else float(v)


def _midpoint(v: np.float32) -> float:
    """The double exactly between ``v`` and the next float up: C rounds it half to even, so must we."""
    return (float(v) + float(np.nextafter(v, np.float32(np.inf)))) / 2


@st.composite
def tied_cases(draw):
    """(qrels, run): queries whose scores come from a few single-precision values, each written as different
    doubles inside that value's rounding interval, beside exact ties, neighbouring floats and exact midpoints
    between two floats; ids chosen so that the double order and the id order disagree."""
    pool = draw(st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
                         min_size=1, max_size=4))
    pool = [np.float32(v) for v in pool] + [np.float32(5.094171524047852)]
    doc_ids = st.text(alphabet="dD0159", min_size=1, max_size=3)
    qrels, run = {}, {}
    for qi in range(draw(st.integers(1, 4))):
        q = f"q{qi}"
        docs = draw(st.lists(doc_ids, min_size=1, max_size=25, unique=True))
        scores = {}
        for d in docs:
            v = draw(st.sampled_from(pool))
            kind = draw(st.sampled_from(["within", "within", "exact", "next", "midpoint"]))
            if kind == "within":
                scores[d] = _within(v, draw(st.floats(-1, 1)))
            elif kind == "next":
                scores[d] = float(np.nextafter(v, np.float32(np.inf)))
            elif kind == "midpoint":
                scores[d] = _midpoint(v)
            else:
                scores[d] = float(v)
        judged = draw(st.lists(st.sampled_from(docs + ["unretrieved"]), min_size=1, max_size=6, unique=True))
        qrels[q] = {d: draw(st.integers(0, 3)) for d in judged}
        if draw(st.booleans()) or qi == 0:
            run[q] = scores
    assume(any(len(docs) > 1 for docs in run.values()))
    return qrels, run


@settings(max_examples=120)
@given(tied_cases())
def test_every_path_equals_pytrec_eval_on_single_precision_ties(tmp_path_factory, case):
    qrels, run = case
    assert_equal_to_trec_eval(evaluate_run(run, qrels, MEASURES), qrels, run)  # a run held in memory
    folder = tmp_path_factory.mktemp("ties")
    for sep in (" ", "\t"):  # the column reader (plain files) and the line reader
        path = folder / f"run{len(sep)}.trec"
        write_lines(path, run, sep)
        res = evaluate_file(path, QrelsFile(qrels, "sha", path), MEASURES, use_cache=False)
        assert_equal_to_trec_eval(res, qrels, run)
    # the harness's own file of that run: pytrec_eval on what it wrote gives what it had in memory
    own = write_run(folder / "own.trec", run, tag="t")
    written = read_run(own)  # ordered: the lines are in trec_eval's order
    assert_equal_to_trec_eval(evaluate_file(own, QrelsFile(qrels, "sha", own), MEASURES, use_cache=False), qrels, written)
    assert reference(qrels, written) == reference(qrels, run)


def test_adversarial_block_of_near_ties_is_ranked_by_id_descending(tmp_path):
    """Thirty documents whose doubles decrease as their ids increase but all round to one float: trec_eval ranks
    them by id descending, the reverse of the double order."""
    v = np.float32(12.345678)
    ids = [f"d{i:02d}" for i in range(30)]
    run = {"q": {d: _within(v, 1 - 2 * i / 29) for i, d in enumerate(ids)}}
    assert len(set(run["q"].values())) == 30 and len({np.float32(s) for s in run["q"].values()}) == 1
    qrels = {"q": {"d00": 2, "d15": 1}}  # the highest double and a middle one: ranks 30 and 15 for trec_eval
    res = evaluate_run(run, qrels, MEASURES)
    assert_equal_to_trec_eval(res, qrels, run)
    assert res.of(MRR10)["q"] == 0.0 and res.of(SUCCESS5)["q"] == 0.0 and res.of(RECALL100)["q"] == 1.0
    p = tmp_path / "r.trec"
    write_lines(p, run)
    assert_equal_to_trec_eval(evaluate_file(p, QrelsFile(qrels, "sha", p), MEASURES, use_cache=False), qrels, run)


# ------------------------------------------------------------------------------------ what the writer writes
@settings(max_examples=300)
@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_written_score_reads_back_as_the_same_float(v):
    text = format_score(v)
    assert np.float32(float(text)) == np.float32(v)  # strtod then (float), as trec_eval reads it
    assert len(text.replace("-", "").replace(".", "").split("e")[0].strip("0")) <= 9  # no false digits


@settings(max_examples=60)
@given(tied_cases())
def test_own_run_files_hold_no_false_distinctions(tmp_path_factory, case):
    _, run = case
    p = write_run(tmp_path_factory.mktemp("own") / "r.trec", run, tag="t")
    by_query: dict[str, list[tuple[str, str]]] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        q, _, d, rank, score, _ = line.split(" ")
        by_query.setdefault(q, []).append((d, score))
        assert int(rank) == len(by_query[q])
    for q, rows in by_query.items():
        texts = [s for _, s in rows]
        # two written scores differ exactly when trec_eval can tell them apart
        assert len(set(texts)) == len({np.float32(s) for s in run[q].values()})
        assert all(np.float32(float(s)) == np.float32(run[q][d]) for d, s in rows)
        # in the order trec_eval re-sorts into: score descending, then document id descending
        key = [(np.float32(float(s)), d.encode()) for d, s in rows]
        assert key == sorted(key, reverse=True)


def test_harness_run_prints_what_evaluate_and_pytrec_eval_give_on_exact_ties(tmp_path):
    """Two documents with the same text score the same in BM25 (an exact tie): the relevant one has the smaller id,
    so trec_eval ranks its twin first. ``harness run``'s printed score, ``harness evaluate`` on the file and
    pytrec_eval on the file agree."""
    docs = [{"_id": "a1", "text": "solar wind plasma"}, {"_id": "a2", "text": "solar wind plasma"},
            {"_id": "b", "text": "ocean tides"}, {"_id": "c", "text": "forest fires"}]
    write_beir(tmp_path / "data" / "twins", docs, [{"_id": "q", "text": "solar plasma"}], [("q", "a1", 1)])
    r = run_cli("run", "--system", "bm25", "--datasets", "twins", "--data-dir", str(tmp_path / "data"),
                "--out", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    printed = float(re.search(r"NDCG@10 (\d+\.\d)", r.stdout).group(1))
    path = tmp_path / "runs" / "beir" / "twins" / "bm25.trec"
    run: dict = {}
    for line in path.read_text().splitlines():
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
    te = pytrec_eval.RelevanceEvaluator({"q": {"a1": 1}}, {"ndcg_cut.10"}).evaluate(run)["q"]["ndcg_cut_10"]
    assert te < 1  # the twin a2 is ranked first
    e = run_cli("evaluate", str(path), "-d", "twins", "--data-dir", str(tmp_path / "data"))
    assert printed == round(100 * te, 1) and f"NDCG@10      {te:.4f}" in e.stdout
