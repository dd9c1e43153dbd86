"""Published results as data (``leaderboards/published/<id>.json``), rendered as the paper printed them, and the
reproduction report that puts our runs beside them.

A published set holds one or more tables. Each table names its suite, its columns (systems, in the printed order;
``run`` names the run file of a column when it differs from ``key``), the reference and target columns of its
superscripts and stars, and its rows as a list in the printed order::

    {"id": "table1", "suite": "beir", "metric": "ndcg_cut_10", "caption": "...", "label": "tab:beir",
     "columns": [{"key": "gpl", "display": "GPL"}, {"key": "rgpl", "display": "R-GPL"}],
     "reference": "gpl", "targets": ["rgpl"], "alpha": 0.05, "star_position": "label", "bold_rule": "improved",
     "test": "one-sided Wilcoxon signed-rank test ...", "untested": {"cqadupstack": "why no test"},
     "rows": [
       {"dataset": "scifact", "display": "SCIFACT", "group": "Fact Checking", "values": {"gpl": 66.4, "rgpl": 67.8},
        "significant": [], "superscript": {"rgpl": "+1.4"}, "bold_extracted": {"gpl": false, "rgpl": true}},
       {"average": "Average", "display": "Average", "values": {"gpl": 46.4, "rgpl": 47.7}, "superscript": {"rgpl": "+1.3"}}]}

``number`` is the paper's number of the table (a standalone LaTeX page prints it, not its own count). A column's
``setting`` names what the paper ran for it as ``harness run`` would (``{"system": "rgpl", "preset": "paper",
"settings": {"remine_every": "10000"}}``), or ``"unknown"``: why that is not known; the reproduction report compares
each of our runs with it (``harness.provenance``) and marks the cells that did not run it like for like.

``values`` are x100 as printed (null: not transcribed); ``significant`` the targets printed with a star
(``star_position``: ``label``, after the row's name as in the paper, or ``cell``, in the target's superscript);
``superscript`` the printed superscripts, kept as printed (none printed: none shown); ``bold_extracted`` the bold
as printed (null: unknown); ``group``/``display`` as printed (default: the registry's). An ``average`` row holds
printed averages over every dataset row of its section (or of the table, without a ``group``). Files may instead
give ``rows`` as an object keyed by dataset: the registry then orders, groups and averages them, and superscripts
are computed from the printed values unless given (``delta``).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError, HarnessError
from .fileio import json_error, read_text
from .registry import SUITE_NAMES, get_suite
from .stats import TestSettings
from .tables import (BOLD_RULES, Cell, Column, Row, Section, Table, average_cell, average_rows, leaderboards_dir,
                     legend, ordered_groups)

if TYPE_CHECKING:
    from .provenance import Setting

_SUPERSCRIPT = re.compile(r"^[+-]\d+(\.\d+)?$")


def published_dir() -> Path:
    """``HARNESS_PUBLISHED`` if set, else the shipped ``leaderboards/published``."""
    env = os.environ.get("HARNESS_PUBLISHED")
    return Path(env) if env else leaderboards_dir("published")


def available_published() -> list[str]:
    d = published_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def _rows_as_list(raw: dict) -> list[dict]:
    """The rows in printed order; an object keyed by dataset is put in the registry's order."""
    rows = raw["rows"]
    if isinstance(rows, list):
        return rows
    s = get_suite(raw["suite"])
    return [dict(v, dataset=d.name) for d in s.datasets for k, v in rows.items() if k == d.name]


