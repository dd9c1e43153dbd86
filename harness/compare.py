"""``harness compare A B``: is system B better than system A, dataset by dataset, on the same queries?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import HarnessError
from .evaluate import DatasetScores, Metric, evaluate_dataset, metrics_for, run_files_for
from .fileio import write_json
from .registry import DatasetInfo, get_suite, resolve_dataset
from .stats import PairedTest, TestSettings, apply_correction, paired_test


@dataclass
class DatasetComparison:
    """A vs B on one dataset (CQADupStack: its 12 forums, macro-averaged; test on all queries pooled)."""

    info: DatasetInfo
    metric: Metric
    a: DatasetScores
    b: DatasetScores
    test: PairedTest

    @property
    def better(self) -> bool:
        return self.test.delta > 0

    def marker(self) -> str:
        if self.test.significant:
            return "*"
        return ""

    def to_dict(self, per_query: bool = True) -> dict:
        pa, pb = self.a.pooled, self.b.pooled
        t = self.test
        d = {
            "dataset": self.info.name, "display": self.info.display, "group": self.info.group,
            "metric": self.metric.name, "metric_display": self.metric.display, "n_queries": t.n,
            "parts": [k for k, _ in self.a.parts] if self.info.parts else [],
            "mean_a": t.mean_a, "mean_b": t.mean_b, "delta": t.delta, "ci": [t.ci_low, t.ci_high],
            "p_value": t.p_value, "p_adjusted": t.p_adjusted, "significant": t.significant,
            "wins": t.wins, "ties": t.ties, "losses": t.losses, "statistic": t.statistic, "note": t.note,
            "missing_a": list(pa.missing), "missing_b": list(pb.missing),
            "run_files_a": [s.source for _, s in self.a.parts], "run_files_b": [s.source for _, s in self.b.parts],
        }
        if per_query:
            d["per_query"] = {"qids": list(pa.qids), "a": pa.array(self.metric).tolist(), "b": pb.array(self.metric).tolist()}
        return d


@dataclass
class Comparison:
    """Every dataset's comparison of A and B, with the settings of the test."""

    a: str
    b: str
    suite: str
    settings: TestSettings
    rows: list[DatasetComparison] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # datasets with run files for only one of the systems

    @property
    def n_better(self) -> int:
        return sum(r.better for r in self.rows)

    @property
    def n_significant(self) -> int:
        return sum(r.better and r.test.significant for r in self.rows)

    def summary(self) -> str:
        metrics = sorted({r.metric.display for r in self.rows})
        return (f"{self.b} > {self.a} on {self.n_better}/{len(self.rows)} datasets, {self.n_significant} significant "
                f"({self.settings.describe('/'.join(metrics))})")

    def to_json(self, per_query: bool = True) -> dict:
        return {
            "a": self.a, "b": self.b, "suite": self.suite, "hypothesis": f"{self.b} > {self.a} (one-sided)",
            "test": self.settings.describe(), "settings": self.settings.__dict__ | {},
            "summary": {"better": self.n_better, "significant": self.n_significant, "datasets": len(self.rows),
                        "line": self.summary()},
            "datasets": [r.to_dict(per_query) for r in self.rows],
            "skipped": self.skipped,
        }

    def write_json(self, path: str | Path, per_query: bool = True) -> None:
        write_json(path, self.to_json(per_query))


def datasets_with_runs(suite: str, systems: Sequence[str], runs_dir: str | Path) -> list[DatasetInfo]:
    """Registered datasets (in registry order) for which any part of any of ``systems`` has a run file, plus
    custom datasets found under ``runs/<suite>/``."""
    s = get_suite(suite)
    found = [d for d in s.datasets if any(run_files_for(d, runs_dir, name)[0] for name in systems)]
    root = Path(runs_dir) / suite
    if root.is_dir():
        known = {d.name for d in s.datasets}
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in known):
            if any((sub / f"{name}.trec").is_file() for name in systems) and suite == "beir":
                found.append(resolve_dataset(suite, sub.name))
    return found


