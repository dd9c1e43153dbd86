"""Paper-style leaderboards: datasets as rows grouped by the registry's categories, systems as columns.

A ``Table`` is plain data (sections of rows of cells, scores x100); Jinja2 templates in
``leaderboards/templates/`` render it as LaTeX (booktabs) or Markdown and know nothing about specific datasets.
Tables are built either from run files (``table_from_runs``: evaluation + one-sided Wilcoxon tests) or from
published numbers (``harness.published``), and the two can be put side by side (``add_run_columns``).

Conventions: values are shown x100 to one decimal; the best value of each row (at the shown precision) is bold,
ties all bold; the superscript of a target column is its shown value minus the reference column's shown value,
so the numbers in the table add up; ``*`` marks a significant one-sided test of target > reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import HarnessError
from .registry import DatasetInfo, Suite, get_suite
from .stats import TestSettings, apply_correction

LAYOUTS = ("paper", "sweep")


@dataclass(frozen=True)
class Column:
    key: str  # run name or published system key
    display: str
    source: str = "runs"  # "runs" or "published"


@dataclass
class Cell:
    value: float | None = None  # x100, unrounded
    bold: bool = False
    delta: float | None = None  # shown value minus the reference's shown value (target columns only)
    star: bool = False
    p_value: float | None = None

    @property
    def shown(self) -> float | None:
        return None if self.value is None else round(self.value + 0.0, 1)

    @property
    def text(self) -> str:
        return "–" if self.value is None else f"{self.shown:.1f}"

    @property
    def delta_text(self) -> str:
        if self.delta is None:
            return ""
        d = round(self.delta, 1) + 0.0  # +0.0 turns -0.0 into 0.0
        return f"{d:+.1f}"


@dataclass
class Row:
    key: str
    label: str
    cells: dict[str, Cell]
    kind: str = "dataset"  # "dataset" or "average"
    members: tuple[str, ...] = ()  # average rows: keys of the dataset rows averaged


@dataclass
class Section:
    name: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class Table:
    """A rendered-to-be leaderboard."""

    title: str
    metric_display: str
    columns: list[Column]
    sections: list[Section]
    footer: list[Row] = field(default_factory=list)  # rows after the last section (overall averages)
    reference: str | None = None
    targets: tuple[str, ...] = ()
    legend: str = ""
    notes: list[str] = field(default_factory=list)
    caption: str = ""
    label: str = ""

    # ------------------------------------------------------------------ derived
    def all_rows(self) -> list[Row]:
        return [r for s in self.sections for r in s.rows] + list(self.footer)

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise HarnessError(f"no column '{key}' in the table; columns: {', '.join(c.key for c in self.columns)}")

    def finalize(self) -> "Table":
        """Mark the best shown value of each row bold and fill superscripts of target columns."""
        for row in self.all_rows():
            shown = [c.shown for c in row.cells.values() if c.shown is not None]
            best = max(shown) if shown else None
            for cell in row.cells.values():
                cell.bold = best is not None and cell.shown == best and len(shown) > 1
            ref = row.cells.get(self.reference) if self.reference else None
            for t in self.targets:
                cell = row.cells.get(t)
                if cell is None or cell.delta is not None:
                    continue  # a published superscript is kept as printed
                if ref is not None and ref.shown is not None and cell.shown is not None:
                    cell.delta = cell.shown - ref.shown
        return self

    def to_dict(self) -> dict:
        return {
            "title": self.title, "metric": self.metric_display, "reference": self.reference, "targets": list(self.targets),
            "columns": [c.__dict__ for c in self.columns], "legend": self.legend, "notes": self.notes,
            "sections": [{"name": s.name, "rows": [_row_dict(r) for r in s.rows]} for s in self.sections],
            "footer": [_row_dict(r) for r in self.footer],
        }

    # ------------------------------------------------------------------ rendering
    def render(self, fmt: str, standalone: bool = False) -> str:
        if fmt == "latex":
            return self.to_latex(standalone=standalone)
        if fmt == "markdown":
            return self.to_markdown()
        raise HarnessError(f"unknown table format '{fmt}'; use latex or markdown")

    def to_latex(self, standalone: bool = False) -> str:
        return _env("latex").get_template("table.tex.j2").render(t=self, standalone=standalone)

    def to_markdown(self) -> str:
        return _env("markdown").get_template("table.md.j2").render(t=self)


def _row_dict(r: Row) -> dict:
    return {"key": r.key, "label": r.label, "kind": r.kind,
            "cells": {k: {"value": c.value, "text": c.text, "bold": c.bold, "delta": c.delta_text, "star": c.star,
                          "p_value": c.p_value} for k, c in r.cells.items()}}


# ------------------------------------------------------------------------------------------ templates
def templates_dir() -> Path:
    """``HARNESS_TEMPLATES`` if set, else the repository's ``leaderboards/templates``."""
    env = os.environ.get("HARNESS_TEMPLATES")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "leaderboards" / "templates"
    if not (path / "table.tex.j2").is_file():
        raise HarnessError(f"table templates not found in {path} (set HARNESS_TEMPLATES to the folder holding table.tex.j2)")
    return path


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "–": "--",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_cell(cell: Cell) -> str:
    if cell.value is None:
        return "--"
    out = rf"\textbf{{{cell.text}}}" if cell.bold else cell.text
    sup = cell.delta_text + (r"\,*" if cell.star else "")
    if sup:
        out += f"$^{{{sup}}}$"
    return out