@dataclass
class PublishedTable:
    """One table of a published set, validated."""

    set_id: str
    path: Path
    raw: dict

    @property
    def id(self) -> str:
        return self.raw["id"]

    @property
    def suite(self) -> str:
        return self.raw["suite"]

    @property
    def rows(self) -> list[dict]:
        return _rows_as_list(self.raw)

    @property
    def column_keys(self) -> list[str]:
        return [c["key"] for c in self.raw["columns"]]

    def setting(self, key: str) -> "Setting | None":
        """What the paper ran for column ``key`` (None: the file does not say)."""
        from .provenance import Setting

        raw = next(c.get("setting") for c in self.raw["columns"] if c["key"] == key)
        return None if raw is None else Setting.from_dict(raw, f"{self.path}: table '{self.id}', column '{key}'")

    def run_name(self, key: str) -> str:
        """The run file name (``<name>.trec``) holding our results for column ``key``."""
        return next(c.get("run", c["key"]) for c in self.raw["columns"] if c["key"] == key)

    @property
    def metric_display(self) -> str:
        from .evaluate import Metric

        return Metric.parse(self.raw["metric"]).display if self.raw.get("metric") else get_suite(self.suite).metric_display

    def missing_values(self) -> list[str]:
        out = []
        for row in self.rows:
            for k in self.column_keys:
                if row.get("values", {}).get(k) is None:
                    out.append(f"{row.get('dataset') or row.get('average')}/{k}")
        return out

    def star(self, row: dict) -> bool:
        """Whether the paper prints its significance star on this row."""
        return bool(row.get("significant"))

    def bold_agreement(self, rule: str) -> tuple[int, int]:
        """(cells where ``rule`` gives the bold the paper's extraction kept, cells whose printed bold is known)."""
        return self._agreement(self.to_table(bold_rule=rule, allow_missing=True))

    def _agreement(self, table: Table) -> tuple[int, int]:
        by_key = {r.key: r for r in table.all_rows()}
        agree = known = 0
        for row in self.rows:
            key = row.get("dataset") or row.get("average")
            for k, flag in row.get("bold_extracted", {}).items():
                if flag is not None and key in by_key:
                    known += 1
                    agree += by_key[key].cells[k].bold == flag
        return agree, known

    def to_table(self, allow_missing: bool = False, bold_rule: str | None = None) -> Table:
        raw, s = self.raw, get_suite(self.suite)
        missing = self.missing_values()
        if missing and not allow_missing:
            raise HarnessError(
                f"{self.path}: table '{self.id}' lacks {len(missing)} printed values (e.g. {', '.join(missing[:3])}); "
                f"transcribe them from {self.raw.get('source') or 'the paper'} or pass --allow-missing to render dashes")
        printed = isinstance(raw["rows"], list)
        columns = [Column(c["key"], c.get("display", c["key"]), source="published") for c in raw["columns"]]
        keys = [c.key for c in columns]
        reference, targets = raw.get("reference"), tuple(raw.get("targets", ()))
        on_label = raw.get("star_position", "cell") == "label"
        table = Table(title=raw.get("title", ""), metric_display=self.metric_display, columns=columns, sections=[],
                      reference=reference, targets=targets, caption=raw.get("caption", ""), label=raw.get("label", ""),
                      bold_rule=bold_rule or raw.get("bold_rule", "row-max"), row_header=raw.get("row_header", ""),
                      derive_deltas=not printed, number=str(raw.get("number", "")))
        sections: dict[str, Section] = {}
        for r in self.rows:
            cells = {}
            sig, deltas = set(r.get("significant", ())), r.get("delta", {})
            sup, bold = r.get("superscript", {}), r.get("bold_extracted", {})
            for k in keys:
                v = r.get("values", {}).get(k)
                delta = float(sup[k]) if k in sup else float(deltas[k]) if k in deltas else None
                cells[k] = Cell(value=None if v is None else float(v), star=k in sig and not on_label, delta=delta,
                                bold_extracted=bold.get(k))
            if "average" in r:
                row = Row(key=r["average"] if not r.get("group") else f"{r['group']}:{r['average']}",
                          label=r.get("display", r["average"]), cells=cells, kind="average")
            else:
                info = s.get(r["dataset"])
                row = Row(key=info.name, label=r.get("display", info.display), cells=cells, star=on_label and bool(sig))
            group = r.get("group", s.get(r["dataset"]).group if "dataset" in r and not printed else "")
            if row.kind == "average" and not r.get("group"):
                row.members = tuple(x.key for sec in sections.values() for x in sec.rows if x.kind == "dataset")
                table.footer.append(row)
                continue
            sec = sections.setdefault(group, Section(group))
            if row.kind == "average":
                row.members = tuple(x.key for x in sec.rows if x.kind == "dataset")
            sec.rows.append(row)
        table.sections = list(sections.values()) if printed else \
            [sections[g] for g, _ in ordered_groups(s, [s.get(r["dataset"]) for r in self.rows if "dataset" in r])]
        if not printed:
            average_rows(s, table, keys)
            for key, vals in raw.get("averages", {}).items():
                row = next((r for r in table.all_rows() if r.kind == "average" and r.key == key), None)
                if row is None:
                    raise DataError(f"{self.path}: table '{self.id}': no average row '{key}' "
                                    f"(have: {', '.join(r.key for r in table.all_rows() if r.kind == 'average')})")
                for k, v in vals.items():
                    row.cells[k] = Cell(value=None if v is None else float(v))
        table.finalize()
        table.legend = self.legend_text(table)
        if raw.get("source"):
            table.notes.append(f"Published values: {raw.get('citation') or self.set_id}, {raw['source']}.")
        return table

    def legend_text(self, table: Table) -> str:
        raw = self.raw
        names = {c.key: c.display for c in table.columns}
        if table.derive_deltas:
            return legend(table.metric_display, table.reference, table.targets, table.columns, raw.get("test"),
                          float(raw.get("alpha", 0.05)), table.bold_text())
        parts = [f"{table.metric_display} x100 as published."]
        ref, targets = table.reference, table.targets
        if ref and targets:
            tnames = ", ".join(names[t] for t in targets)
            parts.append(f"Superscripts: {tnames} minus {names[ref]}, as printed in the paper.")
            if raw.get("test"):
                where = "after a dataset's name" if raw.get("star_position") == "label" else "in a superscript"
                parts.append(f"* {where}: the paper reports a {raw['test']}.")
            labels = {r.key: r.label for r in table.all_rows()}
            for ds, why in raw.get("untested", {}).items():
                parts.append(f"{labels.get(ds, ds)}: no test ({why}).")
        agree, known = self._agreement(table)
        if table.bold_rule != "none":
            parts.append(table.bold_text() + (f" (The paper's captions say bold marks the best model; this rule gives "
                                              f"the printed bold in {agree} of the {known} cells whose bold is known "
                                              f"from the paper's text.)" if known else ""))
        else:
            parts.append("No bold.")
        return " ".join(parts)


