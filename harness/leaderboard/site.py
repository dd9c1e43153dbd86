"""Render the site's model (``model.build_model``) through the Jinja2 templates of ``leaderboards/templates/site`` and
write the folder: pages, the templates' own assets, data files (CSV, JSON and the dataset pages' data as scripts, which
``file://`` pages can load where they cannot fetch JSON), the manifests, and the figures.

Deterministic: no clock, host or absolute path enters a file unless the command line named it, JSON keys are
sorted and lists come in registry or name order, so building twice gives the same bytes. The folder is written
beside its destination and swapped in whole: a failed build leaves the previous site as it was.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HarnessError
from ..fileio import default_file_mode
from ..registry import resolve_dataset
from ..runs import manifest_path, run_path
from ..tables import html_cell, templates_dir
from .model import TOP_K, SiteOptions, build_model

MARKER = "data/leaderboard.json"  # a folder holding it is a site this command may replace


@dataclass
class BuiltSite:
    out: Path
    files: int
    bytes: int
    pages: int


def _env():
    import jinja2

    folder = templates_dir() / "site"
    if not (folder / "index.html.j2").is_file():
        raise HarnessError(f"site templates not found in {folder} (HARNESS_TEMPLATES must hold site/index.html.j2 and "
                           "site/assets/)")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["cell"] = html_cell
    return env, folder


def _clean(obj: Any) -> Any:
    """JSON-safe: NaN and infinities become null (JSON has no NaN)."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(_clean(obj), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def _script(name: str, obj: Any) -> str:
    """``window.NAME = {...};`` (``</`` escaped so that no text can end the script element)."""
    text = json.dumps(_clean(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return f"window.{name} = {text.replace('</', '<' + chr(92) + '/')};\n"


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([["" if v is None else (repr(v) if isinstance(v, float) else v) for v in r] for r in rows])
    return buf.getvalue()


def _links(model: dict, opts: SiteOptions, out: Path) -> dict:
    """Per dataset page: system -> part -> {run, manifest} hrefs from the site's top folder."""
    links = {}
    for d in model["datasets"]:
        info = resolve_dataset(d["suite"], d["name"])
        per = links.setdefault(d["page"], {})
        for s in d["systems"]:
            for key in info.part_names:
                src = run_path(opts.runs, d["suite"], key, s["name"])
                copied = f"runs/{d['suite']}/{key}/{src.name}"
                run = copied if opts.copy_runs else os.path.relpath(src.resolve(), out.resolve()).replace(os.sep, "/")
                per.setdefault(s["name"], {})[key] = {"run": run, "manifest": f"runs/{d['suite']}/{key}/{manifest_path(src).name}"}
    return links


def render(model: dict, reports, opts: SiteOptions, out: Path) -> dict[str, bytes]:
    """Every file of the site: relative path -> bytes."""
    env, folder = _env()
    files: dict[str, str | bytes] = {}
    links = _links(model, opts, out)

    def up(page_links: dict) -> dict:  # the dataset pages are one folder down
        return {s: {k: {r: "../" + v for r, v in part.items()} for k, part in parts.items()}
                for s, parts in page_links.items()}

    common = {"m": model, "top_k": TOP_K}
    files["index.html"] = env.get_template("index.html.j2").render(root="", page="index", **common)
    files["statistics.html"] = env.get_template("statistics.html.j2").render(root="", page="statistics", **common)
    if model["reproduction"]:
        files["reproduction.html"] = env.get_template("reproduction.html.j2").render(root="", page="reproduction", **common)
    all_links = {}
    for d in model["datasets"]:
        for s, parts in links[d["page"]].items():
            all_links.setdefault(s, {}).update(parts)
    files["provenance.html"] = env.get_template("provenance.html.j2").render(root="", page="provenance",
                                                                            links=all_links, **common)
    downloads = _data_files(model, reports, files)
    files["downloads.html"] = env.get_template("downloads.html.j2").render(root="", page="downloads",
                                                                          downloads=downloads, **common)
    for d in model["datasets"]:
        files[d["page"]] = env.get_template("dataset.html.j2").render(
            root="../", page=d["page"], d=d, links=up(links[d["page"]]),
            per_query_csv=f"data/per-query/{d['slug']}.csv", **common)
        files[d["data_js"]] = _script("HARNESS_DATASET", {
            "qids": d["qids"], "queries": d["queries"], "per_query": d["per_query"], "top": d["top"],
            "titles": d["titles"], "metric": d["metric"], "parts": bool(d["parts"]),
            "systems": [{"name": s["name"], "display": s["display"]} for s in d["systems"]]})
    for asset in sorted((folder / "assets").iterdir()):
        if asset.is_file():
            files[f"assets/{asset.name}"] = asset.read_bytes()
    for d in model["datasets"]:  # manifests always (small); run files with --copy-runs
        info = resolve_dataset(d["suite"], d["name"])
        for s in d["systems"]:
            for key in info.part_names:
                src = run_path(opts.runs, d["suite"], key, s["name"])
                if manifest_path(src).is_file():
                    files[f"runs/{d['suite']}/{key}/{manifest_path(src).name}"] = manifest_path(src).read_bytes()
                if opts.copy_runs:
                    files[f"runs/{d['suite']}/{key}/{src.name}"] = src.read_bytes()
    for name in model["figures"]:
        files[f"figures/{name}"] = (opts.figures / name).read_bytes()
    return {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in sorted(files.items())}


def _data_files(model: dict, reports, files: dict) -> list[dict]:
    """The CSV and JSON downloads (added to ``files``) and their descriptions."""
    out = []
    rows = []
    for rep in reports:
        for r in rep.rows:
            for s in rep.systems:
                res = r.systems[s]
                if res.scores is None:
                    continue
                for m in res.scores.pooled.metrics:
                    rows.append([rep.suite, r.info.name, s, m.name, res.scores.mean(m), res.scores.n,
                                 "yes" if m == r.metric else "no"])
    files["data/scores.csv"] = _csv(["suite", "dataset", "system", "metric", "mean", "n_queries", "main_metric"], rows)
    out.append({"path": "data/scores.csv", "what": "every system's mean on every dataset, every measure (0 to 1)"})
    rows = []
    for rep in reports:
        for a, b in rep.pairs:
            for r in rep.tested(a, b):
                t = r.tests[a, b]
                sign = t.extra.get("sign_test", {})
                rows.append([rep.suite, a, b, r.info.name, r.metric.name, t.n, t.mean_a, t.mean_b, t.delta, t.ci_low,
                             t.ci_high, t.wins, t.ties, t.losses, t.statistic, t.p_value, t.p_adjusted,
                             "yes" if t.significant and t.delta > 0 else "no", sign.get("b_only"), sign.get("a_only"),
                             sign.get("p_exact")])
    files["data/tests.csv"] = _csv(
        ["suite", "a", "b", "dataset", "metric", "n", "mean_a", "mean_b", "delta", "ci_low", "ci_high", "wins", "ties",
         "losses", "statistic", "p_value", "p_adjusted", "significant", "sign_b_only", "sign_a_only", "sign_p_exact"],
        rows)
    out.append({"path": "data/tests.csv", "what": f"every tested pair on every dataset (H1: b > a): {model['test']}"})
    for rep in reports:
        for a, b in rep.pairs:
            path = f"data/compare-{rep.suite}-{a}-vs-{b}.json"
            files[path] = dumps(rep.pair_json(a, b))
            out.append({"path": path, "what": f"harness compare {a} {b} --json (per-query scores included)"})
    for d in model["datasets"]:
        path = f"data/per-query/{d['slug']}.csv"
        names = [(s["name"], m) for s in d["systems"] for m in sorted(d["all_metrics"][s["name"]])]
        files[path] = _csv(["qid", "query"] + [f"{s}:{m}" for s, m in names],
                           [[q, d["queries"][q]] + [d["all_metrics"][s][m][i] for s, m in names]
                            for i, q in enumerate(d["qids"])])
        out.append({"path": path, "what": f"{d['display']}: per-query scores of every system and measure"})
    for r in model["reproduction"]:
        files[r["json"]] = dumps(r["table"].to_dict())
        out.append({"path": r["json"], "what": f"{r['table'].title}: the reproduction report"})
    summary = {k: v for k, v in model.items() if k not in ("datasets", "reproduction")}
    summary["datasets"] = [{k: v for k, v in d.items() if k not in ("top", "titles", "queries", "per_query", "all_metrics",
                                                                     "qids", "pairs")} for d in model["datasets"]]
    files[MARKER] = dumps(summary)
    out.insert(0, {"path": MARKER, "what": "the main tables, tests, summaries and provenance as shown on the pages"})
    return out


def write_site(files: dict[str, bytes], out: Path) -> None:
    """Write the files into a new folder beside ``out`` and swap it in; a folder that is not a site is refused."""
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise HarnessError(f"--out {out}: exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise HarnessError(f"--out {out}: a folder with other content (no {MARKER}); the site replaces its folder "
                               "whole, so give a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    mode = default_file_mode()
    try:
        os.chmod(tmp, mode | (mode & 0o444) >> 2)
        for rel, data in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        old = None
        if out.exists():
            old = out.with_name(f".{out.name}.{os.getpid()}.old")
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_site(opts: SiteOptions, out: str | Path) -> BuiltSite:
    """Build the site of ``opts`` into ``out``."""
    out = Path(out)
    model, reports = build_model(opts)
    files = render(model, reports, opts, out)
    write_site(files, out)
    return BuiltSite(out=out, files=len(files), bytes=sum(len(v) for v in files.values()),
                     pages=sum(k.endswith(".html") for k in files))
