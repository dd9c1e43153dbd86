import hashlib
import json

import pytest

from harness.datasets import load_beir_folder, load_dataset, load_lotte_folder
from harness.errors import DataError, HarnessError
from harness.registry import custom_dataset, get_suite

from fixtures import write_beir, write_lotte


def test_scifact_counts(shared_data):
    ds = load_dataset(get_suite("beir").get("scifact"), data_dir=shared_data)
    assert len(ds.corpus) == 5183
    assert len(ds.queries) == 300
    assert sum(len(v) for v in ds.qrels.values()) == 339
    assert ds.corpus.passage(ds.corpus.index["4983"]).startswith("Microstructural development")


def _tiny(folder, **over):
    docs = over.get("docs", [{"_id": "d1", "title": "t", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}])
    queries = over.get("queries", [{"_id": "q1", "text": "alpha"}])
    qrels = over.get("qrels", [("q1", "d1", 1)])
    return write_beir(folder, docs, queries, qrels)


def test_malformed_json_names_file_and_line(tmp_path):
    folder = _tiny(tmp_path / "x")
    with open(folder / "corpus.jsonl", "a") as fh:
        fh.write('{"_id": "d3", "text": oops}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:3: malformed JSON"):
        load_beir_folder(folder, custom_dataset("x"))


def test_duplicate_doc_id(tmp_path):
    folder = _tiny(tmp_path / "x", docs=[{"_id": "d1", "text": "a"}, {"_id": "d1", "text": "b"}])
    with pytest.raises(DataError, match=r"corpus.jsonl:2: duplicate document id 'd1' \(first on line 1\)"):
        load_beir_folder(folder, custom_dataset("x"))


def test_qrels_unknown_ids(tmp_path):
    folder = _tiny(tmp_path / "x", qrels=[("q1", "d1", 1), ("q1", "nope", 1)])
    with pytest.raises(DataError, match=r"test.tsv:3: document id 'nope' is not in the corpus"):
        load_beir_folder(folder, custom_dataset("x"))
    ds = load_beir_folder(folder, custom_dataset("x"), lenient_qrels=True)
    assert ds.qrels == {"q1": {"d1": 1}}
    folder = _tiny(tmp_path / "y", qrels=[("q9", "d1", 1)])
    with pytest.raises(DataError, match=r"test.tsv:2: query id 'q9' is not in queries.jsonl"):
        load_beir_folder(folder, custom_dataset("y"))


def test_empty_query_and_bad_score(tmp_path):
    folder = _tiny(tmp_path / "x", queries=[{"_id": "q0", "text": "unjudged"}, {"_id": "q1", "text": "  "}])
    with pytest.raises(DataError, match=r"queries.jsonl:2: query 'q1' has empty text"):
        load_beir_folder(folder, custom_dataset("x"))
    folder = _tiny(tmp_path / "y", qrels=[("q1", "d1", "high")])
    with pytest.raises(DataError, match=r"test.tsv:2: relevance score 'high' is not a number"):
        load_beir_folder(folder, custom_dataset("y"))


def test_missing_dataset_says_where_to_put_it(tmp_path):
    with pytest.raises(HarnessError) as e:
        load_dataset(get_suite("beir").get("nfcorpus"), data_dir=tmp_path)
    msg = str(e.value)
    assert "dataset 'nfcorpus' not found" in msg and str(tmp_path / "nfcorpus") in msg and "\n" not in msg
    with pytest.raises(HarnessError, match=r"lotte/science/test"):
        load_dataset(get_suite("lotte").get("science.forum"), data_dir=tmp_path)


def test_lotte_ids_colliding_with_pids_are_kept(tmp_path):
    write_lotte(tmp_path)
    ds = load_dataset(get_suite("lotte").get("lifestyle.search"), data_dir=tmp_path)
    assert len(ds.corpus) == 12 and len(ds.queries) == 6
    # query 1's gold passage is pid 1: same number, must survive
    assert ds.qrels["1"] == {"1": 1}
    assert ds.qrels["0"] == {"2": 1, "3": 1}


def test_lotte_bad_lines(tmp_path):
    folder = write_lotte(tmp_path)
    (folder / "qas.search.jsonl").write_text('{"qid": 0, "answer_pids": [99]}\n')
    with pytest.raises(DataError, match=r"qas.search.jsonl:1: document id '99' is not in the corpus"):
        load_lotte_folder(folder, get_suite("lotte").get("lifestyle.search"))
    (folder / "collection.tsv").write_text("0\tone\n1 two without tab\n")
    with pytest.raises(DataError, match=r"collection.tsv:2: expected 'pid<TAB>passage'"):
        load_lotte_folder(folder, get_suite("lotte").get("lifestyle.search"))


def test_fingerprint_changes_with_content(tmp_path):
    a = load_beir_folder(_tiny(tmp_path / "a"), custom_dataset("a"))
    b = load_beir_folder(_tiny(tmp_path / "b"), custom_dataset("b"))
    assert a.fingerprint == b.fingerprint
    c = load_beir_folder(_tiny(tmp_path / "c", docs=[{"_id": "d1", "text": "alpha!"}]), custom_dataset("c"))
    assert c.fingerprint != a.fingerprint and c.corpus_fingerprint != a.corpus_fingerprint
    # the files read are recorded for the run manifest: each path, and the corpus's own sha256
    folder = tmp_path / "a"
    assert json.loads(json.dumps(a.files)) == {
        "corpus": str(folder / "corpus.jsonl"), "queries": str(folder / "queries.jsonl"),
        "qrels": str(folder / "qrels" / "test.tsv"),
        "corpus_sha256": hashlib.sha256((folder / "corpus.jsonl").read_bytes()).hexdigest()}
