"""``harness figures``: the command; the figures are built by :mod:`harness.figures.build`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .errors import HarnessError


def register(app: typer.Typer) -> None:
    @app.command("figures")
    def figures_cmd(
        gpl: Optional[str] = typer.Option(None, "--gpl", help="GPL training work folder (or its run's .trec / manifest)."),
        rgpl: Optional[str] = typer.Option(None, "--rgpl", help="R-GPL training work folder (or its run's .trec / manifest)."),
        out: str = typer.Option("figures", "--out", help="Folder for fig<N>-*.png and .pdf."),
        only: Optional[str] = typer.Option(None, "--only", help="Comma-separated figure numbers, e.g. 3,4,6 (default: all six)."),
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Dataset key (default: sources.json's)."),
        suite: Optional[str] = typer.Option(None, "--suite", help="Suite of --dataset (default: looked up)."),
        data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder holding the dataset (or HARNESS_DATA_DIR)."),
        sample: int = typer.Option(1000, "--sample", help="Figure 1: queries sampled."),
        k: int = typer.Option(100, "--k", help="Figure 1: passages retrieved per query."),
        queries: str = typer.Option("generated", "--queries", help="Figure 1: 'generated' (training) or 'test' queries."),
        round_: str = typer.Option("first-remine", "--round", help="Figure 5: remine step, 'first-remine' or 'last'."),
        query: Optional[str] = typer.Option(None, "--query", help="Figure 5: query id (default: the one whose negatives changed most)."),
        error_bars: str = typer.Option("std", "--error-bars", help="Figure 6: 'std' or 'stderr'."),
        span: int = typer.Option(50, "--span", help="Figures 3, 4: EMA span in steps."),
        batch_size: int = typer.Option(64, "--batch-size"),
        device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: automatic)."),
        teacher_kind: Optional[str] = typer.Option(None, "--teacher-kind", help="Override sources.json: cross-encoder or bi-encoder."),
        teacher: Optional[str] = typer.Option(None, "--teacher", help="Override sources.json: teacher name or path."),
        seed: int = typer.Option(42, "--seed"),
    ) -> None:
        """Render the GPL / R-GPL analysis figures (PNG and PDF) from training work folders."""
        from .figures.build import FigureRequest, make_figures, parse_only  # matplotlib loads for this command only

        req = FigureRequest(out=Path(out), gpl=Path(gpl) if gpl else None, rgpl=Path(rgpl) if rgpl else None,
                            only=parse_only(only), dataset=dataset, suite=suite, data_dir=data_dir, sample=sample, k=k,
                            seed=seed, queries=queries, round=round_, query=query, error_bars=error_bars, span=span,
                            batch_size=batch_size, device=device, teacher_kind=teacher_kind, teacher=teacher)
        report = make_figures(req)
        for num, paths in sorted(report.written.items()):
            typer.echo(f"figure {num}: " + ", ".join(str(p) for p in paths))
            if num in report.info:
                typer.echo(f"  {report.info[num]}")
        for note in report.notes:
            typer.echo(f"note: {note}", err=True)
        for num, why in sorted(report.skipped.items()):
            typer.echo(f"figure {num} not made: {why}", err=True)
        if report.skipped and (req.only or not report.written):
            nums = ", ".join(map(str, sorted(report.skipped)))
            raise HarnessError(f"figure{'s' if len(report.skipped) > 1 else ''} {nums} could not be made "
                               f"({'; '.join(report.skipped[n] for n in sorted(report.skipped))})")