def markdown_escape(text: str) -> str:
    return str(text).replace("|", r"\|").replace("*", r"\*")


def markdown_cell(cell: Cell) -> str:
    if cell.value is None:
        return "–"
    out = f"**{cell.text}**" if cell.bold else cell.text
    sup = cell.delta_text + ("\\*" if cell.star else "")
    if sup:
        out += f"<sup>{sup}</sup>"
    return out


def _env(fmt: str):
    import jinja2

    loader = jinja2.FileSystemLoader(str(templates_dir()))
    if fmt == "latex":
        env = jinja2.Environment(loader=loader, block_start_string=r"\BLOCK{", block_end_string="}",
                                 variable_start_string=r"\VAR{", variable_end_string="}",
                                 comment_start_string=r"\#{", comment_end_string="}", trim_blocks=True,
                                 lstrip_blocks=True, autoescape=False, keep_trailing_newline=True,
                                 undefined=jinja2.StrictUndefined)
        env.filters.update(esc=latex_escape, cell=latex_cell)
    else:
        env = jinja2.Environment(loader=loader, trim_blocks=True, lstrip_blocks=True, autoescape=False,
                                 keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
        env.filters.update(esc=markdown_escape, cell=markdown_cell)
    return env


# ---------------------------------------------------------------------------------------- structure
def _ordered_groups(suite: Suite, infos: Sequence[DatasetInfo]) -> list[tuple[str, list[DatasetInfo]]]:
    groups: dict[str, list[DatasetInfo]] = {}
    order = list(suite.groups) + sorted({d.group for d in infos} - set(suite.groups))
    for g in order:
        members = [d for d in infos if d.group == g]
        if members:
            groups[g] = members
    return list(groups.items())


def _average_cell(values: list[float | None]) -> Cell:
    if not values or any(v is None for v in values):
        return Cell(None)
    return Cell(sum(values) / len(values))


def _average_rows(suite: Suite, table: Table, columns: Sequence[str]) -> None:
    """Add the registry's average rows: ``over: all`` after the last section, ``over: group`` inside each
    section (datasets listed in ``exclude``, e.g. LoTTE's pooled rows, left out). Averages of columns with a
    missing dataset are left empty rather than averaged over fewer datasets."""
    for spec in suite.average_rows or ({"name": "Average", "over": "all"},):
        exclude = set(spec.get("exclude", ()))
        if spec.get("over") == "group":
            for sec in table.sections:
                rows = [r for r in sec.rows if r.kind == "dataset" and r.key not in exclude]
                if rows:
                    cells = {c: _average_cell([r.cells[c].value for r in rows]) for c in columns}
                    sec.rows.append(Row(key=f"{sec.name}:{spec['name']}", label=spec["name"], cells=cells, kind="average",
                                        members=tuple(r.key for r in rows)))
        else:
            rows = [r for s in table.sections for r in s.rows if r.kind == "dataset" and r.key not in exclude]
            if rows:
                cells = {c: _average_cell([r.cells[c].value for r in rows]) for c in columns}
                table.footer.append(Row(key=spec["name"], label=spec["name"], cells=cells, kind="average",
                                        members=tuple(r.key for r in rows)))


def _legend(metric_display: str, reference: str | None, targets: Sequence[str], columns: list[Column],
            test_text: str | None, alpha: float) -> str:
    parts = [f"{metric_display} x100; best per row in bold."]
    names = {c.key: c.display for c in columns}
    if reference and targets:
        tnames = ", ".join(names.get(t, t) for t in targets)
        parts.append(f"Superscripts: difference of {tnames} to {names.get(reference, reference)}.")
        if test_text:
            parts.append(f"* = p < {alpha:g}, {test_text}.")
    return " ".join(parts)


def table_from_runs(suite: str, systems: Sequence[str], runs_dir: str | Path = "runs", data_dir: str | Path | None = None,
                    reference: str | None = None, targets: Sequence[str] | None = None, layout: str = "paper",
                    datasets: Sequence[str] | None = None, settings: TestSettings | None = None,
                    displays: dict[str, str] | None = None, metric: str | None = None,
                    title: str | None = None, use_cache: bool = True) -> Table:
    """Evaluate ``runs/<suite>/<dataset>/<system>.trec`` for each system and lay them out as a leaderboard.

    ``reference`` defaults to the second-to-last system; ``targets`` to the last one (``layout="sweep"``: every
    system after the reference). Stars: one-sided Wilcoxon test of target > reference per dataset, with the
    settings' correction applied across the datasets of the table (per target column).
    """
    from .compare import datasets_with_runs
    from .evaluate import Metric, evaluate_dataset, metrics_for, run_files_for
    from .registry import resolve_dataset
    from .stats import paired_test

    if layout not in LAYOUTS:
        raise HarnessError(f"unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    systems = list(dict.fromkeys(systems))
    if not systems:
        raise HarnessError("a table needs at least one system")
    settings = settings or TestSettings()
    s = get_suite(suite)
    if reference is None and len(systems) > 1:
        reference = systems[0] if layout == "sweep" else systems[-2]
    if reference is not None and reference not in systems:
        raise HarnessError(f"reference '{reference}' is not one of the systems ({', '.join(systems)})")
    if targets is None:
        if layout == "sweep":
            targets = [x for x in systems if x != reference]
        else:
            targets = [systems[-1]] if reference and systems[-1] != reference else []
    for t in targets:
        if t not in systems:
            raise HarnessError(f"target '{t}' is not one of the systems ({', '.join(systems)})")
    infos = [resolve_dataset(suite, n) for n in datasets] if datasets else datasets_with_runs(suite, systems, runs_dir)
    if not infos:
        raise HarnessError(f"no run files for {', '.join(systems)} under {Path(runs_dir) / suite}")
    displays = displays or {}
    columns = [Column(k, displays.get(k, k)) for k in systems]
    table = Table(title=title or f"{s.display}: {s.metric_display}", metric_display=s.metric_display if not metric else
                  Metric.parse(metric).display, columns=columns, sections=[], reference=reference, targets=tuple(targets))
    tests: dict[str, list] = {t: [] for t in targets}
    for group, members in _ordered_groups(s, infos):
        sec = Section(group)
        for info in members:
            m = Metric.parse(metric or info.metric)
            mets = tuple(dict.fromkeys((m,) + metrics_for(info)))
            scores, cells = {}, {}
            for name in systems:
                present, missing_parts = run_files_for(info, runs_dir, name)
                if missing_parts:  # a dash, and a note saying which files are missing
                    cells[name] = Cell(None)
                    if present:
                        table.notes.append(f"{info.display}: {len(missing_parts)} of {len(info.part_names)} parts "
                                           f"missing for '{name}' (e.g. {missing_parts[0]}); not averaged over fewer")
                    else:
                        table.notes.append(f"{info.display}: no run file for '{name}'")
                    continue
                scores[name] = evaluate_dataset(info, name, runs_dir, data_dir, mets, use_cache)
                cells[name] = Cell(100 * scores[name].mean(m))
            if reference in scores:
                ref = scores[reference]
                for t in targets:
                    if t in scores:
                        strata = [x.n for _, x in ref.parts] if len(ref.parts) > 1 else None
                        res = paired_test(ref.pooled.array(m), scores[t].pooled.array(m), settings, strata=strata)
                        tests[t].append((cells[t], res))
            for name, sc in scores.items():
                if sc.missing:
                    table.notes.append(f"{info.display}: {len(sc.missing)} of {sc.n} judged queries missing from "
                                       f"the run of '{name}' (scored 0)")
            sec.rows.append(Row(key=info.name, label=info.display, cells=cells))
        table.sections.append(sec)
    for t, pairs in tests.items():
        apply_correction([res for _, res in pairs], settings.correction)
        for cell, res in pairs:
            cell.p_value = res.p
            cell.star = res.significant and res.delta > 0
    _average_rows(s, table, systems)
    metric_display = table.metric_display
    table.legend = _legend(metric_display, reference, targets, columns,
                           settings.describe(metric_display, with_alpha=False) if tests else None, settings.alpha)
    return table.finalize()


def add_run_columns(table: Table, suite: str, systems: Sequence[str], runs_dir: str | Path, data_dir: str | Path | None = None,
                    displays: dict[str, str] | None = None, use_cache: bool = True) -> Table:
    """Put a user's own runs beside a (published) table: one column per system, same rows, no tests (published
    columns have no per-query scores). Rows without a run file show a dash."""
    from .evaluate import Metric, evaluate_dataset, metrics_for, run_files_for
    from .registry import resolve_dataset

    displays = displays or {}
    for name in systems:
        if any(c.key == name for c in table.columns):
            raise HarnessError(f"column '{name}' already exists in the table")
        table.columns.append(Column(name, displays.get(name, name)))
    for sec in table.sections:
        for row in sec.rows:
            if row.kind != "dataset":
                continue
            info = resolve_dataset(suite, row.key)
            m = Metric.parse(info.metric)
            for name in systems:
                if run_files_for(info, runs_dir, name)[1]:
                    row.cells[name] = Cell(None)
                    continue
                sc = evaluate_dataset(info, name, runs_dir, data_dir, tuple(dict.fromkeys((m,) + metrics_for(info))), use_cache)
                row.cells[name] = Cell(100 * sc.mean(m))
    # averages of the new columns, over the same dataset rows as the existing averages
    by_key = {r.key: r for sec in table.sections for r in sec.rows if r.kind == "dataset"}
    for row in table.all_rows():
        if row.kind == "average":
            for name in systems:
                row.cells[name] = _average_cell([by_key[k].cells[name].value for k in row.members if k in by_key])
    for row in table.all_rows():
        for c in row.cells.values():
            c.bold = False
    return table.finalize()
