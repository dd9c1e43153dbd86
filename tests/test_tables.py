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


TRANSCRIPTION = Path(__file__).resolve().parents[2] / "shared" / "paper" / "rgpl2025-tables.md"


def _transcribed_tables() -> list[list[dict]]:
    """The TSV blocks of the paper's transcription (an independent copy of the printed Tables 1-3)."""
    if not TRANSCRIPTION.is_file():
        pytest.skip(f"the paper's transcription is not at {TRANSCRIPTION}")
    out = []
    for block in re.findall(r"```tsv\n(.*?)```", TRANSCRIPTION.read_text("utf-8"), re.S):
        lines = [line.split("\t") for line in block.strip("\n").split("\n")]
        out.append([dict(zip(lines[0], line + [""] * (len(lines[0]) - len(line)))) for line in lines[1:]])
    return out


def test_shipped_rgpl2025_holds_every_printed_number_star_and_superscript():
    pset = load_published("rgpl2025")
    assert [t.id for t in pset.tables] == ["table1", "table2", "table3"]
    assert "arXiv:2501.14434" in pset.meta["source"]
    t1, t2, t3 = _transcribed_tables()
    for pt, tsv, name_col in ((pset.tables[0], t1, "beir_name"), (pset.tables[1], t2, "lotte_name")):
        table = pt.to_table()
        assert [c.display for c in table.columns] == ["BM25", "Base", "GPL", "R-GPL"]
        rows = table.all_rows()
        assert [r.label for r in rows] == [x["dataset_printed"] for x in tsv]
        groups = [sec.name for sec in table.sections]
        assert groups == list(dict.fromkeys(x["group"] for x in tsv if x["group"] != "-"))
        for r, x in zip(rows, tsv):
            assert r.key == (x[name_col] if x[name_col] != "-" else "Average")
            assert [r.cells[k].text for k in ("bm25", "base", "gpl", "rgpl")] == [x[k] for k in ("bm25", "base", "gpl", "rgpl")]
            assert r.star == (x["star"] == "1")
            assert r.cells["rgpl"].delta_text == x["superscript"]  # as printed; ties print none
            assert not any(c.delta_text for k, c in r.cells.items() if k != "rgpl")
    table3 = pset.tables[2].to_table()
    assert [c.display for c in table3.columns] == ["GPL", "10k", "30k", "50k", "100k"]
    for r, x in zip(table3.all_rows(), t3, strict=True):
        assert r.label == x["dataset_printed"] and r.key == x["beir_name"]
        assert [c.text for c in r.cells.values()] == [x[k] for k in ("gpl", "10k", "30k", "50k", "100k")]
        assert not r.star and not any(c.delta_text or c.bold for c in r.cells.values())


def test_shipped_rgpl2025_renders_as_printed_with_the_bold_rule_stated():
    pset = load_published("rgpl2025")
    md1, md2, md3 = (pt.to_table().to_markdown() for pt in pset.tables)
    assert "| Corpus | BM25 | Base | GPL | R-GPL |" in md1
    assert "| *Bio-Medical Information Retrieval* |" in md1 and "| *Fact Checking* |" in md1
    assert "| TREC-COVID\\* | 68.8 | 65.1 | 71.6 | **76.0**<sup>+4.4</sup> |" in md1
    assert "| SCIFACT | 69.1 | 57.1 | 66.4 | **67.8**<sup>+1.4</sup> |" in md1  # no star, bold not BM25's 69.1
    assert "| Arguana | 47.2 | 33.9 | 48.3 | 46.4<sup>-1.9</sup> |" in md1
    assert "| **Average** | 41.1 | 41.8 | 46.4 | **47.7**<sup>+1.3</sup> |" in md1
    assert "CQADupstack: no test" in md1
    assert "| Recreation | 59.8 | 62.8 | 71.0 | 71.0 |" in md2  # a tie: no superscript printed
    assert "| **Average** | 53.0 | 58.4 | 64.5 | **65.2**<sup>+0.6</sup> |" in md2  # +0.6 as printed, not 0.7
    assert "| *LoTTE Forum Test Queries (Success@5)* |" in md2
    assert "| SCIFACT | 66.4 | 66.1 | 67.8 | 67.3 | 67.7 |" in md3 and "| Corpus | GPL | 10k | 30k | 50k | 100k |" in md3
    assert "Bold: R-GPL where higher than GPL" in md1 and "in 53 of the 53 cells" in md1
    assert "No bold." in md3
    latex = pset.tables[1].to_table().to_latex()
    assert r"Writing* & 63.2 & 70.6 & 77.1 & \textbf{77.4}$^{+0.3}$ \\" in latex
    assert r"Average & 53.0 & 58.4 & 64.5 & \textbf{65.2}$^{+0.6}$ \\" in latex
    assert r"\multicolumn{5}{l}{\textit{LoTTE Search Test Queries (Success@5)}}" in latex
    # the bold rule is data: the other rules render differently and say so
    t = pset.tables[0].to_table(bold_rule="row-max")
    sf = next(r for r in t.all_rows() if r.key == "scifact")
    assert sf.cells["bm25"].bold and not sf.cells["rgpl"].bold and "best value of each row" in t.legend