def reproduction_table(pt: PublishedTable, runs_dir: str | Path, data_dir: str | Path | None = None,
                       settings: TestSettings | None = None, use_cache: bool = True) -> Table:
    """The paper's table with our runs beside it: per system the printed value, ours and the difference (ours -
    paper, shown values) where ``runs_dir`` holds a run; per row the paper's star, our one-sided test of target over
    reference, and whether the two agree. Rows and systems without runs show the paper's values only.

    Each of our cells is checked against the column's ``setting`` (what the paper ran, ``harness.provenance``): a
    cell whose run did not run it like for like gets a letter, and a footnote says what ran instead (its model or
    preset); the legend says so and counts the like-for-like cells (``Table.verdicts``)."""
    from .compare import build_report, fmt_p
    from .provenance import dataset_verdict
    from .runs import datasets_with_runs

    settings = settings or TestSettings()
    paper = pt.to_table(allow_missing=True, bold_rule="none")
    keys, names = pt.column_keys, {c.key: c.display for c in paper.columns}
    runs = {k: pt.run_name(k) for k in keys}
    ref, targets = paper.reference, paper.targets
    rows_here = {r.key for r in paper.all_rows() if r.kind == "dataset"}
    infos = [d for d in datasets_with_runs(pt.suite, list(runs.values()), runs_dir) if d.name in rows_here]
    pairs = [(runs[ref], runs[t]) for t in targets] if ref else []
    report = build_report(pt.suite, list(runs.values()), pairs, runs_dir, data_dir, infos, settings=settings,
                          use_cache=use_cache) if infos else None
    ours_of = {k for k in keys if report and any(r.systems[runs[k]].complete for r in report.rows)}
    columns = []
    for k in keys:
        columns.append(Column(f"{k}:paper", "paper", source="published", group=names[k]))
        if k in ours_of:
            columns += [Column(f"{k}:ours", "ours", group=names[k]), Column(f"{k}:diff", "diff", "diff", names[k])]
    tested = [t for t in targets if report and any(r.test(runs[ref], runs[t]) for r in report.rows)]
    for t in tested:
        g = f"{names[t]} > {names[ref]}"
        columns += [Column(f"{t}:star", "paper", group=g), Column(f"{t}:p", "ours p", group=g),
                    Column(f"{t}:agree", "agree", group=g)]
    untested = pt.raw.get("untested", {})
    table = Table(title=f"{paper.title}: reproduction" if paper.title else "Reproduction", columns=columns, sections=[],
                  metric_display=paper.metric_display, row_header=paper.row_header, bold_rule="none",
                  derive_deltas=False, label=f"{paper.label}-repro" if paper.label else "", number=paper.number,
                  caption=f"Reproduction of {pt.raw.get('title') or pt.id}"
                          f"{' (' + pt.raw['source'] + ')' if pt.raw.get('source') else ''}: the published value of "
                          f"each system beside ours where we have a run, and the difference.")
    # like for like? one verdict per (column, dataset) of ours; a letter per distinct (column, what ran)
    verdicts, marks, where = {}, {}, {}
    for r in report.rows if report else []:
        for k in sorted(ours_of, key=keys.index):
            if r.systems[runs[k]].complete:
                v = verdicts[k, r.info.name] = dataset_verdict(r.info, runs_dir, runs[k], pt.setting(k))
                if not v.like_for_like:
                    marks.setdefault((k, v.status, v.text), _letter(len(marks)))
                    where.setdefault((k, v.status, v.text), []).append(r.info.display)

    def mark(k: str, dataset: str) -> str:
        v = verdicts.get((k, dataset))
        return "" if v is None or v.like_for_like else marks[k, v.status, v.text]

    def fill(row: Row) -> Row:
        cells = {}
        r = report.row(row.key) if report and row.kind == "dataset" else None
        for k in keys:
            printed = row.cells[k]
            cells[f"{k}:paper"] = Cell(printed.value)
            if k in ours_of:
                mean = r.mean(runs[k]) if r else None
                m = mark(k, row.key) if r else ""
                cells[f"{k}:ours"] = Cell(None if mean is None else 100 * mean, marker=m)
                cells[f"{k}:diff"] = _diff(cells[f"{k}:ours"], printed)
                cells[f"{k}:diff"].marker = m
        for t in tested:
            paper_star = t in {c for c in targets if row.star or row.cells[c].star}
            test = r.test(runs[ref], runs[t]) if r else None
            if row.key in untested:
                star_text = "no test"
            else:
                star_text = "*" if paper_star else ("n.s." if row.kind == "dataset" else "–")
            cells[f"{t}:star"] = Cell(label=star_text)
            ours = test is not None and test.significant and test.delta > 0
            cells[f"{t}:p"] = Cell(label=(fmt_p(test.p) + ("*" if ours else "")) if test else "–")
            agree = "–" if test is None or row.key in untested or row.kind != "dataset" else ("yes" if ours == paper_star else "no")
            cells[f"{t}:agree"] = Cell(label=agree, marker=_join_marks(mark(ref, row.key), mark(t, row.key))
                                       if test is not None else "")
        return Row(key=row.key, label=row.label, cells=cells, kind=row.kind, members=row.members, star=row.star)

    for sec in paper.sections:
        table.sections.append(Section(sec.name, [fill(row) for row in sec.rows]))
    table.footer = [fill(row) for row in paper.footer]
    by_key = {r.key: r for r in table.all_rows() if r.kind == "dataset"}
    for row in table.all_rows():  # our averages: over the same rows as the printed average, all of them present
        if row.kind == "average":
            for k in ours_of:
                row.cells[f"{k}:ours"] = average_cell([by_key[m].cells[f"{k}:ours"].value for m in row.members])
                row.cells[f"{k}:diff"] = _diff(row.cells[f"{k}:ours"], Cell(row.cells[f"{k}:paper"].value))
                if row.cells[f"{k}:ours"].value is not None:  # an average of unlike cells is unlike too
                    m = _join_marks(*(by_key[x].cells[f"{k}:ours"].marker for x in row.members))
                    row.cells[f"{k}:ours"].marker = row.cells[f"{k}:diff"].marker = m
    if report:
        for r in report.rows:
            for name, res in r.systems.items():
                if res.present_parts and not res.complete:
                    table.notes.append(f"{r.info.display}: {len(res.missing_parts)} of {len(r.info.part_names)} parts "
                                       f"missing for '{name}' (e.g. {res.missing_parts[0]}); shown as the paper's only")
                elif res.scores is not None and res.scores.missing:
                    table.notes.append(f"{r.info.display}: {len(res.scores.missing)} of {res.scores.n} judged queries "
                                       f"missing from the run of '{name}' (scored 0)")
    parts = [f"{paper.metric_display} x100. paper: as published ({pt.raw.get('citation') or pt.set_id}"
             f"{', ' + pt.raw['source'] if pt.raw.get('source') else ''}), * after a name as printed there; ours: our "
             f"run files in {runs_dir} ({pt.suite}/<dataset>/<system>.trec); diff: ours minus paper (shown values)."]
    if not ours_of:
        parts.append(f"No run in {runs_dir} matches this table: the paper's values only.")
    else:
        parts.append("Averages of ours only where every averaged row has a run.")
        counts = {s: sum(v.status == s for v in verdicts.values()) for s in ("same", "different", "unknown")}
        table.verdicts = counts
        parts.append(f"Like for like: {counts['same']} of our {len(verdicts)} cells ran the paper's setting of their "
                     "column (same system, preset and result-changing settings, from the run's manifest); "
                     + ("a letter after ours, diff or agree marks a run with other settings or an unknown setting, "
                        "and its note says what ran: its difference to the paper does not measure a reproduction."
                        if marks else "no cell is marked."))
        for (k, status, text), letter in marks.items():
            what = "other settings" if status == "different" else "setting not known"
            table.footnotes.append((letter, f"{names[k]}, ours on {', '.join(where[k, status, text])} ({what}): "
                                            f"{text}."))
    for t in tested:
        parts.append(f"{names[t]} > {names[ref]}: 'paper' is the paper's star (n.s.: none printed); 'ours p' is our "
                     f"{settings.describe(paper.metric_display)}, * = significant with {names[t]} ahead; agree: "
                     f"whether our verdict matches the paper's star.")
    table.legend = " ".join(parts)
    return table


