"""Paper-style leaderboards: datasets as rows grouped by the registry's categories, systems as columns.

A ``Table`` is plain data (sections of rows of cells, scores x100); Jinja2 templates (``leaderboards/templates``,
shipped inside the installed package) render it as LaTeX (booktabs) or Markdown and know nothing about specific
datasets. Tables are rendered from a ``harness.compare.Report`` (``table_from_report``; ``table_from_runs`` builds
the report first) or from published numbers (``harness.published``), and the two can be put side by side
(``add_run_columns``; the reproduction report is ``harness.published.reproduction_table``).

Conventions: values are shown x100 to one decimal; bold follows the table's ``bold_rule`` (default: the best value
of each row at the shown precision, ties all bold) and the legend says which; the superscript of a target column
is its shown value minus the reference column's shown value, so the numbers in the table add up (published
tables keep the printed superscripts instead); ``*`` marks a significant one-sided test of target > reference.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .errors import HarnessError
from .registry import DatasetInfo, Suite, get_suite
from .stats import TestSettings

if TYPE_CHECKING:
    from .compare import Report

LAYOUTS = ("paper", "sweep")
BOLD_RULES = ("row-max", "improved", "extracted", "none")


@dataclass(frozen=True)
class Column:
    key: str  # run name or published system key
    display: str
    source: str = "runs"  # "runs", "published" or "diff" (a difference column of a reproduction report)
    group: str = ""  # a header spanning consecutive columns with the same group (e.g. "BM25" over paper/ours/diff)


@dataclass
class Cell:
    value: float | None = None  # x100, unrounded
    bold: bool = False
    delta: float | None = None  # shown value minus the reference's shown value (target columns only)
    star: bool = False
    p_value: float | None = None
    signed: bool = False  # a difference: shown with its sign
    label: str | None = None  # text shown instead of a number (e.g. a test verdict)
    bold_extracted: bool | None = None  # published cells: printed bold in the paper's text (None: not known)
    marker: str = ""  # a footnote mark after the cell (its text is one of the table's ``footnotes``)

    @property
    def shown(self) -> float | None:
        return None if self.value is None else round(self.value + 0.0, 1)

    @property
    def text(self) -> str:
        if self.label is not None:
            return self.label
        if self.value is None:
            return "–"
        return f"{self.shown + 0.0:+.1f}" if self.signed else f"{self.shown:.1f}"

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
    star: bool = False  # a marker after the label (published tables print their significance star there)


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
    bold_rule: str = "row-max"  # one of BOLD_RULES; the legend says which was used
    derive_deltas: bool = True  # False: superscripts only where given (published tables: as printed)
    row_header: str = ""  # header of the label column (default: the metric)
    number: str = ""  # the paper's number of a published table: a standalone document prints it, not its own count
    footnotes: list[tuple[str, str]] = field(default_factory=list)  # (mark, text) of the cells' ``marker``s
    verdicts: dict[str, int] = field(default_factory=dict)  # reproduction: our cells per like-for-like verdict

    @property
    def header(self) -> str:
        return self.row_header or self.metric_display

    @property
    def column_groups(self) -> list[tuple[str, int]]:
        """Consecutive columns sharing a ``group``: (group, span); empty if no column has a group."""
        if not any(c.group for c in self.columns):
            return []
        out: list[tuple[str, int]] = []
        for c in self.columns:
            if out and out[-1][0] == c.group and c.group:
                out[-1] = (c.group, out[-1][1] + 1)
            else:
                out.append((c.group, 1))
        return out

    # ------------------------------------------------------------------ derived
    def all_rows(self) -> list[Row]:
        return [r for s in self.sections for r in s.rows] + list(self.footer)

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise HarnessError(f"no column '{key}' in the table; columns: {', '.join(c.key for c in self.columns)}")

    def finalize(self) -> "Table":
        """Mark bold cells by the table's ``bold_rule`` and fill superscripts of target columns."""
        if self.bold_rule not in BOLD_RULES:
            raise HarnessError(f"unknown bold rule '{self.bold_rule}'; use one of {', '.join(BOLD_RULES)}")
        for row in self.all_rows():
            for cell in row.cells.values():
                cell.bold = False
            ref = row.cells.get(self.reference) if self.reference else None
            if self.bold_rule == "row-max":
                values = [c for k, c in row.cells.items() if c.shown is not None and not c.signed and c.label is None]
                best = max((c.shown for c in values), default=None)
                for cell in values:
                    cell.bold = len(values) > 1 and cell.shown == best
            elif self.bold_rule == "improved":
                for t in self.targets:
                    cell = row.cells.get(t)
                    if cell is not None and ref is not None and None not in (cell.shown, ref.shown):
                        cell.bold = cell.shown > ref.shown
            elif self.bold_rule == "extracted":
                for cell in row.cells.values():
                    cell.bold = cell.bold_extracted is True
            if not self.derive_deltas:
                continue
            for t in self.targets:
                cell = row.cells.get(t)
                if cell is None or cell.delta is not None:
                    continue
                if ref is not None and ref.shown is not None and cell.shown is not None:
                    cell.delta = cell.shown - ref.shown
        return self

    def bold_text(self) -> str:
        """The legend's sentence naming the bold rule used."""
        names = {c.key: c.display for c in self.columns}
        if self.bold_rule == "row-max":
            return "Bold: the best value of each row (ties all bold)."
        if self.bold_rule == "improved":
            tnames = ", ".join(names.get(t, t) for t in self.targets)
            return f"Bold: {tnames} where higher than {names.get(self.reference, self.reference)}."
        if self.bold_rule == "extracted":
            return "Bold: as printed, where the paper's text extraction kept it."
        return ""

    def to_dict(self) -> dict:
        return {
            "title": self.title, "metric": self.metric_display, "reference": self.reference, "targets": list(self.targets),
            "columns": [c.__dict__ for c in self.columns], "legend": self.legend, "notes": self.notes,
            "bold_rule": self.bold_rule, "number": self.number, "footnotes": [list(f) for f in self.footnotes],
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

    def to_latex(self, standalone: bool = False, own_number: bool | None = None) -> str:
        """``standalone``: a complete document. ``own_number`` (default: ``standalone``): a published table keeps the
        paper's number (``number``) instead of the document's count; a table inside someone's paper takes theirs."""
        own = standalone if own_number is None else own_number
        return _env("latex").get_template("table.tex.j2").render(t=self, standalone=standalone, own_number=own)

    def to_markdown(self) -> str:
        return _env("markdown").get_template("table.md.j2").render(t=self)


def _row_dict(r: Row) -> dict:
    return {"key": r.key, "label": r.label, "kind": r.kind, "star": r.star,
            "cells": {k: {"value": c.value, "text": c.text, "bold": c.bold, "delta": c.delta_text, "star": c.star,
                          "p_value": c.p_value, "marker": c.marker} for k, c in r.cells.items()}}


# ------------------------------------------------------------------------------------------ templates
def leaderboards_dir(sub: str) -> Path:
    """``leaderboards/<sub>`` (``templates`` or ``published``): inside the installed package (the wheel copies the
    repository's ``leaderboards/`` to ``harness/leaderboards/``, see setup.py), else the source checkout's."""
    installed = Path(str(resources.files("harness"))) / "leaderboards" / sub
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / "leaderboards" / sub


def templates_dir() -> Path:
    """``HARNESS_TEMPLATES`` if set, else the shipped ``leaderboards/templates``."""
    env = os.environ.get("HARNESS_TEMPLATES")
    path = Path(env) if env else leaderboards_dir("templates")
    if not (path / "table.tex.j2").is_file():
        raise HarnessError(f"table templates not found in {path} (set HARNESS_TEMPLATES to the folder holding table.tex.j2)")
    return path


_LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                  "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}", "–": "--",
                  "<": r"\textless{}", ">": r"\textgreater{}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def latex_cell(cell: Cell) -> str:
    if cell.label is not None:
        out = latex_escape(cell.label)
    elif cell.value is None:
        out = "--"
    else:
        out = rf"\textbf{{{cell.text}}}" if cell.bold else cell.text
        sup = cell.delta_text + (r"\,*" if cell.star else "")
        if sup:
            out += f"$^{{{sup}}}$"
    return out + (rf"\textsuperscript{{{latex_escape(cell.marker)}}}" if cell.marker else "")


def markdown_escape(text: str) -> str:
    return str(text).replace("|", r"\|").replace("*", r"\*")


def markdown_cell(cell: Cell) -> str:
    if cell.label is not None:
        out = markdown_escape(cell.label)
    elif cell.value is None:
        out = "–"
    else:
        out = f"**{cell.text}**" if cell.bold else cell.text
        sup = cell.delta_text + ("\\*" if cell.star else "")
        if sup:
            out += f"<sup>{sup}</sup>"
    return out + (f"<sup>{markdown_escape(cell.marker)}</sup>" if cell.marker else "")


def html_cell(cell: Cell):
    """A cell as (escaped) HTML: bold, superscript difference and star, footnote mark (the leaderboard site)."""
    from markupsafe import Markup, escape

    if cell.label is not None:
        out = escape(cell.label)
    elif cell.value is None:
        out = Markup("–")
    else:
        out = Markup("<strong>%s</strong>") % cell.text if cell.bold else escape(cell.text)
        sup = cell.delta_text + ("*" if cell.star else "")
        if sup:
            out += Markup("<sup>%s</sup>") % sup
    return out + (Markup('<sup class="mark">%s</sup>') % cell.marker if cell.marker else "")


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
def ordered_groups(suite: Suite, infos: Sequence[DatasetInfo]) -> list[tuple[str, list[DatasetInfo]]]:
    groups: dict[str, list[DatasetInfo]] = {}
    order = list(suite.groups) + sorted({d.group for d in infos} - set(suite.groups))
    for g in order:
        members = [d for d in infos if d.group == g]
        if members:
            groups[g] = members
    return list(groups.items())


def average_cell(values: list[float | None]) -> Cell:
    if not values or any(v is None for v in values):
        return Cell(None)
    return Cell(sum(values) / len(values))


def average_rows(suite: Suite, table: Table, columns: Sequence[str]) -> None:
    """Add the registry's average rows: ``over: all`` after the last section, ``over: group`` inside each
    section (datasets listed in ``exclude``, e.g. LoTTE's pooled rows, left out). Averages of columns with a
    missing dataset are left empty rather than averaged over fewer datasets."""
    for spec in suite.average_rows or ({"name": "Average", "over": "all"},):
        exclude = set(spec.get("exclude", ()))
        if spec.get("over") == "group":
            for sec in table.sections:
                rows = [r for r in sec.rows if r.kind == "dataset" and r.key not in exclude]
                if rows:
                    cells = {c: average_cell([r.cells[c].value for r in rows]) for c in columns}
                    sec.rows.append(Row(key=f"{sec.name}:{spec['name']}", label=spec["name"], cells=cells, kind="average",
                                        members=tuple(r.key for r in rows)))
        else:
            rows = [r for s in table.sections for r in s.rows if r.kind == "dataset" and r.key not in exclude]
            if rows:
                cells = {c: average_cell([r.cells[c].value for r in rows]) for c in columns}
                table.footer.append(Row(key=spec["name"], label=spec["name"], cells=cells, kind="average",
                                        members=tuple(r.key for r in rows)))


def legend(metric_display: str, reference: str | None, targets: Sequence[str], columns: list[Column],
           test_text: str | None, alpha: float, bold_text: str = "Bold: the best value of each row (ties all bold).") -> str:
    """The legend sentence of a leaderboard: scale, bold rule, superscripts, and the test behind the stars."""
    parts = [f"{metric_display} x100."] + ([bold_text] if bold_text else [])
    names = {c.key: c.display for c in columns}
    if reference and targets:
        tnames = ", ".join(names.get(t, t) for t in targets)
        parts.append(f"Superscripts: difference of {tnames} to {names.get(reference, reference)}.")
        if test_text:
            parts.append(f"* = p < {alpha:g}, {test_text}.")
    return " ".join(parts)


def table_from_report(report: "Report", reference: str | None = None, targets: Sequence[str] = (),
                      displays: dict[str, str] | None = None, title: str | None = None,
                      metric_display: str | None = None) -> Table:
    """Lay a comparison report out as a leaderboard: one column per system of the report, rows grouped by the
    registry, stars from the report's tests of (reference, target)."""
    s = get_suite(report.suite)
    displays = displays or {}
    columns = [Column(k, displays.get(k, k)) for k in report.systems]
    metric_display = metric_display or (report.rows[0].metric.display if report.rows else s.metric_display)
    table = Table(title=title or f"{s.display}: {metric_display}", metric_display=metric_display, columns=columns,
                  sections=[], reference=reference, targets=tuple(targets))
    by_name = {r.info.name: r for r in report.rows}
    for group, members in ordered_groups(s, [r.info for r in report.rows]):
        sec = Section(group)
        for info in members:
            r = by_name[info.name]
            cells = {}
            for name in report.systems:
                res = r.systems[name]
                if not res.complete:  # a dash, and a note saying which files are missing
                    cells[name] = Cell(None)
                    if res.present_parts:
                        table.notes.append(f"{info.display}: {len(res.missing_parts)} of {len(info.part_names)} parts "
                                           f"missing for '{name}' (e.g. {res.missing_parts[0]}); not averaged over fewer")
                    else:
                        table.notes.append(f"{info.display}: no run file for '{name}'")
                    continue
                cells[name] = Cell(100 * res.mean(r.metric))
            for t in targets:
                test = r.test(reference, t) if reference else None
                if test is not None:
                    cells[t].p_value = test.p
                    cells[t].star = test.significant and test.delta > 0
            for name in report.systems:
                sc = r.systems[name].scores
                if sc is not None and sc.missing:
                    table.notes.append(f"{info.display}: {len(sc.missing)} of {sc.n} judged queries missing from "
                                       f"the run of '{name}' (scored 0)")
            sec.rows.append(Row(key=info.name, label=info.display, cells=cells))
        table.sections.append(sec)
    average_rows(s, table, list(report.systems))
    tested = any(r.test(reference, t) for r in report.rows for t in targets) if reference else False
    table.legend = legend(metric_display, reference, targets, columns,
                          report.settings.describe(metric_display, with_alpha=False) if tested else None,
                          report.settings.alpha, table.bold_text())
    return table.finalize()


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
    from .compare import build_report
    from .evaluate import Metric
    from .runs import datasets_with_runs

    if layout not in LAYOUTS:
        raise HarnessError(f"unknown layout '{layout}'; use one of {', '.join(LAYOUTS)}")
    systems = list(dict.fromkeys(systems))
    if not systems:
        raise HarnessError("a table needs at least one system")
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
    if not datasets and not datasets_with_runs(suite, systems, runs_dir):
        raise HarnessError(f"no run files for {', '.join(systems)} under {Path(runs_dir) / suite}")
    report = build_report(suite, systems, [(reference, t) for t in targets] if reference else [], runs_dir, data_dir,
                          datasets or None, metric, settings or TestSettings(), use_cache)
    return table_from_report(report, reference, targets, displays, title,
                             Metric.parse(metric).display if metric else get_suite(suite).metric_display)


def add_run_columns(table: Table, suite: str, systems: Sequence[str], runs_dir: str | Path, data_dir: str | Path | None = None,
                    displays: dict[str, str] | None = None, use_cache: bool = True) -> Table:
    """Put a user's own runs beside a (published) table: one column per system, same rows, no tests (published
    columns have no per-query scores). Rows without a run file show a dash."""
    from .compare import build_report
    from .runs import datasets_with_runs

    displays = displays or {}
    for name in systems:
        if any(c.key == name for c in table.columns):
            raise HarnessError(f"column '{name}' already exists in the table")
        table.columns.append(Column(name, displays.get(name, name)))
    keys = {r.key for sec in table.sections for r in sec.rows if r.kind == "dataset"}
    infos = [d for d in datasets_with_runs(suite, systems, runs_dir) if d.name in keys]
    report = build_report(suite, systems, (), runs_dir, data_dir, infos, use_cache=use_cache) if infos else None
    for sec in table.sections:
        for row in sec.rows:
            if row.kind != "dataset":
                continue
            r = report.row(row.key) if report else None
            for name in systems:
                mean = r.mean(name) if r else None
                row.cells[name] = Cell(None if mean is None else 100 * mean)
    # averages of the new columns, over the same dataset rows as the existing averages
    by_key = {r.key: r for sec in table.sections for r in sec.rows if r.kind == "dataset"}
    for row in table.all_rows():
        if row.kind == "average":
            for name in systems:
                row.cells[name] = average_cell([by_key[k].cells[name].value for k in row.members if k in by_key])
    return table.finalize()
