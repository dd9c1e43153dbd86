"""The LaTeX that `harness table` writes compiles with pdflatex (booktabs), for every layout.

pdflatex comes from Debian's texlive packages, which `.ci/run` installs; CI sets HARNESS_REQUIRE_LATEX=1 so a
missing pdflatex fails there instead of skipping. On a machine without TeX these tests skip with that reason.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.registry import get_suite
from harness.runs import write_run

from test_tables import _system_run, _tiny_beir  # the run-file builders of the table tests

PDFLATEX = shutil.which("pdflatex")


@pytest.fixture
def pdflatex() -> str:
    if PDFLATEX is None:
        if os.environ.get("HARNESS_REQUIRE_LATEX") == "1":
            pytest.fail("HARNESS_REQUIRE_LATEX=1 but pdflatex is not installed (apt-get install texlive-latex-recommended)")
        pytest.skip("pdflatex is not installed (Debian: texlive-latex-base texlive-latex-recommended)")
    return PDFLATEX


def harness(*args: str):
    """``harness ARGS`` in-process (the Typer app; no interpreter start per call)."""
    from typer.testing import CliRunner

    from harness.cli import app

    return CliRunner().invoke(app, list(args))


def compile_tex(pdflatex: str, tex: Path) -> Path:
    r = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tex.parent,
                       capture_output=True, text=True, timeout=120)
    log = tex.with_suffix(".log").read_text(errors="replace") if tex.with_suffix(".log").exists() else r.stdout
    assert r.returncode == 0, log[-3000:]
    pdf = tex.with_suffix(".pdf")
    assert pdf.is_file() and pdf.stat().st_size > 1000
    return pdf


def synthetic_published(tmp_path: Path) -> Path:
    """A published-format file with SYNTHETIC numbers (not the paper's) for both suites, every dataset filled."""
    beir = get_suite("beir")
    lotte = get_suite("lotte")
    cols = [{"key": "bm25", "display": "BM25"}, {"key": "base", "display": "Zero-shot"},
            {"key": "gpl", "display": "GPL"}, {"key": "rgpl", "display": "R-GPL"}]

    def rows(names, seed):
        out = {}
        for i, name in enumerate(names):
            v = 20.0 + (i * 7.3 + seed) % 60
            out[name] = {"values": {"bm25": round(v, 1), "base": round(v + 1.2, 1), "gpl": round(v + 2.5, 1),
                                    "rgpl": round(v + 2.5 + (i % 3 - 0.5), 1)},
                         "significant": ["rgpl"] if i % 2 else []}
        return out

    tables = [
        {"id": "table1", "suite": "beir", "metric": "ndcg_cut_10", "caption": "NDCG@10 on BEIR (synthetic_numbers & co)",
         "label": "tab:beir", "columns": cols, "reference": "gpl", "targets": ["rgpl"], "alpha": 0.05,
         "test": "one-sided Wilcoxon signed-rank test, p < 0.05", "rows": rows([d.name for d in beir.datasets], 1)},
        {"id": "table2", "suite": "lotte", "metric": "success_5", "caption": "Success@5 on LoTTE", "label": "tab:lotte",
         "columns": cols, "reference": "gpl", "targets": ["rgpl"], "alpha": 0.05,
         "test": "one-sided Wilcoxon signed-rank test", "rows": rows([d.name for d in lotte.datasets], 3)},
    ]
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps({"id": "synthetic", "source": "a test", "tables": tables}))
    return path


def test_standalone_tables_compile(pdflatex, tmp_path):
    src = synthetic_published(tmp_path)
    for table in ("table1", "table2"):
        tex = tmp_path / f"{table}.tex"
        r = harness("table", "--published", str(src), "--table", table, "--format", "latex", "--standalone",
                    "--out", str(tex))
        assert r.exit_code == 0, r.output
        text = tex.read_text()
        assert r"\toprule" in text and "$^{" in text and r"\textbf{" in text
        compile_tex(pdflatex, tex)


