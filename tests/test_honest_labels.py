"""Issue 18, "Honest labels": a reproduction cell says when our run is not the paper's setting (model, preset), and a
standalone published table carries the paper's number, with a caption that does not refer to itself."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess

import pytest

from conftest import REPO, run_cli
from harness.published import load_published, reproduction_table
from harness.runs import Manifest, write_manifest, write_run
from harness.stats import TestSettings
from test_tables import _system_run, _tiny_beir

OFFLINE_RUNS = REPO / "leaderboards" / "results" / "offline-scifact" / "runs"


def _manifest(trec, system: str, name: str, settings: dict) -> None:
    write_manifest(trec, Manifest(system=system, name=name, suite="beir", dataset="scifact", settings=settings,
                                  settings_hash="x", dataset_fingerprint="f", seed=42, wall_time_s=1.0, top_k=1000,
                                  n_queries=40, models={}, extra={}))


def _settings(system: str, preset: str, sets: dict | None = None) -> dict:
    """What ``harness run --system SYSTEM --preset PRESET --set ...`` records as its settings."""
    from harness.systems import build_settings, get_system_class, settings_dict

    return settings_dict(build_settings(get_system_class(system).Settings, sets or {}, preset))


@pytest.fixture
def repro_runs(tmp_path):
    """SciFact-named tiny data; gpl ran the paper's preset (device changed: a runtime setting), rgpl the offline
    preset, base has no manifest."""
    rng = random.Random(3)
    data, runs = tmp_path / "data", tmp_path / "runs"
    case = _tiny_beir(data, "scifact", 40, rng)
    for name, quality in {"base": 0.2, "gpl": 0.3, "rgpl": 0.6}.items():
        write_run(runs / "beir" / "scifact" / f"{name}.trec", _system_run(case, quality, rng), tag=name)
    _manifest(runs / "beir" / "scifact" / "gpl.trec", "gpl", "gpl", _settings("gpl", "paper", {"device": "cpu"}))
    _manifest(runs / "beir" / "scifact" / "rgpl.trec", "rgpl", "rgpl", _settings("rgpl", "offline"))
    return data, runs


def test_reproduction_marks_cells_whose_run_is_not_the_papers_setting(repro_runs):
    data, runs = repro_runs
    t = reproduction_table(load_published("rgpl2025").table("table1"), runs, data, TestSettings(n_boot=50))
    sf = next(r for r in t.all_rows() if r.key == "scifact").cells
    assert sf["gpl:ours"].marker == "" and sf["gpl:diff"].marker == ""  # like for like: unmarked
    notes = dict(t.footnotes)
    rgpl, base = sf["rgpl:ours"].marker, sf["base:ours"].marker
    assert rgpl and base and rgpl != base and sf["rgpl:diff"].marker == rgpl
    assert "rgpl --preset offline" in notes[rgpl] and "not rgpl --preset paper" in notes[rgpl]
    assert f"student={_settings('rgpl', 'offline')['student']}" in notes[rgpl]  # which model it was
    assert "no manifest" in notes[base]
    assert sf["rgpl:agree"].marker == rgpl  # the verdict compares a paper GPL with an offline R-GPL
    assert t.verdicts == {"same": 1, "different": 1, "unknown": 1}
    assert "Like for like: 1 of our 3 cells" in t.legend
    md = t.to_markdown()
    assert f"<sup>{rgpl}</sup>" in md and f"- <sup>{rgpl}</sup> R-GPL, ours on SciFact (other settings)" in md
    assert rf"\textsuperscript{{{rgpl}}}" in t.to_latex()

    # the command line: a note on stderr, and a status that tells a like-for-like report from another
    r = run_cli("table", "--published", "rgpl2025", "--table", "table1", "--runs", str(runs), "--data-dir", str(data),
                "--n-boot", "50")
    assert r.returncode == 0 and "1 of our 3 cells ran the paper's setting" in r.stderr
    r = run_cli("table", "--published", "rgpl2025", "--table", "table1", "--runs", str(runs), "--data-dir", str(data),
                "--n-boot", "50", "--require-like-for-like")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--require-like-for-like" in r.stderr
    for name in ("base", "rgpl"):
        (runs / "beir" / "scifact" / f"{name}.trec").unlink()
    r = run_cli("table", "--published", "rgpl2025", "--table", "table1", "--runs", str(runs), "--data-dir", str(data),
                "--n-boot", "50", "--require-like-for-like")
    assert r.returncode == 0 and "1 of our 1 cells" in r.stderr


def test_committed_offline_base_is_labelled_with_its_model(shared_data):
    """The issue's case: SCIFACT Base paper 57.1 beside ours from the offline preset's MiniLM, another model."""
    manifest = json.loads((OFFLINE_RUNS / "beir" / "scifact" / "base.manifest.json").read_text())
    t = reproduction_table(load_published("rgpl2025").table("table1"), OFFLINE_RUNS, shared_data, TestSettings(n_boot=50))
    sf = next(r for r in t.all_rows() if r.key == "scifact").cells
    assert sf["base:paper"].text == "57.1"
    note = dict(t.footnotes)[sf["base:ours"].marker]
    assert f"model={manifest['settings']['model']}" in note and "not base --preset paper" in note
    assert "SCIFACT | 57.1" not in t.to_markdown()  # (the row label comes first)
    assert re.search(r"\| SCIFACT \|.*\| 57\.1 \| [\d.]+<sup>[a-z]+</sup> \| [+-][\d.]+<sup>[a-z]+</sup> \|", t.to_markdown())


def test_closest_preset_and_command_recreate_the_recorded_settings():
    from harness.provenance import RunProvenance, Setting, closest_preset, resolve

    settings = resolve("rgpl", "offline", {"student": "/models/m", "remine_every": "100", "device": "cpu"})
    preset, over = closest_preset("rgpl", settings)
    assert preset == "offline" and over == {"student": "/models/m", "remine_every": 100, "device": "cpu"}
    rp = RunProvenance(REPO / "x.trec", {"system": "rgpl", "name": "rgpl-k100", "settings": settings, "seed": 7,
                                         "top_k": 100})
    cmd = rp.command("beir", "scifact")
    assert cmd.startswith("harness run --system rgpl --datasets scifact --preset offline --set student=/models/m ")
    assert "--name rgpl-k100 --seed 7 --top-k 100" in cmd
    args = cmd.split()
    sets = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--set")
    assert resolve("rgpl", "offline", sets) == settings  # the command gives back exactly what the manifest holds
    assert rp.describe() == "rgpl --preset offline --set student=/models/m --set remine_every=100"  # no device
    assert rp.against(Setting("rgpl", "offline", {"student": "/models/m", "remine_every": "100"})).like_for_like
    assert not rp.against(Setting("rgpl", "offline")).like_for_like
    assert rp.against(Setting("gpl", "offline")).status == "different"
    assert rp.against(Setting("rgpl", unknown="not printed")).status == "unknown"


def _paper_number(raw: dict) -> str:
    """The paper's number of a published table, from its title ("..., Table 2")."""
    return re.search(r"Table (\d+)$", raw["title"]).group(1)


