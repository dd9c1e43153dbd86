"""The ``harness`` command line (typer). Each group of commands lives in its own module and registers here."""

from __future__ import annotations

import logging
import sys
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from . import cli_eval, cli_figures
from .errors import HarnessError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Benchmark harness for unsupervised domain adaptation of dense retrievers (BM25, Base, GPL, R-GPL).")
console = Console(stderr=True)


@app.command("run")
def run_cmd(
    system: str = typer.Option(..., "--system", "-s", help="System name (see `harness systems`)."),
    suite: str = typer.Option("beir", "--suite", help="beir or lotte."),
    datasets: Optional[str] = typer.Option(None, "--datasets", "-d", help="Comma-separated dataset names (default: the whole suite)."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with <beir-name>/ and lotte/<domain>/test/ (or HARNESS_DATA_DIR)."),
    out: str = typer.Option("runs", "--out", help="Runs folder: writes <out>/<suite>/<dataset>/<name>.trec."),
    sets: List[str] = typer.Option([], "--set", help="Override a setting: --set key=value (repeatable)."),
    preset: Optional[str] = typer.Option(None, "--preset", help="A named settings preset of the system (e.g. paper, cpu)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run name (default: the system name), e.g. rgpl-k10k."),
    seed: int = typer.Option(42, "--seed"),
    top_k: int = typer.Option(1000, "--top-k", help="Results kept per query."),
    force: bool = typer.Option(False, "--force", help="Recompute even if an identical run file exists."),
    no_download: bool = typer.Option(False, "--no-download", help="Never download a missing dataset."),
    lenient_qrels: bool = typer.Option(False, "--lenient-qrels", help="Drop judgements naming unknown ids instead of failing."),
) -> None:
    """Run a system over a suite and write TREC run files plus manifests."""
    from .runner import RunRequest, run
    from .systems import parse_sets

    req = RunRequest(system=system, suite=suite, datasets=[d.strip() for d in datasets.split(",") if d.strip()] if datasets else None,
                     data_dir=data_dir, out=out, sets=parse_sets(sets), preset=preset, name=name, seed=seed, top_k=top_k,
                     force=force, allow_download=not no_download, lenient_qrels=lenient_qrels)
    for path in run(req):
        typer.echo(str(path))


@app.command("datasets")
def datasets_cmd(
    suite: Optional[str] = typer.Option(None, "--suite", help="Only this suite."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir"),
) -> None:
    """List the registered test sets and whether each is present locally."""
    from .datasets import is_present
    from .registry import SUITE_NAMES, get_suite

    suites = [get_suite(sname) for sname in ([suite] if suite else SUITE_NAMES)]
    splits = {d.split for s in suites for d in s.datasets}
    one_split = splits.pop() if len(splits) == 1 else None
    title = "Registered test sets" + (f" (split: {one_split})" if one_split else "")
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    longest = max(len(d.name) for s in suites for d in s.datasets)
    cols = ("suite", "name", "display", "group") + (() if one_split else ("split",)) + ("metric", "parts", "local")
    for col in cols:
        # the name is what users type: never shorten it on a narrow terminal
        table.add_column(col, min_width={"name": longest, "local": 5}.get(col))
    for s in suites:
        for d in s.datasets:
            split = () if one_split else (d.split,)
            table.add_row(s.name, d.name, d.display, d.group, *split, s.metric_display, str(len(d.parts) or ""),
                          "yes" if is_present(d, data_dir) else "no")
    Console().print(table)


@app.command("systems")
def systems_cmd() -> None:
    """List the registered systems and their settings."""
    from .systems import available_systems, describe_settings

    out = Console()
    for name, cls in available_systems().items():
        if isinstance(cls, str):
            out.print(f"[bold]{name}[/bold]: unavailable ({cls})")
            continue
        presets = ", ".join(getattr(cls.Settings, "PRESETS", {})) or "none"
        table = Table(title=f"{name}: {cls.description} (presets: {presets})", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        rows = describe_settings(cls.Settings)
        for col in ("setting", "type", "default", "help"):
            table.add_column(col, min_width=max(len(r[0]) for r in rows) if col == "setting" else None)
        for row in rows:
            table.add_row(*row)
        out.print(table)


for _commands in (cli_eval, cli_figures):  # each module adds its group of commands
    _commands.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: HarnessError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        app(args=argv, standalone_mode=False)
    except HarnessError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("aborted")
        sys.exit(130)
    except Exception as e:
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