def test_both_tables_in_one_document_and_a_fragment_inside_a_paper(pdflatex, tmp_path):
    src = synthetic_published(tmp_path)
    both = tmp_path / "both.tex"
    r = harness("table", "--published", str(src), "--format", "latex", "--standalone", "--out", str(both))
    assert r.exit_code == 0, r.output
    assert both.read_text().count(r"\begin{table}") == 2
    compile_tex(pdflatex, both)

    # the default (no --standalone) output is a fragment meant for \input in a paper that loads booktabs
    frag = tmp_path / "frag.tex"
    r = harness("table", "--published", str(src), "--table", "table1", "--format", "latex", "--out", str(frag))
    assert r.exit_code == 0, r.output
    assert r"\documentclass" not in frag.read_text()
    paper = tmp_path / "paper.tex"
    paper.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\nText.\n"
                     "\\input{frag.tex}\n\\end{document}\n")
    compile_tex(pdflatex, paper)


def test_shipped_rgpl2025_tables_1_2_3_compile(pdflatex, tmp_path):
    tex = tmp_path / "rgpl2025.tex"
    r = harness("table", "--published", "rgpl2025", "--format", "latex", "--standalone", "--out", str(tex))
    assert r.exit_code == 0, r.output
    text = tex.read_text()
    assert text.count(r"\begin{table}") == 3 and r"\textbf{65.2}$^{+0.6}$" in text and "TREC-COVID*" in text
    assert r"Corpus & GPL & 10k & 30k & 50k & 100k \\" in text
    compile_tex(pdflatex, tex)


def test_reproduction_report_compiles(pdflatex, tmp_path):
    """Our runs beside the paper's (grouped headers paper/ours/diff, the test columns) as a LaTeX document."""
    rng = random.Random(7)
    data, runs = tmp_path / "data", tmp_path / "runs"
    case = _tiny_beir(data, "scifact", 40, rng)
    for name, quality in {"bm25": 0.2, "gpl": 0.3, "rgpl": 0.6, "rgpl-k10k": 0.4}.items():
        write_run(runs / "beir" / "scifact" / f"{name}.trec", _system_run(case, quality, rng), tag=name)
    tex = tmp_path / "repro.tex"
    r = harness("table", "--published", "rgpl2025", "--runs", str(runs), "--data-dir", str(data), "--format", "latex",
                "--standalone", "--n-boot", "100", "--out", str(tex))
    assert r.exit_code == 0, r.output
    text = tex.read_text()
    assert r"\multicolumn{3}{c}{BM25}" in text and r"\cmidrule(lr){2-4}" in text and "R-GPL \\textgreater{} GPL" in text
    assert "SCIFACT & 69.1 & " in text
    compile_tex(pdflatex, tex)


def test_sweep_from_run_files_compiles(pdflatex, tmp_path):
    """Table 3 layout (remining intervals as columns, names with underscores and hyphens) from real run files."""
    rng = random.Random(5)
    data, runs = tmp_path / "data", tmp_path / "runs"
    case = _tiny_beir(data, "scifact", 40, rng)
    for name, quality in {"gpl": 0.3, "rgpl_k10k": 0.6, "rgpl-k30k": 0.4}.items():
        write_run(runs / "beir" / "scifact" / f"{name}.trec", _system_run(case, quality, rng), tag=name)
    tex = tmp_path / "sweep.tex"
    r = harness("table", "--suite", "beir", "--layout", "sweep", "--systems", "gpl,rgpl_k10k,rgpl-k30k",
                "--runs", str(runs), "--data-dir", str(data), "--format", "latex", "--standalone",
                "--caption", "Remining every k steps (100% & more)", "--n-boot", "100", "--out", str(tex))
    assert r.exit_code == 0, r.output
    assert r"rgpl\_k10k" in tex.read_text()
    compile_tex(pdflatex, tex)
