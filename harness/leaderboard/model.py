"""The site's model: every number the pages show, computed once from a runs folder, as plain data.

One route: each suite's numbers come from one ``harness.compare.Report`` (``build_report``), the marks from its
tests after ``correct_across`` made the whole page one family, the main table's cells, groups, averages and best
marks from ``harness.tables.table_from_report``, the reproduction view from ``harness.published.reproduction_table``
and every cell's provenance from ``harness.provenance``. Nothing here evaluates or tests anything itself.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..compare import Report, build_report, correct_across, cross_dataset, fmt_p, mean_ranks
from ..errors import HarnessError
from ..evaluate import Metric, load_qrels, read_run_lenient, trec_order
from ..provenance import RunProvenance
from ..registry import SUITE_NAMES, DatasetInfo, get_suite
from ..runs import run_path
from ..stats import TestSettings
from ..tables import Table, table_from_report

Pair = tuple[str, str]
TOP_K = 10  # documents shown per system for a chosen query
TITLE_CHARS = 100  # a document's title (else its text) is cut to this many characters on the dataset pages


@dataclass
class SiteOptions:
    """What ``harness leaderboard`` was asked for."""

    runs: Path
    data_dir: str | None = None
    published: str | None = None
    settings: TestSettings = field(default_factory=lambda: TestSettings(correction="holm"))
    systems: Sequence[str] | None = None  # order and selection (default: published columns first, then by name)
    pairs: Sequence[Pair] | None = None  # tested (A, B): B > A (default: each system against the one before it)
    displays: dict[str, str] = field(default_factory=dict)
    figures: Path | None = None
    copy_runs: bool = False
    title: str = "Leaderboard"
    command: str = ""  # the command line that builds the site, shown on it


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def pct(x: float | None, digits: int = 1, sign: bool = False) -> str:
    """A score x100 as the tables show it."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    v = round(100 * x, digits) + 0.0
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def discover_systems(runs_dir: Path, suite: str) -> list[str]:
    """Run names with a run file anywhere under ``runs/<suite>/``."""
    root = Path(runs_dir) / suite
    return sorted({p.name[: -len(".trec")] for p in root.rglob("*.trec")}) if root.is_dir() else []


# ---------------------------------------------------------------------------------------------- systems
def _order(opts: SiteOptions, found: set[str], published) -> list[str]:
    if opts.systems:
        missing = [s for s in opts.systems if s not in found]
        if missing:
            raise HarnessError(f"--systems: no run file of '{missing[0]}' under {opts.runs} "
                               f"(runs found: {', '.join(sorted(found)) or 'none'})")
        return list(dict.fromkeys(opts.systems))
    first = [pt.run_name(k) for pt in (published.tables if published else []) for k in pt.column_keys]
    return [s for s in dict.fromkeys(first) if s in found] + sorted(found - set(first))


def _displays(opts: SiteOptions, published) -> dict[str, str]:
    out = {}
    for pt in published.tables if published else []:
        for c in pt.raw["columns"]:
            out.setdefault(pt.run_name(c["key"]), c.get("display", c["key"]))
    out.update(opts.displays)
    return out


def _pairs(opts: SiteOptions, order: list[str], present: list[str]) -> list[Pair]:
    if opts.pairs is not None:
        for a, b in opts.pairs:
            for x in (a, b):
                if x not in order:
                    raise HarnessError(f"--pairs: no run file of '{x}' under {opts.runs}")
        return [(a, b) for a, b in opts.pairs if a in present and b in present]
    return list(zip(present, present[1:]))