def test_standalone_published_tables_carry_the_papers_number():
    for pt in load_published("rgpl2025").tables:
        latex = pt.to_table().to_latex(standalone=True)
        assert rf"\renewcommand{{\thetable}}{{{_paper_number(pt.raw)}}}" in latex.split(r"\caption")[0]
        assert r"\renewcommand" not in pt.to_table().to_latex()  # a fragment inside a paper takes the paper's count


def test_published_captions_do_not_refer_to_themselves():
    for pt in load_published("rgpl2025").tables:
        number = _paper_number(pt.raw)
        # "Table N" in a caption: the source statement ("From Table 2 of ...") or the paper's other table, said so
        for m in re.finditer(r"Table (\d+)", pt.raw["caption"]):
            before, after = pt.raw["caption"][:m.start()], pt.raw["caption"][m.end():]
            assert (m.group(1) == number and after.startswith(" of ")) or before.endswith("paper's "), pt.raw["caption"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (the source-level test above still runs)")
def test_standalone_table2_compiles_as_table_2(tmp_path):
    tex = tmp_path / "t2.tex"
    r = run_cli("table", "--published", "rgpl2025", "--table", "table2", "--format", "latex", "--standalone",
                "--out", str(tex))
    assert r.returncode == 0, r.stderr
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                   capture_output=True, timeout=120, check=True)
    assert r"\newlabel{tab:rgpl2025-lotte}{{2}" in (tmp_path / "t2.aux").read_text()  # LaTeX prints "Table 2:"


def test_provenance_of_a_run_whose_system_is_not_installed(tmp_path):
    from harness.provenance import RunProvenance, Setting

    rp = RunProvenance(tmp_path / "x.trec", {"system": "nosuch", "name": "nosuch", "settings": {"alpha": 0.5, "k": 3},
                                             "seed": 42, "top_k": 1000})
    assert rp.describe() == "nosuch (not installed here: its presets are not known)"
    assert rp.command("beir", "scifact") == ("harness run --system nosuch --datasets scifact --set alpha=0.5 --set k=3 "
                                             "--data-dir DATA --out runs")
    assert rp.against(Setting("nosuch", "paper")).status == "unknown"