def test_bold_rule_improved_is_the_one_that_matches_the_printed_bold():
    """Every cell whose bold survived the paper's text extraction is bold under 'improved' (R-GPL above GPL), while
    a row maximum contradicts the print (e.g. SCIFACT and SCIDocs bold R-GPL below BM25)."""
    for pt in load_published("rgpl2025").tables[:2]:
        agree, known = pt.bold_agreement("improved")
        assert agree == known and known >= 4 * len(pt.rows) - 9
        agree_max, _ = pt.bold_agreement("row-max")
        assert agree_max < known
        assert pt.bold_agreement("extracted") == (known, known)


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


def test_reproduction_report_puts_our_runs_beside_the_paper(run_fixture):
    """Our value, the difference and our one-sided test beside the printed ones, for every dataset and system with
    a run; everything else shows the paper's values only."""
    import shutil

    import pytrec_eval

    from harness.published import reproduction_table

    data, runs, cases, per_system = run_fixture
    for ds in ("scifact", "nfcorpus"):  # R-GPL of Table 1 is the run named rgpl; BM25 only on SciFact
        shutil.copy(runs / "beir" / ds / "rgpl-k10k.trec", runs / "beir" / ds / "rgpl.trec")
    shutil.copy(runs / "beir" / "scifact" / "weak.trec", runs / "beir" / "scifact" / "bm25.trec")
    pset = load_published("rgpl2025")
    settings = TestSettings(n_boot=100)
    t = reproduction_table(pset.table("table1"), runs, data, settings)
    keys = [c.key for c in t.columns]
    assert keys == ["bm25:paper", "bm25:ours", "bm25:diff", "base:paper", "gpl:paper", "gpl:ours", "gpl:diff",
                    "rgpl:paper", "rgpl:ours", "rgpl:diff", "rgpl:star", "rgpl:p", "rgpl:agree"]
    rows = {r.key: r for r in t.all_rows()}
    for ds, printed_gpl, printed_rgpl in (("scifact", 66.4, 67.8), ("nfcorpus", 34.1, 34.2)):
        ev = pytrec_eval.RelevanceEvaluator(cases[ds]["qrels"], {"ndcg_cut_10"})
        per_q = {s: np.array([v["ndcg_cut_10"] for v in ev.evaluate(per_system[ds, s]).values()])
                 for s in ("gpl", "rgpl-k10k")}
        c = rows[ds].cells
        assert c["gpl:paper"].value == printed_gpl and c["rgpl:paper"].value == printed_rgpl
        assert c["gpl:ours"].value == pytest.approx(100 * per_q["gpl"].mean(), abs=1e-9)
        assert c["rgpl:ours"].value == pytest.approx(100 * per_q["rgpl-k10k"].mean(), abs=1e-9)
        assert c["gpl:diff"].text == f"{c['gpl:ours'].shown - printed_gpl:+.1f}"
        expected = paired_test(per_q["gpl"], per_q["rgpl-k10k"], settings)
        ours_star = expected.p_value < 0.05 and expected.delta > 0
        assert c["rgpl:p"].text.rstrip("*") == (f"{expected.p_value:.2e}" if expected.p_value < 1e-3 else
                                                f"{expected.p_value:.4f}")
        assert c["rgpl:p"].text.endswith("*") == ours_star
        assert c["rgpl:star"].text == "n.s."  # the paper prints no star on either
        assert c["rgpl:agree"].text == ("no" if ours_star else "yes")
    assert ours_star, "the fixture's rgpl is much better than gpl: the test should find it on NFCorpus"
    assert rows["scifact"].cells["bm25:ours"].value is not None and rows["nfcorpus"].cells["bm25:ours"].value is None
    tc = rows["trec-covid"].cells  # no run: the paper's values only
    assert tc["gpl:paper"].text == "71.6" and tc["gpl:ours"].text == "–" and tc["rgpl:agree"].text == "–"
    assert rows["trec-covid"].star and tc["rgpl:star"].text == "*"
    assert rows["cqadupstack"].cells["rgpl:star"].text == "no test"
    assert rows["Average"].cells["gpl:paper"].text == "46.4" and rows["Average"].cells["gpl:ours"].value is None
    md = t.to_markdown()
    assert "| Corpus | BM25 paper | BM25 ours | BM25 diff | Base paper |" in md
    assert "R-GPL > GPL" in md and "agree" in t.legend

    # a subset works: Table 3 shows ours for the intervals with runs, the paper's values for the others
    t3 = reproduction_table(pset.table("table3"), runs, data, settings)
    assert [c.key for c in t3.columns] == ["gpl:paper", "gpl:ours", "gpl:diff", "rgpl-k10k:paper", "rgpl-k10k:ours",
                                           "rgpl-k10k:diff", "rgpl-k30k:paper", "rgpl-k30k:ours", "rgpl-k30k:diff",
                                           "rgpl-k50k:paper", "rgpl-k100k:paper"]
    # and a table without any run (LoTTE here) is the paper's table
    t2 = reproduction_table(pset.table("table2"), runs, data, settings)
    assert all(c.key.endswith(":paper") for c in t2.columns) and "paper's values only" in t2.legend