# ---------------------------------------------------------------------------------------------- build
def build_model(opts: SiteOptions) -> tuple[dict[str, Any], list[Report]]:
    """Evaluate, test and lay out everything the site shows: (the model, the suites' reports behind it)."""
    from ..published import load_published

    runs = Path(opts.runs)
    if not runs.is_dir():
        raise HarnessError(f"--runs {runs}: no such folder (it should hold <suite>/<dataset>/<name>.trec)")
    published = load_published(opts.published) if opts.published else None
    found = {s: discover_systems(runs, s) for s in SUITE_NAMES}
    if not any(found.values()):
        raise HarnessError(f"no run files under {runs} (expected {runs}/beir/<dataset>/<name>.trec or lotte/...)")
    order = _order(opts, {x for v in found.values() for x in v}, published)
    displays = {s: s for s in order} | {k: v for k, v in _displays(opts, published).items() if k in order}
    reports: list[Report] = []
    for suite in SUITE_NAMES:
        present = [s for s in order if s in found[suite]]
        if present:
            reports.append(build_report(suite, present, _pairs(opts, order, present), runs, opts.data_dir,
                                        settings=opts.settings))
    family_size = correct_across(reports)
    datasets = [_dataset_page(rep, row.info, opts, displays) for rep in reports for row in rep.rows]
    by_key = {(d["suite"], d["name"]): d for d in datasets}
    suites = [_suite(rep, displays, by_key, datasets) for rep in reports]
    s = opts.settings
    model = {
        "title": opts.title,
        "command": opts.command,
        "systems": [{"name": x, "display": displays[x]} for x in order],
        "settings": {**dataclasses.asdict(s), "family_size": family_size},
        "test": s.describe("scores", family=reports[0].family),
        "bootstrap": s.describe_bootstrap(),
        "correction": {"none": "none", "holm": "Holm (family-wise error rate)",
                       "bh": "Benjamini-Hochberg (false discovery rate)"}[s.correction],
        "family": reports[0].family,
        "best_rule": ("Best per dataset (bold): the highest mean at the shown precision (x100, one decimal); ties "
                      "are all bold; systems without a run on a dataset are not ranked there."),
        "suites": suites,
        "datasets": datasets,
        "provenance": [p for d in datasets for p in d["provenance"]],
        "reproduction": _reproduction(published, opts) if published else [],
        "published": ({"id": published.id, "citation": published.meta.get("citation", ""),
                       "source": published.meta.get("source", "")} if published else None),
        "figures": sorted(p.name for p in opts.figures.glob("*.png")) if opts.figures else [],
    }
    return model, reports


def _mark(report: Report, row, system: str, displays: dict[str, str]) -> list[dict]:
    """The tested pairs (A, system) that came out significant with this system ahead."""
    out = []
    for a, b in report.pairs:
        t = row.test(a, b)
        if b == system and t is not None and t.significant and t.delta > 0:
            out.append({"vs": a, "vs_display": displays[a], "p": fmt_p(t.p)})
    return out


def _suite(report: Report, displays: dict[str, str], pages: dict, datasets: list[dict]) -> dict:
    """The main table of a suite, turned so that systems are rows and datasets (and averages) columns; each system
    says what it ran (from its manifests: ``RunProvenance.describe``)."""
    ran = {}
    for d in datasets:
        for p in d["provenance"] if d["suite"] == report.suite else []:
            for part in p["parts"]:
                ran.setdefault(p["system"], []).append(part["described"])
    s = get_suite(report.suite)
    table: Table = table_from_report(report, displays=displays)
    by_name = {r.info.name: r for r in report.rows}
    columns = []
    for sec in table.sections:
        columns += [(sec.name, r) for r in sec.rows]
    columns += [("", r) for r in table.footer]
    ranks, n_ranked = mean_ranks(report)
    rows = []
    for c in table.columns:
        cells = []
        for group, r in columns:
            cell = r.cells[c.key]
            rep_row = by_name.get(r.key) if r.kind == "dataset" else None
            cells.append({"text": cell.text, "value": cell.value, "bold": cell.bold,
                          "marks": _mark(report, rep_row, c.key, displays) if rep_row else [],
                          "prov": f"prov-{report.suite}-{slug(r.key)}-{slug(c.key)}" if rep_row and cell.value is not None else ""})
        rows.append({"name": c.key, "display": c.display, "cells": cells, "ran": list(dict.fromkeys(ran.get(c.key, []))),
                     "mean_rank": ranks.get(c.key), "mean_rank_text": f"{ranks[c.key]:.2f}" if c.key in ranks else "–"})
    pairs = []
    for a, b in report.pairs:
        cd = cross_dataset(report, a, b)
        tests = []
        for r in report.tested(a, b):
            t = r.tests[a, b]
            sign = t.extra.get("sign_test")
            tests.append({
                "dataset": r.info.name, "display": r.info.display, "metric": r.metric.display, "n": t.n,
                "page": pages[report.suite, r.info.name]["page"],
                "mean_a": pct(t.mean_a), "mean_b": pct(t.mean_b), "delta": pct(t.delta, sign=True),
                "delta_value": t.delta, "ci": f"[{pct(t.ci_low, sign=True)}, {pct(t.ci_high, sign=True)}]",
                "wtl": f"{t.wins}/{t.ties}/{t.losses}", "p": fmt_p(t.p_value), "p_value": t.p_value,
                "p_adj": fmt_p(t.p_adjusted) if t.p_adjusted is not None else "–",
                "significant": t.significant and t.delta > 0, "note": t.note,
                "sign_test": None if sign is None else {"b_only": sign["b_only"], "a_only": sign["a_only"],
                                                        "p": fmt_p(sign["p_exact"])},
            })
        pairs.append({"a": a, "b": b, "a_display": displays[a], "b_display": displays[b], "tests": tests,
                      "binary": any(x["sign_test"] for x in tests),
                      "cross": None if cd is None else {
                          "datasets": cd.datasets, "mean_delta": pct(cd.mean_delta, sign=True),
                          "ci": f"[{pct(cd.ci_low, sign=True)}, {pct(cd.ci_high, sign=True)}]",
                          "better": cd.better, "significant": cd.significant}})
    return {
        "name": report.suite, "display": s.display, "metric": table.metric_display,
        "groups": list(dict.fromkeys(g for g, _ in columns if g)),
        "columns": [{"key": r.key, "label": r.label, "group": g, "kind": r.kind, "col": f"{report.suite}-{slug(r.key)}",
                     "page": pages[report.suite, r.key]["page"] if r.kind == "dataset" else ""} for g, r in columns],
        "rows": rows, "pairs": pairs, "n_ranked": n_ranked, "notes": table.notes,
        "skipped": report.skipped,
    }