def _letter(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: footnote marks."""
    return _letter(i // 26 - 1) + chr(97 + i % 26) if i >= 26 else chr(97 + i)


def _join_marks(*marks: str) -> str:
    return ",".join(sorted({x for m in marks for x in m.split(",") if x}, key=lambda x: (len(x), x)))


def _diff(ours: Cell, paper: Cell) -> Cell:
    if ours.shown is None or paper.shown is None:
        return Cell(None, signed=True)
    return Cell(ours.shown - paper.shown, signed=True)


@dataclass
class PublishedSet:
    id: str
    path: Path
    meta: dict
    tables: list[PublishedTable]

    def table(self, table_id: str) -> PublishedTable:
        for t in self.tables:
            if t.id == table_id:
                return t
        raise HarnessError(f"{self.path}: no table '{table_id}'; tables: {', '.join(t.id for t in self.tables) or 'none'}")


def _is_text(v) -> bool:
    return isinstance(v, str)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _map_of(check):
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and check(x) for k, x in v.items())


def _list_of(check):
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _field(where: str, raw: dict, key: str, check, what: str, required: bool = False):
    """``raw[key]`` when it passes ``check`` (what it must be, for the message); absent: None, or an error if required."""
    if key not in raw:
        if required:
            raise DataError(f"{where}: missing field '{key}'")
        return None
    if not check(raw[key]):
        raise DataError(f"{where}: '{key}' must be {what}")
    return raw[key]


_TABLE_TEXT = ("metric", "label", "row_header", "title", "caption", "test", "source", "citation")
_ROW_FIELDS = (("display", _is_text, "a string"), ("group", _is_text, "a string"),
               ("values", _map_of(lambda v: True), "an object keyed by column"),
               ("significant", _list_of(_is_text), "a list of column keys"),
               ("delta", _map_of(_is_number), "an object of numbers"),
               ("superscript", _map_of(_is_text), "an object of printed superscripts"),
               ("bold_extracted", _map_of(lambda v: v in (True, False, None)), "an object of true, false or null"))


def _check_table(path: Path, raw, i: int) -> None:
    """Every field a table's rendering reads, of the type it reads it as: a bad one is an error naming the table (and
    row) instead of a crash, or a silently wrong table, later."""
    where = f"{path}: tables[{i}]"
    if not isinstance(raw, dict):
        raise DataError(f"{where} must be an object")
    for key in ("id", "suite", "columns", "rows"):
        if key not in raw:
            raise DataError(f"{where}: missing field '{key}'")
    _field(where, raw, "id", _is_text, "a string")
    where = f"{where} ('{raw['id']}')"
    _field(where, raw, "suite", lambda v: v in SUITE_NAMES, f"one of {', '.join(SUITE_NAMES)}")
    s = get_suite(raw["suite"])
    for key in _TABLE_TEXT:
        _field(where, raw, key, _is_text, "a string")
    if raw.get("metric") is not None:
        from .evaluate import Metric

        try:
            Metric.parse(raw["metric"])
        except HarnessError as e:
            raise DataError(f"{where}: {e}") from None
    _field(where, raw, "alpha", lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1")
    _field(where, raw, "untested", _map_of(_is_text), "an object of dataset: reason")
    columns = _field(where, raw, "columns", _list_of(lambda c: isinstance(c, dict) and _is_text(c.get("key"))),
                     "a non-empty list of objects with a string 'key'")
    if not columns:
        raise DataError(f"{where}: 'columns' must be a non-empty list")
    keys = [c["key"] for c in columns]
    for c in columns:
        for key in ("display", "run"):
            _field(f"{where}: column '{c['key']}'", c, key, _is_text, "a string")
    if len(set(keys)) != len(keys):
        raise DataError(f"{where}: duplicate column keys")
    ref = _field(where, raw, "reference", lambda v: v is None or _is_text(v), "a column key")
    targets = _field(where, raw, "targets", _list_of(_is_text), "a list of column keys") or []
    if ref is not None and ref not in keys:
        raise DataError(f"{where}: reference '{ref}' is not a column")
    for t in targets:
        if t not in keys:
            raise DataError(f"{where}: target '{t}' is not a column")
    if raw.get("bold_rule", "row-max") not in BOLD_RULES:
        raise DataError(f"{where}: bold_rule must be one of {', '.join(BOLD_RULES)}")
    if raw.get("star_position", "cell") not in ("cell", "label"):
        raise DataError(f"{where}: star_position must be 'cell' or 'label'")
    known = set(s.names())
    for c in raw["columns"]:
        if "setting" in c:
            from .provenance import Setting

            Setting.from_dict(c["setting"], f"{where}, column '{c['key']}'")
    for ds in raw.get("untested", {}):
        if ds not in known:
            raise DataError(f"{where}: 'untested' names unknown {s.name} dataset '{ds}'")
    _field(where, raw, "averages", _map_of(_map_of(lambda v: v is None or _is_number(v))),
           "an object of average rows, each an object of numbers or nulls")
    rows = raw["rows"]
    if isinstance(rows, dict):
        for ds, row in rows.items():
            if ds not in known:
                raise DataError(f"{where}: unknown {s.name} dataset '{ds}'")
        rows = [dict(v, dataset=k) if isinstance(v, dict) else v for k, v in rows.items()]
    elif not isinstance(rows, list):
        raise DataError(f"{where}: 'rows' must be a list (printed order) or an object keyed by dataset")
    seen = set()
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{where}: rows[{n}] must be an object")
        if ("dataset" in row) == ("average" in row):
            raise DataError(f"{where}: rows[{n}] needs exactly one of 'dataset' or 'average'")
        name = _field(f"{where}: rows[{n}]", row, "dataset" if "dataset" in row else "average", _is_text, "a string")
        at = f"{where}: row '{name}'"
        if "dataset" in row and row["dataset"] not in known:
            raise DataError(f"{where}: unknown {s.name} dataset '{row['dataset']}'")
        if name in seen:
            raise DataError(f"{at} appears twice")
        seen.add(name)
        for key, check, what in _ROW_FIELDS:
            _field(at, row, key, check, what)
        for k, v in row.get("values", {}).items():
            if k not in keys:
                raise DataError(f"{at} has a value for unknown column '{k}'")
            if v is not None and not _is_number(v):
                raise DataError(f"{at}, column '{k}': value must be a number or null")
        for k in row.get("significant", []):
            if k not in targets:
                raise DataError(f"{at} marks '{k}' significant, but it is not a target")
        for field_name in ("delta", "superscript"):
            for k, v in row.get(field_name, {}).items():
                if k not in targets:
                    raise DataError(f"{at} has a superscript for '{k}', not a target")
                if field_name == "superscript" and not _SUPERSCRIPT.fullmatch(v):
                    raise DataError(f"{at}: superscript of '{k}' must be printed text such as '+0.6', got {v!r}")
        for k in row.get("bold_extracted", {}):
            if k not in keys:
                raise DataError(f"{at}: bold_extracted names unknown column '{k}'")


def load_published(name_or_path: str | Path) -> PublishedSet:
    """Load ``leaderboards/published/<name>.json`` (or a path) and validate it against the registry."""
    p = Path(name_or_path)
    if not p.suffix:
        p = published_dir() / f"{name_or_path}.json"
    if not p.is_file():
        raise HarnessError(f"published results '{name_or_path}' not found at {p}; available: "
                           f"{', '.join(available_published()) or 'none'}")
    try:
        raw = json.loads(read_text(p))
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{e.lineno}: {json_error(e)}") from None
    except RecursionError:
        raise DataError(f"{p}: malformed JSON (nested too deeply)") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), list):
        raise DataError(f"{p}: expected an object with a 'tables' list")
    for key in ("id", "citation", "source"):
        _field(str(p), raw, key, _is_text, "a string")
    for i, t in enumerate(raw["tables"]):
        _check_table(p, t, i)
    set_id = raw.get("id", p.stem)
    meta = {k: v for k, v in raw.items() if k != "tables"}
    tables = []
    for t in raw["tables"]:
        t = dict(t)
        for k in ("source", "citation"):
            t.setdefault(k, raw.get(k))
        tables.append(PublishedTable(set_id=set_id, path=p, raw=t))
    return PublishedSet(id=set_id, path=p, meta=meta, tables=tables)
