"""CLI commands ``evaluate``, ``compare`` and ``table`` (registered on the main typer app by ``register``)."""

from __future__ import annotations

from typing import List, Optional

import typer

from .errors import HarnessError


LENIENT_HELP = ("Drop judgements naming query or document ids the dataset does not have (and say what was dropped) "
                "instead of failing, as `harness run --lenient-qrels` does.")


def _split(text: Optional[str]) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()] if text else []


def _console():
    from rich.console import Console

    c = Console()
    if not c.is_terminal:
        c = Console(width=160)
    return c


def _settings(zero_method: str, correction: str, alpha: float, n_boot: int, seed: int):
    from .stats import TestSettings

    return TestSettings(zero_method=zero_method, correction=correction, alpha=alpha, n_boot=n_boot, seed=seed)


def _displays(items: List[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise HarnessError(f"--display expects name=Label, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _write_or_print(text: str, out: Optional[str]) -> None:
    if out:
        from .fileio import atomic_open

        with atomic_open(out) as fh:
            fh.write(text)
        typer.echo(out)
    else:
        typer.echo(text, nl=False)


def evaluate_cmd(
    run_file: str = typer.Argument(..., help="A TREC run file."),
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset key, e.g. scifact, cqadupstack/android, lifestyle.search."),
    suite: Optional[str] = typer.Option(None, "--suite", help="beir or lotte (default: lotte for a LoTTE dataset name, else beir)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder holding the dataset (or HARNESS_DATA_DIR)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated, e.g. ndcg_cut_10,mrr@10,recall@100 (default: the dataset's metric, MRR@10, Recall@100)."),
    per_query: Optional[str] = typer.Option(None, "--per-query", help="Write per-query scores as JSON to this path."),
    lenient_qrels: bool = typer.Option(False, "--lenient-qrels", help=LENIENT_HELP),
) -> None:
    """Evaluate one run file against a dataset's qrels (every judged query counts; missing ones score 0)."""
    from .evaluate import evaluate_file, load_qrels, metrics_for
    from .fileio import write_json
    from .registry import infer_suite, resolve_dataset

    name = dataset.split("/", 1)[0]
    info = resolve_dataset(suite or infer_suite([name]), name)
    if dataset != name and dataset not in info.part_names:
        raise HarnessError(f"'{dataset}' is not a part of '{name}'; parts: {', '.join(info.part_names)}")
    mets = _split(metrics) or list(metrics_for(info))
    res = evaluate_file(run_file, load_qrels(info, dataset, data_dir, lenient_qrels), mets)
    lines = [f"{m.display:<12} {res.mean(m):.4f}" for m in res.metrics]
    lines.append(f"queries: {res.n} judged, {len(res.missing)} missing from the run (scored 0), "
                 f"{res.extra} run queries without judgements (ignored)")
    typer.echo("\n".join(lines))  # plain lines (no rich import for three lines)
    if per_query:
        write_json(per_query, res.to_dict())


def compare_cmd(
    a: str = typer.Argument(..., help="Baseline system (run name), e.g. gpl."),
    b: str = typer.Argument(..., help="System tested to be better, e.g. rgpl."),
    suite: Optional[str] = typer.Option(None, "--suite", help="beir or lotte (default: lotte when every --datasets name is a LoTTE one, else beir)."),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="Comma-separated (default: every dataset with run files)."),
    runs: str = typer.Option("runs", "--runs", help="Runs folder: reads <runs>/<suite>/<dataset>/{A,B}.trec."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with the datasets' qrels (or HARNESS_DATA_DIR)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Override the datasets' metric, e.g. mrr@10."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write every number (incl. per-query scores) here."),
    correction: str = typer.Option("none", "--correction", help="Across datasets: none, holm or bh."),
    zero_method: str = typer.Option("wilcox", "--zero-method", help="Wilcoxon zero handling: wilcox (scipy default), pratt, zsplit."),
    alpha: float = typer.Option(0.05, "--alpha"),
    n_boot: int = typer.Option(10_000, "--n-boot", help="Paired bootstrap resamples for the CI."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling: the same seed and --n-boot print the same CI."),
    lenient_qrels: bool = typer.Option(False, "--lenient-qrels", help=LENIENT_HELP),
) -> None:
    """One-sided paired test of B > A per dataset (Wilcoxon signed-rank on query-level scores)."""
    from .compare import compare_runs, render_comparison
    from .registry import infer_suite

    suite = suite or infer_suite(_split(datasets))
    comp = compare_runs(a, b, suite=suite, datasets=_split(datasets) or None, runs_dir=runs, data_dir=data_dir,
                        metric=metric, settings=_settings(zero_method, correction, alpha, n_boot, seed),
                        lenient_qrels=lenient_qrels)
    render_comparison(comp, _console())
    if json_path:
        comp.write_json(json_path)


def table_cmd(
    systems: Optional[str] = typer.Option(None, "--systems", "-s", help="Comma-separated run names, one column each, in order."),
    suite: Optional[str] = typer.Option(None, "--suite", help="beir or lotte (default: lotte when every --datasets name is a LoTTE one, else beir)."),
    reference: Optional[str] = typer.Option(None, "--reference", help="Column the superscripts and tests compare with (default: second-to-last; sweep: first)."),
    targets: Optional[str] = typer.Option(None, "--targets", help="Columns that get superscripts and stars (default: the last; sweep: all but the reference)."),
    layout: str = typer.Option("paper", "--layout", help="paper (Tables 1-2) or sweep (Table 3: e.g. rgpl-k10k,rgpl-k30k,...)."),
    runs: Optional[str] = typer.Option(None, "--runs", help="Runs folder (default: runs). With --published: the reproduction report, our runs beside the paper's values."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir"),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d"),
    fmt: str = typer.Option("markdown", "--format", "-f", help="latex or markdown."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
    standalone: bool = typer.Option(False, "--standalone", help="LaTeX: a complete document (compiles with pdflatex)."),
    published: Optional[str] = typer.Option(None, "--published", help="Published results id (e.g. rgpl2025) or a JSON path."),
    table_ids: Optional[str] = typer.Option(None, "--table", help="Published tables to render, e.g. table1,table2 (default: all)."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Render missing published values as dashes."),
    bold: Optional[str] = typer.Option(None, "--bold", help="Published tables: bold rule row-max (best of each row), improved (targets above the reference), extracted (as printed where known), none. Default: the file's (the legend names it)."),
    display: List[str] = typer.Option([], "--display", help="Column label: --display rgpl=R-GPL (repeatable)."),
    caption: Optional[str] = typer.Option(None, "--caption"),
    label: Optional[str] = typer.Option(None, "--label"),
    metric: Optional[str] = typer.Option(None, "--metric"),
    correction: str = typer.Option("none", "--correction", help="Across the datasets of the table: none, holm or bh."),
    zero_method: str = typer.Option("wilcox", "--zero-method"),
    alpha: float = typer.Option(0.05, "--alpha"),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples (tables show no CI; kept small)."),
    require_like: bool = typer.Option(False, "--require-like-for-like", help="With --published and --runs: stop (status 2) unless every run of ours ran the paper's setting of its column (from its manifest)."),
) -> None:
    """Paper-style leaderboard (LaTeX booktabs or Markdown) from run files and/or published results.

    With --published and --runs: the reproduction report (for every dataset and system with a run, our value
    beside the paper's, the difference, and whether our one-sided test agrees with the paper's star)."""
    from .registry import infer_suite
    from .tables import BOLD_RULES, add_run_columns, table_from_runs

    suite = suite or infer_suite(_split(datasets))

    displays = _displays(display)
    system_list = _split(systems)
    if bold is not None and bold not in BOLD_RULES:
        raise HarnessError(f"unknown --bold '{bold}'; use one of {', '.join(BOLD_RULES)}")
    settings = _settings(zero_method, correction, alpha, n_boot, 0)
    tables = []
    if published:
        from .published import load_published, reproduction_table

        pset = load_published(published)
        chosen = [pset.table(t) for t in _split(table_ids)] if table_ids else pset.tables
        for pt in chosen:
            if runs is not None and not system_list:
                tables.append(reproduction_table(pt, runs, data_dir, settings))
                continue
            t = pt.to_table(allow_missing=allow_missing, bold_rule=bold)
            if system_list:
                t = add_run_columns(t, pt.suite, system_list, runs or "runs", data_dir, displays)
            tables.append(t)
    elif system_list:
        tables.append(table_from_runs(suite, system_list, runs or "runs", data_dir, reference=reference,
                                      targets=_split(targets) or None, layout=layout, datasets=_split(datasets) or None,
                                      settings=settings, displays=displays, metric=metric))
    else:
        raise HarnessError("table needs --systems (run names) and/or --published (e.g. rgpl2025)")
    for t in tables:
        if caption:
            t.caption = caption
        if label:
            t.label = label
    if fmt not in ("latex", "markdown"):
        raise HarnessError(f"unknown --format '{fmt}'; use latex or markdown")
    for t in tables:  # reproduction reports: say how many of our cells compare like for like
        if t.verdicts:
            unlike = sum(t.verdicts.values()) - t.verdicts["same"]
            line = (f"{t.title}: {t.verdicts['same']} of our {sum(t.verdicts.values())} cells ran the paper's setting "
                    f"(like for like)" + (f"; {unlike} ran other or unknown settings, marked "
                                          f"{', '.join(m for m, _ in t.footnotes)}" if unlike else ""))
            if require_like and unlike:
                raise HarnessError(f"--require-like-for-like: {line}")
            typer.echo(f"note: {line}", err=True)
    if fmt == "latex" and standalone and len(tables) > 1:
        body = "\n".join(t.to_latex(own_number=True) for t in tables)
        text = "\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[T1]{fontenc}\n\\begin{document}\n" + body + "\\end{document}\n"
    else:
        text = "\n".join(t.render(fmt, standalone=standalone) for t in tables)
    _write_or_print(text, out)


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``compare`` and ``table`` to the harness CLI."""
    app.command("evaluate")(evaluate_cmd)
    app.command("compare")(compare_cmd)
    app.command("table")(table_cmd)