# ------------------------------------------------------------------------------------------- dataset pages
def _load_texts(info: DatasetInfo, key: str, data_dir: str | None):
    """(query texts, document titles, fingerprint, note) of a dataset part; empty with a note when it cannot be read."""
    from ..datasets import load_dataset

    try:
        ds = load_dataset(info, key, data_dir, allow_download=False)
    except HarnessError as e:
        return {}, None, None, f"query texts and titles are not shown ({e})"
    index = ds.corpus.index

    def title(doc: str) -> str:
        i = index.get(doc)
        if i is None:
            return ""
        text = ds.corpus.titles[i] or ds.corpus.texts[i]
        return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1].rstrip() + "…"

    return ds.queries, title, ds.fingerprint, ""


def _dataset_page(report: Report, info: DatasetInfo, opts: SiteOptions, displays: dict[str, str]) -> dict:
    row = report.row(info.name)
    systems = [s for s in report.systems if row.systems[s].complete]
    page = f"datasets/{info.suite}-{slug(info.name)}.html"
    metric = row.metric
    parts = list(info.part_names)
    prefix = {k: (k.split("/", 1)[-1] + "/" if info.parts else "") for k in parts}
    queries, titles, top, judged, notes, fingerprints = {}, {}, {s: {} for s in systems}, {}, [], {}
    for key in parts:
        texts, title, fp, note = _load_texts(info, key, opts.data_dir)
        fingerprints[key] = fp
        if note:
            notes.append(note)
        queries.update({prefix[key] + q: t for q, t in texts.items()})
        qrels = load_qrels(info, key, opts.data_dir).qrels
        judged.update({prefix[key] + q: {d: g for d, g in rel.items()} for q, rel in qrels.items()})
        for s in systems:
            run = read_run_lenient(run_path(opts.runs, info.suite, key, s))
            for q in qrels:
                docs = trec_order(run.get(q, {}))[:TOP_K]
                top[s][prefix[key] + q] = docs
                if title:
                    titles.update({prefix[key] + d: title(d) for d in docs if prefix[key] + d not in titles})
    pooled = {s: row.systems[s].scores.pooled for s in systems}
    qids = list(pooled[systems[0]].qids) if systems else []
    per_query = {s: [float(x) for x in pooled[s].array(metric)] for s in systems}
    metrics = list(pooled[systems[0]].metrics) if systems else [metric]
    pairs = []
    for a, b in report.pairs:
        t = row.test(a, b)
        if t is None:
            continue
        pairs.append({"a": a, "b": b, "a_display": displays[a], "b_display": displays[b], "n": t.n,
                      "mean_a": pct(t.mean_a), "mean_b": pct(t.mean_b), "delta": pct(t.delta, sign=True),
                      "ci": f"[{pct(t.ci_low, sign=True)}, {pct(t.ci_high, sign=True)}]",
                      "wins": t.wins, "ties": t.ties, "losses": t.losses, "p": fmt_p(t.p_value),
                      "p_adj": fmt_p(t.p_adjusted) if t.p_adjusted is not None else "–",
                      "significant": t.significant and t.delta > 0,
                      "scatter": scatter(per_query[a], per_query[b], qids)})
    provenance = [_provenance(info, s, displays, opts, fingerprints, row, metric, page) for s in systems]
    return {
        "suite": info.suite, "name": info.name, "display": info.display, "group": info.group, "page": page,
        "data_js": f"data/{info.suite}-{slug(info.name)}.js", "slug": f"{info.suite}-{slug(info.name)}",
        "metric": metric.display, "metric_name": metric.name, "n": len(qids), "parts": [p for p in info.parts],
        "systems": [{"name": s, "display": displays[s],
                     "means": {m.display: pct(row.systems[s].scores.mean(m)) for m in metrics},
                     "missing": len(pooled[s].missing)} for s in systems],
        "metrics": [m.display for m in metrics],
        "per_query": per_query, "qids": qids,
        "all_metrics": {s: {m.name: [float(x) for x in pooled[s].array(m)] for m in metrics} for s in systems},
        "queries": {q: queries.get(q, "") for q in qids},
        "pairs": pairs, "notes": notes,
        "top": {s: {q: [_judged(d, judged.get(q, {})) for d in docs] for q, docs in top[s].items()} for s in systems},
        "titles": titles, "provenance": provenance,
        "default_query": _default_query(qids, per_query, report.pairs, systems),
    }


