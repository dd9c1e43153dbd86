"""Systems are plug-ins: found through the ``harness.systems`` entry-point group, installed without a top-level
``adapters`` module."""

from __future__ import annotations

import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.runs import read_manifest, read_run
from harness.systems import BUILTIN_SYSTEMS, ENTRY_POINT_GROUP, available_systems, get_system_class

from fixtures import write_beir

REPO = Path(__file__).resolve().parents[1]

TOY = '''
from dataclasses import dataclass, field
from typing import ClassVar

from harness.systems import SystemOutput


@dataclass
class ToySettings:
    bonus: float = field(default=0.5, metadata={"help": "added to every score"})


class ToySystem:
    """Ranks documents by the number of words they share with the query."""

    name: ClassVar[str] = "toy"
    description: ClassVar[str] = "word overlap (a plug-in system from another distribution)"
    Settings: ClassVar[type] = ToySettings

    def retrieve(self, dataset, settings, ctx):
        corpus = dataset.corpus
        run = {}
        for qid, text in dataset.queries.items():
            words = set(text.lower().split())
            scores = {corpus.ids[i]: len(words & set(corpus.passage(i).lower().split())) + settings.bonus
                      for i in range(len(corpus))}
            run[qid] = dict(sorted(scores.items(), key=lambda kv: -kv[1])[:ctx.top_k])
        return SystemOutput(run=run, models={"toy": "overlap"})
'''


def _install_plugin(root: Path, entry_points: str, monkeypatch) -> None:
    """A distribution as an installer leaves it: a module and a ``*.dist-info`` folder with entry_points.txt."""
    (root / "toy_harness_plugin.py").write_text(TOY, encoding="utf-8")
    info = root / "toy_harness_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-harness-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points), encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "toy_harness_plugin", raising=False)


def test_a_system_from_another_distribution_is_listed_and_runs(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    _install_plugin(tmp_path / "site", f"""
        [{ENTRY_POINT_GROUP}]
        toy = toy_harness_plugin:ToySystem
        broken = toy_harness_plugin_missing:Nothing
        """, monkeypatch)
    runner = CliRunner()
    res = runner.invoke(app, ["systems", "--verbose"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "toy: word overlap" in res.output and "bonus" in res.output
    assert "broken: unavailable" in res.output and "bm25:" in res.output  # a broken plug-in spoils nothing else

    docs = [{"_id": "d1", "text": "red apples grow on trees"}, {"_id": "d2", "text": "blue whales swim in oceans"},
            {"_id": "d3", "text": "green apples are sour"}]
    write_beir(tmp_path / "data" / "tiny", docs, [{"_id": "q1", "text": "sour green apples"},
                                                  {"_id": "q2", "text": "whales in the ocean"}],
               [("q1", "d3", 1), ("q2", "d2", 1)])
    res = runner.invoke(app, ["run", "--system", "toy", "--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
                              "--out", str(tmp_path / "runs"), "--set", "bonus=2"])
    assert res.exit_code == 0, res.output
    path = tmp_path / "runs" / "beir" / "tiny" / "toy.trec"
    run = read_run(path)
    assert list(run["q1"]) == ["d3", "d1", "d2"] and run["q1"]["d3"] == 5.0
    assert list(run["q2"])[0] == "d2" and run["q2"]["d2"] == 4.0
    manifest = read_manifest(path)
    assert manifest["system"] == "toy" and manifest["settings"] == {"bonus": 2.0} and manifest["models"] == {"toy": "overlap"}


def test_a_plugin_cannot_take_a_builtin_name(tmp_path, monkeypatch):
    (tmp_path / "site").mkdir()
    _install_plugin(tmp_path / "site", f"""
        [{ENTRY_POINT_GROUP}]
        bm25 = toy_harness_plugin:ToySystem
        """, monkeypatch)
    assert get_system_class("bm25").__name__ == "BM25System"


def test_builtin_systems_load_under_the_collision_free_name():
    systems = available_systems()
    for name in BUILTIN_SYSTEMS:
        cls = systems[name]
        assert not isinstance(cls, str), cls
        assert cls.__module__.startswith("harness_adapters.") and cls.name == name
    # R-GPL is GPL's system with R-GPL's settings: one retrieve, not two copies
    assert systems["rgpl"].retrieve is systems["gpl"].retrieve
    assert issubclass(systems["rgpl"].Settings, systems["gpl"].Settings)


def test_the_distribution_declares_every_package_and_no_top_level_adapters():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tool = config["tool"]["setuptools"]
    packages = set(tool["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "harness").rglob("__init__.py")}
    assert on_disk <= packages, f"packages missing from pyproject.toml: {sorted(on_disk - packages)}"
    assert "adapters" not in packages and not any(p.startswith("adapters.") for p in packages)
    assert tool["package-dir"]["harness_adapters"] == "adapters" and "harness_adapters" in packages
    assert config["project"]["entry-points"][ENTRY_POINT_GROUP] == BUILTIN_SYSTEMS


@pytest.mark.parametrize("name", sorted(BUILTIN_SYSTEMS))
def test_every_builtin_system_has_the_same_shape(name):
    import dataclasses

    cls = get_system_class(name)
    assert dataclasses.is_dataclass(cls.Settings) and callable(cls.retrieve) and cls.description


def test_the_cpu_preset_is_the_offline_preset_for_every_system():
    """``cpu`` is the older name of ``offline``: one definition, so for every system that has ``offline`` it resolves
    to the same settings (and settings hash, hence the same run), with or without overrides; elsewhere it is unknown."""
    from harness.errors import SettingsError
    from harness.systems import build_settings, settings_hash

    aliased = []
    for name, cls in available_systems().items():
        if isinstance(cls, str):
            continue
        presets = getattr(cls.Settings, "PRESETS", {})
        assert "cpu" not in presets  # no second definition to drift apart
        if "offline" not in presets:
            with pytest.raises(SettingsError, match="unknown preset 'cpu'"):
                build_settings(cls.Settings, {}, "cpu")
            continue
        for sets in ({}, {"batch_size": "8"}):
            a, b = build_settings(cls.Settings, sets, "cpu"), build_settings(cls.Settings, sets, "offline")
            assert a == b and settings_hash(name, a) == settings_hash(name, b)
        aliased.append(name)
    assert aliased == ["base", "gpl", "rgpl"]
