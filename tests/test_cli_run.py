"""`harness run` end to end through the console entry point (in this process): real bm25s, real files, trec_eval's
numbers."""

import json

import pytest

from harness.datasets import load_dataset
from harness.registry import custom_dataset, get_suite
from harness.runs import read_manifest, read_run

from conftest import ndcg10, run_cli
from fixtures import LOTTE_QUESTIONS, scifact_slice, write_beir, write_lotte


def test_bm25_scifact_matches_reference(shared_data, tmp_path):
    r = run_cli("run", "--system", "bm25", "--suite", "beir", "--datasets", "scifact", "--data-dir", str(shared_data),
                "--out", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    path = tmp_path / "runs" / "beir" / "scifact" / "bm25.trec"
    run = read_run(path)
    ds = load_dataset(get_suite("beir").get("scifact"), data_dir=shared_data)
    assert set(run) == set(ds.queries) and len(run) == 300
    assert all(len(docs) <= 1000 for docs in run.values())
    score = ndcg10(ds.qrels, run)
    assert 0.665 <= score <= 0.695, score
    m = read_manifest(path)
    assert m["system"] == "bm25" and m["settings"]["k1"] == 1.2 and m["settings"]["b"] == 0.75
    assert m["dataset_fingerprint"] == ds.fingerprint and m["n_queries"] == 300 and "bm25s" in m["packages"]
    # an identical second run is skipped (file untouched)
    mtime = path.stat().st_mtime_ns
    r = run_cli("run", "--system", "bm25", "--datasets", "scifact", "--data-dir", str(shared_data), "--out", str(tmp_path / "runs"))
    assert r.returncode == 0 and path.stat().st_mtime_ns == mtime
    # a changed setting writes a new run with another settings hash
    r = run_cli("run", "--system", "bm25", "--datasets", "scifact", "--data-dir", str(shared_data), "--out", str(tmp_path / "runs"),
                "--set", "k1=0.9", "--set", "b=0.4", "--name", "bm25-tuned")
    assert r.returncode == 0, r.stderr
    tuned = read_manifest(tmp_path / "runs" / "beir" / "scifact" / "bm25-tuned.trec")
    assert tuned["settings"]["k1"] == 0.9 and tuned["settings_hash"] != m["settings_hash"]


def test_custom_folder_with_graded_qrels(shared_data, tmp_path):
    data = tmp_path / "data"
    scifact_slice(shared_data, data / "graded-sci", n_queries=30, graded=True)
    r = run_cli("run", "--system", "bm25", "--datasets", "graded-sci", "--data-dir", str(data), "--out", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    ds = load_dataset(custom_dataset("graded-sci"), data_dir=data)
    assert {g for docs in ds.qrels.values() for g in docs.values()} == {1, 2}
    run = read_run(tmp_path / "runs" / "beir" / "graded-sci" / "bm25.trec")
    assert set(run) == set(ds.queries)
    assert 0.3 < ndcg10(ds.qrels, run) <= 1.0


def test_lotte_colliding_ids_every_gold_pid_retrievable(tmp_path):
    write_lotte(tmp_path / "data")
    r = run_cli("run", "--system", "bm25", "--suite", "lotte", "--datasets", "lifestyle.search",
                "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"))
    assert r.returncode == 0, r.stderr
    run = read_run(tmp_path / "runs" / "lotte" / "lifestyle.search" / "bm25.trec")
    for qid, (_, pids) in LOTTE_QUESTIONS.items():
        got = run[str(qid)]
        for pid in pids:
            assert str(pid) in got, (qid, pid)
        assert str(pids[0]) in list(got)[:5]
    # query 1's answer is pid 1: it must be ranked, not dropped as a "self hit"
    assert "1" in list(run["1"])[:2]
    # and query 4's gold pid 11 ranks first although a passage with id 4 exists
    assert list(run["4"])[0] == "11"


@pytest.mark.parametrize("corrupt,expected", [
    (lambda f: open(f / "corpus.jsonl", "a").write("{not json}\n"), "corpus.jsonl:"),
    (lambda f: open(f / "corpus.jsonl", "a").write(json.dumps({"_id": "d1", "text": "again"}) + "\n"), "duplicate document id 'd1'"),
    (lambda f: open(f / "qrels" / "test.tsv", "a").write("q1\tghost\t1\n"), "document id 'ghost' is not in the corpus"),
    (lambda f: open(f / "queries.jsonl", "w").write(json.dumps({"_id": "q1", "text": ""}) + "\n"), "query 'q1' has empty text"),
])
def test_bad_input_exits_nonzero_with_one_line_and_no_run_file(tmp_path, corrupt, expected):
    folder = write_beir(tmp_path / "data" / "bad", [{"_id": "d1", "title": "", "text": "alpha beta"}],
                        [{"_id": "q1", "text": "alpha"}], [("q1", "d1", 1)])
    corrupt(folder)
    r = run_cli("run", "--system", "bm25", "--datasets", "bad", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"))
    assert r.returncode == 2
    lines = [l for l in r.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and expected in lines[0], r.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.trec"))


def test_missing_dataset_unknown_setting_unknown_system(tmp_path):
    r = run_cli("run", "--system", "bm25", "--datasets", "nfcorpus", "--data-dir", str(tmp_path), "--out", str(tmp_path / "runs"))
    assert r.returncode == 2 and "dataset 'nfcorpus' not found" in r.stderr and str(tmp_path / "nfcorpus") in r.stderr
    r = run_cli("run", "--system", "bm25", "--datasets", "nfcorpus", "--set", "k3=1")
    assert r.returncode == 2 and "unknown setting 'k3'" in r.stderr
    r = run_cli("run", "--system", "bm25", "--set", "k1=abc")
    assert r.returncode == 2 and "setting 'k1': 'abc' is not a valid float" in r.stderr
    r = run_cli("run", "--system", "colbert")
    assert r.returncode == 2 and "unknown system 'colbert'" in r.stderr


def test_unreachable_elasticsearch_is_a_clear_error(tmp_path):
    write_beir(tmp_path / "data" / "tiny", [{"_id": "d1", "text": "alpha"}], [{"_id": "q1", "text": "alpha"}], [("q1", "d1", 1)])
    r = run_cli("run", "--system", "bm25", "--datasets", "tiny", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "runs"),
                "--set", "backend=elasticsearch", "--set", "es_url=http://127.0.0.1:9")
    assert r.returncode == 2
    assert "Elasticsearch at http://127.0.0.1:9 (setting es_url) is unreachable" in r.stderr
    assert not any((tmp_path).rglob("*.trec"))


def test_datasets_and_systems_commands(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one line per table row

    def local_column(data_dir) -> dict[str, str]:
        r = run_cli("datasets", "--suite", "beir", "--data-dir", str(data_dir))
        assert r.returncode == 0, r.stderr
        return {line.split()[1]: line.split()[-1] for line in r.stdout.splitlines() if line.split()[:1] == ["beir"]}

    local = local_column(shared_data)  # the real data folder holds SciFact only
    assert len(local) == 14 and local["scifact"] == "yes" and local["nfcorpus"] == "no"
    assert set(local.values()) == {"yes", "no"}
    assert local_column(tmp_path)["scifact"] == "no"
    write_beir(tmp_path / "nfcorpus", [{"_id": "d1", "text": "alpha"}], [{"_id": "q1", "text": "alpha"}], [("q1", "d1", 1)])
    assert local_column(tmp_path)["nfcorpus"] == "yes"

    r = run_cli("systems", "--verbose")
    assert r.returncode == 0, r.stderr
    titles = [line for line in r.stdout.splitlines() if ": " in line and "presets" in line]
    assert [t.split(":")[0] for t in titles] == ["bm25", "base", "gpl", "rgpl"]
    tables = dict(zip(["bm25", "base", "gpl", "rgpl"], r.stdout.split("presets:")[1:]))
    assert "k1" in tables["bm25"] and "score_function" in tables["base"] and "teacher" in tables["gpl"]
    assert "remine_every" in tables["rgpl"] and "remine_every" not in tables["gpl"]
