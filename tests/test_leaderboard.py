"""``harness leaderboard`` without a browser: the site's numbers, marks and statistics against independent
computations (pytrec_eval, scipy), determinism, no external resource, errors. The browser tests are in
tests/test_leaderboard_browser.py."""

from __future__ import annotations

import hashlib
from html import unescape
import random
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from fixtures import write_lotte
from harness.runs import write_run
from harness.stats import adjust_pvalues, paired_test
from test_tables import _system_run, _tiny_beir

QUALITY = {"weak": 0.1, "gpl": 0.3, "rgpl": 0.6}  # relevant documents' boost: higher, better


def _tiny_lotte(root: Path, rng: random.Random) -> dict:
    """lifestyle.search with 40 passages and 70 questions of one or two answers each."""
    passages = [f"passage number {i}" for i in range(40)]
    questions = {q: (f"question {q}", rng.sample(range(40), rng.choice([1, 2]))) for q in range(70)}
    write_lotte(root, "lifestyle", "search", questions=questions, passages=passages)
    return {"docs": [str(i) for i in range(40)],
            "qrels": {str(q): {str(p): 1 for p in pids} for q, (_, pids) in questions.items()}}


@pytest.fixture(scope="module")
def runs_world(tmp_path_factory):
    """Two BEIR datasets and one LoTTE one, three systems each (run files without manifests but for one)."""
    root = tmp_path_factory.mktemp("lb")
    rng = random.Random(5)
    data, runs = root / "data", root / "runs"
    cases = {("beir", "scifact"): _tiny_beir(data, "scifact", 60, rng),
             ("beir", "nfcorpus"): _tiny_beir(data, "nfcorpus", 50, rng),
             ("lotte", "lifestyle.search"): _tiny_lotte(data, rng)}
    per_system = {}
    for (suite, ds), case in cases.items():
        for name, quality in QUALITY.items():
            per_system[ds, name] = run = _system_run(case, quality, rng)
            write_run(runs / suite / ds / f"{name}.trec", run, tag=name)
    return data, runs, cases, per_system


def _build(runs_world, out: Path, *extra: str):
    data, runs, _, _ = runs_world
    r = run_cli("leaderboard", "--runs", str(runs), "--data-dir", str(data), "--out", str(out), "--n-boot", "300",
                "--systems", "weak,gpl,rgpl", *extra)
    assert r.returncode == 0, r.stderr
    return r


def _per_query(case: dict, run: dict, measure: str) -> np.ndarray:
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(case["qrels"], {measure.rsplit("_", 1)[0] if measure.startswith("success")
                                                        else measure})
    res = ev.evaluate(run)
    key = measure
    return np.array([res.get(q, {}).get(key, 0.0) for q in case["qrels"]])


