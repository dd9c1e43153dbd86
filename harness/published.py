"""Published results as data (``leaderboards/published/<id>.json``), turned into ``Table`` objects.

A published set holds one or more tables. Each table names its suite, its columns (systems), the reference and
target columns of its superscripts, and per dataset the printed values (x100), which targets carry a
significance star, and optionally the printed superscripts (otherwise they are computed from the printed
values). Rows are ordered and grouped by the registry; averages are computed from the printed values over the
registry's average rows, unless the file gives printed averages (``averages``, keyed by the average row key:
``Average`` for an overall average, ``<group>:Average`` for a per-group one).

Example (one row)::

    {"id": "table1", "suite": "beir", "metric": "ndcg_cut_10", "caption": "...", "label": "tab:beir",
     "columns": [{"key": "gpl", "display": "GPL"}, {"key": "rgpl", "display": "R-GPL"}],
     "reference": "gpl", "targets": ["rgpl"], "alpha": 0.05,
     "test": "one-sided Wilcoxon signed-rank test on query-level NDCG@10",
     "rows": {"scifact": {"values": {"gpl": 67.0, "rgpl": 68.1}, "significant": ["rgpl"]}}}
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, HarnessError
from .registry import get_suite
from .tables import Cell, Column, Row, Section, Table, _average_rows, _legend, _ordered_groups


def published_dir() -> Path:
    """``HARNESS_PUBLISHED`` if set, else the repository's ``leaderboards/published``."""
    env = os.environ.get("HARNESS_PUBLISHED")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "leaderboards" / "published"


def available_published() -> list[str]:
    d = published_dir()
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


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

    def missing_values(self) -> list[str]:
        out = []
        for ds, row in self.raw["rows"].items():
            for c in self.raw["columns"]:
                if row.get("values", {}).get(c["key"]) is None:
                    out.append(f"{ds}/{c['key']}")
        return out

    def to_table(self, allow_missing: bool = False) -> Table:
        raw, s = self.raw, get_suite(self.suite)
        missing = self.missing_values()
        if missing and not allow_missing:
            raise HarnessError(
                f"{self.path}: table '{self.id}' lacks {len(missing)} printed values (e.g. {', '.join(missing[:3])}); "
                f"transcribe them from {self.raw.get('source') or 'the paper'} or pass --allow-missing to render dashes")
        columns = [Column(c["key"], c.get("display", c["key"]), source="published") for c in raw["columns"]]
        keys = [c.key for c in columns]
        reference, targets = raw.get("reference"), tuple(raw.get("targets", ()))
        infos = [s.get(name) for name in raw["rows"]]
        table = Table(title=raw.get("title", ""), metric_display=s.metric_display, columns=columns, sections=[],
                      reference=reference, targets=targets, caption=raw.get("caption", ""), label=raw.get("label", ""))
        for group, members in _ordered_groups(s, infos):
            sec = Section(group)
            for info in members:
                row = raw["rows"][info.name]
                sig, deltas = set(row.get("significant", ())), row.get("delta", {})
                cells = {}
                for k in keys:
                    v = row.get("values", {}).get(k)
                    cells[k] = Cell(value=None if v is None else float(v), star=k in sig,
                                    delta=float(deltas[k]) if k in deltas else None)
                sec.rows.append(Row(key=info.name, label=info.display, cells=cells))
            table.sections.append(sec)
        _average_rows(s, table, keys)
        for key, vals in raw.get("averages", {}).items():
            row = next((r for r in table.all_rows() if r.kind == "average" and r.key == key), None)
            if row is None:
                raise DataError(f"{self.path}: table '{self.id}': no average row '{key}' "
                                f"(have: {', '.join(r.key for r in table.all_rows() if r.kind == 'average')})")
            for k, v in vals.items():
                row.cells[k] = Cell(value=None if v is None else float(v))
        table.legend = raw.get("legend") or _legend(s.metric_display, reference, targets, columns, raw.get("test"),
                                                    float(raw.get("alpha", 0.05)))
        if raw.get("source"):
            table.notes.append(f"Published values: {raw.get('citation') or self.set_id}, {raw['source']}.")
        return table.finalize()


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


def _check_table(path: Path, raw: dict, i: int) -> None:
    where = f"{path}: tables[{i}]"
    for key in ("id", "suite", "columns", "rows"):
        if key not in raw:
            raise DataError(f"{where}: missing field '{key}'")
    s = get_suite(raw["suite"])
    if not isinstance(raw["columns"], list) or not raw["columns"]:
        raise DataError(f"{where} ('{raw['id']}'): 'columns' must be a non-empty list")
    keys = []
    for c in raw["columns"]:
        if not isinstance(c, dict) or "key" not in c:
            raise DataError(f"{where} ('{raw['id']}'): each column needs a 'key'")
        keys.append(c["key"])
    if len(set(keys)) != len(keys):
        raise DataError(f"{where} ('{raw['id']}'): duplicate column keys")
    ref, targets = raw.get("reference"), raw.get("targets", [])
    if ref is not None and ref not in keys:
        raise DataError(f"{where} ('{raw['id']}'): reference '{ref}' is not a column")
    for t in targets:
        if t not in keys:
            raise DataError(f"{where} ('{raw['id']}'): target '{t}' is not a column")
    known = set(s.names())
    for ds, row in raw["rows"].items():
        if ds not in known:
            raise DataError(f"{where} ('{raw['id']}'): unknown {s.name} dataset '{ds}'")
        if not isinstance(row, dict):
            raise DataError(f"{where} ('{raw['id']}'): row '{ds}' must be an object")
        for k, v in row.get("values", {}).items():
            if k not in keys:
                raise DataError(f"{where} ('{raw['id']}'): row '{ds}' has a value for unknown column '{k}'")
            if v is not None and (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)):
                raise DataError(f"{where} ('{raw['id']}'): row '{ds}', column '{k}': value must be a number or null")
        for k in row.get("significant", []):
            if k not in targets:
                raise DataError(f"{where} ('{raw['id']}'): row '{ds}' marks '{k}' significant, but it is not a target")
        for k in row.get("delta", {}):
            if k not in targets:
                raise DataError(f"{where} ('{raw['id']}'): row '{ds}' has a superscript for '{k}', not a target")


def load_published(name_or_path: str | Path) -> PublishedSet:
    """Load ``leaderboards/published/<name>.json`` (or a path) and validate it against the registry."""
    p = Path(name_or_path)
    if not p.suffix:
        p = published_dir() / f"{name_or_path}.json"
    if not p.is_file():
        raise HarnessError(f"published results '{name_or_path}' not found at {p}; available: "
                           f"{', '.join(available_published()) or 'none'}")
    try:
        raw = json.loads(p.read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{p}:{e.lineno}: malformed JSON ({e.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("tables"), list):
        raise DataError(f"{p}: expected an object with a 'tables' list")
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
