import pytest

from harness.errors import DataError
from harness.runs import manifest_path, rank_query, read_run, write_run


def test_ties_in_trec_evals_order_with_single_precision_scores(tmp_path):
    run = {"q1": {"b": 1.0, "a": 1.0, "c": 2.0, "d": 1.0, "e": 0.5}, "q2": {"x": 0.1}}
    p = write_run(tmp_path / "r.trec", run, tag="t", top_k=3)
    lines = p.read_text().splitlines()
    assert [l.split()[2] for l in lines[:3]] == ["c", "d", "b"]  # the tie: ids descending, as trec_eval ranks it
    assert [l.split()[4] for l in lines] == ["2.0", "1.0", "1.0", "0.1"]  # ties stay ties; float32's shortest text
    back = read_run(p)
    assert list(back["q1"]) == ["c", "d", "b"] and back["q2"] == {"x": 0.1}


def test_query_order_and_empty_queries(tmp_path):
    p = write_run(tmp_path / "r.trec", {"2": {"a": 1.0}, "10": {"b": 1.0}}, tag="t", query_order=["10", "2", "3"])
    assert [l.split()[0] for l in p.read_text().splitlines()] == ["10", "2"]


def test_reader_rejects_bad_runs(tmp_path):
    cases = {
        "q1 Q0 a 1 1.0\n": "expected 6 columns",
        "q1 Q0 a 1 x t\n": "is not a number",
        "q1 Q0 a 1 2.0 t\nq1 Q0 a 2 1.0 t\n": "appears twice",
        "q1 Q0 a 1 1.0 t\nq1 Q0 b 2 1.0 t\n": "ties: document ids descending",
        "q1 Q0 a 1 1.0 t\nq1 Q0 b 2 2.0 t\n": "scores decrease",
        "q1 Q0 a 1 1.0000000001 t\nq1 Q0 b 2 1.0 t\n": r"\.trec:2: within query 'q1'",  # a tie in single precision
    }
    for i, (text, msg) in enumerate(cases.items()):
        p = tmp_path / f"{i}.trec"
        p.write_text(text)
        with pytest.raises(DataError, match=msg):
            read_run(p)
    with pytest.raises(DataError, match="run file not found"):
        read_run(tmp_path / "none.trec")


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(ValueError):
        write_run(tmp_path / "r.trec", {"q1": {"a": 1.0}, "q2": {"b": float("nan")}}, tag="t")
    assert list(tmp_path.iterdir()) == []


def test_manifest_path_and_rank_query():
    assert manifest_path("runs/beir/x/bm25.trec").name == "bm25.manifest.json"
    assert rank_query({"a": 3.0, "b": 5.0}, 1) == [("b", 5.0)]