def _judged(doc: str, grades: dict) -> str | list:
    """A top-10 entry: the document id, or [id, grade] when the qrels judge it (0: judged not relevant)."""
    return [doc, grades[doc]] if doc in grades else doc


def _default_query(qids: list[str], per_query: dict, pairs, systems) -> str:
    """The query shown without a choice: the one the first tested pair disagrees on most (else the first)."""
    if not qids:
        return ""
    tested = [(a, b) for a, b in pairs if a in per_query and b in per_query]
    if not tested:
        return qids[0]
    a, b = tested[0]
    gaps = [abs(y - x) for x, y in zip(per_query[a], per_query[b])]
    return qids[max(range(len(qids)), key=lambda i: (gaps[i], -i))]


def scatter(xs: Sequence[float], ys: Sequence[float], qids: Sequence[str], size: int = 240, pad: int = 28) -> dict:
    """Points of an A-vs-B scatter in SVG coordinates (both axes 0..1, y up), with repeated points counted."""
    span = size - 2 * pad
    counts: dict[tuple[float, float], list[str]] = {}
    for x, y, q in zip(xs, ys, qids):
        counts.setdefault((round(x, 4), round(y, 4)), []).append(q)
    points = []
    for (x, y), qs in sorted(counts.items()):
        points.append({"cx": f"{pad + x * span:.1f}", "cy": f"{size - pad - y * span:.1f}", "n": len(qs),
                       "r": f"{min(2.5 + 1.2 * math.sqrt(len(qs) - 1), 9):.1f}", "qid": qs[0],
                       "label": f"{len(qs)} quer{'y' if len(qs) == 1 else 'ies'} ({', '.join(qs[:3])}"
                                f"{', ...' if len(qs) > 3 else ''}): {x:.3f} vs {y:.3f}"})
    above = sum(y > x for x, y in zip(xs, ys))
    below = sum(y < x for x, y in zip(xs, ys))
    return {"size": size, "pad": pad, "lo": pad, "hi": size - pad, "points": points, "above": above, "below": below,
            "on": len(xs) - above - below}


def _provenance(info: DatasetInfo, system: str, displays, opts: SiteOptions, fingerprints: dict, row, metric: Metric,
                page: str) -> dict:
    parts = []
    for key in info.part_names:
        path = run_path(opts.runs, info.suite, key, system)
        rp = RunProvenance.of(path)
        m = rp.manifest or {}
        fp, here = m.get("dataset_fingerprint"), fingerprints.get(key)
        parts.append({
            "key": key, "run": str(path), "manifest": rp.manifest is not None, "described": rp.describe(),
            "command": rp.command(info.suite, info.name) if rp.manifest else "",
            "seed": m.get("seed"), "top_k": m.get("top_k"), "wall_time_s": m.get("wall_time_s"),
            "fingerprint": fp or "", "data_check": ("not checked (no data folder)" if here is None else
                                                    "matches the data here" if fp == here else
                                                    "differs from the data here" if fp else "not recorded"),
            "packages": m.get("packages", {}), "host": m.get("host", {}), "models": m.get("models", {}),
            "unrecorded": rp.unrecorded(), "settings_hash": m.get("settings_hash", ""),
        })
    commands = list(dict.fromkeys(p["command"] for p in parts if p["command"]))
    return {"id": f"prov-{info.suite}-{slug(info.name)}-{slug(system)}", "suite": info.suite, "dataset": info.name,
            "display": info.display, "system": system, "system_display": displays[system], "page": page,
            "value": pct(row.systems[system].scores.mean(metric)), "metric": metric.display,
            "command": commands[0] if len(commands) == 1 else "", "commands_differ": len(commands) > 1,
            "parts": parts}


# --------------------------------------------------------------------------------------------- reproduction
def _reproduction(published, opts: SiteOptions) -> list[dict]:
    """``harness table --published ... --runs``'s reports (the paper's family: no correction, as it printed)."""
    from ..published import reproduction_table

    settings = dataclasses.replace(opts.settings, correction="none")
    out = []
    for pt in published.tables:
        t = reproduction_table(pt, opts.runs, opts.data_dir, settings)
        out.append({"id": pt.id, "table": t, "has_ours": any(c.key.endswith(":ours") for c in t.columns),
                    "json": f"data/reproduction-{slug(pt.id)}.json"})
    return out