def test_site_numbers_and_marks_follow_independent_computations(runs_world, tmp_path):
    """Means from pytrec_eval; the one-sided Wilcoxon of each adjacent pair; Holm across the page's family (every
    pair on every dataset, both suites); marks exactly where the corrected p < 0.05 with B ahead."""
    from harness.leaderboard import SiteOptions, build_model
    from harness.stats import TestSettings

    data, runs, cases, per_system = runs_world
    settings = TestSettings(n_boot=300, correction="holm")
    model, _ = build_model(SiteOptions(runs=runs, data_dir=str(data), settings=settings, systems=["weak", "gpl", "rgpl"]))
    measure = {"beir": "ndcg_cut_10", "lotte": "success_5"}
    scores = {(ds, s): _per_query(cases[suite, ds], per_system[ds, s], measure[suite])
              for (suite, ds) in cases for s in QUALITY}
    pairs = [("weak", "gpl"), ("gpl", "rgpl")]
    family = [(ds, a, b) for (suite, ds) in cases for a, b in pairs]
    tests = {(ds, a, b): paired_test(scores[ds, a], scores[ds, b], settings) for ds, a, b in family}
    adjusted = dict(zip(family, adjust_pvalues([tests[k].p_value for k in family], "holm")))
    assert model["settings"]["family_size"] == len(family) == 6
    for suite in model["suites"]:
        cols = [c["key"] for c in suite["columns"]]
        for row in suite["rows"]:
            for key, cell in zip(cols, row["cells"]):
                if (key, row["name"]) not in scores:
                    continue  # an average column
                assert cell["value"] == pytest.approx(100 * scores[key, row["name"]].mean(), abs=1e-9)
                expected = [a for a, b in pairs if b == row["name"] and adjusted[key, a, b] < 0.05
                            and tests[key, a, b].delta > 0]
                assert [m["vs"] for m in cell["marks"]] == expected
        best = {c: max(round(100 * scores[c, s].mean(), 1) for s in QUALITY) for c in cols if (c, "gpl") in scores}
        for row in suite["rows"]:
            for key, cell in zip(cols, row["cells"]):
                if key in best:
                    assert cell["bold"] == (round(cell["value"], 1) == best[key])
    assert any(m for s in model["suites"] for r in s["rows"] for c in r["cells"] for m in c["marks"])  # some marks

    # cross-dataset: mean of the per-dataset deltas (BEIR: two datasets), and the mean rank
    beir = next(s for s in model["suites"] if s["name"] == "beir")
    cross = next(p for p in beir["pairs"] if (p["a"], p["b"]) == ("gpl", "rgpl"))["cross"]
    mean_delta = np.mean([tests[ds, "gpl", "rgpl"].delta for ds in ("scifact", "nfcorpus")])
    assert cross["mean_delta"] == f"{round(100 * mean_delta, 1) + 0.0:+.1f}" and cross["datasets"] == 2
    lo, hi = (float(x) for x in cross["ci"].strip("[]").split(","))
    assert lo <= round(100 * mean_delta, 1) <= hi
    from scipy.stats import rankdata

    ranks = np.mean([rankdata([-scores[ds, s].mean() for s in QUALITY]) for ds in ("scifact", "nfcorpus")], axis=0)
    assert [r["mean_rank"] for r in beir["rows"]] == pytest.approx(list(ranks))


