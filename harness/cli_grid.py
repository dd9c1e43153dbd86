"""Grid runs from the CLI: ``harness run`` with several systems/datasets/sweep values or an executor, and
``harness status``. The work itself is in :mod:`harness.executor`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import HarnessError
from .progress import stderr_console


def _table(rows: list[dict], title: str):
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("job", "id", "state", "log", "run file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        files = r["run_files"]
        run = files[0] + (f" (+{len(files) - 1})" if len(files) > 1 else "") if files else ""
        table.add_row(r["label"], str(r.get("job_id") or ""), r["state"], str(r.get("log") or ""), run)
    return table


def _counts(rows: list[dict]) -> str:
    from .executor import summarize

    return ", ".join(f"{n} {s.lower()}" for s, n in sorted(summarize(rows).items()))


class _Progress:
    """A live table on a terminal; one line per state change otherwise (logs, CI, HARNESS_NO_PROGRESS)."""

    def __init__(self, title: str):
        from .progress import enabled

        self.title, self.live, self.seen = title, None, {}
        console = stderr_console()
        if enabled() and console.is_terminal:
            from rich.live import Live

            self.live = Live(console=console, refresh_per_second=2, transient=False)
            self.live.start()

    def rows(self, rows: list[dict]) -> None:
        if self.live:
            self.live.update(_table(rows, f"{self.title}: {_counts(rows)}"))
            return
        for r in rows:
            if self.seen.get(r["label"]) != r["state"]:
                self.seen[r["label"]] = r["state"]
                stderr_console().print(f"{r['label']}: {r['state']}" + (f" ({r['job_id']})" if r.get("job_id") else ""), highlight=False)

    def states(self, states: dict[int, dict]) -> None:  # local executor callback
        self.rows([{"label": s["label"], "state": s["state"], "job_id": s.get("job_id"), "log": s.get("log"),
                    "run_files": []} for s in states.values()])

    def stop(self) -> None:
        if self.live:
            self.live.stop()


def report(rows: list[dict], tail_lines: int = 20) -> int:
    """Print each finished job's run files (stdout), then every failure with its log tail; 1 if any failed."""
    from .executor import tail

    failed = [r for r in rows if r["state"] not in ("COMPLETED",) and not (r["done"] and r["state"] in ("UNKNOWN", "GONE"))]
    for r in rows:
        for f in r["run_files"]:
            typer.echo(f)
    for r in failed:
        stderr_console().print(f"[red]job {r['label']} ({r.get('job_id') or '-'}): {r['state']}[/red]; log {r.get('log')}", highlight=False)
        stderr_console().print(tail(r.get("log"), tail_lines), markup=False, highlight=False)
    stderr_console().print(f"{len(rows)} jobs: {_counts(rows)}", highlight=False)
    return 1 if failed else 0


def run_grid(jobs, executor: str, n_jobs: int, wait: bool, status_only: bool, profile: Optional[str],
             slurm_flags: dict) -> None:
    from . import executor as ex

    if not jobs:
        raise HarnessError("the grid is empty")
    folder = ex.grid_dir(jobs[0].out, jobs)
    if status_only:
        if not (folder / "grid.json").is_file():
            raise HarnessError(f"this grid was never run (no {folder / 'grid.json'})")
        _print_status(folder)
        return
    if executor == "local":
        progress = _Progress(f"grid {folder.name} (local, {n_jobs} at a time)")
        try:
            ex.run_local(jobs, folder, n_jobs=n_jobs, show=progress.states)
        finally:
            progress.stop()
        sys.exit(report(ex.grid_status(folder)))
    if executor != "slurm":
        raise HarnessError(f"--executor must be 'local' or 'slurm', got '{executor}'")
    records = ex.submit_slurm(jobs, folder, ex.load_profile(profile), slurm_flags)
    ids = sorted({r["job_id"].split("_")[0] for r in records})
    stderr_console().print(f"submitted {len(records)} jobs to Slurm (job {', '.join(ids)}); grid {folder}", highlight=False)
    if not wait:
        stderr_console().print(f"follow with: harness status --out {jobs[0].out}", highlight=False)
        return
    progress = _Progress(f"grid {folder.name} (slurm)")
    try:
        rows = ex.wait_for(folder, poll=float(os.environ.get("HARNESS_POLL_SECONDS", "5")), show=progress.rows)
    finally:
        progress.stop()
    sys.exit(report(rows))


def _print_status(folder: Path, as_json: bool = False) -> None:
    from .executor import grid_status, read_json

    rows = grid_status(folder)
    if as_json:
        typer.echo(json.dumps({"grid": folder.name, "executor": read_json(folder / "grid.json").get("executor"),
                               "jobs": rows}, indent=2))
        return
    from rich.console import Console

    Console(width=max(160, Console().width)).print(_table(rows, f"grid {folder.name}: {_counts(rows)}"))


def status_cmd(
    out: str = typer.Option("runs", "--out", help="Runs folder the grid wrote to."),
    grid: Optional[str] = typer.Option(None, "--grid", help="Grid id (a folder under <out>/.jobs/); default: the latest."),
    all_grids: bool = typer.Option(False, "--all", help="Every grid under <out>/.jobs/, oldest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """State, log and run file of each job of a grid run (`harness run --executor ...`)."""
    from .executor import GRID_DIR, find_grids

    if grid:
        folders = [Path(out) / GRID_DIR / grid]
        if not (folders[0] / "grid.json").is_file():
            raise HarnessError(f"no grid '{grid}' under {Path(out) / GRID_DIR}")
    else:
        folders = find_grids(out)
        if not folders:
            raise HarnessError(f"no grid runs under {Path(out) / GRID_DIR} (start one with harness run --executor ...)")
        folders = folders if all_grids else folders[-1:]
    for f in folders:
        _print_status(f, as_json)


def register(app: typer.Typer) -> None:
    app.command("status")(status_cmd)
