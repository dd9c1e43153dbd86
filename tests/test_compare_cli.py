"""``harness compare`` / ``harness table`` / ``harness evaluate`` end to end on real SciFact BM25 runs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import pytrec_eval
from scipy import stats as sps
from typer.testing import CliRunner

from harness.cli import app, main
from harness.runs import read_run


@pytest.fixture(scope="module")
def scifact_runs(tmp_path_factory, shared_data):
    """Two real systems on SciFact: BM25 as shipped, and BM25 without stemming."""
    import os

    out = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(cache)
    try:
        runner = CliRunner()
        for extra in ([], ["--set", "stemmer=none", "--name", "bm25-nostem"]):
            res = runner.invoke(app, ["run", "--system", "bm25", "--suite", "beir", "--datasets", "scifact",
                                      "--data-dir", str(shared_data), "--out", str(out), *extra])
            assert res.exit_code == 0, res.output
    finally:
        if old is None:
            os.environ.pop("HARNESS_CACHE", None)
        else:
            os.environ["HARNESS_CACHE"] = old
    return out


def test_compare_bm25_against_another_real_run(scifact_runs, shared_data, tmp_path):
    json_path = tmp_path / "cmp.json"
    res = CliRunner().invoke(app, ["compare", "bm25-nostem", "bm25", "--suite", "beir", "--runs", str(scifact_runs),
                                   "--data-dir", str(shared_data), "--json", str(json_path), "--n-boot", "2000"])
    assert res.exit_code == 0, res.output
    assert "SciFact" in res.output and "NDCG@10" in res.output
    assert "2000 resamples of the queries, seed 0" in res.output  # what it takes to reproduce the CI

    data = json.loads(json_path.read_text())
    row = data["datasets"][0]
    # stemming helps BM25 on SciFact (67.9 vs 66.3): one dataset better, its significance as tested below
    assert f"bm25 > bm25-nostem on 1/1 datasets, {int(row['significant'])} significant" in res.output
    assert data["bootstrap"] == "paired bootstrap percentile interval of the mean difference, 2000 resamples of the queries, seed 0"
    assert data["hypothesis"] == "bm25 > bm25-nostem (one-sided)"
    assert row["dataset"] == "scifact" and row["n_queries"] == 300 and row["metric"] == "ndcg_cut_10"
    assert row["mean_b"] == pytest.approx(0.6791, abs=5e-5)  # the project's BM25 reference on SciFact

    # every number recomputed independently: trec_eval per query, scipy's one-sided Wilcoxon
    qrels = {}
    for line in (shared_data / "scifact" / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        q, d, g = line.split("\t")
        qrels.setdefault(q, {})[d] = int(g)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10"})
    per = {}
    for name in ("bm25-nostem", "bm25"):
        te = ev.evaluate(read_run(scifact_runs / "beir" / "scifact" / f"{name}.trec"))
        per[name] = np.array([te.get(q, {}).get("ndcg_cut_10", 0.0) for q in row["per_query"]["qids"]])
    assert np.allclose(row["per_query"]["a"], per["bm25-nostem"], atol=1e-12)
    assert np.allclose(row["per_query"]["b"], per["bm25"], atol=1e-12)
    d = np.round(per["bm25"] - per["bm25-nostem"], 10)
    assert row["p_value"] == pytest.approx(sps.wilcoxon(d, alternative="greater").pvalue, abs=1e-12)
    assert row["delta"] == pytest.approx(per["bm25"].mean() - per["bm25-nostem"].mean(), abs=1e-12)
    assert row["ci"][0] < row["delta"] < row["ci"][1]
    assert (row["wins"], row["ties"], row["losses"]) == (int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum()))
    assert row["significant"] == (row["p_value"] < 0.05)
    assert row["missing_a"] == [] and row["missing_b"] == []

    # the CI is reproducible: the same seed and resamples print the same interval, another seed another one
    again, other = tmp_path / "again.json", tmp_path / "other.json"
    for path, seed in ((again, "0"), (other, "1")):
        res = CliRunner().invoke(app, ["compare", "bm25-nostem", "bm25", "--runs", str(scifact_runs), "--data-dir",
                                       str(shared_data), "--json", str(path), "--n-boot", "2000", "--seed", seed])
        assert res.exit_code == 0, res.output
    assert json.loads(again.read_text())["datasets"][0]["ci"] == row["ci"]
    assert json.loads(other.read_text())["datasets"][0]["ci"] != row["ci"]


def test_compare_reports_missing_queries_and_missing_runs(scifact_runs, shared_data, tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(scifact_runs, runs)
    trec = runs / "beir" / "scifact" / "bm25.trec"
    lines = trec.read_text().splitlines()
    dropped = lines[0].split()[0]
    trec.write_text("\n".join(l for l in lines if l.split()[0] != dropped) + "\n")
    res = CliRunner().invoke(app, ["compare", "bm25-nostem", "bm25", "--runs", str(runs), "--data-dir", str(shared_data),
                                   "--json", str(tmp_path / "c.json"), "--n-boot", "100"])
    assert res.exit_code == 0, res.output
    assert "1 of 300 judged queries missing from the run of 'bm25' (scored 0)" in res.output
    row = json.loads((tmp_path / "c.json").read_text())["datasets"][0]
    assert row["missing_b"] == [dropped] and row["n_queries"] == 300
    assert row["per_query"]["b"][row["per_query"]["qids"].index(dropped)] == 0.0

    with pytest.raises(SystemExit) as exc:
        main(["compare", "bm25", "nosuch", "--runs", str(runs), "--data-dir", str(shared_data), "--datasets", "scifact"])
    assert exc.value.code == 2
    assert "nosuch" in capsys.readouterr().err


def test_table_and_evaluate_commands_on_real_runs(scifact_runs, shared_data, tmp_path):
    runner = CliRunner()
    out = tmp_path / "t.tex"
    res = runner.invoke(app, ["table", "--systems", "bm25-nostem,bm25", "--runs", str(scifact_runs), "--data-dir",
                              str(shared_data), "--format", "latex", "--standalone", "--out", str(out),
                              "--display", "bm25=BM25", "--n-boot", "100"])
    assert res.exit_code == 0, res.output
    tex = out.read_text()
    assert tex.startswith("\\documentclass") and "\\usepackage{booktabs}" in tex and tex.rstrip().endswith("\\end{document}")
    assert "\\textbf{67.9}" in tex and "SciFact" in tex and "Fact Checking" in tex

    res = runner.invoke(app, ["table", "--systems", "bm25-nostem,bm25", "--runs", str(scifact_runs), "--data-dir",
                              str(shared_data), "--format", "markdown", "--n-boot", "100"])
    assert res.exit_code == 0 and "| SciFact | 66.3 | **67.9**" in res.output

    res = runner.invoke(app, ["evaluate", str(scifact_runs / "beir" / "scifact" / "bm25.trec"), "--dataset", "scifact",
                              "--data-dir", str(shared_data), "--per-query", str(tmp_path / "pq.json")])
    assert res.exit_code == 0, res.output
    assert "NDCG@10      0.6791" in res.output and "300 judged, 0 missing" in res.output
    assert len(json.loads((tmp_path / "pq.json").read_text())["qids"]) == 300

    # the reproduction report on a BM25-only run: our SciFact value beside the paper's, the rest the paper's only
    res = runner.invoke(app, ["table", "--published", "rgpl2025", "--runs", str(scifact_runs), "--data-dir",
                              str(shared_data), "--format", "markdown"])
    assert res.exit_code == 0, res.output
    # (the paper does not say which BM25 it ran: our cells carry a mark whose note says so)
    assert "| SCIFACT | 69.1 | 67.9<sup>a</sup> | -1.2<sup>a</sup> | 57.1 | 66.4 | 67.8 |" in res.output
    assert "<sup>a</sup> BM25, ours on SciFact (setting not known)" in res.output
    assert "| TREC-COVID\\* | 68.8 | – | – | 65.1 | 71.6 | 76.0 |" in res.output
    assert res.output.count("reproduction**") == 3 and "| Writing\\* | 63.2 | 70.6 | 77.1 | 77.4 |" in res.output


def test_compare_skips_datasets_with_one_system_only(scifact_runs, shared_data, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(scifact_runs, runs)
    only_one = runs / "beir" / "nfcorpus"
    only_one.mkdir(parents=True)
    shutil.copy(runs / "beir" / "scifact" / "bm25.trec", only_one / "bm25.trec")
    res = CliRunner().invoke(app, ["compare", "bm25-nostem", "bm25", "--runs", str(runs), "--data-dir", str(shared_data),
                                   "--n-boot", "100"])
    assert res.exit_code == 0, res.output
    assert "skipped: nfcorpus: run files only for 'bm25'" in res.output and "on 1/1 datasets" in res.output
    res = CliRunner().invoke(app, ["compare", "bm25-nostem", "other", "--runs", str(runs), "--data-dir", str(shared_data)])
    assert res.exit_code != 0 and "no dataset has run files for both" in str(res.exception)