def test_binary_measure_shows_discordant_counts_and_the_exact_sign_test(runs_world, tmp_path):
    from scipy.stats import binomtest

    data, runs, cases, per_system = runs_world
    _build(runs_world, tmp_path / "site")
    a = _per_query(cases["lotte", "lifestyle.search"], per_system["lifestyle.search", "gpl"], "success_5")
    b = _per_query(cases["lotte", "lifestyle.search"], per_system["lifestyle.search", "rgpl"], "success_5")
    b_only, a_only = int(((b == 1) & (a == 0)).sum()), int(((a == 1) & (b == 0)).sum())
    p = binomtest(b_only, b_only + a_only, 0.5, alternative="greater").pvalue
    html = unescape((tmp_path / "site" / "statistics.html").read_text())
    section = html.split('id="lotte-gpl-rgpl"')[1].split("</section>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section.split('data-dataset="lifestyle.search"')[1].split("</tr>")[0])
    assert cells[-3:] == [str(b_only), str(a_only), f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"]
    assert "sign test on the discordant queries" in html
    assert "Holm" in html and "the page's 6 tests" in html  # the correction and its family, stated


def test_two_builds_are_byte_identical_and_load_nothing_external(runs_world, tmp_path):
    def digest(folder: Path) -> dict[str, str]:
        return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    _build(runs_world, tmp_path / "a")  # the same command twice (the first site moved away in between)
    first = digest(tmp_path / "a")
    (tmp_path / "a").rename(tmp_path / "first")
    _build(runs_world, tmp_path / "a")
    assert digest(tmp_path / "a") == first
    _build(runs_world, tmp_path / "a")  # rebuilding in place replaces the folder with the same bytes
    assert digest(tmp_path / "a") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "first"]  # no temporary folder left behind
    assert {"index.html", "statistics.html", "provenance.html", "downloads.html", "assets/site.js", "assets/site.css",
            "datasets/beir-scifact.html", "datasets/lotte-lifestyle.search.html", "data/leaderboard.json",
            "data/scores.csv", "data/tests.csv", "data/compare-beir-gpl-vs-rgpl.json"} <= set(first)
    # readable without JavaScript: the numbers are in the HTML tables themselves, the script only rearranges them
    index = (tmp_path / "a" / "index.html").read_text()
    model = __import__("json").loads((tmp_path / "a" / "data" / "leaderboard.json").read_text())
    for suite in model["suites"]:
        section = index.split(f'<section class="suite" data-suite="{suite["name"]}"')[1].split("</section>")[0]
        for row in suite["rows"]:
            tr = section.split(f'<tr data-system="{row["name"]}"')[1].split("</tr>")[0]
            assert [c["text"] for c in row["cells"]] == re.findall(r'<td data-col="[^"]+"[^>]*>(?:<a [^>]*>)?([^<]+)', tr)
    for name in first:
        if name.endswith((".html", ".css", ".js")):
            text = (tmp_path / "a" / name).read_text()
            loads = re.findall(r"""(?:\ssrc|\shref|\saction|\sposter|\sdata)\s*=\s*["']?\s*(?:https?:)?//""", text)
            loads += re.findall(r"""url\(\s*["']?\s*(?:https?:)?//|@import|fetch\(|XMLHttpRequest|import\(""", text)
            assert not loads, f"{name}: {loads}"


def test_leaderboard_errors_are_one_line(runs_world, tmp_path):
    data, runs, _, _ = runs_world
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    for args, message in (
        (["--runs", str(runs), "--out", str(other)], "a folder with other content"),
        (["--runs", str(tmp_path / "none"), "--out", str(tmp_path / "s")], "no such folder"),
        (["--runs", str(runs), "--out", str(tmp_path / "s"), "--systems", "gpl,nosuch"], "no run file of 'nosuch'"),
        (["--runs", str(runs), "--out", str(tmp_path / "s"), "--pairs", "gpl"], "--pairs expects A:B"),
        (["--runs", str(runs), "--out", str(tmp_path / "s"), "--correction", "bonferroni"], "correction must be one of"),
    ):
        r = run_cli("leaderboard", "--data-dir", str(data), *args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, (args, r.stderr)
    assert (other / "notes.txt").read_text() == "keep me" and not (tmp_path / "s").exists()


def test_pairs_and_copied_runs(runs_world, tmp_path):
    data, runs, _, _ = runs_world
    _build(runs_world, tmp_path / "s", "--pairs", "weak:rgpl", "--copy-runs", "--correction", "none")
    site = tmp_path / "s"
    tests = (site / "data" / "tests.csv").read_text().splitlines()
    assert {tuple(x.split(",")[1:3]) for x in tests[1:]} == {("weak", "rgpl")}
    assert (site / "runs" / "beir" / "scifact" / "gpl.trec").read_bytes() == (runs / "beir" / "scifact" / "gpl.trec").read_bytes()
    page = (site / "datasets" / "beir-scifact.html").read_text()
    assert 'href="../runs/beir/scifact/gpl.trec"' in page and "no correction" in (site / "index.html").read_text()


def test_browser_tests_skip_or_fail_by_the_environment(monkeypatch):
    """Without chromium the browser tests skip with the reason; HARNESS_REQUIRE_BROWSER=1 (CI) makes that a failure."""
    import test_leaderboard_browser as tb
    from harness.leaderboard import browser

    monkeypatch.setenv("PATH", "")
    assert "chromium and chromedriver are not installed" in browser.missing()
    monkeypatch.delenv("HARNESS_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        next(tb.browser.__wrapped__())
    monkeypatch.setenv("HARNESS_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="HARNESS_REQUIRE_BROWSER is set"):
        next(tb.browser.__wrapped__())
