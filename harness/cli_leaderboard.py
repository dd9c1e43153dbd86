"""``harness leaderboard``: the command; the site is built by :mod:`harness.leaderboard`."""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import List, Optional

import typer

from .errors import HarnessError


def _pairs(text: Optional[str]) -> list[tuple[str, str]] | None:
    if not text:
        return None
    out = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        a, sep, b = item.partition(":")
        if not sep or not a.strip() or not b.strip() or a.strip() == b.strip():
            raise HarnessError(f"--pairs expects A:B pairs of two different run names (test B > A), got '{item}'")
        out.append((a.strip(), b.strip()))
    return out


def register(app: typer.Typer) -> None:
    @app.command("leaderboard")
    def leaderboard_cmd(
        runs: str = typer.Option(..., "--runs", help="Runs folder: <runs>/<suite>/<dataset>/<name>.trec with manifests."),
        out: str = typer.Option(..., "--out", help="Site folder to write (replaced whole; a folder with other content is refused)."),
        data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with the datasets (qrels; query texts and titles for the dataset pages), or HARNESS_DATA_DIR."),
        published: Optional[str] = typer.Option(None, "--published", help="Published results id (e.g. rgpl2025) or JSON path: adds the reproduction view."),
        correction: str = typer.Option("holm", "--correction", help="Across every test on the page (suites x datasets x pairs): holm, bh or none."),
        systems: Optional[str] = typer.Option(None, "--systems", help="Run names to show, in order (default: the published columns' order, then by name)."),
        pairs: Optional[str] = typer.Option(None, "--pairs", help="Tested pairs A:B (H1: B > A), comma-separated (default: each system against the one before it)."),
        display: List[str] = typer.Option([], "--display", help="Display name: --display rgpl=R-GPL (repeatable)."),
        figures: Optional[str] = typer.Option(None, "--figures", help="Folder of figure PNGs to offer (default: <runs>/../figures when it exists)."),
        copy_runs: bool = typer.Option(False, "--copy-runs", help="Copy the run files into the site (default: link them where they are; manifests are always copied)."),
        title: str = typer.Option("Leaderboard", "--title"),
        alpha: float = typer.Option(0.05, "--alpha"),
        n_boot: int = typer.Option(10_000, "--n-boot", help="Paired bootstrap resamples for the CIs."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    ) -> None:
        """Build a static leaderboard site (index.html + assets + data) that works from file:// and any web server."""
        from .cli_eval import _displays, _split
        from .leaderboard import SiteOptions, build_site
        from .stats import TestSettings

        start = time.perf_counter()
        fig = Path(figures) if figures else Path(runs) / ".." / "figures"
        if figures and not fig.is_dir():
            raise HarnessError(f"--figures {figures}: no such folder")
        args = ["harness", "leaderboard", "--runs", runs, "--out", out]
        for flag, value in (("--data-dir", data_dir), ("--published", published), ("--systems", systems),
                            ("--pairs", pairs), ("--figures", figures)):
            if value:
                args += [flag, value]
        args += [x for d in display for x in ("--display", d)]
        if correction != "holm":
            args += ["--correction", correction]
        opts = SiteOptions(runs=Path(runs), data_dir=data_dir, published=published,
                           settings=TestSettings(correction=correction, alpha=alpha, n_boot=n_boot, seed=seed),
                           systems=_split(systems) or None, pairs=_pairs(pairs), displays=_displays(display),
                           figures=fig if fig.is_dir() and any(fig.glob("*.png")) else None, copy_runs=copy_runs,
                           title=title, command=" ".join(shlex.quote(a) for a in args))
        site = build_site(opts, out)
        typer.echo(f"{site.out / 'index.html'}  ({site.pages} pages, {site.files} files, {site.bytes / 1e6:.1f} MB, "
                   f"{time.perf_counter() - start:.1f} s)")
