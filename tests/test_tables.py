"""Leaderboards: published-format data and run files rendered to LaTeX (booktabs) and Markdown."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest

from harness.errors import DataError, HarnessError
from harness.published import load_published
from harness.registry import get_suite
from harness.runs import write_run
from harness.stats import TestSettings, paired_test
from harness.tables import Cell, latex_cell, markdown_cell, table_from_runs, templates_dir

# Numbers below are SYNTHETIC, written by this test to exercise the format; they are not the paper's.
SYNTH_BEIR = {
    "trec-covid": {"values": {"bm25": 65.6, "gpl": 70.0, "rgpl": 74.4}, "significant": ["rgpl"]},
    "nfcorpus": {"values": {"bm25": 32.5, "gpl": 33.0, "rgpl": 31.1}},
    "scifact": {"values": {"bm25": 66.5, "gpl": 66.5, "rgpl": 66.0}},
    "fiqa": {"values": {"bm25": 23.6, "gpl": 32.8, "rgpl": 33.5}, "significant": ["rgpl"], "delta": {"rgpl": 0.8}},
}


def _published_file(tmp_path: Path, rows=None, **overrides) -> Path:
    table = {"id": "table1", "suite": "beir", "metric": "ndcg_cut_10", "caption": "Synthetic & test", "label": "tab:x",
             "columns": [{"key": "bm25", "display": "BM25"}, {"key": "gpl", "display": "GPL"},
                         {"key": "rgpl", "display": "R-GPL"}],
             "reference": "gpl", "targets": ["rgpl"], "alpha": 0.05,
             "test": "one-sided Wilcoxon signed-rank test on query-level NDCG@10",
             "rows": rows if rows is not None else SYNTH_BEIR}
    table.update(overrides)
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps({"id": "synthetic", "source": "a test", "tables": [table]}))
    return path


def test_published_table_values_bold_superscripts_stars(tmp_path):
    t = load_published(_published_file(tmp_path)).table("table1").to_table()
    rows = {r.key: r for r in t.all_rows()}
    # rows follow the registry's groups and order, not the file's
    assert [s.name for s in t.sections] == ["Bio-Medical", "Question Answering", "Fact Checking"]
    assert [r.key for r in t.sections[0].rows] == ["trec-covid", "nfcorpus"]
    tc = rows["trec-covid"].cells
    assert tc["rgpl"].bold and not tc["gpl"].bold and tc["rgpl"].star and tc["rgpl"].delta_text == "+4.4"
    nf = rows["nfcorpus"].cells
    assert nf["gpl"].bold and nf["rgpl"].delta_text == "-1.9" and not nf["rgpl"].star
    sf = rows["scifact"].cells
    assert sf["bm25"].bold and sf["gpl"].bold and not sf["rgpl"].bold  # ties are all bold
    assert rows["fiqa"].cells["rgpl"].delta_text == "+0.8"  # a printed superscript is kept as printed
    avg = rows["Average"].cells
    assert avg["rgpl"].value == pytest.approx((74.4 + 31.1 + 66.0 + 33.5) / 4)
    # shown values are formatted like printf's %.1f (exact halves to even): 51.25 -> 51.2, 50.575 -> 50.6
    assert avg["rgpl"].text == "51.2" and avg["gpl"].text == "50.6"
    assert avg["rgpl"].bold and avg["rgpl"].delta_text == "+0.6"

    latex = t.to_latex()
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert r"\textbf{74.4}$^{+4.4\,*}$" in latex
    assert r"31.1$^{-1.9}$" in latex and r"\textbf{33.0}" in latex
    assert r"\multicolumn{4}{l}{\textit{Bio-Medical}}" in latex
    assert r"\caption{Synthetic \& test}" in latex and "one-sided Wilcoxon signed-rank" in latex
    assert latex.count(r"\\") == 1 + 4 + 3 + 1  # header, datasets, group headers, average

    md = t.to_markdown()
    assert "| TREC-COVID | 65.6 | 70.0 | **74.4**<sup>+4.4\\*</sup> |" in md
    assert "| NFCorpus | 32.5 | **33.0** | 31.1<sup>-1.9</sup> |" in md
    assert "| *Bio-Medical* |" in md and "| **Average** |" in md
    assert "one-sided Wilcoxon signed-rank test" in md


def test_lotte_layout_has_search_and_forum_sections_with_averages_without_pooled(tmp_path):
    s = get_suite("lotte")
    rng = random.Random(0)
    rows = {d.name: {"values": {"gpl": round(rng.uniform(40, 80), 1), "rgpl": round(rng.uniform(40, 80), 1)}}
            for d in s.datasets}
    path = tmp_path / "lotte.json"
    path.write_text(json.dumps({"tables": [{"id": "t2", "suite": "lotte", "columns": [{"key": "gpl"}, {"key": "rgpl"}],
                                            "reference": "gpl", "targets": ["rgpl"], "rows": rows}]}))
    t = load_published(path).table("t2").to_table()
    assert [sec.name for sec in t.sections] == ["Search", "Forum"]
    for sec in t.sections:
        labels = [r.label for r in sec.rows]
        assert labels[-1] == "Average" and "Pooled" in labels and len(labels) == 7
        avg = sec.rows[-1]
        members = [d.name for d in s.datasets if d.group == sec.name and not d.name.startswith("pooled")]
        assert avg.members == tuple(members)
        assert avg.cells["rgpl"].value == pytest.approx(np.mean([rows[m]["values"]["rgpl"] for m in members]))
    assert not t.footer
    latex = t.to_latex()
    assert r"\textit{Search}" in latex and r"\textit{Forum}" in latex and latex.count(r"\cmidrule") == 2


def test_published_validation_and_missing_values(tmp_path):
    with pytest.raises(DataError, match="unknown beir dataset 'scifacts'"):
        load_published(_published_file(tmp_path, rows={"scifacts": {"values": {"gpl": 1.0}}}))
    with pytest.raises(DataError, match="'significant'|not a target"):
        load_published(_published_file(tmp_path, rows={"scifact": {"values": {"gpl": 1.0}, "significant": ["bm25"]}}))
    with pytest.raises(DataError, match="number or null"):
        load_published(_published_file(tmp_path, rows={"scifact": {"values": {"gpl": "66.5"}}}))
    with pytest.raises(DataError, match="reference 'base' is not a column"):
        load_published(_published_file(tmp_path, reference="base"))
    path = _published_file(tmp_path, rows={"scifact": {"values": {"gpl": 66.5, "rgpl": None, "bm25": 60.0}}})
    pt = load_published(path).table("table1")
    with pytest.raises(HarnessError, match="lacks 1 printed values .*scifact/rgpl"):
        pt.to_table()
    t = pt.to_table(allow_missing=True)
    assert "--" in t.to_latex() and "–" in t.to_markdown()
    with pytest.raises(HarnessError, match="not found"):
        load_published("no-such-paper")


def test_shipped_rgpl2025_file_loads_and_says_what_is_missing():
    pset = load_published("rgpl2025")
    assert [t.id for t in pset.tables] == ["table1", "table2"]
    assert "arXiv:2501.14434" in pset.meta["source"]
    for pt in pset.tables:
        missing = pt.missing_values()
        filled = len(pt.raw["rows"]) * len(pt.raw["columns"]) - len(missing)
        if missing:  # not transcribed yet: rendering must refuse rather than print an empty leaderboard
            with pytest.raises(HarnessError, match="transcribe them"):
                pt.to_table()
        else:
            assert filled > 0 and pt.to_table().to_latex()


def test_cells_and_escaping():
    assert latex_cell(Cell(12.34, bold=True, delta=-0.04, star=False)) == r"\textbf{12.3}$^{+0.0}$"
    assert latex_cell(Cell(None)) == "--"
    assert markdown_cell(Cell(50.0, delta=2.0, star=True)) == "50.0<sup>+2.0\\*</sup>"


def test_templates_dir_override(tmp_path, monkeypatch):
    assert (templates_dir() / "table.md.j2").is_file()
    custom = tmp_path / "tpl"
    custom.mkdir()
    (custom / "table.tex.j2").write_text("LATEX \\VAR{ t.metric_display }\n")
    (custom / "table.md.j2").write_text("MD {{ t.columns|length }}\n")
    monkeypatch.setenv("HARNESS_TEMPLATES", str(custom))
    t = load_published(_published_file(tmp_path)).table("table1").to_table()
    assert t.to_latex() == "LATEX NDCG@10\n" and t.to_markdown() == "MD 3\n"
    monkeypatch.setenv("HARNESS_TEMPLATES", str(tmp_path / "nowhere"))
    with pytest.raises(HarnessError, match="HARNESS_TEMPLATES"):
        t.to_latex()


# ------------------------------------------------------------------------------------- from run files
def _tiny_beir(root: Path, name: str, n_q: int, rng: random.Random) -> dict:
    folder = root / name
    (folder / "qrels").mkdir(parents=True)
    docs = [f"{name}-d{j}" for j in range(30)]
    with open(folder / "corpus.jsonl", "w") as fh:
        for d in docs:
            fh.write(json.dumps({"_id": d, "title": "", "text": d}) + "\n")
    with open(folder / "queries.jsonl", "w") as fh:
        for q in range(n_q):
            fh.write(json.dumps({"_id": f"q{q}", "text": f"query {q}"}) + "\n")
    qrels = {f"q{q}": {d: rng.choice([1, 2]) for d in rng.sample(docs, 3)} for q in range(n_q)}
    with open(folder / "qrels" / "test.tsv", "w") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q, dd in qrels.items():
            for d, g in dd.items():
                fh.write(f"{q}\t{d}\t{g}\n")
    return {"docs": docs, "qrels": qrels}


def _system_run(case: dict, quality: float, rng: random.Random) -> dict:
    """Relevant documents get a boost of ``quality`` on top of noise: higher quality, better ranking."""
    run = {}
    for q, rel in case["qrels"].items():
        run[q] = {d: rng.random() + (quality * rel.get(d, 0)) for d in case["docs"]}
    return run


@pytest.fixture
def run_fixture(tmp_path):
    rng = random.Random(11)
    data, runs = tmp_path / "data", tmp_path / "runs"
    cases = {"scifact": _tiny_beir(data, "scifact", 80, rng), "nfcorpus": _tiny_beir(data, "nfcorpus", 60, rng)}
    quality = {"weak": 0.1, "gpl": 0.3, "rgpl-k10k": 0.6, "rgpl-k30k": 0.3}
    per_system = {}
    for ds, case in cases.items():
        for sysname, qv in quality.items():
            run = _system_run(case, qv, rng)
            per_system[ds, sysname] = run
            write_run(runs / "beir" / ds / f"{sysname}.trec", run, tag=sysname)
    return data, runs, cases, per_system


def test_table_from_runs_stars_follow_the_one_sided_test(run_fixture):
    import pytrec_eval

    data, runs, cases, per_system = run_fixture
    settings = TestSettings(n_boot=200)
    t = table_from_runs("beir", ["weak", "gpl", "rgpl-k10k"], runs, data, settings=settings,
                        displays={"rgpl-k10k": "R-GPL"})
    assert t.reference == "gpl" and t.targets == ("rgpl-k10k",)
    rows = {r.key: r for r in t.all_rows()}
    for ds, case in cases.items():
        ev = pytrec_eval.RelevanceEvaluator(case["qrels"], {"ndcg_cut_10"})
        per_q = {}
        for s in ("gpl", "rgpl-k10k"):
            res = ev.evaluate(per_system[ds, s])
            per_q[s] = np.array([res[q]["ndcg_cut_10"] for q in case["qrels"]])
        cell = rows[ds].cells["rgpl-k10k"]
        assert cell.value == pytest.approx(100 * per_q["rgpl-k10k"].mean(), abs=1e-9)
        expected = paired_test(per_q["gpl"], per_q["rgpl-k10k"], settings)
        assert cell.p_value == pytest.approx(expected.p_value, abs=1e-12)
        assert cell.star == (expected.p_value < 0.05)
        assert cell.delta_text == f"{rows[ds].cells['rgpl-k10k'].shown - rows[ds].cells['gpl'].shown:+.1f}"
    assert "one-sided Wilcoxon signed-rank test on query-level NDCG@10" in t.legend
    assert "R-GPL" in t.to_markdown()

    # a Holm correction across the table's datasets can only remove stars
    t_holm = table_from_runs("beir", ["weak", "gpl", "rgpl-k10k"], runs, data,
                             settings=TestSettings(n_boot=200, correction="holm"))
    for ds in cases:
        plain, holm = rows[ds].cells["rgpl-k10k"], {r.key: r for r in t_holm.all_rows()}[ds].cells["rgpl-k10k"]
        assert holm.p_value >= plain.p_value and (holm.star <= plain.star)
    assert "Holm" in t_holm.legend


def test_sweep_layout_marks_every_interval_against_the_reference(run_fixture):
    data, runs, _, _ = run_fixture
    t = table_from_runs("beir", ["gpl", "rgpl-k10k", "rgpl-k30k"], runs, data, layout="sweep",
                        settings=TestSettings(n_boot=100))
    assert t.reference == "gpl" and t.targets == ("rgpl-k10k", "rgpl-k30k")
    for r in t.all_rows():
        assert r.cells["gpl"].delta is None
        assert r.cells["rgpl-k10k"].delta is not None and r.cells["rgpl-k30k"].delta is not None
    latex = t.to_latex()
    assert "rgpl-k10k" in latex and r"\_" not in latex.split(r"\toprule")[1].split("\n")[1].replace("rgpl-k", "")


def test_missing_system_runs_show_dashes_and_a_note(run_fixture):
    data, runs, _, _ = run_fixture
    (runs / "beir" / "nfcorpus" / "rgpl-k10k.trec").unlink()
    t = table_from_runs("beir", ["gpl", "rgpl-k10k"], runs, data, settings=TestSettings(n_boot=50))
    rows = {r.key: r for r in t.all_rows()}
    assert rows["nfcorpus"].cells["rgpl-k10k"].value is None
    assert rows["Average"].cells["rgpl-k10k"].value is None  # not an average over fewer datasets
    assert rows["Average"].cells["gpl"].value is not None
    assert "NFCorpus: no run file for 'rgpl-k10k'" in t.notes
    with pytest.raises(HarnessError, match="reference 'base'"):
        table_from_runs("beir", ["gpl", "rgpl-k10k"], runs, data, reference="base")


def test_published_table_with_own_runs_beside(run_fixture, tmp_path):
    from harness.tables import add_run_columns

    data, runs, _, _ = run_fixture
    rows = {k: v for k, v in SYNTH_BEIR.items() if k in ("scifact", "nfcorpus", "trec-covid")}
    t = load_published(_published_file(tmp_path, rows=rows)).table("table1").to_table()
    t = add_run_columns(t, "beir", ["rgpl-k10k"], runs, data, displays={"rgpl-k10k": "ours"})
    r = {row.key: row for row in t.all_rows()}
    assert r["trec-covid"].cells["rgpl-k10k"].value is None  # no run file for it
    assert r["scifact"].cells["rgpl-k10k"].value is not None
    assert r["Average"].cells["rgpl-k10k"].value is None
    assert "ours" in t.to_markdown() and re.search(r"\| SciFact \|.*\|.*\|.*\|.*\|", t.to_markdown())
