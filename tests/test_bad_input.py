"""Bad input that used to crash or pass silently: each stops with one line naming the file (and line) and exit status 2,
or, where a flag says so, is dropped and reported. The readers' fuzzing suite is tests/test_fuzz_readers.py."""

from __future__ import annotations

import json
import re
import warnings

import pytest
import pytrec_eval

from conftest import run_cli
from fixtures import write_beir, write_lotte

DOCS = [{"_id": f"d{i}", "title": "", "text": t} for i, t in enumerate([
    "alpha beta gamma", "beta gamma delta", "gamma delta epsilon", "delta epsilon zeta", "epsilon zeta eta",
    "zeta eta theta", "eta theta iota", "theta iota kappa"])]
QUERIES = [{"_id": "q1", "text": "alpha beta"}, {"_id": "q2", "text": "iota kappa"}, {"_id": "q3", "text": "zeta eta"}]
QRELS = [("q1", "d0", 1), ("q2", "d7", 2), ("q2", "d6", 1), ("q3", "d5", 1)]


def one_line_error(r, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.fixture
def tiny(tmp_path):
    write_beir(tmp_path / "data" / "tiny", DOCS, QUERIES, QRELS)
    return tmp_path / "data"


# ------------------------------------------------------------------------------------------------ run files
@pytest.mark.parametrize("content", [b"\n", b"\n\n\n", b" \n", b"\r\n", b"\t\n", b""],
                         ids=["blank", "blanks", "space", "crlf", "tab", "empty"])
def test_run_file_without_results_is_an_error_naming_it(tmp_path, tiny, content):
    run = tmp_path / "run.trec"
    run.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "input contained no data" warning was printed too
        r = run_cli("evaluate", str(run), "-d", "tiny", "--data-dir", str(tiny))
    one_line_error(r, f"{run}: no results", "empty")
    assert r.stdout == ""  # no metric printed: the old behaviour was every metric 0.0000 and exit status 0


def test_byte_that_is_not_utf8_names_file_and_line(tmp_path, tiny):
    run = tmp_path / "run.trec"
    run.write_bytes(b"q1 Q0 d0 1 2.0 t\nq1 Q0 d\xff 2 1.0 t\n")
    one_line_error(run_cli("evaluate", str(run), "-d", "tiny", "--data-dir", str(tiny)),
                   f"{run}:2: not valid UTF-8", "0xff")


def test_score_with_python_only_digit_separators_is_refused(tmp_path, tiny):
    """``float('1_0')`` is 10 in Python, but trec_eval's ``atof`` reads 1: such a score is not a number."""
    run = tmp_path / "run.trec"
    run.write_text("q1\tQ0\td0\t1\t1_0\tt\n", encoding="utf-8")  # tabs: the line reader
    one_line_error(run_cli("evaluate", str(run), "-d", "tiny", "--data-dir", str(tiny)), f"{run}:1: score '1_0'")


# --------------------------------------------------------------------------------------------- --lenient-qrels
def _score(stdout: str, metric: str = "NDCG@10") -> float:
    m = re.search(rf"{re.escape(metric)} +(\d+\.\d+)", stdout)
    assert m, stdout
    return float(m.group(1))


def _qrels(rows) -> dict:
    out: dict = {}
    for q, d, g in rows:
        out.setdefault(q, {})[d] = g
    return out


def _trec(path) -> dict:
    run: dict = {}
    for line in path.read_text().splitlines():
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
    return run


@pytest.mark.parametrize("bad", [("q-unknown", "d1", 1), ("q1", "d-unknown", 1)], ids=["query", "document"])
def test_lenient_qrels_drops_the_same_judgements_in_run_evaluate_and_compare(tmp_path, tiny, bad):
    """A judgement naming an unknown id: refused by run, evaluate and compare alike; with --lenient-qrels the three
    drop it, say so with counts, and score exactly what the clean qrels score (pytrec_eval)."""
    folder = tiny / "tiny"
    with open(folder / "qrels" / "test.tsv", "a", encoding="utf-8") as fh:
        fh.write("\t".join(map(str, bad)) + "\n")
    runs, data = tmp_path / "runs", str(tiny)
    what = "query id 'q-unknown' is not in queries.jsonl" if bad[0] == "q-unknown" else "document id 'd-unknown'"
    one_line_error(run_cli("run", "--system", "bm25", "--datasets", "tiny", "--data-dir", data, "--out", str(runs)),
                   "test.tsv:6:", what, "--lenient-qrels")

    r = run_cli("run", "--system", "bm25", "--datasets", "tiny", "--data-dir", data, "--out", str(runs), "--lenient-qrels")
    assert r.returncode == 0, r.stderr
    run_file = runs / "beir" / "tiny" / "bm25.trec"
    per_q = pytrec_eval.RelevanceEvaluator(_qrels(QRELS), {"ndcg_cut.10"}).evaluate(_trec(run_file))
    clean = sum(v["ndcg_cut_10"] for v in per_q.values()) / len(QUERIES)  # the qrels without the bad line
    dropped = "dropped 1 of 5 judgements: 1 naming 1 " + ("query ids not in queries.jsonl (e.g. 'q-unknown')"
                                                           if bad[0] == "q-unknown" else "document ids not in the corpus (e.g. 'd-unknown')")
    assert _score(r.stdout) == round(100 * clean, 1) and dropped in r.stderr
    assert r.stderr.count("--lenient-qrels dropped") == 1  # once, though the qrels are read to run and to score

    if bad[0] == "q-unknown":  # evaluate reads the queries, not the corpus, unless told to be lenient
        one_line_error(run_cli("evaluate", str(run_file), "-d", "tiny", "--data-dir", data), "test.tsv:6:", what)
    r = run_cli("evaluate", str(run_file), "-d", "tiny", "--data-dir", data, "--lenient-qrels")
    assert r.returncode == 0 and _score(r.stdout) == pytest.approx(clean, abs=5e-5) and dropped in r.stderr
    assert "queries: 3 judged" in r.stdout

    (runs / "beir" / "tiny" / "copy.trec").write_text(run_file.read_text())
    if bad[0] == "q-unknown":
        one_line_error(run_cli("compare", "bm25", "copy", "--runs", str(runs), "--data-dir", data), "test.tsv:6:", what)
    r = run_cli("compare", "bm25", "copy", "--runs", str(runs), "--data-dir", data, "--lenient-qrels",
                "--json", str(tmp_path / "c.json"))
    assert r.returncode == 0 and dropped in r.stderr, r.stderr
    row = json.loads((tmp_path / "c.json").read_text())["datasets"][0]
    assert row["n_queries"] == 3 and row["mean_a"] == pytest.approx(clean, abs=1e-12)


def test_lenient_qrels_drops_an_unknown_lotte_question(tmp_path):
    """LoTTE refused an unknown qid even with --lenient-qrels; now it is dropped like any unknown id."""
    folder = write_lotte(tmp_path / "data")
    with open(folder / "qas.search.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"qid": 99, "answer_pids": [1]}) + "\n")
    args = ("run", "--system", "bm25", "--datasets", "lifestyle.search", "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "runs"))
    one_line_error(run_cli(*args), "qas.search.jsonl:7: query id '99' is not in questions.search.tsv")
    r = run_cli(*args, "--lenient-qrels")
    assert r.returncode == 0 and "dropped 1 of 8 judgements: 1 naming 1 query ids" in r.stderr, r.stderr


# ----------------------------------------------------------------------------------------------- messages
def test_malformed_json_message_reads_once(tmp_path, tiny):
    with open(tiny / "tiny" / "corpus.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"_id": "d9", "text": "unterminated}\n')
    line = one_line_error(run_cli("run", "--system", "bm25", "--datasets", "tiny", "--data-dir", str(tiny),
                                  "--out", str(tmp_path / "runs")), "corpus.jsonl:9: malformed JSON")
    assert "at at" not in line and "Unterminated string starting at column 23" in line


@pytest.mark.parametrize("system,presets", [("bm25", None), ("base", "paper, gpl, offline")])
def test_unknown_preset_names_the_system_and_its_presets(system, presets):
    line = one_line_error(run_cli("run", "--system", system, "--preset", "nosuch", "--datasets", "scifact"),
                          f"unknown preset 'nosuch' of system '{system}'")
    assert "Settings" not in line  # not the internal class (BM25Settings)
    assert (f"presets: {presets}" if presets else "it has no presets") in line