def compare_runs(a: str, b: str, suite: str = "beir", datasets: Sequence[str] | None = None,
                 runs_dir: str | Path = "runs", data_dir: str | Path | None = None, metric: str | None = None,
                 settings: TestSettings | None = None, use_cache: bool = True) -> Comparison:
    """Evaluate both systems on each dataset and test B > A on the dataset's metric (or ``metric``)."""
    settings = settings or TestSettings()
    if a == b:
        raise HarnessError(f"compare needs two different systems, got '{a}' twice")
    comp = Comparison(a=a, b=b, suite=suite, settings=settings)
    if datasets:
        infos = [resolve_dataset(suite, n) for n in datasets]
    else:  # every dataset with run files of both systems; those with only one are reported, not compared
        infos = []
        for d in datasets_with_runs(suite, [a, b], runs_dir):
            has = [name for name in (a, b) if run_files_for(d, runs_dir, name)[0]]
            if len(has) == 2:
                infos.append(d)
            else:
                comp.skipped.append(f"{d.name}: run files only for '{has[0]}'")
    if not infos:
        raise HarnessError(f"no dataset has run files for both '{a}' and '{b}' under {Path(runs_dir) / suite} "
                           f"(expected <dataset>/{a}.trec and <dataset>/{b}.trec)")
    for info in infos:
        m = Metric.parse(metric) if metric else Metric.parse(info.metric)
        metrics = tuple(dict.fromkeys((m,) + metrics_for(info)))
        sa = evaluate_dataset(info, a, runs_dir, data_dir, metrics, use_cache)
        sb = evaluate_dataset(info, b, runs_dir, data_dir, metrics, use_cache)
        pa, pb = sa.pooled, sb.pooled
        if pa.qids != pb.qids:  # same qrels file, so this only happens if the data changed between runs
            raise HarnessError(f"{info.name}: the two systems were evaluated on different query sets")
        strata = [s.n for _, s in sa.parts] if len(sa.parts) > 1 else None
        test = paired_test(pa.array(m), pb.array(m), settings, strata=strata)
        comp.rows.append(DatasetComparison(info=info, metric=m, a=sa, b=sb, test=test))
    apply_correction([r.test for r in comp.rows], settings.correction)
    return comp


def _fmt(x: float, scale: float = 100.0, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x * scale:+.{digits}f}" if sign else f"{x * scale:.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "-"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


def render_comparison(comp: Comparison, console=None) -> None:
    """A rich table with one row per dataset, notes on missing queries, and the summary line."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{comp.b} vs {comp.a} ({comp.suite}); H1: {comp.b} > {comp.a}", title_justify="left")
    corr = comp.settings.correction != "none"
    cols = [("dataset", "left"), ("metric", "left"), ("n", "right"), (comp.a, "right"), (comp.b, "right"),
            ("delta", "right"), ("95% CI", "right"), ("p (one-sided)", "right")]
    cols += [("p adj.", "right")] if corr else []
    cols += [("W/T/L", "right"), ("sig.", "left")]
    for col, just in cols:
        table.add_column(col, justify=just)
    for r in comp.rows:
        t = r.test
        cells = [r.info.display, r.metric.display, str(t.n), _fmt(t.mean_a), _fmt(t.mean_b), _fmt(t.delta, sign=True),
                 f"[{_fmt(t.ci_low, sign=True)}, {_fmt(t.ci_high, sign=True)}]", _fmt_p(t.p_value)]
        if corr:
            cells.append(_fmt_p(t.p_adjusted))
        cells += [f"{t.wins}/{t.ties}/{t.losses}", r.marker()]
        table.add_row(*cells)
    console.print(table)
    console.print("Scores x100; delta = B - A; CI: paired bootstrap of the mean difference; "
                  f"* = significant at p < {comp.settings.alpha:g}.")
    for r in comp.rows:
        for name, s in ((comp.a, r.a), (comp.b, r.b)):
            if s.missing:
                console.print(f"[yellow]note:[/yellow] {r.info.display}: {len(s.missing)} of {s.n} judged queries "
                              f"missing from the run of '{name}' (scored 0)", highlight=False)
        if r.test.note:
            console.print(f"[yellow]note:[/yellow] {r.info.display}: {r.test.note}", highlight=False)
    for text in comp.skipped:
        console.print(f"[yellow]skipped:[/yellow] {text}", highlight=False)
    console.print(comp.summary(), highlight=False)
