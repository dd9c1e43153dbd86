"""The one route from run files to significance: evaluate systems per dataset and test pairs of them.

``build_report`` is the only comparison step. It evaluates every requested system on every dataset (query level),
runs the one-sided paired test of each requested pair ``(A, B)`` (H1: B > A) where both have run files, applies
the correction across datasets per pair, and returns a ``Report``: plain data that renderers consume without
recomputing anything (the console table and JSON of ``harness compare`` here, leaderboards in ``harness.tables``,
the reproduction report in ``harness.published``, the leaderboard site in ``harness.leaderboard``).
``compare_runs`` is the two-system case. ``correct_across`` makes several reports one family of tests (a page);
``cross_dataset`` and ``mean_ranks`` summarise a report over its datasets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .errors import HarnessError
from .evaluate import DatasetScores, Metric, evaluate_dataset, metrics_for
from .fileio import write_json
from .registry import DatasetInfo, resolve_dataset
from .runs import datasets_with_runs, run_files_for
from .stats import PairedTest, TestSettings, apply_correction, bootstrap_ci, exact_sign_test, paired_test

Pair = tuple[str, str]  # (A, B): the test is B > A


@dataclass
class SystemResult:
    """One system on one dataset: its scores, or the parts whose run files are missing (all of them: no run)."""

    system: str
    scores: DatasetScores | None
    missing_parts: tuple[str, ...] = ()
    present_parts: int = 0

    @property
    def complete(self) -> bool:
        return self.scores is not None

    def mean(self, metric: Metric) -> float | None:
        return None if self.scores is None else self.scores.mean(metric)


@dataclass
class DatasetReport:
    """Every system and every tested pair on one dataset (CQADupStack: its forums macro-averaged; the test pools
    all queries)."""

    info: DatasetInfo
    metric: Metric
    systems: dict[str, SystemResult]
    tests: dict[Pair, PairedTest] = field(default_factory=dict)

    def mean(self, system: str) -> float | None:
        r = self.systems.get(system)
        return None if r is None else r.mean(self.metric)

    def test(self, a: str, b: str) -> PairedTest | None:
        return self.tests.get((a, b))

    def pair_dict(self, a: str, b: str, per_query: bool = True) -> dict:
        """The JSON record of ``harness compare A B`` for this dataset."""
        sa, sb, t = self.systems[a].scores, self.systems[b].scores, self.tests[(a, b)]
        pa, pb = sa.pooled, sb.pooled
        d = {
            "dataset": self.info.name, "display": self.info.display, "group": self.info.group,
            "metric": self.metric.name, "metric_display": self.metric.display, "n_queries": t.n,
            "parts": [k for k, _ in sa.parts] if self.info.parts else [],
            "mean_a": t.mean_a, "mean_b": t.mean_b, "delta": t.delta, "ci": [t.ci_low, t.ci_high],
            "p_value": t.p_value, "p_adjusted": t.p_adjusted, "significant": t.significant,
            "wins": t.wins, "ties": t.ties, "losses": t.losses, "statistic": t.statistic, "note": t.note,
            "missing_a": list(pa.missing), "missing_b": list(pb.missing),
            "run_files_a": [s.source for _, s in sa.parts], "run_files_b": [s.source for _, s in sb.parts],
        }
        if "sign_test" in t.extra:
            d["sign_test"] = t.extra["sign_test"]
        if per_query:
            d["per_query"] = {"qids": list(pa.qids), "a": pa.array(self.metric).tolist(), "b": pb.array(self.metric).tolist()}
        return d


@dataclass
class Report:
    """The result of one comparison step: datasets x systems, plus the tests of the requested pairs."""

    suite: str
    systems: tuple[str, ...]
    pairs: tuple[Pair, ...]
    settings: TestSettings
    rows: list[DatasetReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # datasets left out, with the reason
    family: str = "datasets"  # the tests the correction ran across (``correct_across``: a whole page's)

    def row(self, dataset: str) -> DatasetReport | None:
        return next((r for r in self.rows if r.info.name == dataset), None)

    def tested(self, a: str, b: str) -> list[DatasetReport]:
        return [r for r in self.rows if (a, b) in r.tests]

    # ------------------------------------------------------------------ the two-system view (harness compare)
    @property
    def pair(self) -> Pair:
        if len(self.pairs) != 1:
            raise HarnessError(f"this report tests {len(self.pairs)} pairs; name one")
        return self.pairs[0]

    @property
    def a(self) -> str:
        return self.pair[0]

    @property
    def b(self) -> str:
        return self.pair[1]

    @property
    def n_better(self) -> int:
        return self.counts(*self.pair)[0]

    @property
    def n_significant(self) -> int:
        return self.counts(*self.pair)[1]

    def counts(self, a: str, b: str) -> tuple[int, int]:
        """(datasets where B's mean is higher, ... and significantly so) for the tested pair (A, B)."""
        tests = [r.tests[a, b] for r in self.tested(a, b)]
        return sum(t.delta > 0 for t in tests), sum(t.delta > 0 and t.significant for t in tests)

    def summary(self, a: str | None = None, b: str | None = None) -> str:
        a, b = (a, b) if a is not None else self.pair
        rows = self.tested(a, b)
        metrics = sorted({r.metric.display for r in rows})
        better, significant = self.counts(a, b)
        return (f"{b} > {a} on {better}/{len(rows)} datasets, {significant} significant "
                f"({self.settings.describe('/'.join(metrics), family=self.family)})")

    def to_json(self, per_query: bool = True) -> dict:
        return self.pair_json(*self.pair, per_query=per_query)

    def pair_json(self, a: str, b: str, per_query: bool = True) -> dict:
        """The JSON of ``harness compare A B --json`` for one tested pair of this report."""
        if (a, b) not in self.pairs:
            raise HarnessError(f"this report does not test {b} > {a}")
        n_better, n_sig = self.counts(a, b)
        return {
            "a": a, "b": b, "suite": self.suite, "hypothesis": f"{b} > {a} (one-sided)",
            "test": self.settings.describe(family=self.family), "settings": dict(self.settings.__dict__),
            "bootstrap": self.settings.describe_bootstrap(),
            "summary": {"better": n_better, "significant": n_sig, "datasets": len(self.tested(a, b)),
                        "line": self.summary(a, b)},
            "datasets": [r.pair_dict(a, b, per_query) for r in self.tested(a, b)],
            "skipped": self.skipped,
        }

    def write_json(self, path: str | Path, per_query: bool = True) -> None:
        write_json(path, self.to_json(per_query))


def build_report(suite: str, systems: Sequence[str], pairs: Sequence[Pair] = (), runs_dir: str | Path = "runs",
                 data_dir: str | Path | None = None, datasets: Sequence[str | DatasetInfo] | None = None,
                 metric: str | None = None, settings: TestSettings | None = None, use_cache: bool = True,
                 lenient_qrels: bool = False) -> Report:
    """Evaluate ``systems`` on ``datasets`` (default: every dataset with a run file of any of them) and test each
    pair (A, B), B > A, on the dataset's metric (or ``metric``) where both have every part's run file.
    ``lenient_qrels``: drop judgements naming unknown ids (``evaluate.load_qrels``)."""
    settings = settings or TestSettings()
    systems = tuple(dict.fromkeys(systems))
    if not systems:
        raise HarnessError("a comparison needs at least one system")
    for a, b in pairs:
        if a == b:
            raise HarnessError(f"compare needs two different systems, got '{a}' twice")
        for x in (a, b):
            if x not in systems:
                raise HarnessError(f"'{x}' is tested but is not one of the systems ({', '.join(systems)})")
    if datasets:
        infos = [d if isinstance(d, DatasetInfo) else resolve_dataset(suite, d) for d in datasets]
    else:
        infos = datasets_with_runs(suite, systems, runs_dir)
    report = Report(suite=suite, systems=systems, pairs=tuple(pairs), settings=settings)
    for info in infos:
        m = Metric.parse(metric or info.metric)
        mets = tuple(dict.fromkeys((m,) + metrics_for(info)))
        results = {}
        for name in systems:
            present, missing = run_files_for(info, runs_dir, name)
            if missing:
                results[name] = SystemResult(name, None, tuple(missing), len(present))
            else:
                results[name] = SystemResult(name, evaluate_dataset(info, name, runs_dir, data_dir, mets, use_cache,
                                                                    lenient_qrels), present_parts=len(present))
        row = DatasetReport(info=info, metric=m, systems=results)
        for a, b in pairs:
            sa, sb = results[a].scores, results[b].scores
            if sa is None or sb is None:
                continue
            pa, pb = sa.pooled, sb.pooled
            if pa.qids != pb.qids:  # same qrels file, so this only happens if the data changed between runs
                raise HarnessError(f"{info.name}: '{a}' and '{b}' were evaluated on different query sets")
            strata = [s.n for _, s in sa.parts] if len(sa.parts) > 1 else None
            row.tests[(a, b)] = t = paired_test(pa.array(m), pb.array(m), settings, strata=strata)
            if m.binary:  # 0/1 scores: the Wilcoxon test is a sign test on the discordant queries; add the exact one
                t.extra["sign_test"] = {"b_only": t.wins, "a_only": t.losses, "p_exact": exact_sign_test(t.wins, t.losses)}
        report.rows.append(row)
    for pair in pairs:
        apply_correction([r.tests[pair] for r in report.rows if pair in r.tests], settings.correction)
    return report


def correct_across(reports: Sequence[Report], family: str | None = None) -> int:
    """Make every test of ``reports`` one family (e.g. a page: its suites x datasets x pairs) and apply the reports'
    correction across it, replacing the per-pair correction of ``build_report``. Returns the family's size."""
    tests = [r.tests[p] for rep in reports for p in rep.pairs for r in rep.rows if p in r.tests]
    methods = {rep.settings.correction for rep in reports}
    if len(methods) > 1:
        raise HarnessError(f"one family needs one correction, got {', '.join(sorted(methods))}")
    apply_correction(tests, methods.pop() if methods else "none")
    for rep in reports:
        rep.family = family or f"the page's {len(tests)} tests, every tested pair on every dataset"
    return len(tests)


@dataclass
class CrossDataset:
    """A pair over the datasets of a report: the mean of the per-dataset deltas with its paired-bootstrap CI."""

    a: str
    b: str
    datasets: int
    mean_delta: float
    ci_low: float
    ci_high: float
    better: int  # datasets where B's mean is higher
    significant: int  # ... and the (corrected) test is significant


def cross_dataset(report: Report, a: str, b: str) -> CrossDataset | None:
    """Mean delta of (A, B) over the datasets where it was tested, each dataset weighing the same (a dataset made of
    parts: each part 1/parts of it); the CI resamples queries within every dataset (part), as ``bootstrap_ci``."""
    rows = report.tested(a, b)
    if not rows:
        return None
    diffs, sizes, weights = [], [], []
    for r in rows:
        pa, pb = r.systems[a].scores, r.systems[b].scores
        for (_, sa), (_, sb) in zip(pa.parts, pb.parts):
            diffs.append(sb.array(r.metric) - sa.array(r.metric))
            sizes.append(sa.n)
            weights.append(1.0 / (len(rows) * len(pa.parts)))
    import numpy as np

    s = report.settings
    lo, hi = bootstrap_ci(np.concatenate(diffs), s.n_boot, s.ci, s.seed, strata=sizes, weights=weights)
    return CrossDataset(a, b, len(rows), float(np.mean([r.tests[a, b].delta for r in rows])), lo, hi,
                        *report.counts(a, b))


def mean_ranks(report: Report) -> tuple[dict[str, float], int]:
    """Each system's mean rank (1 = best mean; ties share the average rank) over the datasets where every system of
    the report has results, and how many datasets that is."""
    from scipy.stats import rankdata

    rows = [r for r in report.rows if all(r.systems[s].complete for s in report.systems)]
    if not rows:
        return {}, 0
    ranks = [rankdata([-r.mean(s) for s in report.systems], method="average") for r in rows]
    return {s: float(sum(rk[i] for rk in ranks) / len(rows)) for i, s in enumerate(report.systems)}, len(rows)


def compare_runs(a: str, b: str, suite: str = "beir", datasets: Sequence[str] | None = None,
                 runs_dir: str | Path = "runs", data_dir: str | Path | None = None, metric: str | None = None,
                 settings: TestSettings | None = None, use_cache: bool = True, lenient_qrels: bool = False) -> Report:
    """``harness compare A B``: test B > A on every dataset with run files of both (or on ``datasets``, where
    both must be present); datasets with only one of the two are listed in ``skipped``, not evaluated."""
    if a == b:
        raise HarnessError(f"compare needs two different systems, got '{a}' twice")
    skipped = []
    if datasets:  # named datasets: a missing run file is an error that names it
        infos = [resolve_dataset(suite, n) for n in datasets]
        for info in infos:
            for name in (a, b):
                if run_files_for(info, runs_dir, name)[1]:
                    evaluate_dataset(info, name, runs_dir)  # raises the error that names the missing file(s)
    else:
        infos = []
        for info in datasets_with_runs(suite, [a, b], runs_dir):
            missing = {name: run_files_for(info, runs_dir, name)[1] for name in (a, b)}
            if not any(missing.values()):
                infos.append(info)
                continue
            has = [name for name in (a, b) if len(missing[name]) < len(info.part_names)]
            skipped.append(f"{info.name}: run files only for '{has[0]}'" if len(has) == 1 else
                           f"{info.name}: run files incomplete for {' and '.join(repr(h) for h in has)}")
    if not infos:
        raise HarnessError(f"no dataset has run files for both '{a}' and '{b}' under {Path(runs_dir) / suite} "
                           f"(expected <dataset>/{a}.trec and <dataset>/{b}.trec)")
    report = build_report(suite, [a, b], [(a, b)], runs_dir, data_dir, infos, metric, settings, use_cache,
                          lenient_qrels)
    report.skipped = skipped
    return report


# ---------------------------------------------------------------------------------------- console renderer
def _fmt(x: float, scale: float = 100.0, digits: int = 1, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x * scale:+.{digits}f}" if sign else f"{x * scale:.{digits}f}"


def fmt_p(p: float | None) -> str:
    """A p-value as printed by the console and the reproduction report."""
    if p is None or math.isnan(p):
        return "-"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


def render_comparison(report: Report, console=None) -> None:
    """``harness compare``: a rich table with one row per dataset, notes on missing queries, and the summary."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    a, b = report.pair
    table = Table(title=f"{b} vs {a} ({report.suite}); H1: {b} > {a}", title_justify="left")
    corr = report.settings.correction != "none"
    cols = [("dataset", "left"), ("metric", "left"), ("n", "right"), (a, "right"), (b, "right"),
            ("delta", "right"), (f"{report.settings.ci:.0%} CI", "right"), ("p (one-sided)", "right")]
    cols += [("p adj.", "right")] if corr else []
    cols += [("W/T/L", "right"), ("sig.", "left")]
    for col, just in cols:
        table.add_column(col, justify=just)
    rows = report.tested(a, b)
    for r in rows:
        t = r.tests[(a, b)]
        cells = [r.info.display, r.metric.display, str(t.n), _fmt(t.mean_a), _fmt(t.mean_b), _fmt(t.delta, sign=True),
                 f"[{_fmt(t.ci_low, sign=True)}, {_fmt(t.ci_high, sign=True)}]", fmt_p(t.p_value)]
        if corr:
            cells.append(fmt_p(t.p_adjusted))
        cells += [f"{t.wins}/{t.ties}/{t.losses}", "*" if t.significant else ""]
        table.add_row(*cells)
    console.print(table)
    console.print(f"Scores x100; delta = B - A; CI: {report.settings.describe_bootstrap()}; "
                  f"* = significant at p < {report.settings.alpha:g}.", highlight=False)
    for r in rows:
        for name in (a, b):
            s = r.systems[name].scores
            if s.missing:
                console.print(f"[yellow]note:[/yellow] {r.info.display}: {len(s.missing)} of {s.n} judged queries "
                              f"missing from the run of '{name}' (scored 0)", highlight=False)
        if r.tests[(a, b)].note:
            console.print(f"[yellow]note:[/yellow] {r.info.display}: {r.tests[(a, b)].note}", highlight=False)
    for text in report.skipped:
        console.print(f"[yellow]skipped:[/yellow] {text}", highlight=False)
    console.print(report.summary(), highlight=False)
